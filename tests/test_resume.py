"""Nothing is lost: a run killed with SIGKILL continues without re-sending answered requests, and ends
with the same results as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from evalkit.store import RunResult
from evalkit.testing.stub_server import StubConfig, StubServer
from tests.cli_process import HANG_GUARD_S, prompt_sha, read_jsonl, run_evalkit, start_evalkit, start_stub_process
from tests.conftest import make_data_dir

CONCURRENCY = 2
SAMPLES = 30
KILL_AFTER = 10  # samples recorded before the kill


def run_args(base_url: str, data_dir: Path, out: Path, name: str, cache: Path) -> list[object]:
    return ["run", "--tasks", "gsm8k", "--model", "openai/stub", "--base-url", base_url, "--data-dir", data_dir,
            "--num-fewshot", "1", "--output-dir", out, "--run-name", name, "--cache", cache,
            "--concurrency", CONCURRENCY]


def results_by_sample(run_dir: Path) -> dict[tuple[str, str], tuple[object, dict]]:
    """(task, sample_id) -> (outputs, scores), the last record per sample winning, as evalkit reads it."""
    return {(r.task, r.sample_id): (r.outputs, r.scores) for r in RunResult.read(run_dir).records}


@pytest.fixture(scope="module")
def gsm8k_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The invented data folder, written once for this module (the tests only read it)."""
    return make_data_dir(tmp_path_factory.mktemp("data"), n_test=SAMPLES)


@pytest.fixture(scope="module")
def uninterrupted(gsm8k_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The results of the same run never interrupted, into its own run folder with a fresh cache.
    The stub's replies depend only on the prompt, so a latency-free stub of its own gives the same answers."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    with StubServer(StubConfig()) as base_url:
        result = run_evalkit(*run_args(base_url, gsm8k_data, tmp / "out", "whole", tmp / "cache.sqlite"), cwd=tmp)
    assert result.returncode == 0, result.stderr
    results = results_by_sample(tmp / "out" / "whole")
    assert len(results) == SAMPLES
    return results


@pytest.fixture
def slow_stub(tmp_path: Path):
    """A stub server process answering after 0.2 s, logging every request; yields (base_url, log)."""
    log = tmp_path / "requests.jsonl"
    proc, base_url = start_stub_process(log, "--latency", 0.2)
    yield base_url, log
    proc.kill()
    proc.wait()


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_when_recorded(proc, samples: Path, count: int) -> None:
    """SIGKILL the run once `samples` holds `count` lines (no chance to clean up or flush anything)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while count_lines(samples) < count:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run recorded nothing"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("continue_with", ["same command", "--resume"])
def test_killed_run_continues_without_resending_answered_requests(
    continue_with, gsm8k_data, tmp_path, slow_stub, uninterrupted
):
    """Kill -9 after 10 of 30 samples, then continue (the same command again, or --resume
    RUN_DIR): no recorded answer is asked for again, at most the requests in flight at the kill
    repeat, and the results equal an uninterrupted run's."""
    base_url, log = slow_stub
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    args = run_args(base_url, gsm8k_data, out, "killed", cache)
    run_dir = out / "killed"

    kill_when_recorded(start_evalkit(*args, cwd=tmp_path), run_dir / "samples.jsonl", KILL_AFTER)
    recorded_before_kill = {prompt_sha(r) for r in read_jsonl(run_dir / "samples.jsonl")}
    assert KILL_AFTER <= len(recorded_before_kill) < SAMPLES
    time.sleep(0.5)  # requests sent just before the kill reach the server's log
    sent_before_kill = [e["prompt_sha"] for e in read_jsonl(log)]

    if continue_with == "--resume":
        args = ["run", "--resume", run_dir, "--cache", cache, "--concurrency", CONCURRENCY]
    result = run_evalkit(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    sent_after_kill = [e["prompt_sha"] for e in read_jsonl(log)[len(sent_before_kill):]]
    assert not recorded_before_kill & set(sent_after_kill), "an answer already on disk was requested again"
    assert len(set(sent_after_kill) & set(sent_before_kill)) <= CONCURRENCY  # only those in flight at the kill
    assert len(sent_after_kill) == len(set(sent_after_kill))  # and the second run asks each question once
    assert results_by_sample(run_dir) == uninterrupted
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_a_half_written_last_line_is_dropped_on_resume(gsm8k_data, tmp_path, uninterrupted):
    """A crash mid-write leaves half a JSON line at the end of samples.jsonl: the next run cuts it,
    re-records the samples it lacks from the request cache (nothing sent again), and ends whole."""
    out, cache, log = tmp_path / "out", tmp_path / "cache.sqlite", tmp_path / "requests.jsonl"
    samples = out / "cut" / "samples.jsonl"
    with StubServer(StubConfig(log=log)) as base_url:
        args = run_args(base_url, gsm8k_data, out, "cut", cache)
        assert run_evalkit(*args, cwd=tmp_path).returncode == 0
        lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
        kept, cut = lines[:-5], lines[-5]
        samples.write_text("".join(kept) + cut[: len(cut) // 2], encoding="utf-8")
        sent_before = len(read_jsonl(log))

        result = run_evalkit(*args, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(log)) == sent_before, "answers in the cache were requested again"
    assert len(read_jsonl(samples)) == len(lines)  # every line parses: the half line is gone
    assert results_by_sample(out / "cut") == uninterrupted
