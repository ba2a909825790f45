"""`evalkit show`: a run's tables in four formats, and a leaderboard score from a profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from tests.cli_process import run_evalkit, stderr_lines
from tests.report_runs import make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    return make_runs(tmp_path_factory.mktemp("show"))


def show(*args: object):
    return CliRunner().invoke(cli, ["show", *map(str, args)], catch_exceptions=False, env={"COLUMNS": "200"})


def test_the_terminal_view_has_the_facts_the_tables_and_a_leaderboard(runs):
    result = show(runs[1])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("model: scripted/model", "task jaster:NLI: version jaster-2/llm-jp-eval-1.3.0, 27 samples", "evalkit summary",
                 "mt_bench: LLM-as-judge scores (1-10)", "leaderboard: every task, strict", "requests: 54 sent"):
        assert text in out, text
    overall = next(line for line in out.splitlines() if "overall" in line)
    assert overall.split("│")[-2].strip() == "0.6255"  # (1.0 + 0.7733 + 3/10 + 0.4286) / 4


def test_markdown(runs):
    out = show(runs[0], "--format", "md").stdout
    assert out.startswith("## gold\n\n- **run**: ")
    assert "### evalkit summary\n\n| task | genre | n | strict | lenient | format violation | errors |" in out
    assert "| **jaster:NLI** | **AVG** | **27** | **1.0000** |" in out  # the numbers people quote, in bold
    assert "| jaster:NLI | jamp | 6 | 1.0000 |" in out


def test_csv_is_the_summary_rows(runs):
    lines = show(runs[0], "--format", "csv").stdout.splitlines()
    assert lines[0] == "task,genre,metric,value,n"
    stored = json.loads((runs[0] / "run.json").read_text())["summary"]
    assert len(lines) == len(stored) + 1 and lines[1].startswith("gsm8k,all,strict_match,1.0,8")


def test_json_has_everything_for_a_program(runs):
    data = json.loads(show(runs[2], "--format", "json").stdout)
    assert set(data) == {"run", "note", "summary", "leaderboard", "tables"}
    assert data["run"]["model"] == "scripted/model" and data["note"] is None
    parts = {p["task"]: p for p in data["leaderboard"]["parts"]}
    assert parts["mt_bench"]["value"] == 6.0 and parts["mt_bench"]["scaled"] == pytest.approx(0.6)  # a 1-10 score / 10
    assert [t["title"] for t in data["tables"]][:2] == ["evalkit summary", "mt_bench: LLM-as-judge scores (1-10)"]


def test_a_leaderboard_profile_weighs_and_scales_components(runs, tmp_path):
    profile = tmp_path / "board.yaml"
    profile.write_text("""name: ja
components:
  - {task: jaster:NLI, weight: 2}
  - {task: mt_bench, metric: turn1, weight: 1}
  - {task: gsm8k, genre: math, metric: flexible_extract, weight: 1, scale: 0.5}
  - {task: jaster:QA, weight: 1}
""")
    data = json.loads(show(runs[0], "--format", "json", "--leaderboard", profile).stdout)["leaderboard"]
    assert data["profile"] == "ja" and data["missing"] == ["jaster:QA/all/?"]
    assert data["overall"] == pytest.approx((2 * 1.0 + 0.8 + 0.5) / 4)


@pytest.mark.parametrize("text, message", [
    ("components: []", "name: Field required"),
    ("name: x\ncomponents: []", "components: List should have at least 1 item"),
    ("name: x\ncomponents:\n  - {task: gsm8k, weight: 0}", "components.0.weight: Input should be greater than 0"),
    ("name: x\ncomponents:\n  - {tsak: gsm8k}", "components.0.task: Field required"),
    ("name: x\ncomponents:\n  - {task: gsm8k, wieght: 2}", "components.0.wieght: Extra inputs are not permitted"),
    ("name: [", "is not YAML"),
])
def test_a_bad_profile_is_one_line_and_exit_2(runs, tmp_path, text, message):
    profile = tmp_path / "board.yaml"
    profile.write_text(text)
    result = run_evalkit("show", runs[0], "--leaderboard", profile, cwd=tmp_path)
    (line,) = stderr_lines(result)
    assert result.returncode == 2 and line.startswith(f"error: {profile}") and message in line


def test_a_run_that_did_not_finish_shows_what_it_has(runs, tmp_path):
    import shutil

    run = tmp_path / "cut"
    shutil.copytree(runs[0], run)
    manifest = json.loads((run / "run.json").read_text())
    manifest.update(status="interrupted", summary=None)
    (run / "run.json").write_text(json.dumps(manifest))
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    (run / "samples.jsonl").write_text("".join(lines[:10]))
    data = json.loads(show(run, "--format", "json").stdout)
    assert data["note"] == "the run is interrupted: this summary is computed from the 10 records it holds"
    assert any(r["metric"] == "strict_match" for r in data["summary"])
