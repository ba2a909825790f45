"""The MT-Bench judge inside a run, with scripted model and judge: grading, retries, failures, pairwise, re-judging."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.backends.managed import RetryPolicy
from evalkit.errors import EvalkitError
from evalkit.rescore import rescore_run
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from evalkit.types import Completion, Request, RequestError
from tests.mt_bench_data import make_mt_bench_data, model_reply, template_of


@pytest.fixture
def mtb_dir(tmp_path: Path) -> Path:
    return make_mt_bench_data(tmp_path / "data")


class Notes:
    """A reporter that keeps the run's notes and when they came."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def task_started(self, task, total, done):
        self.events.append("started")

    def sample_done(self, task, record): ...

    def note(self, text):
        self.events.append(text)


def spec(data: Path, **overrides) -> RunSpec:
    fields = dict(tasks=["mt_bench"], model="scripted/model", data_dir=str(data), judge="openai/judge")
    return RunSpec(**{**fields, **overrides})


def run(data: Path, out: Path, judge_script, model_script=model_reply, cache: Path | None = None, reporter=None, **overrides):
    model, judge = ScriptedBackend(model_script), ScriptedBackend(judge_script)
    outcome = run_evaluation(spec(data, **overrides), out, cache_path=cache, backend=model, judge_backend=judge,
                             reporter=reporter)
    return outcome, model, judge


def records(run_dir: Path) -> dict[tuple[str, int], dict]:
    lines = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return {(r["sample_id"], r["choice"]): r for r in lines}  # the last line of a sample wins


def summary(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "summary.csv").set_index(["genre", "metric"])


def rate_by_turn(request: Request) -> str:
    return "Good.\nRating: [[8]]" if template_of(request).startswith(("single-v1:", "single-math-v1:")) else "評価：[[6]]"


def test_every_turn_is_graded_with_its_template_and_the_summary_has_the_required_metrics(mtb_dir, tmp_path):
    outcome, model, judge = run(mtb_dir, tmp_path / "run", rate_by_turn)
    templates = sorted({template_of(r) for r in judge.received})
    assert templates == ["single-math-v1-multi-turn:en", "single-math-v1:en", "single-v1-multi-turn:en", "single-v1:en"]
    assert len(judge.received) == 6 * 2 and {r.params.temperature for r in judge.received} == {0.0}
    turn2 = next(r for r in judge.received if r.sample_id == "82" and r.turn == 1)
    # the second turn is graded with the whole conversation and both reference answers shown
    assert "A1: answer 82 turn 1 choice 0" in turn2.messages[1][1] and "REF2: reference 82 two" in turn2.messages[1][1]
    rows = summary(tmp_path / "run")
    for genre in ["all", "writing", "math", "reasoning", "coding", "stem", "roleplay"]:
        assert rows.loc[(genre, "turn1"), "value"] == 8.0 and rows.loc[(genre, "turn2"), "value"] == 6.0
        assert rows.loc[(genre, "score"), "value"] == 7.0 and rows.loc[(genre, "judge_failures"), "value"] == 0
    record = records(tmp_path / "run")[("82", 0)]
    assert record["scores"] == {"score": 7.0, "turn1": 8.0, "turn2": 6.0, "judge_failures": 0.0}
    assert record["format_ok"] is None and record["error"] is None
    assert record["details"]["judgments"]["turn1"][0] | {"reply": "…"} == {
        "prompt": "single-math-v1", "rating": 8.0, "reply": "…", "failure": None, "attempts": 1, "output": "text"}
    assert outcome.manifest.status == "completed" and outcome.manifest.judge_requests.sent == 12
    assert outcome.manifest.judge_backend == {"kind": "scripted", "model": "fake"}  # the judge's, in run.json


def test_japanese_first_turns_use_the_japanese_prompts_and_second_turns_the_english_ones(mtb_dir, tmp_path):
    _, _, judge = run(mtb_dir, tmp_path / "run", rate_by_turn, tasks=["mt_bench_ja"])
    used = {(r.sample_id, r.turn): template_of(r) for r in judge.received}
    assert used[("11", 0)] == "single-v1:ja" and used[("21", 0)] == "single-math-v1:ja"
    assert used[("11", 1)] == "single-v1-multi-turn:en" and used[("21", 1)] == "single-math-v1-multi-turn:en"


def test_the_number_of_judge_calls_is_announced_before_the_run(mtb_dir, tmp_path):
    notes = Notes()
    run(mtb_dir, tmp_path / "run", rate_by_turn, reporter=notes, limit=2, num_samples=3)
    assert notes.events[0].startswith("mt_bench: judge openai/judge will make 12 judge calls (12 single-answer "
                                      "gradings; 6 answers x 2 turns)")
    assert notes.events[1] == "started"


