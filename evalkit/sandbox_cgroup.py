"""Cgroups for sandboxed programs: a bound on all the memory and all the processes of one program together.

Resource limits bound each process (RLIMIT_AS) but not their sum, nor memory no process maps (System V
shared memory, memfds, tmpfs). A cgroup bounds all of it. Where this process may make cgroups (as root
on most machines), it makes a folder `evalkit-<pid>` beside its own cgroup and in it one cgroup per
concurrent program slot, reused program after program, removed at exit: cgroup v2 where its memory
and pids controllers can be delegated there, else the v1 memory and pids hierarchies. Elsewhere
`find()` returns None and the sandbox keeps its per-process limits (and says so in each result).
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PREFIX = "evalkit-"
PROCESS_HEADROOM = 4  # the runner and the referee are in the cgroup too


@dataclass(frozen=True)
class Cgroups:
    """This harness process's cgroup folders: one per hierarchy (v2: one; v1: memory and pids)."""

    version: str
    memory: Path
    pids: Path

    def slot(self, index: int, memory_bytes: int, processes: int) -> list[str]:
        """The cgroup.procs files of slot `index`, its limits set for the next program."""
        folders = {self.memory / f"s{index}", self.pids / f"s{index}"}
        for folder in folders:
            folder.mkdir(exist_ok=True)
        memory, pids = self.memory / f"s{index}", self.pids / f"s{index}"
        if self.version == "v2":
            _write(memory / "memory.max", memory_bytes)
            if (memory / "memory.swap.max").exists():
                _write(memory / "memory.swap.max", 0)
        else:
            _write(memory / "memory.limit_in_bytes", memory_bytes)
        _write(pids / "pids.max", processes + PROCESS_HEADROOM)
        return sorted(str(folder / "cgroup.procs") for folder in folders)

    def oom_kills(self, index: int) -> int:
        """How many processes the kernel has killed for memory in slot `index` so far."""
        events = self.memory / f"s{index}" / ("memory.events" if self.version == "v2" else "memory.oom_control")
        try:
            for line in events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def describe(self, memory_bytes: int, processes: int) -> str:
        return f"cgroup {self.version}: {memory_bytes} bytes of memory, {processes + PROCESS_HEADROOM} processes per program"

    def remove(self) -> None:
        for base in {self.memory, self.pids}:
            _remove_tree(base)


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


def _remove_tree(base: Path) -> None:
    """rmdir the slots, then the folder (a cgroup folder is removed by rmdir, once no process is in it)."""
    try:
        for child in base.iterdir():
            if child.is_dir():
                try:
                    child.rmdir()
                except OSError:
                    pass
        base.rmdir()
    except OSError:
        pass


def own_cgroups(text: str) -> dict[str, str]:
    """controller ('' for v2) -> this process's cgroup path, from the text of /proc/self/cgroup."""
    found = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def hierarchies(text: str) -> dict[str, str]:
    """controller ('' for v2) -> where its hierarchy is mounted, from the text of /proc/self/mountinfo."""
    found = {}
    for line in text.splitlines():
        fields = line.split()
        separator = fields.index("-")
        fstype, options = fields[separator + 1], fields[separator + 3]
        if fstype == "cgroup2":
            found.setdefault("", fields[4])
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in ("memory", "pids"):
                    found.setdefault(option, fields[4])
    return found


def _make_base(parent: Path) -> Path:
    """`evalkit-<pid>` under `parent`, after removing those of harness processes that are gone."""
    for stale in parent.glob(f"{PREFIX}*"):
        pid = stale.name[len(PREFIX):]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _remove_tree(stale)
    base = parent / f"{PREFIX}{os.getpid()}"
    base.mkdir(exist_ok=True)
    return base


def make_v2(own: dict[str, str], mounts: dict[str, str]) -> Cgroups | None:
    if "" not in own or "" not in mounts:
        return None
    base = _make_base(Path(mounts[""]) / own[""].lstrip("/"))
    try:
        if not {"memory", "pids"} <= set((base / "cgroup.controllers").read_text().split()):
            raise OSError("the memory and pids controllers are not delegated here")
        (base / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        _remove_tree(base)
        return None
    return Cgroups("v2", base, base)


def make_v1(own: dict[str, str], mounts: dict[str, str]) -> Cgroups | None:
    if not all(c in own and c in mounts for c in ("memory", "pids")):
        return None
    memory = _make_base(Path(mounts["memory"]) / own["memory"].lstrip("/"))
    try:
        pids = _make_base(Path(mounts["pids"]) / own["pids"].lstrip("/"))
    except OSError:
        _remove_tree(memory)
        raise
    return Cgroups("v1", memory, pids)


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def find() -> Cgroups | None:
    """This process's cgroups for programs, made on first use and removed at exit; None where it may not make them."""
    with _LOCK:
        try:
            own = own_cgroups(Path("/proc/self/cgroup").read_text())
            mounts = hierarchies(Path("/proc/self/mountinfo").read_text())
        except (OSError, ValueError):
            return None
        for make in (make_v2, make_v1):
            try:
                cgroups = make(own, mounts)
            except (OSError, ValueError):
                continue
            if cgroups is not None:
                atexit.register(cgroups.remove)
                return cgroups
    return None
