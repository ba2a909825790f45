"""How far a judge can be trusted: position bias in pairwise games, the spread of repeated gradings, and
agreement with another judge on the same answers (`evalkit judge agreement`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from evalkit.testing.stub_server import StubConfig, StubServer
from evalkit.types import Request
from tests.mt_bench_data import make_mt_bench_data, model_reply, template_of


@pytest.fixture
def mtb_dir(tmp_path: Path) -> Path:
    return make_mt_bench_data(tmp_path / "data")


def summary(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "summary.csv").set_index(["genre", "metric"])


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


# --- position bias ------------------------------------------------------------------------------


def first_shown(request: Request) -> str:
    return "[[A]]" if template_of(request).startswith("pair") else "Rating: [[5]]"


def fair(request: Request) -> str:
    """Picks the model's answer wherever it is shown."""
    if not template_of(request).startswith("pair"):
        return "Rating: [[5]]"
    a_line = next(line for line in request.messages[-1][1].splitlines() if line.startswith("A: "))
    return "[[A]]" if a_line.startswith("A: answer") else "[[B]]"


def second_on_81(request: Request) -> str:
    """Fair, except on sample 81 where whatever is shown second wins."""
    return "[[B]]" if request.sample_id == "81" and template_of(request).startswith("pair") else fair(request)


@pytest.mark.parametrize("judge, flips, first, second", [
    (first_shown, 1.0, 1.0, 0.0),
    (fair, 0.0, 0.0, 0.0),
    (second_on_81, 2 / 12, 0.0, 2 / 12),  # sample 81's two turns of 6 samples x 2 turns
])
def test_position_bias_of_pairwise_verdicts(mtb_dir, tmp_path, judge, flips, first, second):
    base = tmp_path / "baseline"
    run_evaluation(RunSpec(tasks=["mt_bench"], model="scripted/base", data_dir=str(mtb_dir)), base, cache_path=None,
                   backend=ScriptedBackend(lambda r: "a baseline reply"))
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(mtb_dir), judge="scripted/judge",
                   task_params={"mt_bench": {"baseline": str(base)}})
    run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(model_reply),
                   judge_backend=ScriptedBackend(judge))
    rows = summary(tmp_path / "run")
    assert rows.loc[("all", "position_flip_rate"), "value"] == pytest.approx(flips)
    assert rows.loc[("all", "first_position_rate"), "value"] == pytest.approx(first)
    assert rows.loc[("all", "second_position_rate"), "value"] == pytest.approx(second)


# --- repeated gradings --------------------------------------------------------------------------


def seed_rated(request: Request) -> str:
    """Greedy: 6; a sampled repeat k: 6 + k, so the spread per answer is known."""
    return f"Rating: [[{6 + (request.params.seed or 0)}]]"


def test_judge_repeats_grade_each_turn_n_times_and_report_the_spread(mtb_dir, tmp_path):
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(mtb_dir), judge="scripted/judge",
                   judge_args={"repeats": 3}, limit=2)
    judge = ScriptedBackend(seed_rated)
    run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(model_reply),
                   judge_backend=judge)
    assert len(judge.received) == 2 * 2 * 3
    assert sorted({(r.params.temperature, r.params.seed) for r in judge.received}) == [(0.0, None), (0.7, 1), (0.7, 2)]
    first = records(tmp_path / "run")[0]
    assert [e["rating"] for e in first["details"]["judgments"]["turn1"]] == [6.0, 7.0, 8.0]
    assert first["scores"]["turn1"] == 7.0  # the turn's score is the mean of its gradings
    rows = summary(tmp_path / "run")
    assert rows.loc[("all", "judge_stdev"), "value"] == pytest.approx(1.0)  # stdev of 6, 7, 8 on every turn
    assert rows.loc[("all", "score"), "value"] == pytest.approx(7.0)


