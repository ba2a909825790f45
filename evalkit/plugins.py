"""Installed packages: entry points by group, read once per process (tasks, backends and commands come from
them), and a distribution's version."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, EntryPoints, PackageNotFoundError, entry_points, version
from typing import TypeVar

from evalkit.errors import EvalkitError

T = TypeVar("T")


@lru_cache(maxsize=1)
def _installed() -> EntryPoints:
    """Every installed distribution's entry points: reading their metadata takes tens of milliseconds,
    so it is read once, for all groups."""
    return entry_points()


@lru_cache(maxsize=None)
def entry_points_of(group: str) -> dict[str, EntryPoint]:
    """Name -> entry point; the first installed distribution wins a name, as for console scripts."""
    found: dict[str, EntryPoint] = {}
    for ep in _installed().select(group=group):
        found.setdefault(ep.name, ep)
    return found


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (its name on PyPI), or None when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def load_plugin(ep: EntryPoint, expected: type[T], role: str) -> T:
    """The object an entry point names, checked to be an `expected`; a broken plugin is named, not skipped."""
    try:
        found = ep.load()
    except Exception as exc:
        raise EvalkitError(f"{role} plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
    if not isinstance(found, expected):
        raise EvalkitError(f"{role} plugin {ep.name!r} ({ep.value}) is not an evalkit {expected.__name__}")
    return found
