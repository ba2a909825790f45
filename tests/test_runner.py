"""The runner, specified with a scripted backend: what lands on disk, errors, retries, cache and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.backends.managed import RetryPolicy
from evalkit.errors import EvalkitError, RunFailed
from evalkit.registry import TaskFamily
from evalkit.rescore import rescore_run
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from evalkit.roles import Scorer, Task, TaskData
from evalkit.types import Completion, GenerationParams, Request, RequestError, Sample, Score


def gold_reply(request: Request) -> str:
    """Answer a gsm8k prompt correctly: the fixture questions are 'has A pencils and buys B more'."""
    words = request.prompt.rsplit("Question: ", 1)[1].split()
    a, b = int(words[2]), int(words[6])
    return f" {a} + {b} = {a + b}.\n#### {a + b}"


def spec_for(data_dir: Path, **overrides) -> RunSpec:
    fields = dict(tasks=["gsm8k"], model="scripted/fake", data_dir=str(data_dir), num_fewshot=2, limit=10)
    return RunSpec(**{**fields, **overrides})


def read_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_run_writes_manifest_first_then_streams_records(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    seen_manifest = []

    def script(request):
        seen_manifest.append((run_dir / "run.json").exists())
        return gold_reply(request)

    outcome = run_evaluation(spec_for(data_dir), run_dir, cache_path=None, backend=ScriptedBackend(script))
    assert all(seen_manifest) and len(seen_manifest) == 10
    records = sorted(read_records(run_dir), key=lambda r: int(r["sample_id"]))  # lines come in finishing order
    assert [r["sample_id"] for r in records] == [str(i) for i in range(10)]
    first = records[0]
    assert {"task", "sample_id", "genre", "prompt", "outputs", "answer", "scores", "error"} <= first.keys()
    assert first["scores"] == {"strict_match": 1.0, "flexible_extract": 1.0} and first["error"] is None
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["tasks"]["gsm8k"]["data"]["test"].startswith("sha256:")
    assert manifest["spec"]["limit"] == 10 and manifest["backend"] == {"kind": "scripted", "model": "fake"}
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary.columns) == ["task", "genre", "metric", "value", "n"]
    strict = summary.query("genre == 'all' and metric == 'strict_match'").iloc[0]
    assert (strict.value, strict.n) == (1.0, 10)
    assert outcome.stats.sent == 10


def test_failed_request_is_recorded_not_faked_and_left_out_of_means(data_dir, tmp_path):
    def script(request):
        if request.sample_id == "3":
            return Completion(text=None, error=RequestError("http", "bad request", status=400))
        return gold_reply(request)

    spec = spec_for(data_dir, max_error_rate=0.5)
    outcome = run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(script))
    bad = [r for r in read_records(tmp_path / "run") if r["sample_id"] == "3"][0]
    assert bad["error"] == {"kind": "http", "message": "bad request", "status": 400, "retryable": False,
                            "retry_after": None, "attempts": 1}
    assert bad["outputs"] == [] and bad["scores"] == {"strict_match": None, "flexible_extract": None}
    rows = outcome.summary.set_index(["genre", "metric"])
    assert rows.loc[("all", "strict_match"), "value"] == 1.0 and rows.loc[("all", "strict_match"), "n"] == 9
    assert rows.loc[("all", "error_rate"), "value"] == pytest.approx(0.1)


def test_error_rate_above_the_limit_fails_the_run_but_keeps_everything(data_dir, tmp_path):
    backend = ScriptedBackend(lambda r: Completion(text=None, error=RequestError("http", "nope", status=400)))
    with pytest.raises(RunFailed, match="max-error-rate"):
        run_evaluation(spec_for(data_dir), tmp_path / "run", cache_path=None, backend=backend)
    assert len(read_records(tmp_path / "run")) == 10
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_retryable_failures_are_retried_up_to_the_cap(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)
    attempts: dict[str, int] = {}

    def script(request):
        attempts[request.sample_id] = attempts.get(request.sample_id, 0) + 1
        if request.sample_id == "0":
            return Completion(text=None, error=RequestError("http", "busy", status=503, retryable=True))  # never recovers
        if attempts[request.sample_id] < 3:
            return Completion(text=None, error=RequestError("http", "flaky", status=500, retryable=True))
        return gold_reply(request)

    spec = spec_for(data_dir, max_retries=4, max_error_rate=0.5)
    outcome = run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(script))
    assert attempts["0"] == 5  # 1 try + 4 retries, then recorded
    assert all(n == 3 for sid, n in attempts.items() if sid != "0")
    record = next(r for r in read_records(tmp_path / "run") if r["sample_id"] == "0")
    assert (record["error"]["status"], record["error"]["attempts"], record["error"]["retryable"]) == (503, 5, False)
    assert outcome.manifest.requests.error_kinds == {"HTTP 503": 1}
    assert outcome.stats.retries == 4 + 9 * 2


def test_cached_rerun_sends_nothing_and_gives_the_same_records(data_dir, tmp_path):
    cache = tmp_path / "cache.sqlite"
    run_evaluation(spec_for(data_dir), tmp_path / "a", cache_path=cache, backend=ScriptedBackend(gold_reply))
    again = ScriptedBackend(gold_reply)
    outcome = run_evaluation(spec_for(data_dir), tmp_path / "b", cache_path=cache, backend=again)
    assert again.received == [] and outcome.stats.cache_hits == 10

    def strip(records):  # records land as their scoring finishes: the order of the lines is not part of a run
        return sorted(({k: v for k, v in r.items() if k != "cached"} for r in records),
                      key=lambda r: (r["task"], r["sample_id"], r["choice"]))

    assert strip(read_records(tmp_path / "a")) == strip(read_records(tmp_path / "b"))


def test_rerun_into_the_same_folder_only_does_what_is_missing(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    run_evaluation(spec_for(data_dir), run_dir, cache_path=None, backend=ScriptedBackend(gold_reply))
    lines = (run_dir / "samples.jsonl").read_text().splitlines(keepends=True)
    # as after a kill: 6 whole lines and half of the 7th
    (run_dir / "samples.jsonl").write_text("".join(lines[:6]) + lines[6][:25])
    kept = {json.loads(line)["sample_id"] for line in lines[:6]}
    backend = ScriptedBackend(gold_reply)
    run_evaluation(spec_for(data_dir), run_dir, cache_path=None, backend=backend)
    assert sorted(r.sample_id for r in backend.received) == sorted({str(i) for i in range(10)} - kept)
    assert sorted(int(r["sample_id"]) for r in read_records(run_dir)) == list(range(10))


def test_a_folder_holding_another_spec_is_refused(data_dir, tmp_path):
    run_evaluation(spec_for(data_dir), tmp_path / "run", cache_path=None, backend=ScriptedBackend(gold_reply))
    with pytest.raises(EvalkitError, match="different settings.*limit"):
        run_evaluation(spec_for(data_dir, limit=5), tmp_path / "run", cache_path=None,
                       backend=ScriptedBackend(gold_reply))


def test_a_changed_command_is_refused_before_any_data_is_read(data_dir, tmp_path):
    run_evaluation(spec_for(data_dir), tmp_path / "run", cache_path=None, backend=ScriptedBackend(gold_reply))
    (data_dir / "gsm8k" / "test.jsonl").unlink()  # would fail loudly if it were read
    with pytest.raises(EvalkitError, match=r"different settings \(limit; num_fewshot\)"):
        run_evaluation(spec_for(data_dir, limit=5, num_fewshot=1), tmp_path / "run", cache_path=None,
                       backend=ScriptedBackend(gold_reply))


def test_resume_refuses_data_that_changed_since_the_run_started(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    first = ScriptedBackend(lambda r: "no idea" if r.sample_id == "7" else gold_reply(r))
    run_evaluation(spec_for(data_dir, max_error_rate=1.0), run_dir, cache_path=None, backend=first)
    test = data_dir / "gsm8k" / "test.jsonl"
    test.write_text(test.read_text().replace("Mika has 3 pencils", "Mika has 4 pencils"))
    with pytest.raises(EvalkitError, match=r"tasks changed since it started \(gsm8k data \(test\)\)"):
        run_evaluation(spec_for(data_dir), run_dir, cache_path=None, backend=ScriptedBackend(gold_reply))
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"  # left as it was


def test_rescore_reproduces_the_run_without_the_model(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    first = run_evaluation(spec_for(data_dir), run_dir, cache_path=None, backend=ScriptedBackend(gold_reply))
    records = read_records(run_dir)
    records[0]["scores"] = {"strict_match": 0.0, "flexible_extract": 0.0}  # stale scores from an older scorer
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    again = rescore_run(run_dir)
    pd.testing.assert_frame_equal(first.summary, again.summary)
    assert all(r["scores"]["strict_match"] == 1.0 for r in read_records(run_dir))


class TurnCount(Scorer):
    metrics = ("length",)

    def score(self, items):
        return [Score(value=float(len(outs)), answer=None, format_ok=True, metrics={"length": float(len(outs))})
                for _, outs in items]


class TwoTurnTask(Task):
    """A two-turn task: the second request must carry the model's first answer."""

    name, version, scorer = "echo2", "1", TurnCount()

    def load(self):
        return TaskData(tuple(Sample(id=f"q{i}", turns=(f"first {i}", f"second {i}"), target=None, genre="chat")
                              for i in range(3)), {})

    def build_request(self, sample, history):
        messages = []
        for turn, answer in zip(sample.turns, history):
            messages += [("user", turn), ("assistant", answer)]
        messages.append(("user", sample.turns[len(history)]))
        return Request(kind="chat", messages=tuple(messages), params=GenerationParams(max_tokens=8))