def test_judge_repeats_on_the_command_line(mtb_dir, tmp_path):
    from click.testing import CliRunner

    from evalkit.cli import cli

    replay = tmp_path / "answers.jsonl"
    replay.write_text("".join(json.dumps({"task": "mt_bench", "sample_id": str(q), "output": ["a", "b"]}) + "\n"
                              for q in range(81, 87)))
    result = CliRunner().invoke(cli, ["run", "--tasks", "mt_bench", "--model", f"replay/{replay}", "--data-dir",
                                      str(mtb_dir), "--output-dir", str(tmp_path / "out"), "--run-name", "r",
                                      "--judge-repeats", "0"])
    assert result.exit_code == 2 and "--judge-repeats" in result.stderr
    with StubServer(StubConfig(reply=lambda prompt: "Rating: [[5]]")) as base_url:
        result = CliRunner().invoke(cli, ["run", "--tasks", "mt_bench", "--model", f"replay/{replay}", "--data-dir",
                                          str(mtb_dir), "--output-dir", str(tmp_path / "out"), "--run-name", "r",
                                          "--judge", "openai/stub", "--judge-base-url", base_url, "--no-cache",
                                          "--judge-repeats", "3", "--judge-args", "retries=1"])
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "r" / "run.json").read_text())
    assert manifest["spec"]["judge_args"] == {"retries": 1, "repeats": 3}
    assert manifest["judge_requests"]["sent"] == 6 * 2 * 3
    assert "36 single-answer gradings; 6 answers x 2 turns x 3 repeats" in " ".join(result.stderr.split())


# --- agreement with another judge on the same answers -------------------------------------------

GPT4 = {(81, 1): 8, (81, 2): 6, (82, 1): 10, (82, 2): 3, (83, 1): 4, (83, 2): 7,
        (84, 1): 2, (84, 2): 9, (85, 1): 5, (85, 2): 5, (86, 1): 1, (86, 2): 6}


def imported_run(tmp_path: Path, turns: int = 2) -> Path:
    """An `evalkit import fastchat` run of one model's answers (`turns` of each), judged by "gpt-4" as GPT4 says."""
    from evalkit.judges.fastchat_io import import_fastchat
    from tests.mt_bench_data import write_jsonl

    data = make_mt_bench_data(tmp_path / "data")
    bench = data / "mt_bench"
    write_jsonl(bench / "model_answer" / "m.jsonl", [
        {"question_id": q, "answer_id": f"m{q}", "model_id": "m", "tstamp": 1.0,
         "choices": [{"index": 0, "turns": [f"m {q} one", f"m {q} two"][:turns]}]} for q in range(81, 87)])
    write_jsonl(bench / "model_judgment" / "gpt-4_single.jsonl", [
        {"question_id": q, "model": "m", "judge": ["gpt-4", "single-v1"], "user_prompt": "", "turn": t,
         "judgment": f"Rating: [[{r}]]", "score": r, "tstamp": 1.0} for (q, t), r in GPT4.items()])
    (run,) = import_fastchat(bench / "question.jsonl", [bench / "model_judgment" / "gpt-4_single.jsonl"],
                             tmp_path / "imported", answers=bench / "model_answer")
    return run.run_dir


def regraded(source: Path, target: Path, rating) -> Path:
    """The same answers graded again by a scripted judge rating each turn `rating(gpt4_rating)`."""
    import shutil

    from evalkit.rescore import rescore_run

    shutil.copytree(source, target)
    judge = ScriptedBackend(lambda r: f"Rating: [[{rating(GPT4[int(r.sample_id), r.turn + 1])}]]")
    rescore_run(target, judge="scripted/local", judge_backend=judge, cache_path=None)
    return target


