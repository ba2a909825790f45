"""The arena's votes: one SQLite file in WAL mode, every vote committed (fully synced) the moment it is cast.

Three tables: `runs` (the runs the arena compares, by label), `battles` (each pair of answers shown
to a voter: which sample, which run was shown first) and `votes` (the verdict, keyed by its battle:
casting the same vote twice, after a retry or a restart, stores it once). People's votes and a
judge's share the table; `source` tells them apart.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from evalkit.cache import open_sqlite
from evalkit.errors import EvalkitError

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (label TEXT PRIMARY KEY, path TEXT NOT NULL, model TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS battles (
    id TEXT PRIMARY KEY, voter TEXT NOT NULL, created REAL NOT NULL, task TEXT NOT NULL, sample_id TEXT NOT NULL,
    choice INTEGER NOT NULL, run_a TEXT NOT NULL, run_b TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    battle_id TEXT PRIMARY KEY, source TEXT NOT NULL, voter TEXT NOT NULL, created REAL NOT NULL,
    task TEXT NOT NULL, sample_id TEXT NOT NULL, choice INTEGER NOT NULL,
    model_a TEXT NOT NULL, model_b TEXT NOT NULL, winner TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS votes_by_voter ON votes (voter, task, sample_id);
"""


@dataclass(frozen=True)
class Battle:
    """Two runs' answers to one sample, as shown: `run_a` first (A), `run_b` second (B)."""

    id: str
    voter: str
    task: str
    sample_id: str
    choice: int
    run_a: str
    run_b: str


@dataclass(frozen=True)
class Vote:
    battle_id: str
    source: str  # "human" | "judge:<model>" | "import:<file>"
    voter: str
    created: float
    task: str
    sample_id: str
    choice: int
    model_a: str  # run labels, in the order shown
    model_b: str
    winner: str  # one of WINNERS
    comment: str = ""
    details: str = "{}"  # JSON: a judge's verdicts, an imported line's extra fields


class ArenaStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = open_sqlite(path, "FULL", SCHEMA)  # FULL: a vote is on disk before its answer goes back
        except sqlite3.Error as exc:
            raise EvalkitError(f"cannot open the arena's votes {path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    # -- runs ------------------------------------------------------------------------------

    def add_run(self, label: str, path: str, model: str) -> None:
        found = self._db.execute("SELECT path FROM runs WHERE label = ?", (label,)).fetchone()
        if found and found[0] != path:
            raise EvalkitError(f"{self.path} already has a run called {label} ({found[0]}); rename one of the folders")
        self._db.execute("INSERT OR IGNORE INTO runs (label, path, model) VALUES (?, ?, ?)", (label, path, model))

    def runs(self) -> dict[str, tuple[str, str]]:
        """label -> (path, model)"""
        return {label: (path, model) for label, path, model in self._db.execute("SELECT label, path, model FROM runs")}

    # -- battles and votes -----------------------------------------------------------------

    def new_battle(self, voter: str, task: str, sample_id: str, choice: int, run_a: str, run_b: str) -> Battle:
        battle = Battle(uuid.uuid4().hex, voter, task, sample_id, choice, run_a, run_b)
        self._db.execute("INSERT INTO battles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (battle.id, voter, time.time(), task, sample_id, choice, run_a, run_b))
        return battle

    def battle(self, battle_id: str) -> Battle | None:
        row = self._db.execute("SELECT id, voter, task, sample_id, choice, run_a, run_b FROM battles WHERE id = ?",
                               (battle_id,)).fetchone()
        return Battle(*row) if row else None

    def add_vote(self, vote: Vote) -> bool:
        """Store a vote; False when its battle already has one (the same vote cast again)."""
        if vote.winner not in WINNERS:
            raise EvalkitError(f"a vote's winner is one of {', '.join(WINNERS)}, not {vote.winner!r}")
        cursor = self._db.execute("INSERT OR IGNORE INTO votes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
            vote.battle_id, vote.source, vote.voter, vote.created, vote.task, vote.sample_id, vote.choice,
            vote.model_a, vote.model_b, vote.winner, vote.comment, vote.details))
        return cursor.rowcount == 1

    def add_votes(self, votes: Iterable[Vote]) -> int:
        """Many votes in one transaction (imports, a judge's battles); how many were new."""
        added = 0
        self._db.execute("BEGIN")
        try:
            for vote in votes:
                added += self.add_vote(vote)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return added

    def vote(self, battle_id: str) -> Vote | None:
        row = self._db.execute("SELECT * FROM votes WHERE battle_id = ?", (battle_id,)).fetchone()
        return Vote(*row) if row else None

    def votes(self, source: str | None = None) -> list[Vote]:
        """Every vote, oldest first; `source` "human", "judge" or "import" keeps those whose source starts so."""
        rows = self._db.execute("SELECT * FROM votes ORDER BY created, battle_id").fetchall()
        return [Vote(*row) for row in rows if source is None or row[1].startswith(source)]

    def voted(self, voter: str) -> set[tuple[str, str, int, frozenset[str]]]:
        """What this voter has judged: (task, sample, choice, the pair of runs), either order."""
        rows = self._db.execute("SELECT task, sample_id, choice, model_a, model_b FROM votes WHERE voter = ?", (voter,))
        return {(task, sample_id, choice, frozenset((a, b))) for task, sample_id, choice, a, b in rows}


def battle_line(vote: Vote, models: dict[str, str]) -> dict[str, Any]:
    """A vote as one line of Chatbot Arena's battle format, with evalkit's own fields under `evalkit`."""
    return {
        "model_a": vote.model_a, "model_b": vote.model_b, "winner": vote.winner, "judge": vote.voter,
        "tstamp": vote.created, "question_id": f"{vote.task}/{vote.sample_id}", "anony": True,
        "evalkit": {"task": vote.task, "sample_id": vote.sample_id, "choice": vote.choice, "source": vote.source,
                    "comment": vote.comment, "battle_id": vote.battle_id, "details": json.loads(vote.details),
                    "model_names": {vote.model_a: models.get(vote.model_a), vote.model_b: models.get(vote.model_b)}},
    }
