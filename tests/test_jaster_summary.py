"""The summary mechanisms Jaster relies on, on hand-made records: genre groups (categories, AVG) and group-level metrics."""

from __future__ import annotations

import pytest
from rich.console import Console

from evalkit.manifest import TaskInfo
from evalkit.records import SampleRecord
from evalkit.summary import covers, summarize
from evalkit.tables import rich_table
from evalkit.types import RequestError
from evalkit.views import summary_table


def record(genre: str, strict: float | None, format_ok: bool | None = True, error: str | None = None,
           i: int = 0) -> SampleRecord:
    return SampleRecord(task="t", sample_id=f"{genre}-{i}", genre=genre, scores={"strict": strict}, format_ok=format_ok,
                        error=RequestError("timeout", error) if error else None)


def rows(summary) -> dict[tuple[str, str], tuple[float | None, int]]:
    return {(r.genre, r.metric): (r.value, r.n) for r in summary.itertuples(index=False)}


def test_grouped_genres_get_group_rows_and_all_is_the_mean_of_groups():
    records = [record("A/x", 1.0), record("A/x", 1.0, i=1), record("A/y", 0.0, format_ok=False),
               record("B/z", 0.9), record("B/z", None, format_ok=None, error="timeout", i=1)]
    summary = summarize(records, {"t": ["strict"]})
    got = rows(summary)
    assert got[("A/x", "strict")] == (1.0, 2) and got[("A/y", "strict")] == (0.0, 1)
    assert got[("A", "strict")] == (0.5, 3)  # mean of x (1.0) and y (0.0), not of the 3 samples (0.667)
    assert got[("A", "format_violation")] == (0.5, 3)
    assert got[("all", "strict")] == (pytest.approx(0.7), 4)  # mean of A (0.5) and B (0.9); pooled would be 0.725
    assert got[("B", "error_rate")] == (0.5, 2) and got[("all", "error_rate")] == (0.2, 5)  # errors: share of samples
    assert list(dict.fromkeys(summary.genre)) == ["all", "A", "A/x", "A/y", "B", "B/z"]


def test_ungrouped_genres_keep_pooled_means():
    summary = summarize([record("x", 1.0), record("x", 1.0, i=1), record("y", 0.0)], {"t": ["strict"]})
    assert rows(summary)[("all", "strict")] == (pytest.approx(2 / 3), 3)
    assert list(dict.fromkeys(summary.genre)) == ["all", "x", "y"]


def test_a_group_level_metric_replaces_the_per_sample_mean_and_feeds_the_group_mean():
    def aggregate(group: list[SampleRecord]) -> dict:
        return {"strict": 0.9, "extra": 1.0} if {r.genre for r in group} == {"S/corr"} else {}

    records = [record("S/corr", None, i=i) for i in range(3)] + [record("S/plain", 0.5)]
    got = rows(summarize(records, {"t": ["strict"]}, {"t": aggregate}))
    assert got[("S/corr", "strict")] == (0.9, 3) and got[("S/corr", "extra")] == (1.0, 3)
    assert got[("S", "strict")] == (pytest.approx(0.7), 4) and got[("all", "strict")] == (pytest.approx(0.7), 4)


def test_the_table_labels_all_as_avg_and_indents_the_members_of_a_group():
    summary = summarize([record("NLI/jnli", 1.0), record("QA/niilc", 0.5)], {"t": ["strict"]})
    console = Console(width=120, record=True)
    info = TaskInfo(version="1", data={}, samples=2, metrics=["strict"], strict_metric="strict")
    console.print(rich_table(summary_table(summary, {"t": info})))
    text = console.export_text()
    assert "AVG" in text and "  jnli" in text and "NLI/jnli" not in text and "mean of the groups" in text


def test_all_averages_only_the_named_groups_and_all_plus_names_the_rest():
    records = [record("A/x", 1.0), record("B/y", 0.5), record("S/s", 0.0), record("C/c", 0.0)]
    got = rows(summarize(records, {"t": ["strict"]}, None, {"t": ["A", "B", "M"]}))
    assert got[("all", "strict")] == (0.75, 2)  # A and B; M is not present, S and C are outside
    assert got[("all+C+S", "strict")] == (pytest.approx(0.375), 4)
    assert got[("all", "error_rate")] == (0.0, 4)
    # every group named: no extension row
    assert ("all+C+S", "strict") not in rows(summarize(records, {"t": ["strict"]}, None, {"t": ["A", "B", "C", "S"]}))
    # none of the named groups present (a run of STS alone): `all` is what there is
    only = rows(summarize([record("S/s", 0.5)], {"t": ["strict"]}, None, {"t": ["A"]}))
    assert only[("all", "strict")] == (0.5, 1) and not any(g.startswith("all+") for g, _ in only)


@pytest.mark.parametrize("row, genre, average, expected", [
    ("all", "A/x", None, True),
    ("all", "S/s", ["A"], False),
    ("all", "A/x", ["A"], True),
    ("all", "plain", ["A"], True),
    ("all+S", "S/s", ["A"], True),
    ("A", "A/x", ["A"], True),
    ("A", "AB/x", None, False),
    ("A/x", "A/x", None, True),
])
def test_which_genres_a_row_covers(row, genre, average, expected):
    assert covers(row, genre, average) is expected


def test_the_table_says_which_groups_avg_averages_and_which_it_leaves_out():
    records = [record("A/x", 1.0), record("S/s", 0.0)]
    summary = summarize(records, {"t": ["strict"]}, None, {"t": ["A", "M"]})
    info = TaskInfo(version="1", data={}, samples=2, metrics=["strict"], strict_metric="strict", average_groups=["A", "M"])
    console = Console(width=200, record=True)
    console.print(rich_table(summary_table(summary, {"t": info})))
    text = " ".join(console.export_text().split())
    assert "AVG+S" in text and "t AVG = mean of A (not run, so not averaged: M); AVG+S also averages S" in text
