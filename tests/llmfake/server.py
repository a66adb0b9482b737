"""FakeLLM: a real HTTP server on 127.0.0.1 that answers the `openai` and `anthropic` SDKs from a script.

    with FakeLLM(["Hello there."]) as llm:
        client = openai.OpenAI(base_url=llm.url + "/v1", api_key="sk-test", max_retries=0)
        assert client.chat.completions.create(model="gpt-4o-mini", messages=[...]).choices[0].message.content

Endpoints: POST /v1/chat/completions (OpenAI), POST /v1/messages (Anthropic), GET /v1/models (either list
format, chosen by the `anthropic-version` header). Anything else is a 404 in the provider's error shape.
Only the two completion endpoints consume script entries; every request is recorded in `FakeLLM.requests`.

As a pytest fixture: `from llmfake import server` then `fake_llm = server.fake_llm` in the test module or a
conftest (an assignment, not an import, so that ruff does not see the test arguments as redefinitions).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest

Protocol = Literal["openai", "anthropic"]

RECORDED = Path(__file__).parent / "recorded"
DEFAULT_MODELS = ("gpt-4o-mini", "claude-3-5-haiku-latest")

# Both SDKs ignore `retry-after: 0` (they only honour a delay > 0) and fall back to a 0.5-8 s backoff;
# `retry-after-ms` is read first by both, so 10 ms keeps retry tests fast while staying a real header.
FAST_RETRY = {"retry-after": "0", "retry-after-ms": "10"}
RETRYABLE = {408, 409, 429}
NO_RETRY = {"x-should-retry": "false"}  # both SDKs obey this header before any status rule

OPENAI_ERROR_TYPES = {429: "requests"}  # otherwise server_error (5xx) or invalid_request_error (4xx)
OPENAI_ERROR_CODES = {401: "invalid_api_key", 404: "unknown_url", 429: "rate_limit_exceeded"}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    504: "timeout_error", 529: "overloaded_error",
}
DEFAULT_MESSAGES = {400: "Invalid request.", 401: "Invalid API key.", 404: "Not found.",
                    429: "Rate limit reached. Please try again later.",
                    500: "The server had an error while processing your request.", 529: "Overloaded"}


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case keys
    body: Any  # the parsed JSON body; None for a GET or a body that is not JSON
    protocol: Protocol

    @property
    def api_key(self) -> str | None:
        """The key from `Authorization: Bearer` (both SDKs here, anthropic included) or from `x-api-key`."""
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else self.headers.get("x-api-key")

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def prompt(self) -> str:
        """The system prompt and the messages' text, one piece a line (for callables and token counts)."""
        if not isinstance(self.body, dict):
            return ""
        return "\n".join([*_texts(self.body.get("system")), *_texts(self.body.get("messages"))])


@dataclass
class Reply:
    """One scripted answer. Precedence: `raw`, then an error (`status` >= 400), then `body`, then `text`."""

    text: str = ""
    status: int = 200
    body: Any = None  # a dict/list is sent verbatim as JSON; for an error a str is the message, wrapped
    raw: bytes | None = None  # the response body as-is (content-type application/json unless in `headers`)
    headers: dict[str, str] | None = None  # None: FAST_RETRY on retryable errors, nothing otherwise
    delay: float = 0.0  # seconds to wait before answering, to trip client timeouts
    finish: Literal["stop", "length"] = "stop"  # anthropic: "end_turn" | "max_tokens"
    input_tokens: int | None = None  # None: words in the request's system prompt and messages
    output_tokens: int | None = None  # None: words in `text`

    @classmethod
    def from_recording(cls, path: str | Path, *, status: int = 200) -> Reply:
        """Serve a recorded JSON body verbatim (an error recording needs its `status`)."""
        return cls(status=status, body=json.loads(Path(path).read_text()))


Entry = Reply | dict | str | Callable[[Recorded], "Reply | dict | str"]


