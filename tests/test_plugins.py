"""A third-party package adds a task (with its own -T parameters) and a backend, and runs end to end
through the installed `evalkit` command without a line of evalkit changed.

The package is tests/plugin_example. It is "installed" the way pip leaves a package on a path: its
module and a dist-info folder whose entry_points.txt is written from the package's own
pyproject.toml, so the entry points the test sees are the ones the package declares.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from tests.cli_process import evalkit_env, run_evalkit, stderr_lines

PLUGIN = Path(__file__).parent / "plugin_example"
SENTENCES = "the cat sat on the mat|a bird sang a song|rain falls"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder on PYTHONPATH holding the plugin, as pip would install it."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PLUGIN / "evalkit_lastword", site / "evalkit_lastword")
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    sections = [f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items())
                for group, entries in project["entry-points"].items()]
    (dist_info / "entry_points.txt").write_text("\n".join(sections))
    return site


def evalkit(site: Path, cwd: Path, *args: object):
    return run_evalkit(*args, cwd=cwd, env=evalkit_env(PYTHONPATH=str(site)))


def run_args(out: Path, *params: str, sentences: str = SENTENCES) -> list[object]:
    return ["run", "--tasks", "lastword", "--model", "echo/plain", "-T", f"sentences={sentences}", *params,
            "--output-dir", out, "--run-name", "r", "--no-cache"]


def test_the_plugin_task_and_backend_run_end_to_end(site, tmp_path):
    result = evalkit(site, tmp_path, *run_args(tmp_path / "out", "-T", "shout=yes"))
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "out" / "r"
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["backend"] == {"kind": "echo", "style": "plain"}
    assert manifest["spec"]["task_params"] == {"lastword": {"sentences": SENTENCES, "shout": True}}
    assert manifest["tasks"]["lastword"]["params"] == {"sentences": SENTENCES, "shout": True}
    assert manifest["tasks"]["lastword"]["lenient_metric"] == "ignore_case"
    records = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["sample_id"], r["outputs"], r["genre"]) for r in records) == [
        ("0", ["MAT"], "shouted"), ("1", ["SONG"], "shouted"), ("2", ["FALLS"], "shouted")]
    summary = {(row["genre"], row["metric"]): row["value"] for row in manifest["summary"]}
    assert summary[("all", "exact")] == 1.0 and summary[("all", "format_violation")] == 0.0


def test_resume_refuses_a_changed_task_parameter_naming_it(site, tmp_path):
    out = tmp_path / "out"
    assert evalkit(site, tmp_path, *run_args(out)).returncode == 0
    result = evalkit(site, tmp_path, *run_args(out, "-T", "shout=true"))
    assert result.returncode == 2
    (line,) = stderr_lines(result)
    assert line.startswith("error: ") and "task parameter lastword shout (unset -> True)" in line
    other = evalkit(site, tmp_path, *run_args(out, sentences="one two"))
    assert other.returncode == 2 and "task parameter lastword sentences (" in other.stderr
    same = evalkit(site, tmp_path, *run_args(out, "-T", "shout=false"))  # the default, spelled out: the same run
    assert same.returncode == 0, same.stderr


def test_the_plugin_lists_its_parameters_and_refuses_bad_ones_in_one_line(site, tmp_path):
    listed = evalkit(site, tmp_path, "tasks", "lastword")
    assert listed.returncode == 0 and "sentences" in listed.stdout and "required" in listed.stdout
    for args, message in [
        (["-T", "shout=maybe"], "-T shout='maybe': expected bool"),
        (["-T", "colour=red"], "-T colour: no task of this run has that parameter (they take: sentences, shout"),
        (["-T", "shout"], "-T 'shout' is not key=value"),
    ]:
        result = evalkit(site, tmp_path, *run_args(tmp_path / "bad", *args))
        (line,) = stderr_lines(result)
        assert result.returncode == 2 and line.startswith(f"error: {message}"), line
    missing = evalkit(site, tmp_path, "run", "--tasks", "lastword", "--model", "echo/x", "--output-dir", tmp_path / "bad")
    assert stderr_lines(missing) == ["error: lastword needs -T sentences=... (the sentences, separated by |)"]
    assert not (tmp_path / "bad").exists()


def test_an_unknown_backend_kind_lists_the_installed_ones(site, tmp_path):
    result = evalkit(site, tmp_path, *run_args(tmp_path / "out"), "--model", "nope/x")
    (line,) = stderr_lines(result)
    assert "--model 'nope/x' is not BACKEND/MODEL" in line and "echo/<style>" in line and "openai/<model>" in line


def test_the_readme_task_example_runs_as_written(tmp_path, monkeypatch):
    """The 'Writing a task' example in README.md, executed as it is printed there."""
    import re

    from evalkit import registry
    from evalkit.params import Param
    from evalkit.registry import TaskFamily
    from evalkit.roles import Scorer, Task, TaskData
    from evalkit.runner import run_evaluation
    from evalkit.spec import RunSpec
    from evalkit.testing.scripted import ScriptedBackend
    from evalkit.types import GenerationParams, Request, Sample, Score

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("## Writing a task"):readme.index("## Layout")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace = {"Scorer": Scorer, "Task": Task, "TaskData": TaskData, "TaskFamily": TaskFamily, "Param": Param,
                 "Sample": Sample, "Score": Score, "Request": Request, "GenerationParams": GenerationParams}
    exec(code, namespace)  # noqa: S102 - our own README
    monkeypatch.setattr(registry, "task_family", lambda name: namespace["family"] if name == "lastword" else None)
    spec = RunSpec(tasks=["lastword"], model="scripted/fake", task_params={"lastword": {"sentences": "a b|c d e"}})
    backend = ScriptedBackend(lambda request: request.messages[-1][1].split()[-1])
    outcome = run_evaluation(spec, tmp_path / "run", cache_path=None, backend=backend)
    assert outcome.summary.query("genre == 'all' and metric == 'exact'").value.iloc[0] == 1.0
    assert [r.messages[-1][1] for r in backend.received] == ["Last word of: a b", "Last word of: c d e"]
