"""lm-eval's task library, reached through its own TaskManager: names, task objects and groups.

lm-eval is imported here only, when a bridged task is named. Indexing lm-eval's ~14,000 YAML task
definitions takes seconds, so a name found in the user's include path alone is loaded from an index
of that folder; anything else (lm-eval's own tasks, or a custom YAML that includes them by name)
from the full index, built once per process and include path.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import os
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING

from evalkit.errors import EvalkitError
from evalkit.plugins import installed_version

if TYPE_CHECKING:
    from lm_eval.api.group import Group
    from lm_eval.api.task import Task as LmTask
    from lm_eval.tasks import TaskManager


def lm_eval_version() -> str | None:
    return installed_version("lm_eval")


def _import_manager() -> type["TaskManager"]:
    try:
        from lm_eval.tasks import TaskManager
    except ImportError as exc:
        raise EvalkitError(f"lm_eval:<task> needs lm-eval ({exc.name} is missing): pip install 'lm-eval>=0.4.13'") from None
    # lm-eval logs every task it builds at INFO and warns about each YAML default it fills in, and draws
    # progress bars while it reads datasets and builds contexts; evalkit's own lines and bars say it here.
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    import datasets
    import lm_eval.api.task

    datasets.disable_progress_bars()
    if not isinstance(lm_eval.api.task.tqdm, partial):
        lm_eval.api.task.tqdm = partial(lm_eval.api.task.tqdm, disable=True)
    return TaskManager


@lru_cache(maxsize=8)
def task_manager(include_path: str | None, include_defaults: bool = True) -> "TaskManager":
    return _import_manager()(include_path=include_path, include_defaults=include_defaults)


@dataclass(frozen=True)
class LoadedTasks:
    """What one lm-eval name means: its leaf tasks (in lm-eval's order) and, for a group, the group."""

    name: str
    tasks: dict[str, "LmTask"]
    group: "Group | None"
    kind: str  # "task", "group" or "tag"


def _manager_for(name: str, include_path: str | None) -> "TaskManager":
    if include_path:
        own = task_manager(include_path, include_defaults=False)
        if name in own.all_tasks:
            return own
    return task_manager(include_path)


def load_tasks(name: str, include_path: str | None) -> LoadedTasks:
    """lm-eval's task, group or tag `name`, from its library and `include_path`; one clear line when unknown."""
    if include_path and not os.path.isdir(include_path):
        raise EvalkitError(f"-T include_path={include_path}: not a folder of lm-eval task YAML files")
    manager = _manager_for(name, include_path)
    if name not in manager.all_tasks:
        close = difflib.get_close_matches(name, manager.all_tasks, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join('lm_eval:' + c for c in close)}?" if close else ""
        where = f" nor in {include_path}" if include_path else " (add your own YAML with -T include_path=DIR)"
        raise EvalkitError(f"lm-eval {lm_eval_version()} has no task, group or tag {name!r}{where}{hint}")
    kind = "group" if name in manager.all_groups else "tag" if name in manager.all_tags else "task"
    try:
        loaded = manager.load([name])
    except Exception as exc:  # lm-eval's own errors: a YAML it cannot read, a dataset it cannot load
        raise EvalkitError(f"lm-eval could not build {name!r}: {type(exc).__name__}: {str(exc)[:300]}") from None
    groups = loaded.get("groups") or {}
    return LoadedTasks(name, dict(loaded["tasks"]), groups.get(name), kind)


def matching_names(pattern: str, include_path: str | None = None) -> list[tuple[str, str, str, str]]:
    """(name, kind, output type, YAML file) of every lm-eval name matching a shell-style pattern (`mmlu*`);
    lm-eval's own files relative to its tasks folder."""
    import lm_eval.tasks

    manager = task_manager(include_path)
    root = os.path.dirname(lm_eval.tasks.__file__)
    kinds = {**{n: "task" for n in manager.all_subtasks}, **{n: "tag" for n in manager.all_tags},
             **{n: "group" for n in manager.all_groups}}
    out = []
    for name in manager.all_tasks:
        if fnmatch.fnmatchcase(name, pattern):
            entry = manager.task_index.get(name)
            path = str(getattr(entry, "yaml_path", None) or "")
            output_type = str((getattr(entry, "cfg", None) or {}).get("output_type") or "")
            out.append((name, kinds.get(name, "task"), output_type,
                        os.path.relpath(path, root) if path.startswith(root + os.sep) else path))
    return out
