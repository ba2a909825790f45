"""Cache keys, the replay file format, retry timing and the small parsers of the OpenAI backend."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from evalkit.backends import load_backend
from evalkit.backends.managed import ManagedBackend, RetryPolicy
from evalkit.backends.openai_api import parse_retry_after, status_error
from evalkit.redact import redact_url
from evalkit.backends.replay import ReplayBackend
from evalkit.cache import RequestCache, request_key
from evalkit.errors import EvalkitError
from evalkit.registry import all_task_names, build_task, parse_task_list, TaskOptions
from evalkit.testing.scripted import ScriptedBackend
from evalkit.types import Completion, GenerationParams, Request, RequestError

BASE = Request(kind="completion", prompt="Q: 1+1?\nA:", params=GenerationParams(max_tokens=16, stop=("Q:",)))
IDENTITY = {"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1"}


@pytest.mark.parametrize(
    "changed",
    [
        replace(BASE, prompt="Q: 1+2?\nA:"),
        replace(BASE, params=replace(BASE.params, max_tokens=17)),
        replace(BASE, params=replace(BASE.params, temperature=0.7)),
        replace(BASE, params=replace(BASE.params, stop=())),
        replace(BASE, params=replace(BASE.params, seed=1)),
        replace(BASE, params=replace(BASE.params, top_p=0.9)),
        replace(BASE, choice=1),
        Request(kind="chat", messages=(("user", "Q: 1+1?\nA:"),), params=BASE.params),
    ],
)
def test_everything_that_determines_an_answer_is_in_the_cache_key(changed):
    assert request_key(IDENTITY, changed) != request_key(IDENTITY, BASE)


def test_where_an_answer_belongs_is_not_in_the_key_but_the_backend_is():
    assert request_key(IDENTITY, replace(BASE, task="x", sample_id="9", turn=1)) == request_key(IDENTITY, BASE)
    assert request_key({**IDENTITY, "model": "other"}, BASE) != request_key(IDENTITY, BASE)
    assert request_key({**IDENTITY, "base_url": "http://127.0.0.1:2/v1"}, BASE) != request_key(IDENTITY, BASE)


def test_cache_keeps_answers_and_never_errors(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    cache.put("a", Completion(text="42", finish_reason="stop", completion_tokens=1))
    cache.put("b", Completion(text=None, error=RequestError("http", "boom", status=500)))
    cache.close()
    reopened = RequestCache(tmp_path / "c.sqlite")
    found = reopened.get_many(["a", "b", "c"])
    assert list(found) == ["a"] and found["a"].text == "42" and found["a"].cached


def test_cache_serves_hits_without_calling_the_backend(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = ScriptedBackend(lambda r: "fresh")
    managed = ManagedBackend(backend, cache=cache)

    async def collect():
        return [c async for _, c in managed.stream([BASE, replace(BASE, prompt="other")])]

    first = asyncio.run(collect())
    second = asyncio.run(collect())
    assert len(backend.received) == 2
    assert [c.text for c in second] == ["fresh", "fresh"] and all(c.cached for c in second)
    assert not any(c.cached for c in first)


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"task": "t", "sample_id": 0, "output": "x"}', "{oops"], r"replay.jsonl:2: not valid JSON"),
        (['{"task": "t", "sample_id": 0}'], r"replay.jsonl:1: missing output"),
        (['["t", 0, "x"]'], r"replay.jsonl:1: expected"),
        (['{"task": "t", "sample_id": 0, "output": 5}'], r"output must be a string or a list of strings"),
        (['{"task": "t", "sample_id": true, "output": "x"}'], r"sample_id a string or integer"),
        (['{"task": "t", "sample_id": 1, "output": "x"}', '{"task": "t", "sample_id": "1", "output": "y"}'],
         r"replay.jsonl:2: t sample 1 appears twice"),
    ],
)
def test_malformed_replay_files_name_the_line(tmp_path, lines, message):
    path = tmp_path / "replay.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalkitError, match=message):
        ReplayBackend(str(path))


def test_replay_answers_by_task_sample_and_turn(tmp_path):
    path = tmp_path / "replay.jsonl"
    path.write_text(json.dumps({"task": "t", "sample_id": 7, "output": ["one", "two"]}) + "\n\n")
    backend = ReplayBackend(str(path))
    asks = [replace(BASE, task="t", sample_id="7", turn=1), replace(BASE, task="t", sample_id="7", turn=2),
            replace(BASE, task="t", sample_id="8")]
    two, missing_turn, missing_sample = asyncio.run(backend.generate(asks))
    assert two.text == "two"
    assert missing_turn.error == RequestError("missing", "the replay file has no output for turn 3")
    assert str(missing_sample.error) == "missing: the replay file has no output for t sample 8"
    assert missing_sample.text is None


@pytest.mark.parametrize("spec", ["gpt-4o", "openai/", "hf/model", "", "replay"])
def test_model_spec_must_be_backend_slash_model(spec):
    with pytest.raises(EvalkitError, match="BACKEND/MODEL"):
        load_backend(spec)


def test_official_api_without_a_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EvalkitError, match="OPENAI_API_KEY is not set"):
        load_backend("openai/gpt-4o")


def test_retry_delay_is_capped_and_honours_retry_after():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=60)
    assert all(0.5 <= policy.delay(1, None) <= 1.0 for _ in range(50))
    assert all(policy.delay(10, None) <= 8.0 for _ in range(50))
    assert policy.delay(1, 20.0) == 20.0
    assert policy.delay(1, 10_000.0) == 60  # a server cannot park us for hours


@pytest.mark.parametrize(
    "headers, seconds",
    [({"retry-after": "3"}, 3.0), ({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "-4"}, 0.0),
     ({"retry-after": "soon"}, None), ({}, None), (None, None),
     ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0)],
)
def test_parse_retry_after(headers, seconds):
    assert parse_retry_after(headers) == seconds


def test_credentials_in_a_base_url_are_never_written_down():
    assert redact_url("http://user:hunter2@127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_registry_lists_builtins_and_suggests_close_names():
    assert {"gsm8k", "gsm8k:chat", "mgsm_ja", "mgsm_en"} <= set(all_task_names())
    with pytest.raises(EvalkitError, match="did you mean gsm8k"):
        build_task("gsm8kk", TaskOptions())
    with pytest.raises(EvalkitError, match="unknown task 'gsm8k:nope'"):
        build_task("gsm8k:nope", TaskOptions())


@pytest.mark.parametrize("text, error", [("", "empty"), (" , ", "empty"), ("gsm8k,gsm8k", "more than once")])
def test_task_list_parsing(text, error):
    with pytest.raises(EvalkitError, match=error):
        parse_task_list(text)


STRUCTURED = replace(BASE, params=replace(BASE.params, response_format='{"type": "json_schema"}'))
LLAMA_CPP_REFUSAL = ("Error code: 500 - 1 validation error: {'loc': ('body', 'response_format', 'type'), "
                     "'msg': \"Input should be 'text' or 'json_object'\"}")


@pytest.mark.parametrize("request_, status, message, kind, retryable", [
    (BASE, 429, "slow down", "http", True),
    (BASE, 503, "busy", "http", True),
    (BASE, 400, "context too long", "http", False),
    (BASE, 500, "response_format in the prompt text", "http", True),  # only a request that asked for it is refused for it
    (STRUCTURED, 400, "response_format json_schema is not supported", "unsupported", False),  # OpenAI, vLLM
    (STRUCTURED, 422, "unprocessable", "unsupported", False),
    (STRUCTURED, 500, LLAMA_CPP_REFUSAL, "unsupported", False),  # llama-cpp-python
    (STRUCTURED, 500, "out of memory", "http", True),
    (STRUCTURED, 429, "slow down", "http", True),
])
def test_http_errors_become_typed_errors(request_, status, message, kind, retryable):
    error = status_error(request_, status, message, retry_after=2.0 if retryable else None)
    assert (error.kind, error.status, error.retryable) == (kind, status, retryable)
    assert error.label == (f"HTTP {status}" if kind == "http" else "unsupported")


def test_an_error_reads_as_one_line_with_its_attempts():
    assert str(RequestError("http", "busy", status=503, attempts=3)) == "HTTP 503: busy (after 3 attempts)"
    assert str(RequestError("timeout", "no answer within 5 s")) == "timeout: no answer within 5 s"