@pytest.mark.parametrize("rating", [
    lambda r: r,
    lambda r: 11 - r,
    lambda r: min(10, r + 2),
    lambda r: 1 + (r * 7) % 10,
])
def test_agreement_with_a_judge_that_is_a_known_function_of_gpt4(tmp_path, rating):
    from scipy import stats

    from evalkit.judges.agreement import compare_judges, rating_stats
    from evalkit.store import RunResult

    gpt4 = imported_run(tmp_path)
    local = regraded(gpt4, tmp_path / "local", rating)
    agreement = compare_judges(RunResult.read(gpt4), RunResult.read(local))
    assert agreement.judges == ("gpt-4 (imported)", "scripted/local")
    xs = [float(GPT4[k]) for k in sorted(GPT4)]
    ys = [float(rating(GPT4[k])) for k in sorted(GPT4)]
    got = rating_stats(agreement.rated)
    assert got["n"] == 12
    assert got["pearson"] == pytest.approx(stats.pearsonr(xs, ys)[0])
    assert got["spearman"] == pytest.approx(stats.spearmanr(xs, ys)[0])
    assert got["kendall"] == pytest.approx(stats.kendalltau(xs, ys)[0])
    assert got["mad"] == pytest.approx(sum(abs(x - y) for x, y in zip(xs, ys)) / 12)
    assert got["exact"] == pytest.approx(sum(x == y for x, y in zip(xs, ys)) / 12)
    assert got["within_1"] == pytest.approx(sum(abs(x - y) <= 1 for x, y in zip(xs, ys)) / 12)
    turn2 = rating_stats([p for p in agreement.rated if p.turn == "turn2"])
    assert turn2["n"] == 6 and turn2["mad"] == pytest.approx(
        sum(abs(GPT4[q, 2] - rating(GPT4[q, 2])) for q in range(81, 87)) / 6)


def test_a_judge_agrees_perfectly_with_itself_and_reversed_ratings_disagree_perfectly(tmp_path):
    from evalkit.judges.agreement import compare_judges, rating_stats
    from evalkit.store import RunResult

    gpt4 = imported_run(tmp_path)
    same = rating_stats(compare_judges(RunResult.read(gpt4), RunResult.read(gpt4)).rated)
    assert same == {"n": 12.0, "pearson": pytest.approx(1.0), "spearman": pytest.approx(1.0),
                    "kendall": pytest.approx(1.0), "mad": 0.0, "exact": 1.0, "within_1": 1.0}
    reversed_ = rating_stats(compare_judges(RunResult.read(gpt4), RunResult.read(
        regraded(gpt4, tmp_path / "rev", lambda r: 11 - r))).rated)
    assert reversed_["pearson"] == pytest.approx(-1.0) and reversed_["kendall"] == pytest.approx(-1.0)


