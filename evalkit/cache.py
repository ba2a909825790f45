"""Persistent request cache (SQLite): an answered request is never sent again.

The key covers everything that determines an answer: the backend's identity (kind, model id, base
URL), the rendered prompt or messages, every generation parameter, the choice index, and
CACHE_FORMAT, the version of how requests are rendered for the wire. Only successful completions
are stored; a request that failed is tried again on the next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from evalkit.errors import EvalkitError
from evalkit.paths import cache_path
from evalkit.types import Completion, Request

CACHE_FORMAT = 1
CACHE_ENV = "EVALKIT_CACHE"


def default_cache_path() -> Path:
    return cache_path(CACHE_ENV, "requests.sqlite")


def request_key(identity: dict[str, Any], request: Request) -> str:
    payload = {"format": CACHE_FORMAT, "backend": identity, **request.cache_payload()}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def open_sqlite(path: Path, synchronous: str, schema: str) -> sqlite3.Connection:
    """An SQLite file in WAL mode, each statement committed on its own, its folder made and `schema` run;
    open to every thread of the process. Raises sqlite3.Error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


class RequestCache:
    """One SQLite file; every insert is committed at once, so a `kill -9` loses nothing answered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # WAL + synchronous=NORMAL: each commit survives a crash of this process.
            self._db = open_sqlite(path, "NORMAL", "CREATE TABLE IF NOT EXISTS completions "
                                                   "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)")
        except sqlite3.Error as exc:
            raise EvalkitError(f"cannot open the request cache {path}: {exc} (--cache PATH or --no-cache)") from None

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), 500):  # stay below SQLite's bound-variable limit
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT key, value FROM completions WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for key, value in rows:
                data = json.loads(value)
                found[key] = Completion(
                    text=data["text"],
                    finish_reason=data.get("finish_reason"),
                    prompt_tokens=data.get("prompt_tokens"),
                    completion_tokens=data.get("completion_tokens"),
                    cached=True,
                )
        return found

    def put(self, key: str, completion: Completion) -> None:
        if not completion.ok:
            return
        value = json.dumps(
            {
                "text": completion.text,
                "finish_reason": completion.finish_reason,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
            ensure_ascii=False,
        )
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, value, created) VALUES (?, ?, strftime('%s','now'))", (key, value)
        )

    def close(self) -> None:
        self._db.close()
