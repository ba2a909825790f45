"""A run folder has one writer at a time, and SIGTERM stops a run as Ctrl-C does: marked interrupted, resumable.

Real processes throughout: the lock is the OS's (flock), and a signal is only real in a process of its own.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.store import FolderLock
from evalkit.testing.scripted import ScriptedBackend
from evalkit.testing.stub_server import StubConfig, StubServer, reply_for
from tests.cli_process import (EVALKIT, HANG_GUARD_S, evalkit_env, prompt_sha, read_jsonl, run_evalkit,
                               start_stub_process)
from tests.conftest import make_data_dir

N = 6


@pytest.fixture(scope="module")
def gsm8k_data(tmp_path_factory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data"), n_test=N)


@pytest.fixture
def slow_stub(tmp_path):
    """The stub in a process of its own, a third of a second per answer; its request log."""
    log = tmp_path / "requests.jsonl"
    proc, base_url = start_stub_process(log, "--latency", 0.3)
    yield base_url, log
    proc.kill()
    proc.wait()


def run_args(base_url: str, data: Path, *extra: object) -> list[object]:
    return ["run", "--tasks", "gsm8k", "--model", "openai/stub", "--base-url", base_url, "--data-dir", data,
            "--num-fewshot", 1, "--output-dir", "out", "--run-name", "r", "--concurrency", 1, *extra]


def start(args: list[object], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*EVALKIT, *map(str, args)], cwd=cwd, env=env or evalkit_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_a_record(run_dir: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    samples = run_dir / "samples.jsonl"
    while not (samples.exists() and samples.stat().st_size):
        assert proc.poll() is None and time.monotonic() < deadline, "the run recorded nothing"
        time.sleep(0.02)


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


# --- one writer ---------------------------------------------------------------------------------


def test_a_second_writer_of_a_folder_gets_one_line_naming_the_other_and_writes_nothing(gsm8k_data, tmp_path):
    """The first run waits on its first answer (the server holds it) while the others try the same folder."""
    gate, log = threading.Event(), tmp_path / "requests.jsonl"

    def held_reply(prompt: str) -> str:
        gate.wait(HANG_GUARD_S)
        return reply_for(prompt)

    run_dir = tmp_path / "out" / "r"
    with StubServer(StubConfig(reply=held_reply, log=log)) as base_url:
        first = start(run_args(base_url, gsm8k_data, "--cache", "c.sqlite"), tmp_path)
        try:
            deadline = time.monotonic() + HANG_GUARD_S
            while not (run_dir / "run.json").exists():  # written once the folder is locked
                assert first.poll() is None and time.monotonic() < deadline, "the first run did not start"
                time.sleep(0.02)
            manifest = (run_dir / "run.json").read_bytes()
            for args in (run_args(base_url, gsm8k_data, "--cache", "c.sqlite"),  # the same command again
                         run_args(base_url, gsm8k_data, "--cache", "c.sqlite", "--limit", 2),  # other settings
                         ["run", "--resume", "out/r", "--cache", "c.sqlite"],
                         ["score", "out/r", "--no-cache"],
                         ["score", "out/r", "--into", "out/r", "--no-cache"]):
                second = run_evalkit(*args, cwd=tmp_path)
                assert second.returncode == 2 and "Traceback" not in second.stderr
                assert last_line(second.stderr) == (
                    f"error: out/r is being written by another evalkit process (pid {first.pid}): wait for it to "
                    "end or stop it, then run this command again; or write elsewhere (another --run-name, --into)")
                assert (run_dir / "run.json").read_bytes() == manifest and not (run_dir / "samples.jsonl").exists()
            gate.set()
            _, stderr = first.communicate(timeout=HANG_GUARD_S)
        finally:
            gate.set()
            first.kill()
    assert first.returncode == 0, stderr
    lines = read_jsonl(run_dir / "samples.jsonl")
    assert len(lines) == N and len({line["sample_id"] for line in lines}) == N  # no duplicate
    assert len(read_jsonl(log)) == N  # each question asked once
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def hold_lock(run_dir: Path) -> subprocess.Popen[str]:
    """A process that takes the folder's lock, says so, and sleeps."""
    code = ("import sys, time; from pathlib import Path; from evalkit.store import FolderLock; "
            "lock = FolderLock.take(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def finished_replay_run(data: Path, tmp_path: Path) -> Path:
    replay = tmp_path / "outputs.jsonl"
    replay.write_text("".join(json.dumps({"task": "gsm8k", "sample_id": i, "output": "#### 8"}) + "\n"
                              for i in range(2)))
    spec = RunSpec(tasks=["gsm8k"], model=f"replay/{replay}", data_dir=str(data), limit=2)
    run_evaluation(spec, tmp_path / "run", cache_path=None)
    return tmp_path / "run"


def test_a_writer_killed_with_sigkill_leaves_the_folder_free(gsm8k_data, tmp_path):
    run_dir = finished_replay_run(gsm8k_data, tmp_path)
    holder = hold_lock(run_dir)
    try:
        with pytest.raises(EvalkitError, match=f"pid {holder.pid}"):
            FolderLock.take(run_dir)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert run_evalkit("score", run_dir, "--no-cache", cwd=tmp_path).returncode == 0


def test_a_run_in_this_process_lets_the_folder_go_however_it_ends(gsm8k_data, tmp_path, monkeypatch):
    run_dir = finished_replay_run(gsm8k_data, tmp_path)
    FolderLock.take(run_dir).release()  # ended normally
    from evalkit import runner

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "finish_run", stopped)
    spec = RunSpec(tasks=["gsm8k"], model="scripted/model", data_dir=str(gsm8k_data), limit=2)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(spec, tmp_path / "stopped", cache_path=None, backend=ScriptedBackend(lambda r: "#### 1"))
    FolderLock.take(tmp_path / "stopped").release()
    with pytest.raises(EvalkitError, match="different settings"):
        run_evaluation(spec.model_copy(update={"limit": 1}), tmp_path / "stopped", cache_path=None,
                       backend=ScriptedBackend(lambda r: "#### 1"))
    FolderLock.take(tmp_path / "stopped").release()


