"""The report's per-sample data: every sample of every run, aligned by (task, sample, choice), with its filters.

Each sample carries its prompt (or chat), its target, and per run the outputs, the extracted answer,
the scores, the error, the judge's verdicts and explanations, and what else its scorer wrote down
(a code-execution outcome, what each reading found). Flags feed the report's filters: the strict
score changed between runs, a format violation, a judge failure, a request error, a reply that was
not valid Unicode (repaired: stored with U+FFFD).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Sequence

from evalkit.records import SampleRecord
from evalkit.types import Loglikelihood

if TYPE_CHECKING:
    from evalkit.store import RunResult

DETAIL_CHARS = 2000  # a longer detail value is cut (the whole record stays in samples.jsonl)


def sample_rows(runs: Sequence["RunResult"]) -> list[dict[str, Any]]:
    keys: dict[tuple[str, str, int], list[SampleRecord | None]] = {}
    for i, run in enumerate(runs):
        for record in run.records:
            keys.setdefault(record.key, [None] * len(runs))[i] = record
    strict = {name: info.strict_metric for run in runs for name, info in run.manifest.tasks.items()}
    rows = []
    for (task, sample_id, choice), records in sorted(keys.items(), key=lambda kv: (kv[0][0], _natural(kv[0][1]), kv[0][2])):
        first = next(r for r in records if r is not None)
        per_run = [None if r is None else _run_view(r) for r in records]
        metric = strict.get(task)  # None for a record of a task its run.json does not list
        scores = {r.scores.get(metric) if metric else None for r in records if r is not None}
        flags = []
        if len([r for r in records if r is not None]) > 1 and len(scores) > 1:
            flags.append("changed")
        if any(r is not None and r.format_ok is False for r in records):
            flags.append("violation")
        if any(v is not None and v["judge_failed"] for v in per_run):
            flags.append("judge")
        if any(r is not None and not r.answered for r in records):
            flags.append("error")
        if any(r is not None and r.escaped_outputs is not None for r in records):
            flags.append("repaired")
        prompt, source = _prompt(records)
        rows.append({"t": task, "id": sample_id, "c": choice, "g": first.genre, "p": prompt, "ps": source,
                     "target": first.target, "r": per_run, "f": flags, "m": metric})
    return rows


def _run_view(record: SampleRecord) -> dict[str, Any]:
    details = dict(record.details)
    judgments = details.pop("judgments", None) or {}
    pairwise = details.pop("pairwise", None) or {}
    judge = []
    failed = False
    for turn, entries in judgments.items():
        for entry in entries:
            failed |= bool(entry.get("failure"))
            rating = entry.get("rating")
            head = f"{turn} · {entry.get('prompt')} · " + (f"rating {rating:g}" if rating is not None
                                                            else f"no rating ({entry.get('failure')})")
            judge.append({"head": head, "text": _cut(entry.get("reply") or "")})
    for turn, games in pairwise.items():
        for game in games:
            for order in ("model_first", "baseline_first"):
                verdict = game.get(order) or {}
                failed |= bool(verdict.get("failure"))
                judge.append({"head": f"{turn} · pairwise vs {game.get('opponent')} · {order.replace('_', ' ')} · "
                                      f"verdict {verdict.get('verdict') or verdict.get('failure')} · outcome "
                                      f"{game.get('outcome')}", "text": _cut(verdict.get("reply") or "")})
    return {
        "o": [str(o) for o in record.outputs],  # a log-likelihood reply reads `log p = -1.2345 (greedy)`
        # what each reply answered: a turn of the conversation, or one of a sample's log-likelihood requests
        "oh": [f"log-likelihood request {i + 1}" if isinstance(o, Loglikelihood) else f"turn {i + 1}"
               for i, o in enumerate(record.outputs)],
        "a": record.answer, "fo": record.format_ok,
        "s": {k: v if v is None or math.isfinite(v) else None for k, v in record.scores.items()},  # JSON has no NaN
        "e": str(record.error) if record.error else None, "j": judge, "judge_failed": failed,
        "d": {k: _cut(v if isinstance(v, str) else _compact(v)) for k, v in details.items()},
    }


def _prompt(records: Sequence[SampleRecord | None]) -> tuple[str, int | None]:
    """The request of the first run that has one, and which run that is (a later turn's chat holds
    that run's own earlier answers)."""
    found = next(((i, r) for i, r in enumerate(records) if r is not None and (r.prompt or r.messages)), None)
    if found is None:
        return "", None
    i, record = found
    if record.prompt is not None:
        return record.prompt, i
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in record.messages or []), i


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _cut(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + f"… ({len(text) - DETAIL_CHARS} more characters)"


def _natural(sample_id: str) -> tuple[str, int]:
    """'jnli-10' after 'jnli-9', 'HumanEval/10' after 'HumanEval/9'."""
    match = re.fullmatch(r"(.*?)(\d+)", sample_id)
    return (match.group(1), int(match.group(2))) if match else (sample_id, -1)