def test_two_turn_samples_carry_their_first_answer_into_the_second_turn(tmp_path, monkeypatch):
    family = TaskFamily(name="echo2", description="test", build=lambda variant, options: TwoTurnTask())
    monkeypatch.setattr("evalkit.registry.task_family", lambda name: family if name == "echo2" else None)
    backend = ScriptedBackend(lambda r: f"reply to {r.messages[-1][1]}")
    run_evaluation(RunSpec(tasks=["echo2"], model="scripted/fake"), tmp_path / "run", cache_path=None, backend=backend)
    second = [r for r in backend.received if r.turn == 1]
    assert len(second) == 3
    assert second[0].messages[1] == ("assistant", "reply to first 0")
    record = next(r for r in read_records(tmp_path / "run") if r["sample_id"] == "q0")
    assert record["outputs"] == ["reply to first 0", "reply to second 0"]
    assert record["messages"][-1] == {"role": "user", "content": "second 0"}


def test_several_samples_per_item_are_separate_choices_with_their_own_cache_keys(data_dir, tmp_path):
    backend = ScriptedBackend(lambda r: gold_reply(r) if r.choice == 0 else "no idea")
    spec = spec_for(data_dir, limit=4, num_samples=3, temperature=0.8)
    run_evaluation(spec, tmp_path / "run", cache_path=tmp_path / "c.sqlite", backend=backend)
    assert sorted((r.sample_id, r.choice) for r in backend.received) == [(str(i), c) for i in range(4) for c in range(3)]
    assert {r.params.temperature for r in backend.received} == {0.8}
    assert {(r.choice, r.params.seed) for r in backend.received} == {(0, 1234), (1, 1235), (2, 1236)}
    records = read_records(tmp_path / "run")
    assert len(records) == 12 and {r["choice"] for r in records} == {0, 1, 2}
    summary = pd.read_csv(tmp_path / "run" / "summary.csv").set_index(["genre", "metric"])
    assert summary.loc[("all", "strict_match"), "value"] == pytest.approx(1 / 3)
    assert summary.loc[("all", "strict_match"), "n"] == 12  # every reply counts
    again = ScriptedBackend(gold_reply)
    run_evaluation(spec, tmp_path / "run", cache_path=tmp_path / "c.sqlite", backend=again)
    assert again.received == []  # all 12 (sample, choice) pairs were done


def test_a_scorer_aggregate_adds_group_level_metrics(data_dir, tmp_path, monkeypatch):
    from evalkit.tasks.gsm8k import MathScorer

    def best_of(self, records):
        by_sample: dict[str, float] = {}
        for r in records:
            by_sample[r.sample_id] = max(by_sample.get(r.sample_id, 0.0), r.scores["strict_match"] or 0.0)
        return {"any_correct": sum(by_sample.values()) / len(by_sample)}

    monkeypatch.setattr(MathScorer, "aggregate", best_of, raising=False)
    backend = ScriptedBackend(lambda r: gold_reply(r) if r.choice == 1 and r.sample_id < "2" else "no")
    outcome = run_evaluation(spec_for(data_dir, limit=4, num_samples=2), tmp_path / "run", cache_path=None,
                             backend=backend)
    row = outcome.summary.query("genre == 'all' and metric == 'any_correct'").iloc[0]
    assert (row.value, row.n) == (0.5, 4)
