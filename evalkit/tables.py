"""A table for people, apart from how it is drawn: the console draws it with rich, reports as HTML or Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field

@dataclass(frozen=True)
class ResultTable:
    """Formatted cells in rows; `emphasized` rows (totals) are drawn in bold."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    emphasized: frozenset[int] = field(default_factory=frozenset)
    left_aligned: int = 1  # how many leading columns hold names rather than numbers

def rich_table(table: ResultTable):
    """The table as a rich Table for the console."""
    from rich.table import Table

    drawn = Table(title=table.title, caption=table.caption or None)
    for i, column in enumerate(table.columns):
        drawn.add_column(column, justify="left" if i < table.left_aligned else "right")
    for i, row in enumerate(table.rows):
        drawn.add_row(*row, style="bold" if i in table.emphasized else None)
    return drawn

def cell(value: float | None, digits: int = 4) -> str:
    """A number as a table shows it; '–' for a value that does not exist (None or NaN)."""
    return "–" if value is None or value != value else f"{value:.{digits}f}"

def counts(value: float | None) -> str:
    return "–" if value is None or value != value else str(int(value))
