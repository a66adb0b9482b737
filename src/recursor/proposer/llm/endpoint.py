"""Model endpoints: which model, where, with which key, at what price; and one chat call.

Two protocols cover the models people run: OpenAI's chat completions (OpenAI itself, and the
OpenAI-compatible servers: vLLM, Ollama, llama.cpp's server, OpenRouter, ...) and Anthropic's
messages. Calls go through the official SDKs (`pip install 'recursor[llm]'`), imported only when
a model is used, so the library proposer needs neither.

The SDKs retry rate limits (429), overload and server errors (5xx, 529), timeouts and broken
connections themselves, with exponential backoff and `retry-after`; `max_retries` sets how
often. What still fails after that surfaces as an `LLMError` with a `kind` the researcher records
(`rate-limit`, `server`, `timeout`, `connection`, `bad-request`, `auth`, `garbage`), and the run
goes on.

The API key is read from the environment (or named in the config file by the variable holding
it), handed to the SDK client, and nowhere else: it is not stored in the run, not logged, and the
experiments' environment is built from scratch without it.
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recursor.errors import RecursorError

Provider = Literal["openai", "anthropic"]
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


class LLMError(RecursorError):
    """A model call that failed after the SDK's own retries."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class Endpoint:
    """One model behind one API. Prices are US dollars per million tokens (0: free/local)."""

    model: str
    provider: Provider = "openai"
    base_url: str | None = None  # None: the provider's own API
    api_key_env: str | None = None  # the variable holding the key; None: the provider's default
    price_in: float = 0.0
    price_out: float = 0.0
    max_tokens: int = 4096
    temperature: float | None = None  # None: the model's own default
    timeout: float = 300.0
    max_retries: int = 4
    # the model's context window in tokens; None: large enough for any brief. A brief that
    # does not fit with room for the answer is made compact (recursor.proposer.brief)
    context_tokens: int | None = None

    @property
    def label(self) -> str:
        return self.model

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_in + output_tokens * self.price_out) / 1e6

    def api_key(self) -> str:
        var = self.api_key_env or DEFAULT_KEY_ENV[self.provider]
        key = os.environ.get(var)
        if key:
            return key
        if self.base_url:  # a local server (Ollama, vLLM) usually wants no key; the SDKs want one
            return "not-needed"
        raise RecursorError(f"model {self.model}: no API key: set {var} (or api_key_env in the "
                            "models file), or give base_url for a server that needs none")

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def parse_model(spec: str, **options: Any) -> Endpoint:
    """'gpt-4o-mini', 'openai:gpt-4o-mini', 'anthropic:claude-sonnet-4-5' -> an Endpoint.

    Without a prefix, a model whose name starts with 'claude' is Anthropic's; any other is
    served over the OpenAI protocol.
    """
    head, sep, rest = spec.partition(":")
    # Ollama's tags hold colons too ('qwen2.5-coder:7b'): only a provider's name is a prefix
    provider, model = (head, rest) if sep and head in DEFAULT_KEY_ENV else ("", spec)
    if not model:
        raise RecursorError(f"model {spec!r}: give a model name, e.g. openai:gpt-4o-mini")
    if not provider:
        provider = "anthropic" if model.startswith("claude") else "openai"
    return Endpoint(model=model, provider=provider, **options)


