"""Where evalkit keeps files of its own: under the user's cache folder, unless an environment variable names a place."""

from __future__ import annotations

import os
from pathlib import Path


def cache_path(env: str, *parts: str) -> Path:
    """`$env` when it is set, else $XDG_CACHE_HOME/evalkit/<parts> (default ~/.cache/evalkit/<parts>)."""
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "evalkit", *parts)
