"""`evalkit import lm-eval`: an lm-eval output folder (invented here, in lm-eval 0.4's layout) becomes a run whose
summary has lm-eval's own numbers, and which compare, gate and show read like any run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.store import RunResult

STAMP = "2026-11-30T10-00-00.000000"


def write_lmeval_output(root: Path, correct: list[bool], flexible: list[bool], model: str = "local__gemma") -> Path:
    """What `lm_eval --tasks gsm8k --output_path ROOT --log_samples` writes: per doc, a line per filter."""
    folder = root / model
    folder.mkdir(parents=True)
    n = len(correct)
    results = {
        "results": {"gsm8k": {
            "alias": "gsm8k",
            "exact_match,strict-match": sum(correct) / n, "exact_match_stderr,strict-match": 0.1,
            "exact_match,flexible-extract": sum(flexible) / n, "exact_match_stderr,flexible-extract": 0.1}},
        "configs": {"gsm8k": {"task": "gsm8k", "output_type": "generate_until"}},
        "versions": {"gsm8k": 3.0},
        "n-samples": {"gsm8k": {"original": 1319, "effective": n}},
        "config": {"model": "local-completions", "model_args": "model=gemma"},
        "model_name": "gemma", "lm_eval_version": "0.4.13",
    }
    (folder / f"results_{STAMP}.json").write_text(json.dumps(results))
    lines = []
    for doc in range(n):
        for filter_name, ok in (("strict-match", correct[doc]), ("flexible-extract", flexible[doc])):
            lines.append({"doc_id": doc, "doc": {"question": f"q{doc}"}, "target": str(doc),
                          "arguments": {"gen_args_0": {"arg_0": f"Question: q{doc}\nAnswer:", "arg_1": {}}},
                          "resps": [[f"reply {doc}"]], "filtered_resps": [str(doc) if ok else "[invalid]"],
                          "filter": filter_name, "metrics": ["exact_match"], "exact_match": float(ok)})
    (folder / f"samples_gsm8k_{STAMP}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root


def test_an_lmeval_folder_becomes_a_run_with_lmevals_numbers(tmp_path):
    out = write_lmeval_output(tmp_path / "lm", [True, False, False, True, False], [True, True, False, True, False])
    result = CliRunner().invoke(cli, ["import", "lm-eval", str(out), "--output-dir", str(tmp_path / "runs")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    (run_dir,) = list((tmp_path / "runs").iterdir())
    run = RunResult.read(run_dir)
    info = run.manifest.tasks["lm_eval:gsm8k"]
    assert (info.strict_metric, info.lenient_metric) == ("exact_match,strict-match", "exact_match,flexible-extract")
    rows = {(r.genre, r.metric): r.value for r in run.manifest.summary}
    assert rows[("all", "exact_match,strict-match")] == pytest.approx(0.4)  # = results_*.json's figure
    assert rows[("all", "exact_match,flexible-extract")] == pytest.approx(0.6)
    assert run.manifest.origin["aggregates"]["gsm8k"]["exact_match,strict-match"] == pytest.approx(0.4)
    first = run.records[0]
    assert (first.sample_id, first.outputs, first.prompt) == ("0", ["reply 0"], "Question: q0\nAnswer:")
    # where the strict filter found nothing ([invalid]) the reply broke the format, as the lm_eval: bridge counts it
    assert [r.format_ok for r in run.records] == [True, False, False, True, False]
    assert (first.answer, run.records[1].answer) == ("0", "[invalid]")
    assert rows[("all", "format_violation")] == pytest.approx(0.6)
    assert first.details["filtered_resps"] == {"strict-match": ["0"], "flexible-extract": ["0"]}
    shown = CliRunner().invoke(cli, ["show", str(run_dir), "--format", "json"])
    assert shown.exit_code == 0, shown.stderr


def test_two_imported_lmeval_runs_compare_and_gate(tmp_path):
    a = write_lmeval_output(tmp_path / "a", [True] * 20, [True] * 20)
    b = write_lmeval_output(tmp_path / "b", [i % 4 == 0 for i in range(20)], [True] * 20)
    for name, folder in (("a", a), ("b", b)):
        assert CliRunner().invoke(cli, ["import", "lm-eval", str(folder), "--output-dir",
                                        str(tmp_path / f"runs_{name}")]).exit_code == 0
    (run_a,) = list((tmp_path / "runs_a").iterdir())
    (run_b,) = list((tmp_path / "runs_b").iterdir())
    compared = CliRunner().invoke(cli, ["compare", str(run_a), str(run_b), "--format", "json"])
    assert compared.exit_code == 0, compared.stderr
    strict = next(r for r in json.loads(compared.stdout)["rows"]
                  if (r["genre"], r["metric"]) == ("all", "exact_match,strict-match"))
    assert strict["delta"] == pytest.approx(-0.75) and strict["regressed"] == 15
    gated = CliRunner().invoke(cli, ["gate", "--baseline", str(run_a), "--candidate", str(run_b)])
    assert gated.exit_code == 1 and "lm_eval:gsm8k" in gated.stdout


def empty(root: Path) -> Path:
    return root


def not_results(root: Path) -> Path:
    (root / "m").mkdir(parents=True)
    (root / "m" / f"results_{STAMP}.json").write_text("[]")
    return root


def without_samples(root: Path) -> Path:
    write_lmeval_output(root, [True], [True])
    (root / "local__gemma" / f"samples_gsm8k_{STAMP}.jsonl").unlink()
    return root


@pytest.mark.parametrize("make, message", [
    (empty, "holds no results_*.json"),
    (not_results, "expected lm-eval's results file"),
    (without_samples, "run lm-eval with --log_samples"),
])
def test_a_folder_that_is_not_lmeval_output_is_one_line(tmp_path, make, message):
    root = tmp_path / "in"
    root.mkdir()
    result = CliRunner().invoke(cli, ["import", "lm-eval", str(make(root)), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr


def test_a_multiple_choice_folder_imports_its_loglikelihoods_as_the_bridge_stores_them(tmp_path):
    """lm-eval logs a log-likelihood as strings (["-1.5", "True"]); the import keeps numbers, like lm_eval:<task>."""
    from evalkit.types import Loglikelihood

    folder = tmp_path / "lm" / "local__gemma"
    folder.mkdir(parents=True)
    results = {"results": {"toy_mc": {"alias": "toy_mc", "acc,none": 0.5, "acc_stderr,none": 0.5}},
               "configs": {"toy_mc": {"task": "toy_mc", "output_type": "multiple_choice"}},
               "versions": {"toy_mc": 1}, "config": {"model": "gguf"}, "model_name": "gemma"}
    (folder / f"results_{STAMP}.json").write_text(json.dumps(results))
    lines = []
    for doc, (lls, acc) in enumerate([((-1.5, -0.5), 1.0), ((-0.25, -2.0), 0.0)]):
        best = lls.index(max(lls))
        lines.append({"doc_id": doc, "target": 1, "arguments": {f"gen_args_{i}": {"arg_0": f"Q{doc}", "arg_1": c}
                                                                for i, c in enumerate((" no", " yes"))},
                      "resps": [[[str(ll), str(i == best)]] for i, ll in enumerate(lls)],
                      "filtered_resps": [[str(ll), str(i == best)] for i, ll in enumerate(lls)],
                      "filter": "none", "metrics": ["acc"], "acc": acc})
    (folder / f"samples_toy_mc_{STAMP}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(cli, ["import", "lm-eval", str(tmp_path / "lm"), "--output-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.stderr
    (run_dir,) = list((tmp_path / "runs").iterdir())
    records = {r.sample_id: r for r in RunResult.read(run_dir).records}
    assert records["0"].outputs == [Loglikelihood(-1.5, False), Loglikelihood(-0.5, True)]
    assert records["1"].outputs == [Loglikelihood(-0.25, True), Loglikelihood(-2.0, False)]
    assert [records[d].scores["acc,none"] for d in ("0", "1")] == [1.0, 0.0]
