"""`evalkit run --judge` and `evalkit score RUN --judge` end to end, against the loopback stub server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.testing.stub_server import StubConfig, StubServer
from tests.mt_bench_data import make_mt_bench_data


def stub_reply(prompt: str) -> str:
    """Answers questions; grades when the messages carry one of the invented judge templates."""
    if "<single-" in prompt:
        return "Rating: [[7]]" if "multi-turn" not in prompt else "評価：[[5]]"
    return "An answer."


@pytest.fixture
def server():
    with StubServer(StubConfig(reply=stub_reply)) as base_url:
        yield base_url


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run_args(data: Path, out: Path, base_url: str, *extra):
    return ("run", "--tasks", "mt_bench", "--model", "openai/stub", "--base-url", base_url, "--data-dir", data,
            "--limit", 2, "--output-dir", out, "--run-name", "r", "--cache", out / "cache.sqlite", *extra)


def value(run_dir: Path, metric: str, genre: str = "all") -> float:
    return float(pd.read_csv(run_dir / "summary.csv").set_index(["genre", "metric"]).loc[(genre, metric), "value"])


def test_run_with_a_judge_announces_its_calls_and_prints_the_mt_bench_table(tmp_path, server):
    data = make_mt_bench_data(tmp_path / "data")
    result = invoke(*run_args(data, tmp_path / "out", server, "--judge", "openai/stub", "--judge-base-url", server))
    assert result.exit_code == 0, result.output
    assert "mt_bench: judge openai/stub will make 4 judge calls" in result.stderr
    assert "LLM-as-judge scores" in result.stdout and "judge failures" in result.stdout
    assert "judge requests: 4 sent" in result.stderr
    run_dir = tmp_path / "out" / "r"
    assert (value(run_dir, "turn1"), value(run_dir, "turn2"), value(run_dir, "score")) == (7.0, 5.0, 6.0)
    assert value(run_dir, "turn1", "math") == 7.0


def test_answers_stored_without_a_judge_are_graded_by_score_without_regenerating(tmp_path, server):
    data = make_mt_bench_data(tmp_path / "data")
    result = invoke(*run_args(data, tmp_path / "out", server))
    assert result.exit_code == 0, result.output
    assert f"evalkit score {tmp_path / 'out' / 'r'} --judge BACKEND/MODEL" in " ".join(result.stderr.split())
    run_dir = tmp_path / "out" / "r"
    assert pd.isna(pd.read_csv(run_dir / "summary.csv").query("genre == 'all' and metric == 'score'").value.iloc[0])
    result = invoke("score", run_dir, "--judge", "openai/stub", "--judge-base-url", server,
                    "--cache", tmp_path / "out" / "cache.sqlite")
    assert result.exit_code == 0, result.output
    assert "will make 4 judge calls (4 single-answer gradings; 2 answers x 2 turns)" in " ".join(result.stderr.split())
    assert value(run_dir, "score") == 6.0
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["spec"]["judge"] == "openai/stub" and manifest["judge_requests"]["sent"] == 4
    # scoring again uses the run's judge now, and every verdict comes from the cache
    result = invoke("score", run_dir, "--cache", tmp_path / "out" / "cache.sqlite")
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "run.json").read_text())["judge_requests"]["cache_hits"] == 4


def test_a_judge_that_cannot_be_reached_is_one_line_naming_judge_base_url(tmp_path, server):
    data = make_mt_bench_data(tmp_path / "data")
    result = CliRunner().invoke(cli, [str(a) for a in run_args(data, tmp_path / "out", server, "--judge", "openai/x",
                                                               "--judge-base-url", "http://127.0.0.1:9/v1")])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: judge: cannot reach") and "--judge-base-url" in result.stderr
    assert not (tmp_path / "out" / "r").exists()