def test_an_unreadable_verdict_is_asked_again_then_counted_as_a_judge_failure(mtb_dir, tmp_path):
    def judge(request):
        if request.sample_id == "81" and request.turn == 1:
            return "I think this answer is rather nice."  # never a rating
        if request.sample_id == "85" and request.turn == 0 and request.choice == 0:
            return "Let me think about it."  # readable on the second try
        return "Rating: [[4]]"

    outcome, _, backend = run(mtb_dir, tmp_path / "run", judge, max_error_rate=0.2)  # 1 of 6 may fail
    asked = [(r.choice, r.params.temperature) for r in backend.received if (r.sample_id, r.turn) == ("81", 1)]
    assert asked == [(0, 0.0), (1, 0.7), (2, 0.7)]  # a new cache key each time, sampled after the first
    failed = records(tmp_path / "run")[("81", 0)]
    entry = failed["details"]["judgments"]["turn2"][0]
    assert entry["rating"] is None and entry["failure"] == "unparsable" and len(entry["rejected"]) == 2
    assert failed["scores"] == {"score": None, "turn1": 4.0, "turn2": None, "judge_failures": 1.0}
    assert failed["error"] is None  # the answer is fine; only its grading failed
    assert records(tmp_path / "run")[("85", 0)]["scores"]["turn1"] == 4.0
    rows = summary(tmp_path / "run")
    assert rows.loc[("all", "judge_failures"), "value"] == 1 and rows.loc[("writing", "judge_failures"), "value"] == 1
    assert rows.loc[("all", "turn2"), "value"] == 4.0  # the failure is left out, never scored 0
    assert outcome.manifest.status == "completed"


def test_a_failed_judge_request_is_recorded_and_a_rerun_judges_only_it(mtb_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)
    cache, out = tmp_path / "cache.sqlite", tmp_path / "run"

    def overloaded(request):
        if request.sample_id in ("82", "86") and request.turn == 1:
            return Completion(text=None, error=RequestError("http", "rate limited", status=429, retryable=True,
                                                            retry_after=0.0))
        return "Rating: [[5]]"

    _, model, judge = run(mtb_dir, out, overloaded, cache=cache, max_retries=2, max_error_rate=0.5)
    assert sum(1 for r in judge.received if r.sample_id == "82" and r.turn == 1) == 3  # 1 try + 2 retries
    entry = records(out)[("82", 0)]["details"]["judgments"]["turn2"][0]
    assert entry["failure"] == "request: HTTP 429: rate limited (after 3 attempts)"
    assert summary(out).loc[("all", "judge_failures"), "value"] == 2

    notes = Notes()
    _, model, judge = run(mtb_dir, out, lambda r: "Rating: [[5]]", cache=cache, reporter=notes, max_retries=2,
                          max_error_rate=0.5)
    assert model.received == []  # nothing regenerated
    assert sorted((r.sample_id, r.turn) for r in judge.received) == [("82", 1), ("86", 1)]  # only what was missing
    assert "will make 4 judge calls (4 single-answer gradings; 2 answers x 2 turns)" in notes.events[0]
    assert summary(out).loc[("all", "judge_failures"), "value"] == 0
    assert records(out)[("82", 0)]["scores"]["turn2"] == 5.0


def test_without_a_judge_answers_are_stored_unscored_and_score_grades_them_later(mtb_dir, tmp_path):
    notes = Notes()
    model = ScriptedBackend(model_reply)
    out = tmp_path / "run"
    first = run_evaluation(spec(mtb_dir, judge=None, limit=2), out, cache_path=None, backend=model, reporter=notes)
    assert f"grade them with evalkit score {out} --judge BACKEND/MODEL" in notes.events[0]
    assert first.manifest.judge_backend is None
    record = records(out)[("81", 0)]
    assert record["outputs"] == ["answer 81 turn 1 choice 0", "answer 81 turn 2 choice 0"]
    assert set(record["scores"].values()) == {None} and record["details"]["note"] == "not judged: no --judge was given"

    kept = rescore_run(out)  # no judge anywhere: the stored records stay as they are
    assert pd.isna(kept.summary.set_index(["genre", "metric"]).loc[("all", "score"), "value"])

    judge = ScriptedBackend(lambda r: "Rating: [[9]]")
    outcome = rescore_run(out, judge="openai/judge", judge_backend=judge, cache_path=tmp_path / "c.sqlite")
    assert len(judge.received) == 4
    assert summary(out).loc[("all", "score"), "value"] == 9.0
    assert outcome.manifest.spec.judge == "openai/judge" and outcome.manifest.judge_requests.sent == 4
    assert outcome.manifest.judge_backend == judge.provenance()  # who graded, beside who answered
    from evalkit.store import RunResult
    from evalkit.views import header

    assert ("judge backend", "kind=scripted, model=fake") in header(RunResult.read(out))  # and `evalkit show` says so


