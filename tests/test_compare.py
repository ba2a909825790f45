"""`evalkit compare`: planted regressions are found, re-runs of the same model are not flagged, and
runs on different samples are compared on what they share, saying so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.compare import compare_runs, comparison_tables
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.store import RunResult
from evalkit.testing.scripted import ScriptedBackend
from tests.conftest import make_data_dir
from tests.fixtures_jaster import make_jaster_data

N = 400


@pytest.fixture(scope="module")
def gsm8k_data(tmp_path_factory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data"), n_test=N, n_train=5)


def answer_of(request) -> int:
    words = request.prompt.rsplit("Question: ", 1)[1].split()
    return int(words[2]) + int(words[6])


def gsm8k_run(data: Path, out: Path, correct, **spec) -> RunResult:
    """A gsm8k run whose reply to sample i is right when correct(i)."""
    def reply(request):
        right = answer_of(request)
        return f"#### {right if correct(int(request.sample_id)) else right + 1}"

    fields = dict(tasks=["gsm8k"], model="scripted/fake", data_dir=str(data), num_fewshot=1, **spec)
    run_evaluation(RunSpec(**fields), out, cache_path=None, backend=ScriptedBackend(reply))
    return RunResult.read(out)


def test_thirty_of_four_hundred_flipped_to_wrong_is_a_significant_regression(gsm8k_data, tmp_path):
    base = gsm8k_run(gsm8k_data, tmp_path / "a", lambda i: i % 3 != 0)
    worse = gsm8k_run(gsm8k_data, tmp_path / "b", lambda i: i % 3 != 0 and not (i % 3 == 1 and i < 90))
    row = compare_runs([base, worse]).task("gsm8k").row("all", "strict_match")
    test = row.tests[1]
    assert (test.improved, test.regressed, test.n) == (0, 30, N)
    assert row.delta(1) == pytest.approx(-30 / N) and test.delta == pytest.approx(row.delta(1))
    assert test.method == "mcnemar-exact" and row.adjusted_p[1] < 1e-8 and row.significant(1)
    assert test.ci_low < row.delta(1) < test.ci_high < 0


def test_a_rerun_of_the_same_model_with_another_seed_is_not_flagged(gsm8k_data, tmp_path):
    """Sampled answers: each problem has its own chance of being solved; two seeds draw independently."""
    skill = np.random.default_rng(0).beta(2, 2, N)
    flagged, p_values = 0, []
    for seed in range(8):
        draws = [np.random.default_rng(100 + 2 * seed + k).uniform(size=N) < skill for k in range(2)]
        runs = [gsm8k_run(gsm8k_data, tmp_path / f"s{seed}{k}", lambda i, d=d: bool(d[i])) for k, d in enumerate(draws)]
        row = compare_runs(runs).task("gsm8k").row("all", "strict_match")
        assert row.tests[1].improved > 20 and row.tests[1].regressed > 20  # the re-runs really differ
        flagged += row.significant(1)
        p_values.append(row.adjusted_p[1])
    assert flagged == 0, p_values


def test_runs_on_different_samples_are_compared_on_the_shared_ones_and_say_so(gsm8k_data, tmp_path):
    full = gsm8k_run(gsm8k_data, tmp_path / "a", lambda i: i < 50, limit=100)
    part = gsm8k_run(gsm8k_data, tmp_path / "b", lambda i: i < 50, limit=60)
    task = compare_runs([full, part]).task("gsm8k")
    assert (task.shared, task.counts) == (60, (100, 60))
    assert any("compared on the 60 samples every run has (A: 100, B: 60)" in note for note in task.notes)
    row = task.row("all", "strict_match")
    assert row.values == (pytest.approx(50 / 60), pytest.approx(50 / 60)) and row.n == (60, 60)  # not A's 0.5
    assert row.tests[1].method == "no change" and not row.significant(1)


def test_task_versions_and_missing_tasks_are_named(gsm8k_data, tmp_path):
    a = gsm8k_run(gsm8k_data, tmp_path / "a", lambda i: True, limit=10)
    b_dir = tmp_path / "b"
    run_evaluation(RunSpec(tasks=["gsm8k", "gsm8k:chat"], model="scripted/fake", data_dir=str(gsm8k_data), limit=10,
                           num_fewshot=1), b_dir, cache_path=None, backend=ScriptedBackend(lambda r: "#### 1"))
    manifest = json.loads((b_dir / "run.json").read_text())
    manifest["tasks"]["gsm8k"]["version"] = "lm-eval-gsm8k-4.0"
    (b_dir / "run.json").write_text(json.dumps(manifest))
    comparison = compare_runs([a, RunResult.read(b_dir)])
    assert comparison.notes == ("gsm8k:chat is only in B: not compared",)
    assert "task versions differ (A: lm-eval-gsm8k-3.0, B: lm-eval-gsm8k-4.0)" in comparison.task("gsm8k").notes[0]


def test_grouped_rows_test_the_number_the_table_shows(tmp_path):
    data = make_jaster_data(tmp_path / "data")
    runs = []
    for name, wrap in [("gold", lambda t: t), ("wrapped", lambda t: f"答えは{t}です。")]:
        def reply(request, wrap=wrap):
            return wrap(targets[request.sample_id])
        spec = RunSpec(tasks=["jaster:NLI"], model="scripted/fake", data_dir=str(data), num_fewshot=1)
        from evalkit.plan import prepare_tasks

        targets = {s.id: s.target for s in prepare_tasks(spec)[0].samples}
        run_evaluation(spec, tmp_path / name, cache_path=None, backend=ScriptedBackend(reply))
        runs.append(RunResult.read(tmp_path / name))
    task = compare_runs(runs).task("jaster:NLI")
    for genre in ("all", "NLI", "NLI/jamp"):
        row = task.row(genre, "strict")
        assert row.delta(1) == pytest.approx(-1.0) and row.tests[1].delta == pytest.approx(row.delta(1))
        assert row.significant(1) == (genre != "NLI/jamp"), genre
    # 6 of 6 lost is p = 0.031 alone, but not among the task's 7 rows (Holm): a small dataset proves little
    jamp = task.row("NLI/jamp", "strict")
    assert jamp.tests[1].p_value == pytest.approx(2 / 64) and jamp.adjusted_p[1] > 0.05
    violation = task.row("all", "format_violation")
    assert violation.delta(1) == pytest.approx(1.0) and violation.significant(1)
    table = comparison_tables(compare_runs(runs))[0]
    assert table.columns[:6] == ("genre", "metric", "n", "A", "B", "Δ B")
    avg = next(r for r in table.rows if r[0] == "AVG" and r[1] == "strict")
    assert avg[3:5] == ("1.0000", "0.0000") and avg[5].startswith("-1.0000**")  # Monte Carlo p: at best 2/10^4


def test_avg_is_tested_on_its_own_categories_and_the_extension_row_on_all(tmp_path):
    """Only CoLA answers differ: llm-jp-eval's AVG (no CoLA) does not move; AVG+CoLA+STS does, and is tested."""
    data = make_jaster_data(tmp_path / "data")
    from evalkit.plan import prepare_tasks

    spec = RunSpec(tasks=["jaster"], model="scripted/fake", data_dir=str(data), num_fewshot=1)
    samples = {s.id: s for s in prepare_tasks(spec)[0].samples}
    runs = []
    for name, wrong in [("gold", ()), ("cola-wrong", ("CoLA",))]:
        def reply(request, wrong=wrong):
            sample = samples[request.sample_id]
            return "9" if sample.metadata["category"] in wrong else sample.target
        run_evaluation(spec, tmp_path / name, cache_path=None, backend=ScriptedBackend(reply))
        runs.append(RunResult.read(tmp_path / name))
    task = compare_runs(runs).task("jaster")
    avg, extended = task.row("all", "strict"), task.row("all+CoLA+STS", "strict")
    assert avg.delta(1) == 0.0 and (avg.tests[1].improved, avg.tests[1].regressed) == (0, 0)
    cola = task.row("CoLA", "strict")
    assert cola.delta(1) == pytest.approx(-1.0)
    groups = [g for g in dict.fromkeys(r.genre for r in task.rows) if "/" not in g and not g.startswith("all")]
    assert extended.delta(1) == pytest.approx(-1.0 / len(groups))
    assert extended.tests[1].regressed == cola.tests[1].regressed > 0


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": "200"})


def test_the_command_prints_tables_csv_and_json(gsm8k_data, tmp_path):
    gsm8k_run(gsm8k_data, tmp_path / "a", lambda i: i % 2 == 0, limit=80)
    gsm8k_run(gsm8k_data, tmp_path / "b", lambda i: i % 4 == 0, limit=80)
    table = invoke("compare", tmp_path / "a", tmp_path / "b")
    assert table.exit_code == 0, table.stderr
    assert "gsm8k: A vs B" in table.stdout and "-0.2500***" in table.stdout
    rows = json.loads(invoke("compare", tmp_path / "a", tmp_path / "b", "--format", "json").stdout)["rows"]
    strict = next(r for r in rows if (r["genre"], r["metric"]) == ("all", "strict_match"))
    assert (strict["delta"], strict["improved"], strict["regressed"], strict["test"]) == (-0.25, 0, 20, "mcnemar-exact")
    csv = invoke("compare", tmp_path / "a", tmp_path / "b", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("task,genre,metric,baseline,candidate,baseline_value,candidate_value,delta")
    one = invoke("compare", tmp_path / "a")
    assert one.exit_code == 2 and "compare needs at least two runs" in one.stderr
