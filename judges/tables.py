"""The MT-Bench table: per category and overall, turn 1 / turn 2 / score, judge failures, spread and win rates."""

from __future__ import annotations

from typing import Any

from evalkit.judges.scores import METRICS
from evalkit.tables import ResultTable, cell, counts

PAIRWISE = ("win_rate", "tie_rate", "loss_rate", "win_rate_adjusted", "pairwise_failures")


def _rated(value: Any, spread: Any = None) -> str:
    text = cell(value, 2)
    if text != "–" and spread is not None and spread == spread:
        text += f" ± {spread:.2f}"
    return text


def _present(value: Any) -> bool:
    return value is not None and value == value  # not None, not NaN


def judge_tables(task: str, summary: Any) -> list[ResultTable]:
    """The judged task's table, from the summary (long format: task, genre, metric, value, n)."""
    rows = summary[summary["task"] == task]
    if not set(METRICS) <= set(rows["metric"]):
        return []
    cells = {(r.genre, r.metric): (r.value, r.n) for r in rows.itertuples(index=False)}
    genres = [g for g in dict.fromkeys(rows["genre"]) if g != "all"] + ["all"]
    pairwise = _present(cells.get(("all", "win_rate"), (None, 0))[0])
    repeated = any(_present(cells.get((g, "judge_stdev"), (None, 0))[0]) for g in genres)
    columns = ["category", "answers", "turn 1", "turn 2", "score", "judge failures"]
    if repeated:
        columns += ["re-judged ±"]
    if pairwise:
        columns += ["win", "tie", "loss", "win (ties ½)", "pairwise failures", "order flips", "A / B always"]
    table_rows = []
    for genre in genres:
        def value(metric: str) -> Any:
            return cells.get((genre, metric), (None, 0))[0]

        answered = cells.get((genre, "error_rate"), (None, 0))[1]
        row = [genre, str(answered), _rated(value("turn1"), value("turn1_stdev")),
               _rated(value("turn2"), value("turn2_stdev")), _rated(value("score"), value("score_stdev")),
               counts(value("judge_failures"))]
        if repeated:
            row += [cell(value("judge_stdev"), 2)]
        if pairwise:
            row += [cell(value(m), 2) for m in PAIRWISE[:4]] + [counts(value("pairwise_failures"))]
            row += [cell(value("position_flip_rate"), 2),
                    f"{cell(value('first_position_rate'), 2)} / {cell(value('second_position_rate'), 2)}"]
        table_rows.append(tuple(row))
    choices = cells.get(("all", "choices"), (None, 0))[0]
    caption = (
        "score: mean of every turn rating (as FastChat's show_result); "
        + (f"±: stdev across {int(choices)} choices; " if choices and choices > 1 else "")
        + ("re-judged ±: mean stdev of answers judged more than once; " if repeated else "")
        + ("order flips: share of games whose verdict changed when the answers swapped places; A / B always: "
           "share won by whichever answer was shown first / second in both orders; " if pairwise else "")
        + "judge failures: verdicts unreadable after retries or judge requests that failed (not scored, not 0)"
    )
    return [ResultTable(f"{task}: LLM-as-judge scores (1-10)", tuple(columns), tuple(table_rows), caption,
                        emphasized=frozenset({len(table_rows) - 1}))]
