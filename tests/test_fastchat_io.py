"""FastChat files in and out: import gives FastChat's own means; export writes what FastChat reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.judges.fastchat_io import export_fastchat, import_fastchat
from tests.mt_bench_data import write_jsonl

QUESTIONS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Shorter."]},
    {"question_id": 82, "category": "math", "turns": ["2+2?", "3+3?"]},
    {"question_id": 83, "category": "writing", "turns": ["Write a story.", "Add a title."]},
]


def single(model: str, qid: int, turn: int, score: float, tstamp: float = 1.0, prompt: str = "single-v1") -> dict:
    return {"question_id": qid, "model": model, "judge": ["gpt-4", prompt], "user_prompt": "(prompt)",
            "judgment": f"... Rating: [[{score}]]", "score": score, "turn": turn, "tstamp": tstamp}


def pair(qid: int, g1: str, g2: str, turn: int = 1) -> dict:
    return {"question_id": qid, "model_1": "alpha", "model_2": "beta", "g1_winner": g1, "g2_winner": g2,
            "judge": ["gpt-4", "pair-v2"], "g1_user_prompt": "", "g1_judgment": f"[[{g1}]]", "g2_user_prompt": "",
            "g2_judgment": f"[[{g2}]]", "turn": turn, "tstamp": 1.0}


def answer(model: str, qid: int, choices: int = 1) -> dict:
    return {"question_id": qid, "answer_id": f"{model}{qid}", "model_id": model, "tstamp": 1.0,
            "choices": [{"index": c, "turns": [f"{model} {qid} c{c} t1", f"{model} {qid} c{c} t2"]} for c in range(choices)]}


@pytest.fixture
def fastchat(tmp_path: Path) -> Path:
    """A FastChat data/mt_bench folder: alpha judged on both turns (one judgment repeated, one
    unreadable), beta on turn 1 only; alpha answered each question twice (two choices)."""
    root = tmp_path / "fastchat" / "mt_bench"
    write_jsonl(root / "question.jsonl", QUESTIONS)
    write_jsonl(root / "model_answer" / "alpha.jsonl", [answer("alpha", q["question_id"], choices=2) for q in QUESTIONS])
    write_jsonl(root / "model_answer" / "beta.jsonl", [answer("beta", q["question_id"]) for q in QUESTIONS])
    write_jsonl(root / "model_judgment" / "gpt-4_single.jsonl", [
        single("alpha", 81, 1, 8), single("alpha", 81, 2, 6),
        single("alpha", 82, 1, 10, prompt="single-math-v1"), single("alpha", 82, 2, -1, prompt="single-math-v1-multi-turn"),
        single("alpha", 83, 1, 4), single("alpha", 83, 1, 5, tstamp=2.0),  # judged twice
        single("alpha", 83, 2, 7),
        single("beta", 81, 1, 3), single("beta", 82, 1, 2, prompt="single-math-v1"), single("beta", 83, 1, 1),
    ])
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", [
        pair(81, "model_1", "model_1"),  # alpha wins in both orders
        pair(82, "model_1", "model_2"),  # the verdict flipped with the order: a tie
        pair(83, "tie", "tie"),
        pair(81, "error", "model_1", turn=2),  # FastChat drops it; we count it as a failure
    ])
    return root


def fastchat_show_result(path: Path) -> dict[str, dict[str, float]]:
    """The means FastChat's show_result prints in single mode, computed the way it computes them."""
    df = pd.read_json(path, lines=True)[["model", "score", "turn"]]
    df = df[df["score"] != -1]
    means = {"turn1": df[df["turn"] == 1].groupby("model")["score"].mean(),
             "turn2": df[df["turn"] == 2].groupby("model")["score"].mean(),
             "score": df.groupby("model")["score"].mean()}
    return {model: {k: float(v[model]) for k, v in means.items() if model in v} for model in df["model"].unique()}


def all_row(run_dir: Path, metric: str, genre: str = "all") -> float:
    rows = pd.read_csv(run_dir / "summary.csv").set_index(["genre", "metric"])
    return float(rows.loc[(genre, metric), "value"])


