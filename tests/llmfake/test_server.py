"""FakeLLM driven by the real `openai` and `anthropic` SDKs over loopback HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from types import ModuleType
from typing import Any

import anthropic
import openai
import pytest

from llmfake import server
from llmfake.server import RECORDED, FakeLLM, Recorded, Reply

fake_llm = server.fake_llm  # the fixture: a fresh FakeLLM with an empty script per test

SDKS: dict[str, ModuleType] = {"openai": openai, "anthropic": anthropic}
SYSTEM = "You are a terse researcher."  # 5 words
PROMPT = "Propose one idea."  # 3 words


def openai_client(llm: FakeLLM, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm.url + "/v1", api_key="sk-test", **{"max_retries": 0, **options})


def anthropic_client(llm: FakeLLM, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=llm.url, api_key="sk-ant-test", **{"max_retries": 0, **options})


def ask(llm: FakeLLM, sdk: str, prompt: str = PROMPT, **options: Any) -> str:
    """One non-streaming call through the real SDK `sdk`; returns the assistant's text."""
    if sdk == "openai":
        with openai_client(llm, **options) as client:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
            completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            return completion.choices[0].message.content
    with anthropic_client(llm, **options) as client:
        message = client.messages.create(model="claude-3-5-haiku-latest", max_tokens=200, system=SYSTEM,
                                         messages=[{"role": "user", "content": prompt}])
        return message.content[0].text


both = pytest.mark.parametrize("sdk", ["openai", "anthropic"])


def test_openai_plain_completion(fake_llm: FakeLLM) -> None:
    fake_llm.push(Reply("Use a cosine schedule."))
    with openai_client(fake_llm) as client:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}])
    assert completion.choices[0].message.content == "Use a cosine schedule."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 4, 12)

    (request,) = fake_llm.requests
    assert (request.method, request.path, request.protocol) == ("POST", "/v1/chat/completions", "openai")
    assert request.headers["authorization"] == "Bearer sk-test" and request.api_key == "sk-test"
    assert request.body["model"] == "gpt-4o-mini"
    # openai carries the system prompt as the first message
    assert request.body["messages"] == [{"role": "system", "content": SYSTEM},
                                        {"role": "user", "content": PROMPT}]
    assert "system" not in request.body


def test_anthropic_plain_completion(fake_llm: FakeLLM) -> None:
    fake_llm.push(Reply("Tie the embeddings."))
    with anthropic_client(fake_llm) as client:
        message = client.messages.create(model="claude-3-5-haiku-latest", max_tokens=200, system=SYSTEM,
                                         messages=[{"role": "user", "content": PROMPT}])
    assert [block.text for block in message.content] == ["Tie the embeddings."]
    assert (message.stop_reason, message.role) == ("end_turn", "assistant")
    assert message.model == "claude-3-5-haiku-latest"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (8, 3)

    (request,) = fake_llm.requests
    assert (request.method, request.path, request.protocol) == ("POST", "/v1/messages", "anthropic")
    # this SDK sends the key as a Bearer token, not in x-api-key (which the real API also accepts)
    assert request.api_key == "sk-ant-test"
    assert request.headers["anthropic-version"]
    assert (request.body["model"], request.body["max_tokens"]) == ("claude-3-5-haiku-latest", 200)
    # anthropic carries the system prompt beside the messages, not in them
    assert request.body["system"] == SYSTEM
    assert request.body["messages"] == [{"role": "user", "content": PROMPT}]


@both
def test_finish_length_and_explicit_token_counts(fake_llm: FakeLLM, sdk: str) -> None:
    fake_llm.push(Reply("Cut", finish="length", input_tokens=1000, output_tokens=7))
    messages = [{"role": "user", "content": PROMPT}]
    if sdk == "openai":
        with openai_client(fake_llm) as client:
            completion = client.chat.completions.create(model="m", messages=messages)
        assert completion.choices[0].finish_reason == "length"
        assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (1000, 7)
    else:
        with anthropic_client(fake_llm) as client:
            message = client.messages.create(model="m", max_tokens=7, messages=messages)
        assert message.stop_reason == "max_tokens"
        assert (message.usage.input_tokens, message.usage.output_tokens) == (1000, 7)


def test_openai_streaming(fake_llm: FakeLLM) -> None:
    text = "Warm up for  5% of steps,\nthen decay."
    fake_llm.push(text, text)
    with openai_client(fake_llm) as client:
        messages = [{"role": "user", "content": PROMPT}]
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                     stream_options={"include_usage": True}))
        plain = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    # with include_usage the last chunk has no choices and carries the usage
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in plain) == text
    assert all(c.usage is None for c in plain)
    assert fake_llm.requests[0].stream


