"""Three runs over invented data for the report's tests: gold answers, a degraded model, and a noisy one.

Tasks: gsm8k, jaster:NLI (with its categories), mt_bench (a scripted judge) and humaneval (programs
run in the sandbox). The degraded run wraps answers in sentences (format violations), gets some
wrong, fails some requests, and says `<script>` and `onerror` in its replies; the page must show
them as text.
"""

from __future__ import annotations

import random
from pathlib import Path

from evalkit.plan import prepare_tasks
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from evalkit.types import Completion, RequestError
from tests.conftest import make_data_dir
from tests.fixtures_jaster import make_jaster_data
from tests.mt_bench_data import make_mt_bench_data
from tests.test_humaneval_task import PROBLEMS, write_problems

TASKS = ["gsm8k", "jaster:NLI", "mt_bench", "humaneval"]
INJECTED = '<script>window.__evalkit_pwned = 1</script><img src="x" onerror="window.__evalkit_pwned = 2">'


def make_data(root: Path) -> Path:
    make_data_dir(root, n_test=24, n_train=4)
    make_jaster_data(root)
    make_mt_bench_data(root)
    write_problems(root / "humaneval" / "HumanEval.jsonl.gz", PROBLEMS)
    return root


def spec(data: Path, **extra) -> RunSpec:
    return RunSpec(tasks=TASKS, model="scripted/model", data_dir=str(data), num_fewshot=1, limit=8, judge="openai/judge",
                   allow_code_execution=True, max_error_rate=0.5, workers=2, **extra)


def targets(data: Path) -> dict[tuple[str, str], str | None]:
    return {(p.task.name, s.id): s.target for p in prepare_tasks(spec(data).model_copy(update={"judge": None}))
            for s in p.samples}


def make_runs(root: Path) -> list[Path]:
    """gold, degraded and noisy runs of the same samples; returns their folders."""
    data = make_data(root / "data")
    gold = targets(data)

    def gold_reply(request):
        target = gold[request.task, request.sample_id]
        if request.task == "humaneval":
            return target
        return target if target is not None else f"A careful answer to turn {request.turn + 1}, 日本語も含む。"

    def degraded_reply(request):
        n = int("".join(ch for ch in request.sample_id if ch.isdigit()) or 0)
        if n % 5 == 4:
            return Completion(text=None, error=RequestError("http", "overloaded", status=503))
        reply = gold_reply(request)
        if request.task == "humaneval" and n % 2:
            return "    return None\n"
        if request.task in ("gsm8k", "jaster:NLI") and n % 3 == 1:
            return f"答えは{reply}です。 {INJECTED}"
        if request.task == "mt_bench":
            return f"A short answer. {INJECTED}"
        return reply

    noise = random.Random(7)

    def noisy_reply(request):
        return gold_reply(request) if noise.random() < 0.6 else "I am not sure."

    folders = []
    for name, reply, rating in [("gold", gold_reply, 8), ("degraded", degraded_reply, 3), ("noisy", noisy_reply, 6)]:
        judge = ScriptedBackend(lambda request, rating=rating: f"Fine.\nRating: [[{rating}]]")
        run_evaluation(spec(data), root / name, cache_path=None, backend=ScriptedBackend(reply), judge_backend=judge)
        folders.append(root / name)
    return folders
