"""The first hour of a new user: every message true in the context it is printed in, saying what to do next.

Each test puts one message in its context (a run interrupted without --run-name, a replay file that
lacks samples or names unknown ones, a judge that fails, --judge with nothing to judge, a run without a
judge) and asserts its text; plus the table and sample-choice fixes found on the same walk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import RunFailed
from evalkit.registry import TaskOptions, build_task
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from evalkit.types import Sample
from tests.cli_process import EVALKIT, HANG_GUARD_S, evalkit_env, start_stub_process
from tests.conftest import make_data_dir
from tests.mt_bench_data import make_mt_bench_data, model_reply


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": "200"})


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def gsm8k_data(tmp_path_factory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data"), n_test=6)


# --- Ctrl-C without --run-name ------------------------------------------------------------------


def test_an_interrupt_without_a_run_name_says_how_to_resume_that_folder(gsm8k_data, tmp_path):
    proc_stub, base_url = start_stub_process(tmp_path / "requests.jsonl", "--latency", 0.3)
    try:
        out = tmp_path / "results"
        run = subprocess.Popen(
            [*EVALKIT, "run", "--tasks", "gsm8k", "--model", "openai/stub", "--base-url", base_url, "--data-dir",
             gsm8k_data, "--num-fewshot", "1", "--output-dir", out, "--concurrency", "1", "--no-cache"],
            cwd=tmp_path, env=evalkit_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + HANG_GUARD_S
        while not any(p.stat().st_size for p in out.glob("*/samples.jsonl")):
            assert run.poll() is None and time.monotonic() < deadline, "the run recorded nothing"
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGINT)
        _, stderr = run.communicate(timeout=HANG_GUARD_S)
    finally:
        proc_stub.kill()
        proc_stub.wait()
    (run_dir,) = list(out.iterdir())
    assert run.returncode == 130
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    kept = sum(1 for line in (run_dir / "samples.jsonl").read_text().splitlines() if json.loads(line)["error"] is None)
    assert last == f"error: interrupted; {kept} answers kept in {run_dir}; continue with: evalkit run --resume {run_dir}"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"


# --- replay files -------------------------------------------------------------------------------


def replay_lines(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "outputs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_replay_file_lacking_samples_says_so_before_and_after_and_how_to_fix_it(gsm8k_data, tmp_path):
    replay = replay_lines(tmp_path, [{"task": "gsm8k", "sample_id": "0", "output": "#### 1"},
                                     {"task": "gsm8k", "sample_id": "1", "output": "#### 2"}])
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--data-dir", gsm8k_data,
                    "--num-fewshot", "1", "--output-dir", tmp_path / "out", "--run-name", "r")
    assert result.exit_code == 1
    err = one_line(result.stderr)
    assert (f"4 of 6 samples have no line in {replay} (first: gsm8k sample 2): they will be recorded as failed; "
            "add their lines, or pass --limit N to run only the first N of each task") in err
    assert (f"error: 4 of 6 samples failed (66.7% > --max-error-rate 0.05; 4 missing); results kept in "
            f"{tmp_path / 'out' / 'r'}; add the missing samples' lines to {replay} (or pass --limit N for the first N "
            "of each task), then run the same command again") in err
    assert "re-run the same command to retry" not in err
    # n is what the strict mean is over; the errors column has the rest
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ all"))
    assert row.split("│")[2].strip() == "2"


def test_replay_lines_that_match_no_sample_are_reported(gsm8k_data, tmp_path):
    replay = replay_lines(tmp_path, [{"task": "gsm8k", "sample_id": str(i), "output": "#### 1"} for i in range(6)]
                          + [{"task": "gsm8k", "sample_id": "600", "output": "#### 1"},
                             {"task": "gsm8k:chat", "sample_id": "0", "output": "#### 1"}])
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--data-dir", gsm8k_data,
                    "--num-fewshot", "1", "--output-dir", tmp_path / "out", "--run-name", "r")
    assert result.exit_code == 0, result.stderr
    assert (f"2 line(s) of {replay} match no sample of this run (first: gsm8k sample 600): ignored; check their "
            "task and sample_id (evalkit dump writes both)") in one_line(result.stderr)
    assert "have no line" not in result.stderr


# --- judges -------------------------------------------------------------------------------------


def unreadable_judge(request) -> str:
    return "I cannot decide."  # no [[rating]]: an unreadable verdict, asked again, then a judge failure


def test_judge_failures_over_the_error_rate_fail_the_run_and_say_how_to_grade_again(tmp_path):
    data = make_mt_bench_data(tmp_path / "data")
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(data), judge="scripted/judge",
                   judge_args={"retries": 0})
    with pytest.raises(RunFailed) as failed:
        run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(model_reply),
                       judge_backend=ScriptedBackend(unreadable_judge))
    assert str(failed.value) == (
        f"6 of 6 answers could not be graded by the judge (100.0% > --max-error-rate 0.05); results kept in "
        f"{tmp_path / 'run'}; evalkit score {tmp_path / 'run'} grades them again (add --judge BACKEND/MODEL for "
        "another judge)")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    # within the limit the run completes
    spec = spec.model_copy(update={"max_error_rate": 1.0})
    outcome = run_evaluation(spec, tmp_path / "lenient", cache_path=None, backend=ScriptedBackend(model_reply),
                             judge_backend=ScriptedBackend(unreadable_judge))
    assert outcome.manifest.status == "completed"


def test_judge_given_to_score_for_a_run_with_nothing_to_judge_is_refused(gsm8k_data, tmp_path):
    replay = replay_lines(tmp_path, [{"task": "gsm8k", "sample_id": str(i), "output": "#### 1"} for i in range(6)])
    assert invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--data-dir", gsm8k_data,
                  "--output-dir", tmp_path / "out", "--run-name", "r").exit_code == 0
    result = invoke("score", tmp_path / "out" / "r", "--judge", "openai/gpt-4o")
    assert result.exit_code == 2
    assert result.stderr == (f"error: --judge: no task of {tmp_path / 'out' / 'r'} (gsm8k) is graded by a judge, so "
                             "there is nothing to judge; drop --judge to score it again\n")
    assert invoke("score", tmp_path / "out" / "r").exit_code == 0


def test_a_run_without_a_judge_names_its_own_folder_in_the_command_that_grades_it(tmp_path):
    data = make_mt_bench_data(tmp_path / "data")
    replay = replay_lines(tmp_path, [{"task": "mt_bench", "sample_id": str(q), "output": ["a", "b"]}
                                     for q in range(81, 87)])
    result = invoke("run", "--tasks", "mt_bench", "--model", f"replay/{replay}", "--data-dir", data,
                    "--output-dir", tmp_path / "out", "--run-name", "r")
    assert result.exit_code == 0, result.stderr
    assert (f"mt_bench: not judged: no --judge was given; the answers are kept: grade them with evalkit score "
            f"{tmp_path / 'out' / 'r'} --judge BACKEND/MODEL") in one_line(result.stderr)


def test_the_judge_plan_line_counts_answers_and_turns_plainly(tmp_path):
    data = make_mt_bench_data(tmp_path / "data")
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(data), judge="scripted/judge", limit=2)
    notes: list[str] = []

    class Notes:
        def task_started(self, *args): ...

        def sample_done(self, *args): ...

        def note(self, text: str) -> None:
            notes.append(text)

    run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(model_reply), reporter=Notes(),
                   judge_backend=ScriptedBackend(lambda r: "Rating: [[7]]"))
    assert notes[0].startswith("mt_bench: judge scripted/judge will make 4 judge calls (4 single-answer gradings; "
                               "2 answers x 2 turns);")


# --- what a quick check samples -----------------------------------------------------------------


@pytest.mark.parametrize("n, expected", [
    (1, ["w1"]),
    (3, ["w1", "m1", "r1"]),
    (4, ["w1", "w2", "m1", "r1"]),
    (7, ["w1", "w2", "w3", "m1", "m2", "r1", "r2"]),
    (20, ["w1", "w2", "w3", "m1", "m2", "r1", "r2"]),
])
def test_mt_bench_limit_is_spread_over_categories(tmp_path, n, expected):
    samples = [Sample(id=i, turns=("q",), target=None, genre=i[0]) for i in ["w1", "w2", "w3", "m1", "m2", "r1", "r2"]]
    task = build_task("mt_bench", TaskOptions(data_dir=tmp_path))
    assert [s.id for s in task.limit(samples, n)] == expected


# --- tables -------------------------------------------------------------------------------------


def test_a_one_genre_task_has_one_row_and_no_caption_naming_metrics_after_themselves(gsm8k_data, tmp_path):
    replay = replay_lines(tmp_path, [{"task": "gsm8k", "sample_id": str(i), "output": "#### 1"} for i in range(6)])
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--data-dir", gsm8k_data,
                    "--output-dir", tmp_path / "out", "--run-name", "r")
    assert result.exit_code == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 1 and rows[0].startswith("│ all")  # not `all` and `math` with the same numbers
    assert "gsm8k: strict = strict_match, lenient = flexible_extract" in result.stdout
    assert "strict = strict," not in result.stdout


def test_a_resumed_run_counts_the_wall_time_of_every_session(gsm8k_data, tmp_path):
    replay = replay_lines(tmp_path, [{"task": "gsm8k", "sample_id": str(i), "output": "#### 1"} for i in range(6)])
    args = ["run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--data-dir", gsm8k_data,
            "--output-dir", tmp_path / "out", "--run-name", "r"]
    assert invoke(*args).exit_code == 0
    manifest_path = tmp_path / "out" / "r" / "run.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["timings"] = {"wall_seconds": 100.0}  # as if the first session had taken 100 s
    manifest_path.write_text(json.dumps(manifest))
    result = invoke(*args)  # nothing left to do: the same command resumes and finishes at once
    assert result.exit_code == 0, result.stderr
    seconds = json.loads(manifest_path.read_text())["timings"]["wall_seconds"]
    assert 100.0 <= seconds < 100.0 + HANG_GUARD_S
    assert f"{seconds:.1f} s" in one_line(result.stderr + result.stdout)



# --- data: no folder given, no Hub --------------------------------------------------------------


def test_without_data_and_without_the_hub_one_line_says_how_to_pass_local_data(tmp_path, monkeypatch):
    import datasets

    from evalkit import data

    monkeypatch.delenv("EVALKIT_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "hub_reachable", lambda timeout=5.0: False)
    seen = []

    def cache_only(*args, **kwargs):
        seen.append(datasets.config.HF_HUB_OFFLINE)  # offline: the cache is read, the network is not retried
        raise FileNotFoundError("not in the cache")

    monkeypatch.setattr(datasets, "load_dataset", cache_only)
    before = datasets.config.HF_HUB_OFFLINE
    replay = replay_lines(tmp_path, [{"task": "gsm8k", "sample_id": "0", "output": "#### 1"}])
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2 and seen == [True]
    assert result.stderr == ("error: no data folder was given, the Hugging Face Hub cannot be reached, and "
                             "openai/gsm8k/main [test] is not in the local datasets cache: pass --data-dir DIR (or set "
                             "$EVALKIT_DATA_DIR) with the benchmark's files, laid out like ../shared/data (README: "
                             "Data)\n")
    assert datasets.config.HF_HUB_OFFLINE == before  # offline only for that call
    assert not (tmp_path / "out").exists()


def test_the_hub_probe_answers_in_seconds_either_way(monkeypatch):
    from evalkit.data import hub_reachable
    from evalkit.testing.stub_server import StubConfig, StubServer
    from tests.cli_process import free_port

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert hub_reachable(timeout=2.0) is False
    with StubServer(StubConfig()) as base_url:
        monkeypatch.setenv("HF_ENDPOINT", base_url)
        assert hub_reachable(timeout=2.0) is True  # any answer, even 404, is a reachable Hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False


def test_a_run_stopped_while_summing_up_is_marked_interrupted_with_its_time(gsm8k_data, tmp_path, monkeypatch):
    from evalkit import runner

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "finish_run", stopped)
    spec = RunSpec(tasks=["gsm8k"], model="scripted/model", data_dir=str(gsm8k_data), num_fewshot=1)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(lambda r: "#### 1"))
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["timings"]["wall_seconds"] > 0