def _as_reply(entry: Any, request: Recorded) -> Reply:
    if callable(entry):
        entry = entry(request)
    if isinstance(entry, str):
        return Reply(text=entry)
    if isinstance(entry, dict):
        return Reply(**entry)
    if isinstance(entry, Reply):
        return entry
    raise TypeError(f"a script entry must be a Reply, dict, str or callable, not {type(entry).__name__}")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # a client that hangs up (a cancelled or timed-out request) is what some tests do; any
        # other error is printed as usual
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeLLM:
    """A loopback server answering both protocols from a script. A context manager; `fake_llm` for pytest."""

    def __init__(self, script: Iterable[Entry] | None = None, default: Entry | None = None,
                 *, models: Sequence[str] = DEFAULT_MODELS) -> None:
        self.default = default
        self.models = list(models)
        self.requests: list[Recorded] = []
        self._script: deque[Entry] = deque(script or ())
        self._lock = threading.Lock()
        self._closing = threading.Event()  # wakes handlers sleeping in a `delay` when the server closes
        self._ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # a short poll interval: shutdown() waits up to one interval, and each test closes a server
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="FakeLLM", daemon=True)
        self._thread.start()

    def push(self, *replies: Entry) -> None:
        with self._lock:
            self._script.extend(replies)

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, request: Recorded) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests)

    def _next_entry(self) -> Entry | None:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _new_id(self) -> int:
        with self._lock:
            return next(self._ids)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A FakeLLM with an empty script: the test push()es what it expects, and it is closed afterwards."""
    with FakeLLM() as llm:
        yield llm


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive as the real APIs do, so the SDKs reuse them across retries
    protocol_version = "HTTP/1.1"
    server_version = "FakeLLM/1"
    fake: FakeLLM

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        self.fake = self.server.fake  # type: ignore[attr-defined]
        if self.fake._closing.is_set():
            # a kept-alive connection outliving close(): hang up, as a stopped server would
            self.close_connection = True
            return
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        is_anthropic = path == "/v1/messages" or "anthropic-version" in headers
        request = Recorded(method, path, headers, body, "anthropic" if is_anthropic else "openai")
        number = self.fake._record(request)
        try:
            self._route(request, number, raw)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout); nothing left to answer

    def _route(self, request: Recorded, number: int, raw: bytes) -> None:
        endpoint = (request.method, request.path)
        if endpoint == ("GET", "/v1/models"):
            self._send_json(200, _models_list(request.protocol, self.fake.models))
        elif endpoint not in {("POST", "/v1/chat/completions"), ("POST", "/v1/messages")}:
            self._send_error(request.protocol, 404, f"Unknown request URL: {request.method} {request.path}.")
        elif not isinstance(request.body, dict):
            self._send_error(request.protocol, 400, f"The request body is not a JSON object: {raw[:200]!r}")
        else:
            # a failure of the test's script is a 500 that no SDK retries (x-should-retry), so it surfaces
            # at once with its cause instead of as a dropped connection
            entry = self.fake._next_entry()
            if entry is None:
                message = (f"FakeLLM script ran out: request #{number} ({request.method} {request.path}) "
                           "has no scripted reply; push() more replies or give a default.")
                self._send_error(request.protocol, 500, message, NO_RETRY)
                return
            try:
                reply = _as_reply(entry, request)
            except Exception as error:  # any failure of a script callable goes to the client
                message = f"FakeLLM script entry for request #{number} raised {type(error).__name__}: {error}"
                self._send_error(request.protocol, 500, message, NO_RETRY)
                return
            self._reply(request, reply)

    def _reply(self, request: Recorded, reply: Reply) -> None:
        if reply.delay and self.fake._closing.wait(reply.delay):
            self.close_connection = True  # closed while waiting: hang up without an answer
            return
        headers = reply.headers
        if headers is None:
            headers = FAST_RETRY if reply.status in RETRYABLE or reply.status >= 500 else {}
        if reply.raw is not None:
            self._send(reply.status, reply.raw, {"content-type": "application/json", **headers})
        elif reply.status >= 400:
            if isinstance(reply.body, dict | list):
                self._send_json(reply.status, reply.body, headers)
            else:
                message = reply.body or DEFAULT_MESSAGES.get(reply.status, f"HTTP {reply.status}")
                self._send_error(request.protocol, reply.status, message, headers)
        elif reply.body is not None:
            self._send_json(reply.status, reply.body, headers)
        else:
            self._complete(request, reply, headers)

    def _complete(self, request: Recorded, reply: Reply, headers: dict[str, str]) -> None:
        body = request.body
        model = str(body.get("model", "unknown-model"))
        usage = (len(request.prompt.split()) if reply.input_tokens is None else reply.input_tokens,
                 len(reply.text.split()) if reply.output_tokens is None else reply.output_tokens)
        n = self.fake._new_id()
        if request.protocol == "anthropic":
            headers = {"request-id": f"req_fake{n:06d}", **headers}
            if request.stream:
                self._send_sse(_anthropic_events(n, model, reply, usage), headers)
            else:
                self._send_json(200, _anthropic_message(n, model, reply, usage), headers)
        else:
            headers = {"x-request-id": f"req_fake{n:06d}", **headers}
            if request.stream:
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._send_sse(_openai_chunks(n, model, reply, usage, include_usage), headers)
            else:
                self._send_json(200, _openai_completion(n, model, reply, usage), headers)

    def _send_error(self, protocol: Protocol, status: int, message: str,
                    headers: dict[str, str] | None = None) -> None:
        if protocol == "anthropic":
            fallback = "api_error" if status >= 500 else "invalid_request_error"
            kind = ANTHROPIC_ERROR_TYPES.get(status, fallback)
            body: dict = {"type": "error", "error": {"type": kind, "message": message},
                          "request_id": "req_fake_error"}
        else:
            fallback = "server_error" if status >= 500 else "invalid_request_error"
            kind = OPENAI_ERROR_TYPES.get(status, fallback)
            body = {"error": {"message": message, "type": kind, "param": None,
                              "code": OPENAI_ERROR_CODES.get(status)}}
        self._send_json(status, body, headers)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_sse(self, events: Iterable[str], headers: dict[str, str]) -> None:
        # chunked transfer, one chunk per event, as the real APIs stream
        self.send_response(200)
        for name, value in {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache",
                            **headers, "transfer-encoding": "chunked"}.items():
            self.send_header(name, value)
        self.end_headers()
        for event in events:
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _texts(value: Any) -> list[str]:
    """The text in a system prompt or message list, whether plain strings or content blocks."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        return _texts(value.get("content")) + _texts(value.get("text"))
    return []