def test_anthropic_streaming(fake_llm: FakeLLM) -> None:
    text = "Tie the input and output embeddings."
    fake_llm.push(text, text)
    with anthropic_client(fake_llm) as client:
        with client.messages.stream(model="claude-3-5-haiku-latest", max_tokens=200,
                                    messages=[{"role": "user", "content": PROMPT}]) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        events = list(client.messages.create(model="claude-3-5-haiku-latest", max_tokens=200, stream=True,
                                             messages=[{"role": "user", "content": PROMPT}]))

    assert len(pieces) > 1 and "".join(pieces) == text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 6)
    kinds = [e.type for e in events]  # the SDK drops the `ping` the server sends, as it does the real API's
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@both
def test_rate_limit_then_success_with_retries(fake_llm: FakeLLM, sdk: str) -> None:
    fake_llm.push(Reply(status=429), "Recovered.")
    assert ask(fake_llm, sdk, max_retries=2) == "Recovered."
    assert len(fake_llm.requests) == 2
    # the SDKs number their attempts in a header
    assert [r.headers["x-stainless-retry-count"] for r in fake_llm.requests] == ["0", "1"]


@both
def test_rate_limit_without_retries_raises(fake_llm: FakeLLM, sdk: str) -> None:
    fake_llm.push({"status": 429}, "never sent")
    with pytest.raises(SDKS[sdk].RateLimitError) as caught:
        ask(fake_llm, sdk)
    assert caught.value.status_code == 429
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize(("sdk", "status", "error"), [
    ("openai", 500, openai.InternalServerError),
    ("anthropic", 500, anthropic.InternalServerError),
    ("openai", 529, openai.InternalServerError),  # openai has no class of its own for 529: any 5xx
    ("anthropic", 529, anthropic.OverloadedError),  # a subclass of anthropic.InternalServerError
    ("openai", 400, openai.BadRequestError),
    ("anthropic", 400, anthropic.BadRequestError),
])
def test_error_statuses_raise_the_sdk_classes(fake_llm: FakeLLM, sdk: str, status: int, error: type) -> None:
    fake_llm.push(Reply(status=status, body="Something went wrong."))
    with pytest.raises(error) as caught:
        ask(fake_llm, sdk)
    assert caught.value.status_code == status
    assert "Something went wrong." in str(caught.value)
    body = caught.value.body
    if sdk == "anthropic":
        assert body["type"] == "error" and caught.value.type == body["error"]["type"]
    else:
        assert body["message"] == "Something went wrong."  # openai keeps only the inner `error` object


@both
def test_delay_past_the_client_timeout_raises_timeout(fake_llm: FakeLLM, sdk: str) -> None:
    fake_llm.push(Reply("Too late.", delay=5))
    start = time.monotonic()
    with pytest.raises(SDKS[sdk].APITimeoutError):
        ask(fake_llm, sdk, timeout=0.3)
    assert time.monotonic() - start < 3


@both
@pytest.mark.parametrize("raw", [b"<html><body>502 Bad Gateway</body></html>", b'{"id": "chatcmpl-1", "choi'])
def test_garbage_body_raises(fake_llm: FakeLLM, sdk: str, raw: bytes) -> None:
    # Observed: with content-type application/json both SDKs let the bare json.JSONDecodeError (a ValueError)
    # escape, not an APIError subclass and not retried: callers must catch ValueError too.
    fake_llm.push(Reply(raw=raw))
    with pytest.raises(json.JSONDecodeError):
        ask(fake_llm, sdk)


@both
def test_non_json_content_type_comes_back_as_a_plain_string(fake_llm: FakeLLM, sdk: str) -> None:
    # Observed: without strict response validation the SDKs return the body text as a `str` instead of a
    # completion object, so the caller fails later, on `.choices` / `.content`.
    fake_llm.push(Reply(raw=b"upstream error", headers={"content-type": "text/plain"}))
    with pytest.raises(AttributeError):
        ask(fake_llm, sdk)


def test_recorded_responses_are_served_verbatim(fake_llm: FakeLLM) -> None:
    openai_recording = json.loads((RECORDED / "openai_chat_completion.json").read_text())
    anthropic_recording = json.loads((RECORDED / "anthropic_message.json").read_text())
    fake_llm.push(Reply.from_recording(RECORDED / "openai_chat_completion.json"),
                  Reply.from_recording(RECORDED / "anthropic_message.json"))

    with openai_client(fake_llm) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    assert raw.http_response.json() == openai_recording
    completion = raw.parse()
    assert completion.model == "gpt-4o-mini-2024-07-18"  # the recording's, not the request's
    assert completion.choices[0].message.content == openai_recording["choices"][0]["message"]["content"]
    assert completion.usage.total_tokens == 259

    with anthropic_client(fake_llm) as client:
        raw = client.messages.with_raw_response.create(
            model="claude-3-5-haiku-latest", max_tokens=200, messages=[{"role": "user", "content": PROMPT}])
    assert raw.http_response.json() == anthropic_recording
    message = raw.parse()
    assert message.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert message.content[0].text == anthropic_recording["content"][0]["text"]