# --- SIGTERM ------------------------------------------------------------------------------------


def test_sigterm_marks_the_run_interrupted_with_its_time_and_it_resumes_whole(gsm8k_data, tmp_path, slow_stub):
    base_url, log = slow_stub
    run_dir = tmp_path / "out" / "r"
    temp = tmp_path / "tmp"
    temp.mkdir()
    run = start(run_args(base_url, gsm8k_data, "--cache", "c.sqlite"), tmp_path, evalkit_env(TMPDIR=str(temp)))
    try:
        wait_for_a_record(run_dir, run)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=HANG_GUARD_S)
    finally:
        run.kill()
    assert run.returncode == 143 and "Traceback" not in stderr
    answered_before = [line for line in read_jsonl(run_dir / "samples.jsonl") if line["error"] is None]
    kept = len(answered_before)
    assert last_line(stderr) == (f"error: interrupted; {kept} answers kept in out/r; "
                                 "continue with: evalkit run --resume out/r")
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["timings"]["wall_seconds"] > 0
    assert list(temp.iterdir()) == []
    FolderLock.take(run_dir).release()  # the lock went with the process
    resumed = run_evalkit("run", "--resume", "out/r", "--cache", "c.sqlite", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    answered = {line["sample_id"] for line in read_jsonl(run_dir / "samples.jsonl") if line["error"] is None}
    assert len(answered) == N
    asked = [entry["prompt_sha"] for entry in read_jsonl(log)]
    assert all(asked.count(prompt_sha(line)) == 1 for line in answered_before)  # no answer kept is asked again


def test_sigterm_ends_any_command_in_one_line(gsm8k_data, tmp_path):
    """`evalkit report` stopped in the middle of writing its file (a FIFO that is read no further)."""
    run_dir = finished_replay_run(gsm8k_data, tmp_path)
    fifo = tmp_path / "report.html"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    report = start(["report", run_dir, "-o", fifo], tmp_path)
    try:
        ready, _, _ = select.select([reader], [], [], HANG_GUARD_S)
        assert ready, "the report wrote nothing"  # it is writing now, and stays blocked: the pipe is never drained
        report.send_signal(signal.SIGTERM)
        _, stderr = report.communicate(timeout=HANG_GUARD_S)
    finally:
        report.kill()
        os.close(reader)
    assert report.returncode == 143 and last_line(stderr) == "error: interrupted" and "Traceback" not in stderr
