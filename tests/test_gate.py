"""`evalkit gate` for CI: a run passes against itself, a planted regression fails naming its rule, bad input exits 2."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.cli_process import evalkit_env, run_evalkit, stderr_lines
from tests.test_compare import gsm8k_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from tests.conftest import make_data_dir

    tmp = tmp_path_factory.mktemp("gate")
    data = make_data_dir(tmp / "data", n_test=400, n_train=5)
    gsm8k_run(data, tmp / "base", lambda i: i % 3 != 0)
    gsm8k_run(data, tmp / "worse", lambda i: i % 3 != 0 and not (i % 3 == 1 and i < 90))  # 30 flipped to wrong
    gsm8k_run(data, tmp / "better", lambda i: i % 3 != 0 or i < 30)
    return {name: tmp / name for name in ("base", "worse", "better")}


def gate(tmp_path: Path, *args: object, env: dict | None = None):
    return run_evalkit("gate", *args, cwd=tmp_path, env=evalkit_env(**(env or {})))


def test_a_run_passes_against_itself(runs, tmp_path):
    result = gate(tmp_path, "--baseline", runs["base"], "--candidate", runs["base"], "--markdown", tmp_path / "g.md",
                  "--junit", tmp_path / "g.xml")
    assert result.returncode == 0, result.stderr
    assert "gate: passed (3 of 3 rules hold)" in result.stdout
    assert (tmp_path / "g.md").read_text().startswith("## evalkit gate: ✅ passed")
    suite = ElementTree.parse(tmp_path / "g.xml").getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0") and len(suite.findall("testcase")) == 3


def test_an_improvement_passes(runs, tmp_path):
    assert gate(tmp_path, "--baseline", runs["base"], "--candidate", runs["better"]).returncode == 0


def test_a_planted_regression_fails_and_names_the_rule_everywhere(runs, tmp_path):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    result = gate(tmp_path, "--baseline", runs["base"], "--candidate", runs["worse"], "--markdown", tmp_path / "g.md",
                  "--junit", tmp_path / "g.xml", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1, result.stderr
    rule = "no task's strict metric drops significantly in any genre (p<0.05, Holm)"
    assert f"FAIL {rule}" in result.stdout and "gate: failed (2 of 3 rules hold)" in result.stdout
    md = (tmp_path / "g.md").read_text()
    assert md.startswith("## evalkit gate: ❌ failed") and f"| ❌ | {rule} |" in md
    assert "| gsm8k | all | strict_match | 0.6650 | 0.5900 | dropped by 0.0750" in md
    assert summary.read_text() == "earlier step\n" + md  # appended for the CI job page
    cases = {c.get("name"): c for c in ElementTree.parse(tmp_path / "g.xml").getroot().findall("testcase")}
    failure = cases[rule].find("failure")
    assert failure is not None and "gsm8k all strict_match: dropped by 0.0750" in failure.get("message")
    assert cases["format violations rise by at most 0.05"].find("failure") is None


def test_rules_from_a_file(runs, tmp_path):
    rules = tmp_path / "gates.yaml"
    rules.write_text("""rules:
  - {task: gsm8k, metric: strict_match, max_drop: 0.02}
  - {task: gsm8k, metric: strict_match, max_drop: 0.10, name: a looser floor}
  - {task: humaneval, metric: pass@1, min: 0.30}
  - {task: "*", metric: format_violation, max_rise: 0.05}
  - {task: gsm8k, genre: math, metric: flexible_extract, min: 0.5}
""")
    result = gate(tmp_path, "--baseline", runs["base"], "--candidate", runs["worse"], "--rules", rules,
                  "--junit", tmp_path / "g.xml")
    assert result.returncode == 1
    verdicts = {c.get("name"): c.find("failure") is None
                for c in ElementTree.parse(tmp_path / "g.xml").getroot().findall("testcase")}
    assert verdicts == {"gsm8k all strict_match drops by at most 0.02": False, "a looser floor": True,
                        "humaneval all pass@1 is at least 0.3": False,
                        "* all format_violation rises by at most 0.05": True,
                        "gsm8k math flexible_extract is at least 0.5": True}
    assert "humaneval is not in either run" in result.stdout  # a rule that cannot be checked fails


@pytest.mark.parametrize("text, message", [
    ("rules: []", "rules: List should have at least 1 item"),
    ("rules:\n  - {task: gsm8k, max_drop: 0.02, min: 0.5}", "rules.0: a rule has exactly one of"),
    ("rules:\n  - {task: gsm8k}", "this one has none"),
    ("rules:\n  - {task: gsm8k, max_dorp: 0.02}", "rules.0.max_dorp: Extra inputs are not permitted"),
    ("rules:\n  - {task: gsm8k, max_drop: -1}", "rules.0.max_drop: Input should be greater than or equal to 0"),
    ("rules: [", "is not YAML"),
])
def test_a_bad_rules_file_is_one_line_and_exit_2(runs, tmp_path, text, message):
    rules = tmp_path / "gates.yaml"
    rules.write_text(text)
    result = gate(tmp_path, "--baseline", runs["base"], "--candidate", runs["worse"], "--rules", rules)
    assert result.returncode == 2
    (line,) = stderr_lines(result)
    assert line.startswith(f"error: {rules}") and message in line


def test_missing_runs_are_exit_2(runs, tmp_path):
    result = gate(tmp_path, "--baseline", runs["base"], "--candidate", tmp_path / "nope")
    assert result.returncode == 2 and stderr_lines(result) == [f"error: {tmp_path / 'nope'} does not exist"]
    assert gate(tmp_path, "--baseline", runs["base"]).returncode == 2


def test_the_readme_examples_are_valid_files():
    """The rules file, the leaderboard profile and the CI job in README.md parse as what they claim to be."""
    import re

    import yaml

    from evalkit.gate import Rules
    from evalkit.leaderboard import Profile

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    profiles = [Profile.model_validate(b) for b in blocks if "components" in b]
    rules = [Rules.model_validate(b) for b in blocks if "rules" in b]
    jobs = [b for b in blocks if "jobs" in b]
    assert len(profiles) == len(rules) == len(jobs) == 1
    steps = jobs[0]["jobs"]["eval-gate"]["steps"]
    assert any(s.get("run", "").startswith("evalkit gate --baseline") for s in steps)
