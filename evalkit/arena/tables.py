"""The arena's numbers as tables: ratings with intervals, win rates, battles per pair, people against the judge."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from evalkit.arena.ranking import Ranking, rank
from evalkit.arena.store import ArenaStore, Vote
from evalkit.tables import ResultTable, cell

SOURCES = ("all", "human", "judge", "import")


def votes_of(store: ArenaStore, source: str) -> list[Vote]:
    return store.votes(None if source == "all" else source)


def ranking_of(store: ArenaStore, source: str = "all", rounds: int = 1000, seed: int = 0) -> Ranking | None:
    votes = votes_of(store, source)
    if not votes:
        return None
    models = sorted({m for v in votes for m in (v.model_a, v.model_b)})
    return rank(models, [(v.model_a, v.model_b, v.winner) for v in votes], rounds=rounds, seed=seed)


def arena_tables(store: ArenaStore, source: str = "all", rounds: int = 1000) -> list[ResultTable]:
    ranking = ranking_of(store, source, rounds)
    if ranking is None:
        return [ResultTable(f"arena ({source} votes)", ("",), (("no votes yet",),))]
    names = {label: model for label, (_, model) in store.runs().items()}
    order = ranking.order()
    games = ranking.battles.sum(axis=1)
    won = ranking.wins.sum(axis=1)
    rows = tuple((str(place), ranking.models[i], names.get(ranking.models[i], "–"), f"{ranking.ratings[i]:.0f}",
                  f"{ranking.ci_low[i]:.0f} – {ranking.ci_high[i]:.0f}", str(int(games[i])),
                  cell(won[i] / games[i] if games[i] else None, 3))
                 for place, i in enumerate(order, 1))
    votes = votes_of(store, source)
    ties = sum(v.winner.startswith("tie") for v in votes)
    caption = (f"{len(votes)} battles ({ties} ties or both bad), Bradley–Terry by maximum likelihood, 1000 + 400/ln 10 "
               f"× strength (mean 1000); a tie is half a win for each side, as Chatbot Arena counts it; 95% intervals "
               f"from {rounds} bootstrap rounds of the battles")
    tables = [ResultTable(f"arena ranking ({source} votes)", ("#", "model", "name", "rating", "95% CI", "battles",
                                                               "win rate"), rows, caption, left_aligned=3)]
    labels = [ranking.models[i] for i in order]
    rates = ranking.win_rate()
    tables.append(_matrix("win rate of the row against the column (ties half)", labels, order,
                          lambda i, j: cell(rates[i, j], 2) if i != j else "·"))
    tables.append(_matrix("battles per pair", labels, order,
                          lambda i, j: str(int(ranking.battles[i, j])) if i != j else "·"))
    agreement = agreement_table(store)
    return tables + ([agreement] if agreement else [])


def _matrix(title: str, labels: Sequence[str], order: Sequence[int], value) -> ResultTable:
    rows = tuple((labels[r], *(value(i, j) for j in order)) for r, i in enumerate(order))
    return ResultTable(title, ("", *labels), rows)


def agreement_table(store: ArenaStore) -> ResultTable | None:
    """How often the judge's verdict on a (pair, sample) is the people's: both from the first run's side,
    a tie and "both bad" alike; the judge's turns combined by majority."""
    def verdict(vote: Vote, first: str) -> int:
        side = 0 if vote.winner.startswith("tie") else (1 if vote.winner == "model_a" else -1)
        return side if vote.model_a == first else -side

    people: dict[tuple, list[int]] = {}
    judge: dict[tuple, list[int]] = {}
    for vote in store.votes():
        first, second = sorted((vote.model_a, vote.model_b))
        key = (vote.task, vote.sample_id, vote.choice, first, second)
        target = people if vote.source == "human" else judge if vote.source.startswith("judge") else None
        if target is not None:
            target.setdefault(key, []).append(verdict(vote, first))
    shared = sorted(people.keys() & judge.keys())
    if not shared:
        return None
    same = sum(int(np.sign(sum(people[k]))) == int(np.sign(sum(judge[k]))) for k in shared)
    rows = ((str(len(shared)), f"{same / len(shared):.3f}", str(sum(len(people[k]) for k in shared)),
             str(sum(len(judge[k]) for k in shared))),)
    return ResultTable("people and the judge", ("pairs × samples both judged", "same verdict", "people's votes",
                                                "judge's votes"), rows,
                       "each side's votes on a pair and sample combined by majority; a tie matches only a tie",
                       left_aligned=0)
