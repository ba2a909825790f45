"""`evalkit arena judge`: an LLM judge votes in the arena, with FastChat's pairwise prompts.

Every pair of runs meets on every sample both answered (or the first `--samples` of them), one game
per turn, each played in both orders; a verdict that flips with the order is a tie, a verdict that
cannot be read is no vote (counted), and two answers with the same words are a tie without asking. The judge is the MT-Bench judge, behind the run's request cache:
a second call of the same command asks nothing it asked before, and a vote already stored is kept.
Tasks whose family has no pairwise judge are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from evalkit.arena.battles import Arena
from evalkit.arena.store import Vote
from evalkit.backends.base import Backend
from evalkit.cache import RequestCache
from evalkit.errors import EvalkitError
from evalkit.judging import load_judge
from evalkit.registry import TaskOptions, build_task, family_of
from evalkit.spec import RunSpec

OUTCOMES = {"win": "model_a", "loss": "model_b", "tie": "tie"}


@dataclass(frozen=True)
class JudgeTally:
    games: int  # played now
    kept: int  # already in the arena from an earlier call
    failed: int  # no readable verdict


def judge_arena(arena: Arena, judge: str, judge_base_url: str | None, judge_args: dict[str, Any],
                cache_path: Path | None, samples: int | None, note: Callable[[str], None],
                backend: Backend | None = None) -> JudgeTally:
    """Every pair of runs judged on their shared samples of each judged task; `backend` replaces the
    one `judge` names (tests script it)."""
    labels = list(arena.runs)
    tasks = list(dict.fromkeys(task for task, _, _ in arena.answers))
    played = kept = failed = 0
    cache = RequestCache(cache_path) if cache_path else None
    try:
        for task in tasks:
            family, _ = family_of(task)
            if not family.uses_judge:
                note(f"{task}: no pairwise judge for this task (its family has no LLM judge); skipped")
                continue
            first = arena.runs[labels[0]].run.manifest.spec
            spec = RunSpec(tasks=[task], model="arena/none", data_dir=first.data_dir, judge=judge,
                           judge_base_url=judge_base_url, judge_args=judge_args, concurrency=first.concurrency,
                           max_retries=first.max_retries, request_timeout=first.request_timeout)
            model = load_judge(spec, cache, backend)
            if model is None:
                raise EvalkitError(f"{task}: the judge could not be loaded")
            params = {k: v for k, v in (first.task_params.get(task) or {}).items() if k != "baseline"}
            built = build_task(task, TaskOptions(data_dir=Path(first.data_dir) if first.data_dir else None, judge=model),
                               params)
            by_id = {s.id: s for s in built.load().samples}
            counts = asyncio.run(_play(arena, built.scorer, task, by_id, judge, samples, note))
            played, kept, failed = played + counts[0], kept + counts[1], failed + counts[2]
    finally:
        if cache:
            cache.close()
    return JudgeTally(played, kept, failed)


async def _play(arena: Arena, scorer, task: str, samples: dict, judge: str, limit: int | None,
                note: Callable[[str], None]) -> tuple[int, int, int]:
    games: list[tuple[str, str, tuple[str, str, int]]] = []
    for a, b in arena.pairs:
        shared = sorted(key for key, found in arena.answers.items() if key[0] == task and a in found and b in found
                        and key[1] in samples)
        games += [(a, b, key) for key in shared[:limit]]
    note(f"{task}: {len(games)} battles of {len(arena.pairs)} pairs, every turn in both orders, judged by {judge}")
    existing = {v.battle_id for v in arena.store.votes("judge")}
    counts = [0, 0, 0]

    async def play(a: str, b: str, key: tuple[str, str, int]) -> None:
        found = arena.answers[key]
        first, second = list(found[a].outputs), list(found[b].outputs)
        ids = {turn: _battle_id(judge, key, a, b, turn) for turn in range(1, min(len(first), len(second)) + 1)}
        if all(i in existing for i in ids.values()):
            counts[1] += len(ids)
            return
        if first == second:  # the same words: a tie, without asking
            for turn, battle_id in ids.items():
                added = arena.store.add_vote(Vote(battle_id, f"judge:{judge}", judge, time.time(), *key, a, b, "tie", "",
                                                  json.dumps({"turn": turn, "identical": True})))
                counts[0 if added else 1] += 1
            return
        result = await scorer.battle(samples[key[1]], first, second, opponent=b)
        for turn_key, entries in result.items():
            game = entries[0]
            winner = OUTCOMES.get(game.get("outcome"))
            if winner is None:
                counts[2] += 1
                continue
            turn = int(turn_key.removeprefix("turn"))
            details = {"turn": turn, "prompt": game["prompt"], "verdicts": [game["model_first"].get("verdict"),
                                                                           game["baseline_first"].get("verdict")]}
            added = arena.store.add_vote(Vote(ids[turn], f"judge:{judge}", judge, time.time(), key[0], key[1], key[2],
                                              a, b, winner, "", json.dumps(details, ensure_ascii=False)))
            counts[0 if added else 1] += 1

    await asyncio.gather(*(play(a, b, key) for a, b, key in games))
    await scorer.judge.backend.aclose()
    return counts[0], counts[1], counts[2]


def _battle_id(judge: str, key: tuple[str, str, int], a: str, b: str, turn: int) -> str:
    text = json.dumps(["judge", judge, *key, a, b, turn], ensure_ascii=False)
    return "judge-" + hashlib.sha256(text.encode()).hexdigest()[:32]
