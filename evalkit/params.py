"""Task parameters: `-T key=value` settings a task family declares, typed by it, kept in run.json.

A family lists its parameters (`evalkit tasks NAME` shows them); `-T key=value` sets one for every
task of the run whose family declares it, and naming a key no task declares is an error. Values
are parsed by their declared type; a path is made absolute, so a run resumed from another folder
reads the same files. `scope="scoring"` marks a parameter that changes only how answers are scored
(a Jaster metric, an MT-Bench baseline): `evalkit score RUN -T ...` may change it without
regenerating anything. Every other parameter is fixed for the life of a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

from evalkit.errors import EvalkitError

ParamType = Literal["str", "int", "float", "bool", "path"]
Scope = Literal["task", "scoring"]
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Param:
    """One declared task parameter. `default` None means unset (the task decides what that means),
    unless the parameter is `required`."""

    name: str
    type: ParamType
    help: str
    default: Any = None
    scope: Scope = "task"
    choices: tuple[str, ...] = ()
    required: bool = False

    def coerce(self, value: Any) -> Any:
        """The typed value of `value` (a string from the command line, or a JSON value from run.json)."""
        try:
            typed = self._coerce(value)
        except (TypeError, ValueError):
            raise EvalkitError(f"-T {self.name}={value!r}: expected {self.type}") from None
        if self.choices and typed not in self.choices:
            raise EvalkitError(f"-T {self.name}={value!r}: expected one of {', '.join(self.choices)}")
        return typed

    def _coerce(self, value: Any) -> Any:
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if isinstance(value, bool):  # JSON true is not the integer 1 here
            raise TypeError(value)
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if self.type == "float":
            return float(value)
        text = str(value)
        if not text:
            raise ValueError(value)
        if self.type == "path":
            return str(Path(text).expanduser().resolve())
        return text


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["max_samples=3", "metrics=a=b"]` -> {"max_samples": "3", "metrics": "a=b"}; each key once."""
    given: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise EvalkitError(f"-T {item!r} is not key=value")
        if key in given:
            raise EvalkitError(f"-T {key} is given more than once")
        given[key] = value.strip()
    return given


def resolve(declared: Sequence[Param], given: Mapping[str, Any], task: str) -> dict[str, Any]:
    """Every declared parameter's typed value for one task: what was given, else the default."""
    known = {p.name: p for p in declared}
    unknown = sorted(set(given) - known.keys())
    if unknown:
        names = ", ".join(known) or "none"
        raise EvalkitError(f"{task} has no task parameter {', '.join(unknown)} (its parameters: {names}; "
                           f"`evalkit tasks {task.partition(':')[0]}` lists them)")
    missing = [param for name, param in known.items() if param.required and name not in given]
    if missing:
        raise EvalkitError(f"{task} needs {', '.join(f'-T {p.name}=... ({p.help})' for p in missing)}")
    return {name: (param.coerce(given[name]) if name in given else param.default) for name, param in known.items()}


def split_by_task(given: Mapping[str, str], declared: Mapping[str, Sequence[Param]]) -> dict[str, dict[str, Any]]:
    """The -T values of each task (typed): a key goes to every task that declares it, and a key that
    no task of the run declares is an error naming the tasks and what they accept. A value equal to
    the parameter's default is left out: it names the same run as leaving the parameter unset."""
    per_task: dict[str, dict[str, Any]] = {task: {} for task in declared}
    for key, value in given.items():
        takers = [task for task, params in declared.items() if any(p.name == key for p in params)]
        if not takers:
            accepted = sorted({p.name for params in declared.values() for p in params})
            raise EvalkitError(f"-T {key}: no task of this run has that parameter "
                               f"(they take: {', '.join(accepted) or 'none'}; `evalkit tasks NAME` lists them)")
        for task in takers:
            param = next(p for p in declared[task] if p.name == key)
            typed = param.coerce(value)
            if typed != param.default:
                per_task[task][key] = typed
    return {task: values for task, values in per_task.items() if values}


def changed(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """'task key (old -> new)' for every parameter that differs between two runs' given values."""
    out = []
    for task in sorted(before.keys() | after.keys()):
        old, new = before.get(task, {}), after.get(task, {})
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                out.append(f"{task} {key} ({_shown(old.get(key))} -> {_shown(new.get(key))})")
    return out


def _shown(value: Any) -> str:
    return "unset" if value is None else repr(value)