def test_import_gives_fastchats_means_per_model_and_per_category(fastchat, tmp_path):
    runs = import_fastchat(fastchat / "question.jsonl", [fastchat / "model_judgment" / "gpt-4_single.jsonl"],
                           tmp_path / "runs", answers=fastchat / "model_answer")
    assert [r.model for r in runs] == ["alpha", "beta"]
    expected = fastchat_show_result(fastchat / "model_judgment" / "gpt-4_single.jsonl")
    for run in runs:
        for metric, value in expected[run.model].items():
            assert all_row(run.run_dir, metric) == pytest.approx(value), (run.model, metric)
    alpha = tmp_path / "runs" / "alpha"
    assert all_row(alpha, "judge_failures") == 1  # FastChat's -1 is a judge failure, not a 0
    assert all_row(alpha, "turn1", "writing") == pytest.approx((8 + 4 + 5) / 3)  # both judgments of 83 count
    assert all_row(alpha, "judge_stdev") == pytest.approx(0.5 ** 0.5)
    manifest = json.loads((alpha / "run.json").read_text())
    assert manifest["format"] == "evalkit-run/2" and manifest["spec"]["model"] == "fastchat/alpha"
    assert manifest["tasks"]["mt_bench"]["metrics"] == ["score", "turn1", "turn2", "judge_failures"]
    assert manifest["status"] == "completed" and manifest["origin"]["judges"] == ["gpt-4/single-math-v1",
                                                                                  "gpt-4/single-math-v1-multi-turn",
                                                                                  "gpt-4/single-v1"]
    records = [json.loads(line) for line in (alpha / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 6  # 3 questions x 2 choices; FastChat judged choice 0 only
    first = next(r for r in records if r["sample_id"] == "81" and r["choice"] == 0)
    assert first["genre"] == "writing" and first["outputs"] == ["alpha 81 c0 t1", "alpha 81 c0 t2"]
    assert first["scores"] == {"score": 7.0, "turn1": 8.0, "turn2": 6.0, "judge_failures": 0.0}
    assert first["messages"][-1] == {"role": "user", "content": "Shorter."}


def test_import_of_pairwise_judgments_counts_wins_ties_and_losses_as_fastchat(fastchat, tmp_path):
    runs = import_fastchat(fastchat / "question.jsonl", [fastchat / "model_judgment" / "gpt-4_pair.jsonl"], tmp_path / "r")
    alpha, beta = (r.run_dir for r in runs)
    assert all_row(alpha, "win_rate") == pytest.approx(1 / 3) and all_row(alpha, "tie_rate") == pytest.approx(2 / 3)
    assert all_row(beta, "loss_rate") == pytest.approx(1 / 3) and all_row(beta, "win_rate") == 0
    assert all_row(alpha, "pairwise_failures") == 1


def test_judgments_of_questions_missing_from_the_question_file_are_refused_or_skipped(fastchat, tmp_path):
    write_jsonl(fastchat / "few.jsonl", QUESTIONS[:2])
    judgments = [fastchat / "model_judgment" / "gpt-4_single.jsonl"]
    with pytest.raises(EvalkitError, match="1 judged question.*ids 83.*--skip-unknown"):
        import_fastchat(fastchat / "few.jsonl", judgments, tmp_path / "r")
    runs = import_fastchat(fastchat / "few.jsonl", judgments, tmp_path / "r", skip_unknown=True)
    manifest = json.loads((runs[0].run_dir / "run.json").read_text())
    assert manifest["origin"]["unknown_questions_skipped"] == 1


def test_export_writes_answers_and_judgments_fastchat_reads_back(fastchat, tmp_path):
    import_fastchat(fastchat / "question.jsonl", [fastchat / "model_judgment" / "gpt-4_single.jsonl"],
                    tmp_path / "runs", answers=fastchat / "model_answer")
    written = export_fastchat(tmp_path / "runs" / "alpha", tmp_path / "out", model_id="alpha")
    answers = [json.loads(line) for line in (tmp_path / "out" / "mt_bench" / "model_answer" / "alpha.jsonl").read_text().splitlines()]
    original = [json.loads(line) for line in (fastchat / "model_answer" / "alpha.jsonl").read_text().splitlines()]
    assert [(a["question_id"], a["choices"]) for a in answers] == [(a["question_id"], a["choices"]) for a in original]
    assert {"question_id", "answer_id", "model_id", "choices", "tstamp"} <= answers[0].keys()
    judgment_file = tmp_path / "out" / "mt_bench" / "model_judgment" / "gpt-4_single.jsonl"
    assert judgment_file in written
    # what FastChat's show_result makes of the exported judgments is what it made of the originals
    exported = fastchat_show_result(judgment_file)["alpha"]
    assert exported == pytest.approx(fastchat_show_result(fastchat / "model_judgment" / "gpt-4_single.jsonl")["alpha"])


def test_cli_import_and_export(fastchat, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "fastchat", "--questions", str(fastchat / "question.jsonl"),
                                 "--judgments", str(fastchat / "model_judgment" / "gpt-4_single.jsonl"),
                                 "--answers", str(fastchat / "model_answer"), "--output-dir", str(tmp_path / "runs")],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "mt_bench: LLM-as-judge scores" in result.stdout and "judge failures" in result.stdout
    result = runner.invoke(cli, ["export", "fastchat", str(tmp_path / "runs" / "beta")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "beta" / "fastchat" / "mt_bench" / "model_answer" / "beta.jsonl").is_file()


SHARED = Path(os.environ.get("EVALKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
JA_JUDGMENTS = SHARED / "ja_mt_bench" / "model_judgment" / "gpt-4_single.jsonl"


@pytest.mark.skipif(not JA_JUDGMENTS.is_file(), reason=f"needs the published Japanese MT-Bench judgments ({JA_JUDGMENTS})")
def test_importing_the_published_japanese_judgments_matches_show_result(tmp_path):
    runs = import_fastchat(SHARED / "ja_mt_bench" / "question_full.jsonl", [JA_JUDGMENTS], tmp_path / "runs",
                           task_name="mt_bench_ja:full")
    expected = fastchat_show_result(JA_JUDGMENTS)
    assert sorted(r.model for r in runs) == sorted(expected)
    for run in runs:
        for metric in ("score", "turn1", "turn2"):
            value = all_row(run.run_dir, metric)
            if metric in expected[run.model]:
                assert value == pytest.approx(expected[run.model][metric], abs=1e-12), (run.model, metric)
            else:
                assert pd.isna(value)  # no second-turn judgments in that file
        categories = pd.read_csv(run.run_dir / "summary.csv").query("metric == 'turn1' and genre != 'all'")
        assert len(categories) == 8