def position_biased_judge(request: Request) -> str:
    """Prefers the better answer, except on sample 81 where it always picks whatever is shown first."""
    user = request.messages[-1][1]
    if template_of(request).startswith("pair"):
        if request.sample_id == "81":
            return "[[A]]"
        a_line = next(line for line in user.splitlines() if line.startswith("A: "))
        return "[[A]]" if "answer" in a_line else "[[B]]"
    return "Rating: [[5]]"


def test_pairwise_against_a_baseline_plays_both_orders_and_a_flip_is_a_tie(mtb_dir, tmp_path):
    base = tmp_path / "baseline"
    run_evaluation(spec(mtb_dir, judge=None), base, cache_path=None, backend=ScriptedBackend(lambda r: "meh"))
    notes = Notes()
    _, _, judge = run(mtb_dir, tmp_path / "run", position_biased_judge, reporter=notes,
                      task_params={"mt_bench": {"baseline": str(base)}})
    pair_calls = [r for r in judge.received if template_of(r).startswith("pair")]
    assert len(pair_calls) == 6 * 2 * 2  # samples x turns x both orders
    assert "12 single-answer gradings + 24 pairwise, both orders against baseline" in notes.events[0]
    game = records(tmp_path / "run")[("81", 0)]["details"]["pairwise"]["turn1"][0]
    assert (game["model_first"]["verdict"], game["baseline_first"]["verdict"], game["outcome"]) == ("A", "A", "tie")
    won = records(tmp_path / "run")[("82", 0)]["details"]["pairwise"]["turn2"][0]
    assert won["prompt"] == "pair-math-v1-multi-turn" and won["outcome"] == "win"
    rows = summary(tmp_path / "run")
    assert rows.loc[("all", "win_rate"), "value"] == pytest.approx(10 / 12)
    assert rows.loc[("all", "tie_rate"), "value"] == pytest.approx(2 / 12)
    assert rows.loc[("all", "win_rate_adjusted"), "value"] == pytest.approx(11 / 12)
    assert rows.loc[("writing", "tie_rate"), "value"] == 1.0 and rows.loc[("all", "pairwise_failures"), "value"] == 0


def test_baseline_needs_a_judge(mtb_dir, tmp_path):
    with pytest.raises(EvalkitError, match="-T baseline needs --judge"):
        run_evaluation(spec(mtb_dir, judge=None, task_params={"mt_bench": {"baseline": str(tmp_path)}}),
                       tmp_path / "run", cache_path=None, backend=ScriptedBackend(model_reply))
    assert not (tmp_path / "run").exists()


def test_bad_judge_args_fail_before_a_run_folder_exists(mtb_dir, tmp_path):
    with pytest.raises(EvalkitError, match="unknown key.*temperature"):
        run(mtb_dir, tmp_path / "run", rate_by_turn, judge_args={"temperature": 1})
    assert not (tmp_path / "run").exists()


def test_several_choices_give_a_spread_of_the_score(mtb_dir, tmp_path):
    def judge(request):
        return "Rating: [[8]]" if "choice 0" in request.messages[-1][1] else "Rating: [[6]]"

    _, _, backend = run(mtb_dir, tmp_path / "run", judge, num_samples=2)
    rows = summary(tmp_path / "run")
    assert rows.loc[("all", "score"), "value"] == 7.0 and rows.loc[("all", "choices"), "value"] == 2
    assert rows.loc[("all", "score_stdev"), "value"] == pytest.approx(2 ** 0.5)  # stdev of 8 and 6


def test_structured_output_falls_back_shape_by_shape_to_free_text(mtb_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)

    def llama_cpp_like(request):
        shape = json.loads(request.params.response_format)["type"] if request.params.response_format else "text"
        if shape == "json_schema":  # how the openai backend reports llama-cpp-python's HTTP 500 for it
            return Completion(text=None, error=RequestError("unsupported", "Input should be 'text' or 'json_object'",
                                                            status=500))
        return '{"explanation": "fine", "rating": 7}' if shape == "json_object" else "Rating: [[3]]"

    _, _, judge = run(mtb_dir, tmp_path / "run", llama_cpp_like, judge_args={"json": True}, limit=3)
    entry = records(tmp_path / "run")[("81", 0)]["details"]["judgments"]["turn1"][0]
    assert entry["rating"] == 7.0 and entry["output"] == "json_object"
    shapes = [json.loads(r.params.response_format)["type"] for r in judge.received]
    assert shapes.count("json_schema") == 1  # one request tried it, once (a refused option is not retried)
    assert shapes.count("json_object") == 6  # one per judgment (the probe's answer came from the cache)

    def text_only(request):
        if request.params.response_format:
            return Completion(text=None, error=RequestError("unsupported", "unsupported parameter", status=400))
        return "Rating: [[3]]"

    _, _, judge = run(mtb_dir, tmp_path / "run2", text_only, judge_args={"json": True}, limit=1)
    entry = records(tmp_path / "run2")[("81", 0)]["details"]["judgments"]["turn1"][0]
    assert entry["rating"] == 3.0 and entry["output"] == "text"
