"""A table for people, apart from how it is drawn: the console draws it with rich, reports as HTML or Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

Tone = Literal["", "good", "bad"]


@dataclass(frozen=True)
class ResultTable:
    """Formatted cells in rows; `emphasized` rows (totals) are drawn in bold, and a cell's tone (a
    change for the better or the worse, by the metric's direction) in green or red."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    emphasized: frozenset[int] = field(default_factory=frozenset)
    left_aligned: int = 1  # how many leading columns hold names rather than numbers
    tones: Mapping[tuple[int, int], Tone] = field(default_factory=dict)  # (row, column) -> tone

def rich_table(table: ResultTable):
    """The table as a rich Table for the console; no text in it is read as rich markup, so a task's
    `pip install 'evalkit[jaster-mecab]'` prints with its brackets."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    drawn = Table(title=escape(table.title), caption=escape(table.caption) if table.caption else None)
    for i, column in enumerate(table.columns):  # numbers never wrap (and are measured faster for it); a name
        # or word wider than its column folds onto the next line rather than losing its end to an ellipsis
        drawn.add_column(escape(column), justify="left" if i < table.left_aligned else "right",
                         no_wrap=i >= table.left_aligned, overflow="fold" if i < table.left_aligned else "ellipsis")
    colours = {"good": "green", "bad": "red", "": ""}
    for i, row in enumerate(table.rows):  # Text, not markup: nothing in a cell is read as a style, and it is faster
        drawn.add_row(*(Text(c, style=colours[table.tones.get((i, j), "")]) for j, c in enumerate(row)),
                      style="bold" if i in table.emphasized else None)
    return drawn

def cell(value: float | None, digits: int = 4) -> str:
    """A number as a table shows it; '–' for a value that does not exist (None or NaN)."""
    return "–" if value is None or value != value else f"{value:.{digits}f}"

def counts(value: float | None) -> str:
    return "–" if value is None or value != value else str(int(value))


def markdown_table(table: ResultTable) -> str:
    """The table in GitHub-flavoured Markdown, its title as a heading and its caption below."""
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    def row(cells) -> str:
        return "| " + " | ".join(escape(str(c)).strip() or " " for c in cells) + " |"

    def emphasize(i: int, cells) -> tuple:
        return tuple(f"**{c.strip()}**" if c.strip() and c.strip() != "–" else c for c in cells) if i in table.emphasized else cells

    align = ["---" if i < table.left_aligned else "---:" for i in range(len(table.columns))]
    lines = [f"### {escape(table.title)}", "", row(table.columns), "| " + " | ".join(align) + " |"]
    lines += [row(emphasize(i, cells)) for i, cells in enumerate(table.rows)]
    if table.caption:
        lines += ["", f"_{escape(table.caption)}_"]
    return "\n".join(lines) + "\n"


def as_dict(table: ResultTable) -> dict:
    return {"title": table.title, "columns": list(table.columns), "rows": [list(r) for r in table.rows],
            "caption": table.caption}