def load_models(path: Path | str) -> list[Endpoint]:
    """The `[[models]]` tables of a TOML file, each an Endpoint (unknown keys are errors)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise RecursorError(f"models file {path}: {err}") from None
    tables = data.get("models")
    if not isinstance(tables, list) or not tables:
        raise RecursorError(f"models file {path}: no [[models]] table")
    known = set(Endpoint.__dataclass_fields__)
    out = []
    for i, table in enumerate(tables, start=1):
        unknown = set(table) - known
        if unknown or "model" not in table:
            why = f"unknown keys {sorted(unknown)}" if unknown else "no 'model'"
            raise RecursorError(f"models file {path}: model {i}: {why}; keys are "
                                f"{', '.join(sorted(known))}")
        if table.get("provider", "openai") not in DEFAULT_KEY_ENV:
            raise RecursorError(f"models file {path}: model {i}: provider must be openai or "
                                f"anthropic, not {table['provider']!r}")
        out.append(Endpoint(**table))
    return out


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    seconds: float
    truncated: bool  # the model hit max_tokens: the answer is cut off


@dataclass
class ChatClient:
    """Sends one conversation to an endpoint. Clients are made once per endpoint and reused."""

    endpoint: Endpoint
    _client: Any = field(default=None, repr=False)

    def _sdk(self) -> Any:
        if self._client is None:
            e = self.endpoint
            try:
                if e.provider == "anthropic":
                    import anthropic

                    self._client = anthropic.Anthropic(
                        api_key=e.api_key(), base_url=e.base_url, timeout=e.timeout,
                        max_retries=e.max_retries)
                else:
                    import openai

                    self._client = openai.OpenAI(
                        api_key=e.api_key(), base_url=e.base_url, timeout=e.timeout,
                        max_retries=e.max_retries)
            except ImportError:
                raise RecursorError(f"the {e.provider} SDK is not installed: pip install "
                                    "'recursor[llm]'") from None
        return self._client

    def chat(self, system: str, messages: list[dict[str, str]],
             temperature: float | None = None) -> Reply:
        """`messages`: [{"role": "user"|"assistant", "content": str}, ...], user first;
        `temperature` overrides the endpoint's for this call."""
        e, client = self.endpoint, self._sdk()
        if temperature is not None:
            import dataclasses

            e = dataclasses.replace(e, temperature=temperature)
        t0 = time.monotonic()
        try:
            if e.provider == "anthropic":
                # the 2026 SDKs dropped `temperature` from the signature; the API may still
                # take it, so it goes in the body, and only when the user set it
                extra = {"temperature": e.temperature} if e.temperature is not None else None
                resp = client.messages.create(model=e.model, max_tokens=e.max_tokens,
                                              system=system, messages=messages, extra_body=extra)
                text = "".join(getattr(b, "text", "") for b in resp.content or [])
                usage = resp.usage
                return Reply(text, usage.input_tokens or 0, usage.output_tokens or 0,
                             time.monotonic() - t0, resp.stop_reason == "max_tokens")
            extra = {"temperature": e.temperature} if e.temperature is not None else None
            resp = client.chat.completions.create(
                model=e.model, max_tokens=e.max_tokens, extra_body=extra,
                messages=[{"role": "system", "content": system}, *messages])
            if not resp.choices:
                raise LLMError("garbage", "the answer has no choices")
            choice = resp.choices[0]
            usage = resp.usage
            return Reply(choice.message.content or "",
                         (usage.prompt_tokens or 0) if usage else 0,
                         (usage.completion_tokens or 0) if usage else 0,
                         time.monotonic() - t0, choice.finish_reason == "length")
        except LLMError:
            raise
        except Exception as err:  # noqa: BLE001 - classified below, never swallowed silently
            raise classify(err) from err


def classify(err: Exception) -> LLMError:
    """The SDKs' exceptions, named by what a user can do about them."""
    name = type(err).__name__
    status = getattr(err, "status_code", None)
    message = str(getattr(err, "message", None) or err).splitlines()[0][:300]
    if name == "RateLimitError" or status == 429:
        kind = "rate-limit"
    elif name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        kind = "auth"
    elif name == "APITimeoutError":
        kind = "timeout"
    elif name == "APIConnectionError":
        kind = "connection"
    elif status is not None and status >= 500:
        kind = "server"
    elif status is not None:
        kind = "bad-request"
    else:  # unparseable bodies and answers missing their fields
        kind = "garbage"
    return LLMError(kind, f"{name}: {message}")
