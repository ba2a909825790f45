"""`evalkit tasks`: one short row per task family, or (`evalkit tasks NAME`) one family in full.

The short listing folds a family's variants into one row and counts samples only where that is
cheap: a family with an `overview` (Jaster: 46 variants, seconds to load) says what its data folder
holds instead, and `evalkit tasks NAME` loads and counts every variant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from evalkit.tables import ResultTable

if TYPE_CHECKING:
    from evalkit.registry import TaskFamily

NAMED_VARIANTS = 4  # a family with more variants (and no overview) names the first ones and counts the rest
LISTED_GENRES = 8  # more grouped genres than this are summed up by group


def _load(name: str, data: Path) -> tuple[set[str], int] | str:
    """The genres and sample count of task `name` on the data folder, or why it cannot be loaded here."""
    from evalkit.errors import EvalkitError
    from evalkit.registry import TaskOptions, build_task

    try:
        samples = build_task(name, TaskOptions(data_dir=data)).load().samples
    except EvalkitError as exc:
        return str(exc)
    return {s.genre for s in samples}, len(samples)


def folded_names(family: "TaskFamily") -> str:
    """`gsm8k, gsm8k:chat`; a family with many variants: the first ones and how many more."""
    names = family.task_names()
    if len(names) <= NAMED_VARIANTS:
        return ", ".join(names)
    shown = NAMED_VARIANTS - 1
    return f"{', '.join(names[:shown])} + {len(names) - shown} more"


def folded_counts(family: "TaskFamily", data: Path) -> str:
    """The family's sample count, once when its variants agree: `1319`; `60, :full 80` when they do not."""
    counts = {}
    for variant, name in zip(family.variants, family.task_names()):
        loaded = _load(name, data)
        counts[variant] = "unavailable" if isinstance(loaded, str) else str(loaded[1])
    if not counts:
        return "–"
    first, *_ = counts.values()
    return ", ".join([first, *(f":{variant} {count}" for variant, count in list(counts.items())[1:] if count != first)])


def overview_table(families: Sequence["TaskFamily"], data: Path | None) -> ResultTable:
    """`evalkit tasks`: one row per family, its variants folded, its samples counted where that is cheap."""
    rows = []
    for family in families:
        if family.overview is not None:
            names, samples = family.overview(data)
        else:
            names, samples = folded_names(family), folded_counts(family, data) if data is not None else "–"
        rows.append((names, family.description, samples))
    caption = ("samples: counted where it is cheap, else the datasets in the data folder; `evalkit tasks NAME`: "
               "the family in full, every variant with its genres and samples, and its -T parameters")
    return ResultTable("evalkit tasks", ("tasks", "description", "samples"), tuple(rows), caption, left_aligned=2)


def genres_cell(genres: Iterable[str]) -> str:
    """The genres a task's samples carry; grouped ones (`NLI/jnli`) by group, summed up when there are many."""
    from evalkit.summary import GROUP_SEPARATOR

    ordered = sorted(genres)
    if not any(GROUP_SEPARATOR in g for g in ordered):
        return ", ".join(ordered) or "–"
    groups: dict[str, list[str]] = {}
    for genre in ordered:
        group, _, member = genre.partition(GROUP_SEPARATOR)
        groups.setdefault(group, []).append(member)
    if len(ordered) > LISTED_GENRES:
        return f"{len(ordered)} in {len(groups)} groups: {', '.join(groups)}"
    return "; ".join(f"{group}: {', '.join(members)}" for group, members in groups.items())


def family_table(family: "TaskFamily", data: Path | None) -> tuple[ResultTable, list[str]]:
    """`evalkit tasks NAME`: every variant of the family (its name over what it is), with its genres and
    sample count when data is local; and, one line each, why a variant cannot be loaded from it."""
    rows, unavailable = [], {}
    for name, about in zip(family.task_names(), family.variants.values()):
        genres, count = "–", "–"
        if data is not None:
            loaded = _load(name, data)
            if isinstance(loaded, str):
                count = "unavailable"
                unavailable.setdefault(loaded.removeprefix(f"{name}: "), []).append(name)
            else:
                genres, count = genres_cell(loaded[0]), str(loaded[1])
        rows.append((f"{name}\n{about}" if about else name, genres, count))
    caption = family.description
    if family.overview is not None:
        caption += f"; tasks: {family.overview(None)[0]}"
    table = ResultTable(f"evalkit tasks {family.name}", ("task", "genres", "samples"), tuple(rows), caption,
                        left_aligned=2)
    return table, [f"unavailable: {', '.join(names)}: {reason}" for reason, names in unavailable.items()]


def parameters_table(family: "TaskFamily") -> ResultTable:
    """`evalkit tasks NAME`: the family's -T parameters."""
    rows = tuple((p.name, p.type + (f": {' | '.join(p.choices)}" if p.choices else ""),
                  "required" if p.required else "–" if p.default is None else str(p.default), p.scope, p.help)
                 for p in family.params)
    return ResultTable(f"{family.name}: task parameters (-T KEY=VALUE)",
                       ("parameter", "type", "default", "scope", "what it does"), rows,
                       "scope task: fixed for the life of a run folder; scoring: only how answers are scored, so "
                       "`evalkit score RUN -T KEY=VALUE` may change it", left_aligned=5)


def family_notes(family: "TaskFamily") -> list[str]:
    """The lines under a family's tables: no parameters, graded by a judge."""
    notes = [] if family.params else [f"{family.name} takes no task parameters"]
    if family.uses_judge:
        notes.append(f"{family.name} is graded by an LLM judge: --judge BACKEND/MODEL")
    return notes
