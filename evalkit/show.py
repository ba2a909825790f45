"""`evalkit show` and `evalkit compare` as text: the terminal's tables, Markdown, CSV or JSON."""

from __future__ import annotations

import io
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from evalkit.compare import Comparison, compare_runs, comparison_rows, comparison_tables, labels_for
from evalkit.exclusion import Exclusion, side_by_side, side_by_side_rows, without
from evalkit.leaderboard import Standing, default_profile, load_profile, standing
from evalkit.store import RunResult
from evalkit.tables import ResultTable, as_dict, cell, markdown_table, rich_table
from evalkit.views import current_summary, header, run_tables


def show(run_dir: Path, fmt: str, profile_path: Path | None = None, exclude: Path | None = None) -> str:
    """The run's tables; with `exclude` (a contaminated-item list), every metric on all items and on the rest."""
    run = RunResult.read(run_dir)
    summary, note = current_summary(run)
    tables = run_tables(summary, run.manifest)
    profile = load_profile(profile_path) if profile_path else default_profile(run.manifest.tasks)
    board = standing(profile, summary, run.manifest.tasks)
    facts = header(run)
    clean = without(run, Exclusion.load(exclude)) if exclude else None
    clean_summary = clean.run.summary() if clean else None
    clean_board = standing(profile, clean_summary, run.manifest.tasks) if clean else None
    if clean:
        facts.append(("excluded", f"{exclude}: " + clean.note()))
    if fmt == "csv":
        if clean:
            import pandas as pd

            return pd.DataFrame(side_by_side_rows(summary, clean_summary, clean.removed)).to_csv(index=False)
        return summary.to_csv(index=False)
    if fmt == "json":
        found = {"run": dict(facts), "note": note, "summary": _records(summary),
                 "leaderboard": _standing_dict(board), "tables": [as_dict(t) for t in tables]}
        if clean and clean_board:
            found["clean"] = {"excluded": str(exclude), "removed": clean.removed, "kept": clean.kept,
                              "rows": side_by_side_rows(summary, clean_summary, clean.removed),
                              "leaderboard": _standing_dict(clean_board)}
        return json.dumps(found, ensure_ascii=False, indent=2) + "\n"
    if clean:
        tables.append(side_by_side(summary, clean_summary, clean.removed))
    tables.append(leaderboard_table(board, clean_board))
    if fmt == "md":
        lines = [f"## {run.dir.name}", ""] + [f"- **{key}**: {value}" for key, value in facts]
        lines += (["", f"> {note}"] if note else []) + [""]
        return "\n".join(lines) + "\n" + "\n".join(markdown_table(t) for t in tables)
    from rich.markup import escape

    return _terminal([*(f"[bold]{escape(key)}[/]: {escape(value)}" for key, value in facts),
                      *([f"[yellow]{escape(note)}[/]"] if note else [])], tables)


def compare(run_dirs: Sequence[Path], fmt: str, every_metric: bool = False, exclude: Path | None = None) -> str:
    """Runs side by side; with `exclude`, every run without the listed items."""
    runs = [RunResult.read(d) for d in run_dirs]
    every_metric = every_metric or fmt in ("csv", "json")  # data for other programs: every row, every test
    runs, excluded = clean_runs(runs, exclude)
    comparison = compare_runs(runs, None if every_metric else _shown(runs))
    comparison = replace(comparison, notes=tuple(excluded) + comparison.notes)
    if fmt == "csv":
        import pandas as pd

        return pd.DataFrame(comparison_rows(comparison)).to_csv(index=False)
    if fmt == "json":
        return json.dumps({"runs": {label: str(run.dir) for label, run in zip(comparison.labels, comparison.runs)},
                           "notes": list(comparison.notes) + [n for t in comparison.tasks for n in t.notes],
                           "rows": comparison_rows(comparison)}, ensure_ascii=False, indent=2) + "\n"
    tables = comparison_tables(comparison, every_metric)
    legend = legend_lines(comparison)
    if fmt == "md":
        return "\n".join(f"- {line}" for line in legend) + "\n\n" + "\n".join(markdown_table(t) for t in tables)
    from rich.markup import escape

    return _terminal([escape(line) for line in legend], tables)


def legend_lines(comparison: Comparison) -> list[str]:
    lines = [f"{label}: {run.dir} ({run.manifest.spec.model})" for label, run in zip(comparison.labels, comparison.runs)]
    return lines + list(comparison.notes)


def clean_runs(runs: Sequence[RunResult], exclude: Path | None) -> tuple[list[RunResult], list[str]]:
    """The runs without the items of the `exclude` list, and a note per run of what went."""
    if exclude is None:
        return list(runs), []
    exclusion = Exclusion.load(exclude)
    cleaned = [without(run, exclusion) for run in runs]
    return [c.run for c in cleaned], [c.note(label) + f" ({exclude})" for label, c in zip(labels_for(len(runs)), cleaned)]


def leaderboard_table(board: Standing, clean: Standing | None = None) -> ResultTable:
    rows = [(f"{p.component.task} {p.component.genre}", p.metric, cell(p.value), f"{p.component.weight:g}",
             cell(p.scaled)) for p in board.parts]
    rows.append(("overall", "", "", "", cell(board.overall)))
    if clean is not None:
        rows.append(("overall, clean items", "", "", "", cell(clean.overall)))
    caption = "overall: the weighted mean of the scaled components the run has"
    if board.missing:
        caption += f"; missing: {', '.join(board.missing)}"
    return ResultTable(f"leaderboard: {board.profile}", ("component", "metric", "value", "weight", "scaled"),
                       tuple(rows), caption, frozenset(range(len(board.parts), len(rows))), left_aligned=2)


def _standing_dict(board: Standing) -> dict[str, Any]:
    return {"profile": board.profile, "overall": board.overall, "missing": board.missing,
            "parts": [{"task": p.component.task, "genre": p.component.genre, "metric": p.metric, "value": p.value,
                       "weight": p.component.weight, "scaled": p.scaled} for p in board.parts]}


def _records(summary) -> list[dict[str, Any]]:
    return summary.astype(object).where(summary.notna(), None).to_dict("records")


def _terminal(lines: Sequence[str], tables: Sequence[ResultTable]) -> str:
    """Rich tables rendered for this terminal (plain text when output goes to a file or pipe)."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=shutil.get_terminal_size().columns, force_terminal=sys.stdout.isatty(),
                      highlight=False)
    for line in lines:
        console.print(line)
    for table in tables:
        console.print(rich_table(table))
    return out.getvalue()


def _shown(runs: Sequence[RunResult]):
    """The metrics a comparison table shows by default, per task: strict, lenient, format violation, errors."""
    def tested(task: str, metric: str) -> bool:
        info = runs[0].manifest.tasks[task]
        return metric in (info.strict_metric, info.lenient_metric, "format_violation", "error_rate")

    return tested
