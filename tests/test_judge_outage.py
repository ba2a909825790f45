"""A judge server that rate-limits and fails mid-run: retries stay bounded, failures are recorded, a re-run fills the gaps."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from evalkit.backends.managed import RetryPolicy
from evalkit.errors import RunFailed
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from evalkit.testing.stub_server import StubConfig, StubServer
from tests.mt_bench_data import make_mt_bench_data, model_reply

MAX_RETRIES = 2


def judge_reply(prompt: str) -> str:
    return "The answer is adequate.\nRating: [[6]]"


def judged_run(data: Path, out: Path, cache: Path, base_url: str):
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(data), judge="openai/stub",
                   judge_base_url=base_url, max_retries=MAX_RETRIES, concurrency=4)
    model = ScriptedBackend(model_reply)
    return run_evaluation(spec, out, cache_path=cache, backend=model), model


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_judge_outage_is_retried_within_bounds_recorded_and_filled_in_by_a_rerun(tmp_path, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)  # no sleeping in tests
    data, out, cache = make_mt_bench_data(tmp_path / "data"), tmp_path / "run", tmp_path / "cache.sqlite"
    first_log, second_log = tmp_path / "outage.jsonl", tmp_path / "recovered.jsonl"

    # Most judge requests get HTTP 429 (with Retry-After) or HTTP 500, drawn from a seeded generator; with
    # 3 attempts per judgment about half the judgments still fail (none failing has odds below 1 in 4000).
    outage = StubConfig(fault_rate=0.8, faults=("http429", "http500"), retry_after=0.0, seed=3, log=first_log,
                        reply=judge_reply)
    with StubServer(outage) as base_url:
        with pytest.raises(RunFailed, match=r"answers could not be graded by the judge .*; evalkit score .* grades them "
                                            r"again"):
            judged_run(data, out, cache, base_url)
    manifest = json.loads((out / "run.json").read_text())

    sent = log_lines(first_log)
    assert {e["fault"] for e in sent} >= {"http429", "http500"}
    assert max(Counter(e["prompt_sha"] for e in sent).values()) <= MAX_RETRIES + 1  # bounded per judgment
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    failures = [e["failure"] for r in records for entries in r["details"]["judgments"].values() for e in entries
                if e["failure"]]
    assert failures and all(f.startswith("request: HTTP") and f"after {MAX_RETRIES + 1} attempts" in f for f in failures)
    assert all(r["error"] is None for r in records)  # the answers are fine; the run still has its table
    summary = pd.read_csv(out / "summary.csv").set_index(["genre", "metric"])
    assert summary.loc[("all", "judge_failures"), "value"] == len(failures)
    assert manifest["status"] == "failed"  # judge failures count against --max-error-rate
    assert manifest["judge_requests"]["errors"] == len(failures)

    # The judge recovers (same address): the same command judges only what is missing; answers and
    # verdicts already given come from the cache.
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    with StubServer(StubConfig(log=second_log, reply=judge_reply), port=port) as same_url:
        outcome, model = judged_run(data, out, cache, same_url)
    assert model.received == [] and outcome.manifest.status == "completed"
    assert len(log_lines(second_log)) == len(failures)
    summary = pd.read_csv(out / "summary.csv").set_index(["genre", "metric"])
    assert summary.loc[("all", "judge_failures"), "value"] == 0
    assert summary.loc[("all", "score"), "value"] == 6.0