def _pieces(text: str) -> list[str]:
    """Stream deltas: one word with its trailing space each, so that they join back to `text` exactly."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def _models_list(protocol: Protocol, models: list[str]) -> dict:
    if protocol == "anthropic":
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2024-10-22T00:00:00Z"}
                for m in models]
        return {"data": data, "has_more": False, "first_id": models[0] if models else None,
                "last_id": models[-1] if models else None}
    data = [{"id": m, "object": "model", "created": 1721172741, "owned_by": "system"} for m in models]
    return {"object": "list", "data": data}


def _openai_usage(usage: tuple[int, int]) -> dict:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _openai_completion(n: int, model: str, reply: Reply, usage: tuple[int, int]) -> dict:
    return {
        "id": f"chatcmpl-fake{n:06d}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text, "refusal": None,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": reply.finish}],
        "usage": _openai_usage(usage), "service_tier": "default", "system_fingerprint": "fp_fakellm",
    }


def _openai_chunks(n: int, model: str, reply: Reply, usage: tuple[int, int],
                   include_usage: bool) -> Iterator[str]:
    head = {"id": f"chatcmpl-fake{n:06d}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "service_tier": "default", "system_fingerprint": "fp_fakellm"}
    # with include_usage every chunk carries "usage": null, and one last chunk with no choices carries it
    tail = {"usage": None} if include_usage else {}

    def chunk(delta: dict, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return f"data: {json.dumps({**head, 'choices': [choice], **tail})}\n\n"

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _pieces(reply.text):
        yield chunk({"content": piece})
    yield chunk({}, reply.finish)
    if include_usage:
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': _openai_usage(usage)})}\n\n"
    yield "data: [DONE]\n\n"


def _anthropic_usage(input_tokens: int, output_tokens: int) -> dict:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "output_tokens": output_tokens, "service_tier": "standard"}


def _stop_reason(reply: Reply) -> str:
    return {"stop": "end_turn", "length": "max_tokens"}[reply.finish]


def _anthropic_message(n: int, model: str, reply: Reply, usage: tuple[int, int]) -> dict:
    return {"id": f"msg_fake{n:06d}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": reply.text}], "stop_reason": _stop_reason(reply),
            "stop_sequence": None, "usage": _anthropic_usage(*usage)}


def _anthropic_events(n: int, model: str, reply: Reply, usage: tuple[int, int]) -> Iterator[str]:
    def event(kind: str, data: dict) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    # the real API reports 1 output token at the start and the total in message_delta
    message = {**_anthropic_message(n, model, reply, (usage[0], 1)), "content": [], "stop_reason": None}
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield event("ping", {})
    for piece in _pieces(reply.text):
        yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
    yield event("content_block_stop", {"index": 0})
    yield event("message_delta", {"delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                                  "usage": {"output_tokens": usage[1]}})
    yield event("message_stop", {})
