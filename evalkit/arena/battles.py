"""Which two answers a voter sees next, and what the page shows of them.

The arena compares runs (a run's folder name is its model's name in the arena). A battle is one
sample both runs answered, their answers in random order. The next battle is chosen to learn the
most: the pair of runs with the fewest votes so far, and among pairs with as many, the closest in
the current ratings; never a pair and sample this voter has already judged, and never two answers
that say exactly the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from evalkit.arena.ranking import fit, win_matrix
from evalkit.arena.store import ArenaStore, Battle
from evalkit.errors import EvalkitError
from evalkit.records import SampleRecord
from evalkit.store import RunResult


@dataclass(frozen=True)
class ArenaRun:
    label: str
    run: RunResult


def load_runs(run_dirs: Sequence[Path]) -> list[ArenaRun]:
    """The runs, labelled by folder name (made unique), each with at least one answered sample."""
    runs, seen = [], set()
    for path in run_dirs:
        run = RunResult.read(path)
        label = path.resolve().name
        while label in seen:
            label += "'"
        seen.add(label)
        runs.append(ArenaRun(label, run))
    if len(runs) < 2:
        raise EvalkitError("an arena needs at least two runs")
    return runs


class Arena:
    """The runs, their answered samples, and the store of battles and votes."""

    def __init__(self, runs: Sequence[ArenaRun], store: ArenaStore, seed: int | None = None) -> None:
        self.runs = {r.label: r for r in runs}
        self.store = store
        self.random = random.Random(seed)
        for r in runs:
            store.add_run(r.label, str(r.run.dir.resolve()), r.run.manifest.spec.model)
        # (task, sample_id, choice) -> run label -> record, for answers with text (not log-likelihoods)
        self.answers: dict[tuple[str, str, int], dict[str, SampleRecord]] = {}
        for r in runs:
            for record in r.run.records:
                texts = [o for o in record.outputs if isinstance(o, str)]
                if record.answered and len(texts) == len(record.outputs) and any(t.strip() for t in texts):
                    self.answers.setdefault((record.task, record.sample_id, record.choice), {})[r.label] = record
        self.pairs = [(a, b) for i, a in enumerate(self.runs) for b in list(self.runs)[i + 1:]
                      if any(a in found and b in found for found in self.answers.values())]
        if not self.pairs:
            raise EvalkitError("no two runs answered the same sample: nothing to compare")

    def next_battle(self, voter: str) -> Battle | None:
        """The most informative battle this voter has not judged, or None when none is left."""
        done = self.store.voted(voter)
        counts, closeness = self._pair_state()
        for pair in sorted(self.pairs, key=lambda p: (counts.get(frozenset(p), 0), closeness.get(frozenset(p), 0.0),
                                                      self.random.random())):
            open_samples = [key for key, found in self.answers.items() if pair[0] in found and pair[1] in found
                            and found[pair[0]].outputs != found[pair[1]].outputs  # the same words: nothing to judge
                            and (key[0], key[1], key[2], frozenset(pair)) not in done]
            if open_samples:
                task, sample_id, choice = self.random.choice(open_samples)
                first, second = self.random.sample(pair, 2)
                return self.store.new_battle(voter, task, sample_id, choice, first, second)
        return None

    def _pair_state(self) -> tuple[dict[frozenset, int], dict[frozenset, float]]:
        votes = self.store.votes()
        counts: dict[frozenset, int] = {}
        for vote in votes:
            key = frozenset((vote.model_a, vote.model_b))
            counts[key] = counts.get(key, 0) + 1
        labels = list(self.runs)
        battles = [(v.model_a, v.model_b, v.winner) for v in votes if v.model_a in self.runs and v.model_b in self.runs]
        strength = fit(win_matrix(labels, battles)) if battles else [0.0] * len(labels)
        return counts, {frozenset((a, b)): abs(strength[labels.index(a)] - strength[labels.index(b)]) for a, b in self.pairs}

    def page_view(self, battle: Battle) -> dict[str, Any]:
        """What the page shows of a battle: the prompt and the two answers, and not whose they are."""
        found = self.answers[battle.task, battle.sample_id, battle.choice]
        first, second = found[battle.run_a], found[battle.run_b]
        context, turns = conversation(first)
        return {"battle_id": battle.id, "task": battle.task, "sample_id": battle.sample_id, "genre": first.genre,
                "context": context, "turns": turns, "a": list(first.outputs), "b": list(second.outputs)}


def conversation(record: SampleRecord) -> tuple[str, list[str]]:
    """(context, user turns): a multi-turn chat's user turns, one per answer, and whatever came before
    them (a system prompt, few-shot examples); a completion prompt is all context."""
    if record.prompt is not None or not record.messages:
        return record.prompt or "", []
    turns = len(record.outputs)
    users = [i for i, m in enumerate(record.messages) if m["role"] == "user"]
    if turns > 1 and len(users) >= turns:
        first_turn = users[-turns]
        before = record.messages[:first_turn]
        context = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in before)
        return context, [record.messages[i]["content"] for i in users[-turns:]]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in record.messages), []
