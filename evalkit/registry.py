"""Task registry: task families come from the `evalkit.tasks` entry-point group.

Built-in tasks register exactly the way a third-party package does, so adding a task never means
editing the core. A task name is `family` or `family:variant` (`gsm8k:chat`, `jaster:jnli`). A
family declares what the core needs to know before building anything: its variants, its task
parameters (`-T`), whether its scorer is an LLM judge, and its own result tables.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from evalkit.errors import EvalkitError
from evalkit.params import Param, resolve
from evalkit.plugins import entry_points_of, load_plugin
from evalkit.roles import JudgeModel, Task

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.tables import ResultTable

ENTRY_POINT_GROUP = "evalkit.tasks"


@dataclass(frozen=True)
class TaskOptions:
    """What a task may read when it is built: the run-wide settings, its own parameters, the judge."""

    data_dir: Path | None = None
    num_fewshot: int | None = None  # None: the task's own default
    max_tokens: int | None = None  # None: the task's own default
    temperature: float | None = None  # None: the task's own default (greedy for most)
    seed: int = 1234
    # --limit: the runner keeps the first N samples (Task.limit); a task whose loading costs per sample
    # (lm-eval's few-shot contexts) may read only those.
    limit: int | None = None
    allow_code_execution: bool = False  # set only by the user's explicit opt-in
    params: Mapping[str, Any] = field(default_factory=dict)  # this task's -T values, typed, defaults filled
    judge: JudgeModel | None = None  # for families that `uses_judge`; None when no --judge was given


class OpenVariants(Mapping[str, str]):
    """The variants of a family whose task names come from a library of its own (lm-eval's thousands):
    any non-empty name is accepted here and checked by the family when the task is built, with its own
    hints; none is listed up front (the family's `listing` finds them by pattern)."""

    def __getitem__(self, variant: str) -> str:
        if not variant:
            raise KeyError(variant)
        return ""

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True)
class TaskFamily:
    """A family of tasks: `variants` maps a variant name ("" for the default) to a description.

    `params` are the family's `-T` parameters; `uses_judge` says its scorer grades with the run's
    judge model (loaded only when some task of the run uses one); `tables` draws the family's own
    tables from the summary rows of one of its tasks (MT-Bench: per category and turn).
    `overview`, for a family too big to name every variant or count its samples in `evalkit tasks`'
    one row per family, gives that row's two cells cheaply from the data folder (or None): its task
    names folded (`jaster, jaster:chat + 13 categories, ...`) and what it shows for samples; without
    one, the row names every variant and counts each one's samples (`evalkit tasks NAME` always does).
    `listing`, for a family with OpenVariants, is its `evalkit tasks NAME[:PATTERN]` table: the task
    names matching a shell-style pattern.
    """

    name: str
    description: str
    build: Callable[[str, TaskOptions], Task]
    variants: Mapping[str, str] = field(default_factory=lambda: {"": ""})
    params: tuple[Param, ...] = ()
    uses_judge: bool = False
    tables: Callable[[str, "pd.DataFrame"], list["ResultTable"]] | None = None
    overview: Callable[[Path | None], tuple[str, str]] | None = None
    listing: Callable[[str], "ResultTable"] | None = None

    def task_names(self) -> list[str]:
        return [self.name if not v else f"{self.name}:{v}" for v in self.variants]


@lru_cache(maxsize=1)
def task_families() -> dict[str, TaskFamily]:
    """Every registered family, by name (the first installed distribution wins a name, as for scripts)."""
    return {name: load_plugin(ep, TaskFamily, "task") for name, ep in entry_points_of(ENTRY_POINT_GROUP).items()}


@lru_cache(maxsize=None)
def task_family(name: str) -> TaskFamily | None:
    """One family, loading only its own plugin: a run pays for (and depends on) the tasks it names."""
    ep = entry_points_of(ENTRY_POINT_GROUP).get(name)
    return load_plugin(ep, TaskFamily, "task") if ep is not None else None


def all_task_names() -> list[str]:
    return [name for family in task_families().values() for name in family.task_names()]


def family_of(name: str) -> tuple[TaskFamily, str]:
    """The family and variant a task name means, or a one-line error with the closest known names."""
    family_name, _, variant = name.strip().partition(":")
    family = task_family(family_name)
    if family is None or variant not in family.variants:
        known = all_task_names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known tasks: {', '.join(known)}"
        raise EvalkitError(f"unknown task {name!r}{hint} (`evalkit tasks` lists them)")
    return family, variant


def resolve_params(name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter of task `name`, typed: the -T values `given`, else the declared defaults."""
    family, _ = family_of(name)
    return resolve(family.params, given or {}, name)


def build_task(name: str, options: TaskOptions, params: Mapping[str, Any] | None = None) -> Task:
    """The task called `name`, built with its -T `params` (typed, checked against the declared ones)."""
    family, variant = family_of(name)
    options = replace(options, params=resolve_params(name, params), judge=options.judge if family.uses_judge else None)
    task = family.build(variant, options)
    if not isinstance(task, Task):
        raise EvalkitError(f"task plugin {family.name!r} built a {type(task).__name__}, not an evalkit Task")
    return task


def parse_task_list(text: str) -> list[str]:
    """`gsm8k, mgsm_ja` -> ['gsm8k', 'mgsm_ja'], refusing an empty list and duplicates."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise EvalkitError("--tasks is empty; name at least one task (`evalkit tasks` lists them)")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EvalkitError(f"--tasks names {', '.join(duplicates)} more than once")
    return names
