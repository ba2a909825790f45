"""Battles in and out in Chatbot Arena's JSON-lines format: model_a, model_b, winner, judge, tstamp, question_id.

An evalkit export adds an `evalkit` object (task, sample, source, comment, battle id), so importing
it again, here or into another arena, gives back the same votes and stores none twice. A file from
elsewhere needs only the three first fields; its battles count as source `import:<file name>`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from evalkit.arena.store import WINNERS, Vote
from evalkit.data import iter_jsonl
from evalkit.errors import EvalkitError


def read_battles(path: Path) -> list[Vote]:
    votes = []
    for lineno, row in iter_jsonl(path):
        where = f"{path}:{lineno}"
        missing = [k for k in ("model_a", "model_b", "winner") if not isinstance(row.get(k), str) or not row.get(k)]
        if missing:
            raise EvalkitError(f"{where}: a battle needs {', '.join(missing)} (Chatbot Arena's battle format)")
        if row["winner"] not in WINNERS:
            raise EvalkitError(f"{where}: winner {row['winner']!r} is not one of {', '.join(WINNERS)}")
        if row["model_a"] == row["model_b"]:
            raise EvalkitError(f"{where}: a battle is between two different models")
        ours = row.get("evalkit") if isinstance(row.get("evalkit"), dict) else {}
        question = str(row.get("question_id") or "")
        task, _, sample = question.partition("/") if "/" in question else ("imported", "", question)
        battle_id = ours.get("battle_id") or "import-" + hashlib.sha256(
            json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]
        votes.append(Vote(
            str(battle_id), str(ours.get("source") or f"import:{path.name}"), str(row.get("judge") or "unknown"),
            float(row.get("tstamp") or 0.0), str(ours.get("task") or task), str(ours.get("sample_id") or sample),
            int(ours.get("choice") or 0), row["model_a"], row["model_b"], row["winner"], str(ours.get("comment") or ""),
            json.dumps(ours.get("details") or {}, ensure_ascii=False)))
    return votes