def test_recorded_error_is_served_with_its_status(fake_llm: FakeLLM) -> None:
    fake_llm.push(Reply.from_recording(RECORDED / "anthropic_overloaded.json", status=529))
    with pytest.raises(anthropic.OverloadedError) as caught:
        ask(fake_llm, "anthropic")
    assert caught.value.body == json.loads((RECORDED / "anthropic_overloaded.json").read_text())


@both
def test_exhausted_script_answers_500_and_is_not_retried(fake_llm: FakeLLM, sdk: str) -> None:
    fake_llm.push("The only reply.")
    assert ask(fake_llm, sdk) == "The only reply."
    # the x-should-retry: false header keeps even a retrying client from asking again
    with pytest.raises(SDKS[sdk].InternalServerError, match="script ran out") as caught:
        ask(fake_llm, sdk, max_retries=2)
    assert caught.value.status_code == 500
    assert len(fake_llm.requests) == 2


@both
def test_a_failing_script_callable_answers_500_with_its_cause(fake_llm: FakeLLM, sdk: str) -> None:
    def answer(request: Recorded) -> Reply:
        assert "banana" in request.prompt, "the prompt should mention bananas"
        return Reply("unreachable")

    fake_llm.push(answer)
    with pytest.raises(SDKS[sdk].InternalServerError, match="AssertionError: the prompt should mention ban"):
        ask(fake_llm, sdk, max_retries=2)
    assert len(fake_llm.requests) == 1


@both
def test_an_error_on_a_streaming_request_raises_before_any_event(fake_llm: FakeLLM, sdk: str) -> None:
    # real APIs answer a failure before the stream starts as a plain JSON error, and so does the server
    fake_llm.push(Reply(status=529 if sdk == "anthropic" else 503))
    messages = [{"role": "user", "content": PROMPT}]
    with pytest.raises(SDKS[sdk].InternalServerError):
        if sdk == "openai":
            with openai_client(fake_llm) as client:
                client.chat.completions.create(model="m", messages=messages, stream=True)
        else:
            with anthropic_client(fake_llm) as client:
                client.messages.create(model="m", max_tokens=50, messages=messages, stream=True)


def test_closed_server_hangs_up_on_a_kept_alive_connection() -> None:
    llm = FakeLLM(default=Reply("hello"))
    with openai_client(llm) as client:
        assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        llm.close()
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_default_answers_once_the_script_is_empty() -> None:
    with FakeLLM(["first"], default=Reply("always")) as llm:
        assert [ask(llm, "openai") for _ in range(3)] == ["first", "always", "always"]


@both
def test_callable_entry_sees_the_request(fake_llm: FakeLLM, sdk: str) -> None:
    seen: list[Recorded] = []

    def answer(request: Recorded) -> Reply:
        seen.append(request)
        return Reply(f"{request.protocol} heard: {request.prompt.splitlines()[-1]}")

    fake_llm.push(answer)
    assert ask(fake_llm, sdk, prompt="Shrink the model.") == f"{sdk} heard: Shrink the model."
    assert seen == fake_llm.requests
    assert seen[0].prompt == f"{SYSTEM}\nShrink the model."


def test_models_endpoint_and_unknown_paths(fake_llm: FakeLLM) -> None:
    with openai_client(fake_llm) as client:
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "claude-3-5-haiku-latest"]
    with anthropic_client(fake_llm) as client:
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "claude-3-5-haiku-latest"]
    # a base_url without /v1 is a 404, in the provider's shape, so a misconfigured client fails loudly
    with openai.OpenAI(base_url=fake_llm.url, api_key="sk-test", max_retries=0) as client, \
            pytest.raises(openai.NotFoundError, match="Unknown request URL"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}])
    assert fake_llm.requests[-1].path == "/chat/completions"
    assert [r.protocol for r in fake_llm.requests] == ["openai", "anthropic", "openai"]


def test_a_body_that_is_not_json_is_a_400_and_consumes_no_reply(fake_llm: FakeLLM) -> None:
    fake_llm.push("kept")
    request = urllib.request.Request(fake_llm.url + "/v1/messages", data=b"{oops", method="POST",
                                     headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["error"]["type"] == "invalid_request_error"
    assert fake_llm.requests[0].body is None
    assert ask(fake_llm, "anthropic") == "kept"
