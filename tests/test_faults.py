"""A flaky server: `evalkit run` retries within its cap, records what still failed, and never hangs."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from evalkit.testing.stub_server import FAULTS
from tests.cli_process import error_lines, read_jsonl, run_evalkit, start_stub_process


@contextmanager
def faulty_stub(log: Path, fault_rate: float, seed: int = 0):
    """The stub server as a process, injecting all four faults with 5 s stalls; yields its base URL.
    (A process, so that stalled requests still in flight end with it at once when the test is done.)"""
    proc, base_url = start_stub_process(log, "--fault-rate", fault_rate, "--stall-seconds", 5, "--seed", seed)
    try:
        yield base_url
    finally:
        proc.kill()
        proc.wait()


def run_against(base_url: str, data_dir: Path, out: Path, *extra: object):
    return run_evalkit(
        "run", "--tasks", "gsm8k", "--model", "openai/stub", "--base-url", base_url, "--data-dir", data_dir,
        "--num-fewshot", "1", "--output-dir", out, "--run-name", "faulty", "--no-cache", "--request-timeout", "1",
        *extra, cwd=out.parent,
    )


def requests_per_prompt(log: Path) -> Counter[str]:
    return Counter(entry["prompt_sha"] for entry in read_jsonl(log))


def assert_scored_or_error(record: dict) -> None:
    """A record is either a scored answer, or an error with no text and no scores: never made-up output."""
    if record["error"] is None:
        assert len(record["outputs"]) == 1 and isinstance(record["outputs"][0], str) and record["outputs"][0]
        assert all(value is not None for value in record["scores"].values())
    else:
        assert record["error"]["kind"] in ("http", "timeout", "connection", "malformed") and record["error"]["message"]
        assert record["outputs"] == []
        assert all(value is None for value in record["scores"].values())


def test_a_third_of_requests_failing_every_way_still_completes(data_dir, tmp_path):
    """HTTP 500, 429 + Retry-After, 5 s stalls (cut by a 1 s timeout) and malformed bodies: the run
    finishes, each sample is scored or carries its error, and no prompt is sent more than
    max_retries + 1 times."""
    log, out, max_retries, limit = tmp_path / "requests.jsonl", tmp_path / "out", 3, 20
    # The stub draws faults in arrival order from a seeded generator, and the run sends at least
    # `limit` requests; with seed 1 the first 20 draws hold all four faults, so each one is exercised.
    with faulty_stub(log, fault_rate=0.33, seed=1) as base_url:
        result = run_against(base_url, data_dir, out, "--limit", limit, "--concurrency", 4,
                             "--max-retries", max_retries, "--max-error-rate", 0.5)

    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "faulty" / "samples.jsonl")
    assert sorted(int(r["sample_id"]) for r in records) == list(range(limit))
    for record in records:
        assert_scored_or_error(record)
    assert {e["fault"] for e in read_jsonl(log)} >= set(FAULTS)
    assert max(requests_per_prompt(log).values()) <= max_retries + 1
    manifest = json.loads((out / "faulty" / "run.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["requests"]["retries"] > 0


def test_every_request_failing_fails_the_run_but_keeps_every_sample(data_dir, tmp_path):
    """With every request failing: a non-zero exit with one error line naming --max-error-rate, one
    record per sample carrying its error (no fake text), run.json status "failed", retries capped."""
    log, out, limit = tmp_path / "requests.jsonl", tmp_path / "out", 8
    with faulty_stub(log, fault_rate=1.0) as base_url:
        result = run_against(base_url, data_dir, out, "--limit", limit, "--concurrency", limit, "--max-retries", 1)

    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and "max-error-rate" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    records = read_jsonl(out / "faulty" / "samples.jsonl")
    assert sorted(int(r["sample_id"]) for r in records) == list(range(limit))
    for record in records:
        assert record["error"] is not None
        assert_scored_or_error(record)
    assert json.loads((out / "faulty" / "run.json").read_text())["status"] == "failed"
    assert set(requests_per_prompt(log).values()) == {2}  # each sample: one attempt, one retry, no more
