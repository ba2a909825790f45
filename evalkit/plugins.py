"""Entry points by group, read once per process: tasks, backends and commands come from installed packages."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, EntryPoints, entry_points


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
