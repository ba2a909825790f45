"""From judgments to numbers: a sample's turn scores, and a group's pooled means, spreads and win rates.

A record's `details` hold every verdict: `judgments` maps "turn1"/"turn2" to a list of single-answer
judgments (one per judge call; an imported FastChat file may hold the same judgment twice) and
`pairwise` maps them to a list of games against other answers. The group metrics pool every valid
judgment, exactly as FastChat's show_result averages its judgment rows (score -1 dropped): `turn1`
and `turn2` are the means of the turn's ratings, `score` the mean of all ratings of both turns.
`judge_failures` is a count (unparsable verdicts and judge requests that failed), never a zero score.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

from evalkit.records import SampleRecord

TURN_KEYS = ("turn1", "turn2")
METRICS = ("score", "turn1", "turn2", "judge_failures")


def _judgments(record_details: Mapping[str, Any] | None) -> Mapping[str, list[Mapping[str, Any]]]:
    return (record_details or {}).get("judgments") or {}


def sample_scores(details: Mapping[str, Any] | None) -> dict[str, float | None]:
    """turn1, turn2 (the mean of the turn's valid ratings), score (their mean, when both exist)
    and judge_failures (how many judgments gave no rating). All None when nothing was judged."""
    judgments = _judgments(details)
    if not any(judgments.get(key) for key in TURN_KEYS):
        return {name: None for name in METRICS}
    scores: dict[str, float | None] = {}
    failures = 0
    for key in TURN_KEYS:
        entries = judgments.get(key) or []
        ratings = [e["rating"] for e in entries if e.get("rating") is not None]
        failures += sum(1 for e in entries if e.get("rating") is None)
        scores[key] = statistics.fmean(ratings) if ratings else None
    both = [scores[key] for key in TURN_KEYS if scores[key] is not None]
    scores["score"] = statistics.fmean(both) if len(both) == 2 else None
    scores["judge_failures"] = float(failures)
    return {name: scores[name] for name in METRICS}


def judge_failure_kinds(details: Mapping[str, Any] | None) -> list[str]:
    """The failure of every judgment and pairwise game that has one ("unparsable", "request: ...")."""
    kinds = [e["failure"] for entries in _judgments(details).values() for e in entries if e.get("failure")]
    for games in ((details or {}).get("pairwise") or {}).values():
        for game in games:
            kinds += [g["failure"] for g in (game.get("model_first") or {}, game.get("baseline_first") or {})
                      if g.get("failure")]
    return kinds


def pooled(records: Iterable[SampleRecord]) -> dict[str, float | None]:
    """FastChat's show_result over these records: every valid rating counts once."""
    ratings: dict[str, list[float]] = {key: [] for key in TURN_KEYS}
    failures, judged = 0, False
    for record in records:
        for key in TURN_KEYS:
            for entry in _judgments(record.details).get(key) or []:
                judged = True
                if entry.get("rating") is None:
                    failures += 1
                else:
                    ratings[key].append(float(entry["rating"]))
    both = ratings["turn1"] + ratings["turn2"]
    return {
        "score": statistics.fmean(both) if both else None,
        "turn1": statistics.fmean(ratings["turn1"]) if ratings["turn1"] else None,
        "turn2": statistics.fmean(ratings["turn2"]) if ratings["turn2"] else None,
        "judge_failures": float(failures) if judged else None,
    }


def spread_across_choices(records: Sequence[SampleRecord]) -> dict[str, float | None]:
    """Sample standard deviation of the pooled means across choices (--num-choices), one value per
    choice index; None with fewer than two judged choices."""
    by_choice: dict[int, list[SampleRecord]] = defaultdict(list)
    for record in records:
        by_choice[record.choice].append(record)
    spread: dict[str, float | None] = {"choices": float(len(by_choice))}
    for metric in ("score", "turn1", "turn2"):
        values = [v for v in (pooled(group)[metric] for group in by_choice.values()) if v is not None]
        spread[f"{metric}_stdev"] = statistics.stdev(values) if len(values) >= 2 else None
    return spread


def repeated_judgment_spread(records: Iterable[SampleRecord]) -> float | None:
    """Mean sample standard deviation of the ratings of answers judged more than once (judge noise)."""
    spreads = []
    for record in records:
        for key in TURN_KEYS:
            ratings = [e["rating"] for e in _judgments(record.details).get(key) or [] if e.get("rating") is not None]
            if len(ratings) >= 2:
                spreads.append(statistics.stdev(ratings))
    return statistics.fmean(spreads) if spreads else None


def win_rates(records: Iterable[SampleRecord]) -> dict[str, float | None]:
    """Wins, losses and ties against the baseline over every pairwise game, as FastChat's
    show_result counts them; games without a verdict are counted as failures, outside the rates.

    Each game is played in both orders, so the judge's position bias shows: `position_flip_rate` is
    the share of games whose verdict changed with the order (the same letter both times, or a tie
    one way only), `first_position_rate` / `second_position_rate` the share that gave the win to
    whichever answer was shown first (A both times) / second (B both times)."""
    counts = {"win": 0, "loss": 0, "tie": 0}
    positions = {"flip": 0, "first": 0, "second": 0, "both": 0}
    failures, played = 0, False
    for record in records:
        for games in (record.details.get("pairwise") or {}).values():
            for game in games:
                played = True
                if game.get("outcome") in counts:
                    counts[game["outcome"]] += 1
                else:
                    failures += 1
                first = (game.get("model_first") or {}).get("verdict")
                second = (game.get("baseline_first") or {}).get("verdict")
                if first is not None and second is not None:
                    positions["both"] += 1
                    # the model's side in each order: A then B is the same answer winning both times
                    positions["flip"] += {"A": "B", "B": "A", "tie": "tie"}[first] != second
                    positions["first"] += first == second == "A"
                    positions["second"] += first == second == "B"
    if not played:
        return {}
    total = sum(counts.values())

    def rate(value: float) -> float | None:
        return value / total if total else None

    def share(count: int) -> float | None:
        return count / positions["both"] if positions["both"] else None

    return {
        "win_rate": rate(counts["win"]),
        "loss_rate": rate(counts["loss"]),
        "tie_rate": rate(counts["tie"]),
        "win_rate_adjusted": rate(counts["win"] + 0.5 * counts["tie"]),  # a tie counts half a win
        "pairwise_games": float(total),
        "pairwise_failures": float(failures),
        "position_flip_rate": share(positions["flip"]),
        "first_position_rate": share(positions["first"]),
        "second_position_rate": share(positions["second"]),
    }


def aggregate(records: Sequence[SampleRecord]) -> dict[str, float | None]:
    """The group metrics of an MT-Bench task x category (see the module docstring)."""
    judged = [r for r in records if r.answered]
    metrics: dict[str, float | None] = dict(pooled(judged))
    metrics.update(spread_across_choices(judged))
    metrics["judge_stdev"] = repeated_judgment_spread(judged)
    metrics.update(win_rates(judged))
    return metrics
