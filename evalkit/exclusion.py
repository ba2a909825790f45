"""Scores without some items: `--exclude` on show, report, compare and gate.

The list is a contamination scan's `contaminated.jsonl` (or the scan's report folder that holds it),
or any JSON-lines file of `{"task": ..., "sample_id": ...}`. An item is named by its task family
and sample id, so that a list made for `jaster` applies to a run of `jaster:NLI` or `jaster:chat`,
whose samples are the same. A run without those items is a RunResult like any other: its summary is
computed again from the records it keeps (group-level metrics such as pass@k included), so every
command reads it unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import EvalkitError
from evalkit.manifest import SummaryRow
from evalkit.summary import summarize_run
from evalkit.tables import ResultTable, cell
from evalkit.views import genre_label, group_metrics, is_grouped

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.store import RunResult

LIST_NAME = "contaminated.jsonl"


def _family(task: str) -> str:
    return task.partition(":")[0]


@dataclass(frozen=True)
class Exclusion:
    source: Path
    items: frozenset[tuple[str, str]]  # (task family, sample id)

    def excludes(self, task: str, sample_id: str) -> bool:
        return (_family(task), sample_id) in self.items

    @classmethod
    def load(cls, path: Path) -> "Exclusion":
        """A list file, or a folder holding contaminated.jsonl; one clear line on anything else."""
        file = path / LIST_NAME if path.is_dir() else path
        if not file.is_file():
            raise EvalkitError(f"--exclude {path}: no such file" + (f" (expected {LIST_NAME} in the folder)" if path.is_dir() else ""))
        items = set()
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise EvalkitError(f"{file}:{lineno}: not JSON") from None
            if not isinstance(row, dict) or not isinstance(row.get("task"), str) or row.get("sample_id") is None:
                raise EvalkitError(f"{file}:{lineno}: an excluded item needs a task and a sample_id")
            items.add((_family(row["task"]), str(row["sample_id"])))
        return cls(file, frozenset(items))


@dataclass(frozen=True)
class CleanRun:
    """A run without the excluded items, and how many of each task's samples went."""

    run: "RunResult"
    removed: dict[str, int]  # task -> samples removed
    kept: dict[str, int]  # task -> samples kept

    def note(self, label: str | None = None) -> str:
        parts = ", ".join(f"{task} {self.removed[task]} of {self.removed[task] + self.kept[task]}" for task in self.removed)
        return f"{label + ': ' if label else ''}scored without the excluded items ({parts})"


def without(run: "RunResult", exclusion: Exclusion) -> CleanRun:
    """The run without the excluded items, its summary computed again from the records it keeps."""
    from dataclasses import replace

    kept = [r for r in run.records if not exclusion.excludes(r.task, r.sample_id)]
    removed = {task: len({r.sample_id for r in run.records if r.task == task and exclusion.excludes(task, r.sample_id)})
               for task in run.manifest.tasks}
    remaining = {task: len({r.sample_id for r in kept if r.task == task}) for task in run.manifest.tasks}
    aggregates = {name: a for name in run.manifest.tasks if (a := group_metrics(run, name)) is not None}
    frame = summarize_run(kept, run.manifest.tasks, aggregates)
    rows = [SummaryRow(**{k: (None if v != v else v) if k == "value" else v for k, v in row.items()})
            for row in frame.astype(object).to_dict("records")]
    manifest = run.manifest.model_copy(update={"summary": rows})
    return CleanRun(replace(run, manifest=manifest, records=tuple(kept)), removed, remaining)


def side_by_side(summary: "pd.DataFrame", clean: "pd.DataFrame", removed: dict[str, int]) -> ResultTable:
    """Every metric on all items and on the clean ones, with the change and the count removed."""
    rows = side_by_side_rows(summary, clean, removed)
    grouped = {t for t in dict.fromkeys(r["task"] for r in rows)
               if is_grouped([r["genre"] for r in rows if r["task"] == t])}
    cells = []
    for r in rows:
        before, after = r["value"], r["clean_value"]
        if before is None and after is None:
            continue  # a metric neither side has (a standard error never computed)
        delta = "" if before is None or after is None else f"{after - before:+.4f}"
        cells.append((r["task"], genre_label(r["genre"], r["task"] in grouped), r["metric"], cell(before), str(r["n"]),
                      cell(after), str(r["clean_n"]), delta))
    gone = ", ".join(f"{t}: {k} removed" for t, k in removed.items() if k) or "none of the run's samples is on the list"
    caption = f"clean: without the excluded items ({gone}); n: the samples each value is over"
    return ResultTable("all items vs clean items", ("task", "genre", "metric", "all", "n", "clean", "n clean", "Δ"),
                       tuple(cells), caption, left_aligned=3)


def side_by_side_rows(summary: "pd.DataFrame", clean: "pd.DataFrame", removed: dict[str, int]) -> list[dict[str, Any]]:
    """Every metric of the summary on all items and on the clean ones, as records (for CSV and JSON too)."""
    after = {(r.task, r.genre, r.metric): (r.value, r.n) for r in clean.itertuples(index=False)}
    out = []
    for r in summary.itertuples(index=False):
        value, n = after.get((r.task, r.genre, r.metric), (None, 0))
        out.append({"task": r.task, "genre": r.genre, "metric": r.metric, "value": _plain(r.value), "n": int(r.n),
                    "clean_value": _plain(value), "clean_n": int(n), "removed": removed.get(r.task, 0)})
    return out


def _plain(value: Any) -> float | None:
    return None if value is None or value != value else float(value)
