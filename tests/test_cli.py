"""The CLI end to end with CliRunner: tasks, dump, run with replay, score."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from evalkit.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def summary_value(run_dir: Path, metric: str, genre: str = "all") -> float:
    summary = pd.read_csv(run_dir / "summary.csv")
    return float(summary.query("genre == @genre and metric == @metric").value.iloc[0])


def dump(data_dir: Path, tmp_path: Path, tasks: str = "gsm8k") -> list[dict]:
    out = tmp_path / "prompts.jsonl"
    result = invoke("dump", "--tasks", tasks, "--data-dir", data_dir, "--num-fewshot", "2", "-o", out)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def replay(tmp_path: Path, rows: list[dict], reply) -> Path:
    path = tmp_path / "replay.jsonl"
    path.write_text("".join(json.dumps({"task": r["task"], "sample_id": r["sample_id"], "output": reply(r)}) + "\n"
                            for r in rows))
    return path


def run_replay(data_dir, tmp_path, replay_path, name, *extra):
    return invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay_path}", "--data-dir", data_dir,
                  "--num-fewshot", "2", "--output-dir", tmp_path / "results", "--run-name", name, "--no-cache", *extra)


def test_dump_writes_rendered_prompts_and_targets(data_dir, tmp_path):
    rows = dump(data_dir, tmp_path, "gsm8k,gsm8k:chat")
    assert len(rows) == 60
    first = rows[0]
    assert first["task"] == "gsm8k" and first["sample_id"] == "0" and first["genre"] == "math"
    assert first["prompt"].endswith("\nAnswer:") and first["target"].endswith("#### 4")
    assert first["params"]["stop"] == ["Question:", "</s>", "<|im_end|>"]
    assert rows[30]["messages"][0]["role"] == "user"


def test_replaying_gold_answers_scores_one(data_dir, tmp_path):
    rows = dump(data_dir, tmp_path)
    result = run_replay(data_dir, tmp_path, replay(tmp_path, rows, lambda r: r["target"]), "gold")
    assert result.exit_code == 0, result.stderr
    run_dir = tmp_path / "results" / "gold"
    assert summary_value(run_dir, "strict_match") == 1.0
    assert summary_value(run_dir, "format_violation") == 0.0
    assert "strict = strict_match" in result.stdout


def test_gold_answers_in_a_sentence_fail_strict_but_not_lenient(data_dir, tmp_path):
    rows = dump(data_dir, tmp_path)
    wrapped = replay(tmp_path, rows, lambda r: f"I believe the answer is {r['target'].rsplit(' ', 1)[-1]}.")
    assert run_replay(data_dir, tmp_path, wrapped, "wrapped").exit_code == 0
    run_dir = tmp_path / "results" / "wrapped"
    assert summary_value(run_dir, "strict_match") == 0.0
    assert summary_value(run_dir, "flexible_extract") == 1.0
    assert summary_value(run_dir, "format_violation") == 1.0


def test_samples_missing_from_a_replay_file_are_errors_not_zeros(data_dir, tmp_path):
    rows = dump(data_dir, tmp_path)
    partial = replay(tmp_path, rows[:27], lambda r: r["target"])
    result = run_replay(data_dir, tmp_path, partial, "partial", "--max-error-rate", "0.05")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: 3 of 30 samples failed")
    run_dir = tmp_path / "results" / "partial"
    assert summary_value(run_dir, "strict_match") == 1.0  # the 3 missing ones are not counted as wrong
    assert summary_value(run_dir, "error_rate") == 0.1


def test_score_rescores_a_stored_run(data_dir, tmp_path):
    rows = dump(data_dir, tmp_path)
    run_replay(data_dir, tmp_path, replay(tmp_path, rows, lambda r: r["target"]), "gold")
    run_dir = tmp_path / "results" / "gold"
    samples = run_dir / "samples.jsonl"
    stale = [json.loads(line) for line in samples.read_text().splitlines()]
    for record in stale[:10]:  # as an older scorer might have left them
        record.update(scores={"strict_match": 0.0, "flexible_extract": 0.0}, answer=None, format_ok=False)
    samples.write_text("".join(json.dumps(r) + "\n" for r in stale))
    assert summary_value(run_dir, "strict_match") == 1.0  # summary.csv still says what the run ended with

    result = invoke("score", run_dir)
    assert result.exit_code == 0, result.stderr
    rescored = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rescored) == 30 and all(r["scores"]["strict_match"] == 1.0 and r["format_ok"] for r in rescored)
    assert [r["outputs"] for r in rescored] == [r["outputs"] for r in stale]  # the answers are kept as they were
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["rescored_at"] and manifest["status"] == "completed"
    assert "evalkit summary: gsm8k" in result.stdout  # one task: named in the title, no task column
    row = next(line for line in result.stdout.splitlines() if line.split("│")[1:2] and line.split("│")[1].strip() == "all")
    assert [cell.strip() for cell in row.split("│")[1:5]] == ["all", "30", "1.0000", "1.0000"]


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The rows of a rich table, by their first cell."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines() if line.startswith("│")]
    return {row[0]: row for row in rows if row and row[0]}


def test_tasks_lists_counts_from_local_data(data_dir):
    result = invoke("tasks", "--data-dir", data_dir)
    assert result.exit_code == 0
    rows = table_rows(result.stdout)  # one row per family, its variants folded
    assert rows["gsm8k, gsm8k:chat"][2:] == ["30"] and "gsm8k:chat" not in rows
    assert rows["mgsm_ja"][2:] == ["5"] and rows["mgsm_en"][2:] == ["5"]
    family = table_rows(invoke("tasks", "gsm8k", "--data-dir", data_dir).stdout)  # genres: the family in full
    assert family["gsm8k"][1:] == ["math", "30"] and family["gsm8k:chat"][1:] == ["math", "30"]


def test_tasks_name_lists_the_family_and_its_parameters():
    result = invoke("tasks", "jaster")
    assert result.exit_code == 0, result.stderr
    rows = table_rows(result.stdout)
    assert {"jaster", "jaster:NLI", "jaster:jnli"} <= rows.keys() and "gsm8k" not in rows
    assert rows["max_samples"][1:4] == ["int", "100", "task"]
    assert rows["metrics"][1:4] == ["str", "–", "scoring"] and rows["jaster_dir"][1] == "path"
    judged = invoke("tasks", "mt_bench")
    assert table_rows(judged.stdout)["baseline"][3] == "scoring" and "--judge" in judged.stdout
    assert "takes no task parameters" in invoke("tasks", "gsm8k").stdout
