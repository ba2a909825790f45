"""Persistent request cache (SQLite): an answered request is never sent again.

The key covers everything that determines an answer: the backend's identity (its kind and the
model that answers: a weights hash, a server's description of the model it serves, or its URL),
the rendered prompt or messages, every generation parameter, the choice index, and CACHE_FORMAT,
the version of how requests are rendered for the wire. Only successful completions
are stored; a request that failed is tried again on the next run. An entry that cannot be read
(a damaged row) is a miss: the request is sent again and the entry replaced. Text is stored as it
came, a lone surrogate as its JSON escape (evalkit.text_safety); the managed backend repairs it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Sequence

from evalkit.errors import EvalkitError
from evalkit.paths import cache_path
from evalkit.text_safety import escaped
from evalkit.types import Completion, Request

CACHE_FORMAT = 1
CACHE_ENV = "EVALKIT_CACHE"


def default_cache_path() -> Path:
    return cache_path(CACHE_ENV, "requests.sqlite")


def request_key(identity: dict[str, Any], request: Request) -> str:
    payload = {"format": CACHE_FORMAT, "backend": identity, **request.cache_payload()}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(escaped(blob).encode("utf-8")).hexdigest()  # any text has a key, valid Unicode or not


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
        except (sqlite3.Error, OSError) as exc:
            raise EvalkitError(f"cannot open the request cache {path}: {exc}; move it away (its answers are then "
                               "asked again), or pass --cache ANOTHER_FILE or --no-cache") from None

    def _execute(self, sql: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
        """A statement; a file damaged after it was opened is a one-line error, not a traceback mid-run."""
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise EvalkitError(f"the request cache {self.path} cannot be used ({exc}); move it away (its answers are "
                               "then asked again), or pass --cache ANOTHER_FILE or --no-cache; then run the same "
                               "command again") from None

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), 500):  # stay below SQLite's bound-variable limit
            chunk = keys[start : start + 500]
            rows = self._execute(
                f"SELECT key, value FROM completions WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for key, value in rows:
                data = _stored_answer(value)
                if data is None:
                    continue  # a damaged entry is a miss
                found[key] = Completion(
                    text=data["text"],
                    finish_reason=data.get("finish_reason"),
                    prompt_tokens=data.get("prompt_tokens"),
                    completion_tokens=data.get("completion_tokens"),
                    cached=True,
                    logprob=data.get("logprob"),
                    greedy=data.get("greedy"),
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
                # a loglikelihood answer; absent from generated ones, so their stored rows stay as they were
                **({"logprob": completion.logprob, "greedy": completion.greedy} if completion.logprob is not None else {}),
            },
            ensure_ascii=False,
        )
        value = escaped(value)  # a lone surrogate as its JSON escape: SQLite takes only valid UTF-8
        self._execute(
            "INSERT OR REPLACE INTO completions (key, value, created) VALUES (?, ?, strftime('%s','now'))", (key, value)
        )

    def close(self) -> None:
        self._db.close()


def _stored_answer(value: Any) -> dict[str, Any] | None:
    """A row's value as the fields of an answer, or None when it is not one (not JSON, not an object,
    a text or finish reason that is not a string)."""
    try:
        data = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or "text" not in data:
        return None
    if not all(data.get(name) is None or isinstance(data.get(name), str) for name in ("text", "finish_reason")):
        return None
    return data
