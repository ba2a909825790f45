"""Scores on the clean items: a contamination scan's list given to show, compare, gate and report with --exclude."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.exclusion import Exclusion, without
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.store import RunResult
from evalkit.testing.scripted import ScriptedBackend
from tests.conftest import invented_problem, make_data_dir

DIRTY = [2, 5, 6, 9, 11, 14, 17, 20, 23, 26, 29, 31]  # the items the corpus holds, and the candidate gets wrong


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A baseline that answers all 40 items right, a candidate that gets the 12 contaminated ones wrong, and the
    scan that finds those 12 in a corpus."""
    root = tmp_path_factory.mktemp("exclusion")
    data = make_data_dir(root / "data", n_test=40, n_train=4)
    answers = {str(i): invented_problem(i)["answer"] for i in range(40)}

    def run(name, reply):
        spec = RunSpec(tasks=["gsm8k"], model="scripted/model", data_dir=str(data), num_fewshot=1)
        run_evaluation(spec, root / name, cache_path=None, backend=ScriptedBackend(reply))
        return root / name

    baseline = run("baseline", lambda request: answers[request.sample_id])
    candidate = run("candidate", lambda request: "#### -1" if int(request.sample_id) in DIRTY else answers[request.sample_id])
    corpus = root / "corpus.jsonl"
    lines = [{"text": f"Forum post {k}: here is a puzzle for you. {invented_problem(i)['question']} Reply below!"}
             for k, i in enumerate(DIRTY)]
    lines += [{"text": "Unrelated text about pencils and shops, nothing copied from anywhere at all today."}] * 20
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = invoke("contamination", "scan", "--tasks", "gsm8k", "--data-dir", data, "--corpus", corpus,
                    "-o", root / "scan", "--workers", "1")
    assert result.exit_code == 0, result.output
    return root, baseline, candidate


def test_the_scan_writes_the_list_of_contaminated_items(setting):
    root, _, _ = setting
    listed = [json.loads(line) for line in (root / "scan" / "contaminated.jsonl").read_text().splitlines()]
    assert sorted(int(item["sample_id"]) for item in listed) == DIRTY
    assert all(item["task"] == "gsm8k" and item["parts"] == ["input"] for item in listed)
    rows = list(csv.DictReader((root / "scan" / "summary.csv").open()))
    assert rows[0] == {"task": "gsm8k", "genre": "all", "items": "40", "checkable": "40", "contaminated": "12",
                       "fraction": "0.3"}
    settings = json.loads((root / "scan" / "scan.json").read_text())
    assert settings["ngram"] == {"en": 13, "ja": 20} and settings["documents"] == 32


def test_without_recomputes_every_metric_on_the_rest(setting):
    root, _, candidate = setting
    run = RunResult.read(candidate)
    clean = without(run, Exclusion.load(root / "scan"))
    assert clean.removed == {"gsm8k": 12} and clean.kept == {"gsm8k": 28}
    assert len(clean.run.records) == 28 and not any(int(r.sample_id) in DIRTY for r in clean.run.records)
    values = {(r.genre, r.metric): (r.value, r.n) for r in clean.run.manifest.summary}
    assert values["all", "strict_match"] == (1.0, 28)
    before = {(r.genre, r.metric): (r.value, r.n) for r in run.manifest.summary}
    assert before["all", "strict_match"] == (28 / 40, 40)
    assert run.records == RunResult.read(candidate).records  # the run itself is untouched


def test_show_puts_all_and_clean_items_side_by_side(setting):
    root, _, candidate = setting
    result = invoke("show", candidate, "--exclude", root / "scan", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {(r["genre"], r["metric"]): r for r in csv.DictReader(io.StringIO(result.output))}
    strict = rows["all", "strict_match"]
    assert (float(strict["value"]), strict["n"], float(strict["clean_value"]), strict["clean_n"], strict["removed"]) == \
        (0.7, "40", 1.0, "28", "12")
    table = invoke("show", candidate, "--exclude", root / "scan" / "contaminated.jsonl", "--format", "md").output
    assert "all items vs clean items" in table and "gsm8k: 12 removed" in table
    assert "| gsm8k | all | strict_match | 0.7000 | 40 | 1.0000 | 28 | +0.3000 |" in table
    assert "overall, clean items" in table
    found = json.loads(invoke("show", candidate, "--exclude", root / "scan", "--format", "json").output)
    assert found["clean"]["removed"] == {"gsm8k": 12} and found["clean"]["leaderboard"]["overall"] == 1.0


def test_compare_and_gate_on_the_clean_items(setting):
    root, baseline, candidate = setting
    gate = invoke("gate", "--baseline", baseline, "--candidate", candidate)
    assert gate.exit_code == 1 and "FAIL" in gate.output
    clean_gate = invoke("gate", "--baseline", baseline, "--candidate", candidate, "--exclude", root / "scan",
                        "--markdown", root / "gate.md")
    assert clean_gate.exit_code == 0, clean_gate.output
    assert "scored without the excluded items (gsm8k 12 of 40)" in clean_gate.output
    assert (root / "gate.md").read_text().startswith("> A: scored without the excluded items (gsm8k 12 of 40)")
    rows = json.loads(invoke("compare", baseline, candidate, "--exclude", root / "scan", "--format", "json").output)
    strict = next(r for r in rows["rows"] if r["genre"] == "all" and r["metric"] == "strict_match")
    assert strict["n"] == strict["n_tested"] == 28 and strict["delta"] == 0
    assert any("gsm8k 12 of 40" in note for note in rows["notes"])


def test_report_has_a_clean_items_section(setting):
    root, baseline, candidate = setting
    out = root / "report.html"
    result = invoke("report", baseline, candidate, "-o", out, "--exclude", root / "scan")
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert '<section id="clean">' in html and 'href="#clean"' in html
    assert "B: scored without the excluded items (gsm8k 12 of 40)" in html
    plain = invoke("report", baseline, candidate, "-o", root / "plain.html")
    assert plain.exit_code == 0 and '<section id="clean">' not in (root / "plain.html").read_text()


def test_a_list_names_items_by_task_family(tmp_path):
    listed = tmp_path / "list.jsonl"
    listed.write_text('{"task": "jaster", "sample_id": "jnli-4"}\n\n{"task": "gsm8k:chat", "sample_id": 7}\n')
    exclusion = Exclusion.load(listed)
    assert exclusion.excludes("jaster:NLI", "jnli-4") and exclusion.excludes("jaster", "jnli-4")
    assert exclusion.excludes("gsm8k", "7") and not exclusion.excludes("mgsm_ja", "7")


@pytest.mark.parametrize("content, message", [
    ("not json\n", r"list\.jsonl:1: not JSON"),
    ('{"task": "gsm8k"}\n', r"list\.jsonl:1: an excluded item needs a task and a sample_id"),
    ('{"task": "gsm8k", "sample_id": 1}\n[1]\n', r"list\.jsonl:2: an excluded item needs"),
])
def test_a_bad_list_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "list.jsonl").write_text(content)
    with pytest.raises(EvalkitError, match=message):
        Exclusion.load(tmp_path / "list.jsonl")


def test_a_missing_list_fails_before_anything_is_shown(setting, tmp_path):
    _, _, candidate = setting
    result = CliRunner().invoke(cli, ["show", str(candidate), "--exclude", str(tmp_path)])
    assert result.exit_code == 2 and "expected contaminated.jsonl in the folder" in result.output