def test_the_agreement_command_prints_the_tables_and_json(tmp_path):
    from click.testing import CliRunner

    from evalkit.cli import cli

    gpt4 = imported_run(tmp_path)
    local = regraded(gpt4, tmp_path / "local", lambda r: min(10, r + 1))
    result = CliRunner().invoke(cli, ["judge", "agreement", str(gpt4), str(local)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    assert "judge agreement: A (gpt-4 (imported)) vs B (scripted/local)" in result.stdout
    assert "ratings: A (rows) x B (columns)" in result.stdout
    data = json.loads(CliRunner().invoke(cli, ["judge", "agreement", str(gpt4), str(local), "--format", "json"]).stdout)
    assert data["ratings"]["all"]["within_1"] == 1.0 and data["ratings"]["all"]["exact"] == pytest.approx(1 / 12)
    assert set(data["ratings"]) == {"all", "turn1", "turn2", "writing", "math", "reasoning", "coding", "stem",
                                    "roleplay"}
    assert sum(map(sum, data["confusion"])) == 12 and data["confusion"][9][9] == 1  # (10, 10): the one exact pair
    unrelated = CliRunner().invoke(cli, ["judge", "agreement", str(gpt4), str(tmp_path / "data")])
    assert unrelated.exit_code == 2 and unrelated.stderr.startswith("error: ")


def test_pairwise_agreement_with_and_without_ties():
    from evalkit.judges.agreement import PlayedGame, game_stats

    games = [PlayedGame("c", "turn1", a, b) for a, b in [
        ("win", "win"), ("loss", "loss"), ("win", "loss"), ("tie", "tie"), ("win", "tie"), ("tie", "loss"),
        (None, "win")]]
    stats = game_stats(games)
    assert stats == {"games": 6.0, "agreement": pytest.approx(3 / 6), "games_without_ties": 3.0,
                     "agreement_without_ties": pytest.approx(2 / 3)}


def test_pairwise_runs_are_compared_game_by_game(mtb_dir, tmp_path):
    from evalkit.judges.agreement import compare_judges, game_stats
    from evalkit.store import RunResult

    base = tmp_path / "baseline"
    run_evaluation(RunSpec(tasks=["mt_bench"], model="scripted/base", data_dir=str(mtb_dir)), base, cache_path=None,
                   backend=ScriptedBackend(lambda r: "a baseline reply"))
    runs = []
    for name, judge in (("fair", fair), ("biased", second_on_81)):
        spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(mtb_dir), judge=f"scripted/{name}",
                       task_params={"mt_bench": {"baseline": str(base)}})
        run_evaluation(spec, tmp_path / name, cache_path=None, backend=ScriptedBackend(model_reply),
                       judge_backend=ScriptedBackend(judge))
        runs.append(RunResult.read(tmp_path / name))
    agreement = compare_judges(*runs)
    assert len(agreement.games) == 12 and len(agreement.rated) == 12
    stats = game_stats(agreement.games)  # sample 81's two games: a win for one judge, a tie for the other
    assert stats == {"games": 12.0, "agreement": pytest.approx(10 / 12), "games_without_ties": 10.0,
                     "agreement_without_ties": 1.0}


def test_the_report_has_a_judge_agreement_section(tmp_path):
    from evalkit.report import render_report
    from evalkit.store import RunResult

    gpt4 = imported_run(tmp_path)
    local = regraded(gpt4, tmp_path / "local", lambda r: 11 - r)
    html = render_report([RunResult.read(gpt4), RunResult.read(local)], judge_agreement=True)
    assert '<section id="agreement">' in html and "A vs B" in html
    assert "judge agreement: A (gpt-4 (imported)) vs B (scripted/local)" in html and "-1.000" in html
    assert '<section id="agreement">' not in render_report([RunResult.read(gpt4), RunResult.read(local)])


def test_gpt4_versus_a_local_judge_on_the_same_answers_is_two_commands(tmp_path):
    """`evalkit score IMPORTED --judge ... --into NEW` keeps the imported GPT-4 grades; `evalkit judge agreement`."""
    from click.testing import CliRunner

    from evalkit.cli import cli

    gpt4 = imported_run(tmp_path)
    before = (gpt4 / "samples.jsonl").read_text()
    with StubServer(StubConfig(reply=lambda prompt: "Rating: [[4]]")) as base_url:
        scored = CliRunner().invoke(cli, ["score", str(gpt4), "--judge", "openai/stub", "--judge-base-url", base_url,
                                          "--no-cache", "--into", str(tmp_path / "local")])
    assert scored.exit_code == 0, scored.stderr
    assert (gpt4 / "samples.jsonl").read_text() == before  # the GPT-4 grades are kept
    agreement = CliRunner().invoke(cli, ["judge", "agreement", str(gpt4), str(tmp_path / "local"), "--format", "json"])
    assert agreement.exit_code == 0, agreement.stderr
    data = json.loads(agreement.stdout)
    assert data["judges"] == ["gpt-4 (imported)", "openai/stub"] and data["ratings"]["all"]["n"] == 12
    assert data["ratings"]["all"]["pearson"] is None  # a judge that always says 4 does not vary: no correlation
    again = CliRunner().invoke(cli, ["score", str(gpt4), "--into", str(tmp_path / "local")])
    assert again.exit_code == 2 and "--into" in again.stderr and "exists and is not empty" in again.stderr


def test_regrading_first_turn_answers_plans_and_makes_one_call_per_answer(tmp_path):
    from evalkit.rescore import rescore_run

    gpt4 = imported_run(tmp_path, turns=1)
    notes: list[str] = []
    judge = ScriptedBackend(lambda r: "Rating: [[6]]")
    rescore_run(gpt4, judge="scripted/local", judge_backend=judge, cache_path=None, note=notes.append,
                into=tmp_path / "local")
    assert len(judge.received) == 6
    assert "will make 6 judge calls (6 single-answer gradings; 6 answers x 1 turn)" in notes[0]
