"""How far two judges agree on the same answers: `evalkit judge agreement RUN_A RUN_B`.

The two runs hold the same answers graded by different judges (an imported FastChat run and the
same run re-graded with `evalkit score RUN --judge ...`, or two runs re-graded from one). Answers
are matched by task family, question and choice, and count only when their text is the same in both
runs. Per (answer, turn) each run gives one rating: the mean of its valid gradings (with
`--judge-repeats`, several). On the pairs both rated, per turn and per category:

- Pearson, Spearman and Kendall's tau-b (scipy.stats), the mean absolute difference, and the
  shares of pairs whose ratings are equal (rounded to integers, as judges give them) or within 1;
- a confusion table of rounded ratings (rows: A, columns: B);
- for pairwise games against a baseline, the share of games both judges gave the same outcome
  (win / tie / loss), with ties and without the games either called a tie, as the MT-Bench paper
  (Zheng et al., 2023, Table 2) reports judge agreement.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from evalkit.errors import EvalkitError
from evalkit.records import sample_order
from evalkit.tables import ResultTable, cell

if TYPE_CHECKING:
    from evalkit.records import SampleRecord
    from evalkit.store import RunResult

ALL = "all"
RATINGS = range(1, 11)


@dataclass(frozen=True)
class RatedTurn:
    """One turn of one answer, rated by both judges."""

    sample_id: str
    category: str
    turn: str  # "turn1", "turn2"
    a: float
    b: float


@dataclass(frozen=True)
class PlayedGame:
    """One pairwise game (an answer's turn against the baseline's) with both judges' outcomes."""

    category: str
    turn: str
    a: str | None  # "win" / "tie" / "loss", None when that judge gave no verdict
    b: str | None


@dataclass(frozen=True)
class Agreement:
    labels: tuple[str, str]
    judges: tuple[str, str]
    rated: tuple[RatedTurn, ...]
    games: tuple[PlayedGame, ...]
    notes: tuple[str, ...]


def _family(task: str) -> str:
    return task.partition(":")[0]


def _judged(run: "RunResult") -> dict[tuple[str, str, int], "SampleRecord"]:
    return {(_family(r.task), r.sample_id, r.choice): r for r in run.records
            if r.answered and ((r.details or {}).get("judgments") or (r.details or {}).get("pairwise"))}


def _rating(entries: Iterable[dict[str, Any]]) -> float | None:
    ratings = [float(e["rating"]) for e in entries if e.get("rating") is not None]
    return statistics.fmean(ratings) if ratings else None


def _judge_of(run: "RunResult") -> str:
    """The run's judge: --judge, or for an imported run the judge model its judgments name."""
    if run.manifest.spec.judge:
        return run.manifest.spec.judge
    for record in run.records:
        for entries in ((record.details or {}).get("judgments") or {}).values():
            for entry in entries:
                if entry.get("judge_model"):
                    return f"{entry['judge_model']} (imported)"
    return "?"


def compare_judges(run_a: "RunResult", run_b: "RunResult", labels: tuple[str, str] = ("A", "B")) -> Agreement:
    """The turns and games both runs judged, on the same answers."""
    a, b = _judged(run_a), _judged(run_b)
    shared = sorted(a.keys() & b.keys(), key=lambda k: (k[0], sample_order(k[1]), k[2]))
    if not shared:
        raise EvalkitError(f"{run_a.dir} and {run_b.dir} judged no answer in common (same task family, question and "
                           "choice); grade one run's answers with the other judge: evalkit score RUN --judge ...")
    rated, games, different = [], [], 0
    for key in shared:
        ra, rb = a[key], b[key]
        if ra.outputs != rb.outputs:
            different += 1
            continue
        ja, jb = (ra.details or {}).get("judgments") or {}, (rb.details or {}).get("judgments") or {}
        for turn in sorted(ja.keys() & jb.keys()):
            x, y = _rating(ja[turn]), _rating(jb[turn])
            if x is not None and y is not None:
                rated.append(RatedTurn(ra.sample_id, ra.genre or "", turn, x, y))
        pa, pb = (ra.details or {}).get("pairwise") or {}, (rb.details or {}).get("pairwise") or {}
        for turn in sorted(pa.keys() & pb.keys()):
            for ga, gb in zip(pa[turn], pb[turn]):
                games.append(PlayedGame(ra.genre or "", turn, ga.get("outcome"), gb.get("outcome")))
    notes = []
    if different:
        notes.append(f"{different} answer(s) with the same question differ in text between the runs: left out")
    only = len(a.keys() - b.keys()) + len(b.keys() - a.keys())
    if only:
        notes.append(f"{only} judged answer(s) are in one run only: left out")
    if not rated and not games:
        raise EvalkitError("the runs share answers but no turn both judges rated: nothing to compare")
    return Agreement(labels, (_judge_of(run_a), _judge_of(run_b)), tuple(rated), tuple(games), tuple(notes))


def rating_stats(pairs: Sequence[RatedTurn]) -> dict[str, float | None]:
    """n, Pearson, Spearman, Kendall's tau-b, mean absolute difference, exact and within-1 agreement."""
    from scipy import stats

    n = len(pairs)
    out: dict[str, float | None] = {"n": float(n)}
    xs, ys = [p.a for p in pairs], [p.b for p in pairs]
    constant = n < 2 or len(set(xs)) < 2 or len(set(ys)) < 2  # a correlation needs both to vary
    out["pearson"] = None if constant else float(stats.pearsonr(xs, ys)[0])
    out["spearman"] = None if constant else float(stats.spearmanr(xs, ys)[0])
    out["kendall"] = None if constant else float(stats.kendalltau(xs, ys)[0])  # tau-b: ties accounted for
    out["mad"] = statistics.fmean(abs(x - y) for x, y in zip(xs, ys)) if n else None
    out["exact"] = statistics.fmean(round(x) == round(y) for x, y in zip(xs, ys)) if n else None
    out["within_1"] = statistics.fmean(abs(x - y) <= 1 for x, y in zip(xs, ys)) if n else None
    return out


def game_stats(games: Sequence[PlayedGame]) -> dict[str, float | None]:
    """Games both judges decided; agreement with ties, and without the games either called a tie."""
    decided = [g for g in games if g.a is not None and g.b is not None]
    no_ties = [g for g in decided if "tie" not in (g.a, g.b)]
    return {
        "games": float(len(decided)),
        "agreement": statistics.fmean(g.a == g.b for g in decided) if decided else None,
        "games_without_ties": float(len(no_ties)),
        "agreement_without_ties": statistics.fmean(g.a == g.b for g in no_ties) if no_ties else None,
    }


def groups(items: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """`all`, each turn, each category: the rows the tables show."""
    turns = sorted({i.turn for i in items})
    categories = sorted({i.category for i in items})
    return ([(ALL, list(items))] + [(t, [i for i in items if i.turn == t]) for t in turns]
            + [(c, [i for i in items if i.category == c]) for c in categories if c])


def confusion(pairs: Sequence[RatedTurn]) -> list[list[int]]:
    """counts[a - 1][b - 1] of rounded ratings."""
    counts = [[0] * len(RATINGS) for _ in RATINGS]
    for p in pairs:
        counts[min(10, max(1, round(p.a))) - 1][min(10, max(1, round(p.b))) - 1] += 1
    return counts


def agreement_tables(agreement: Agreement) -> list[ResultTable]:
    """The ratings table, the confusion table and (for pairwise runs) the games table."""
    la, lb = agreement.labels
    title = f"judge agreement: {la} ({agreement.judges[0]}) vs {lb} ({agreement.judges[1]})"
    tables = []
    if agreement.rated:
        rows = []
        for name, members in groups(agreement.rated):
            s = rating_stats(members)
            rows.append((name, str(int(s["n"] or 0)), cell(s["pearson"], 3), cell(s["spearman"], 3),
                         cell(s["kendall"], 3), cell(s["mad"], 2), cell(s["exact"], 3), cell(s["within_1"], 3)))
        caption = ("ratings of the same answers' turns (the mean of a turn's gradings); |A-B|: mean absolute "
                   "difference; exact: equal once rounded; ±1: at most 1 apart; Kendall: tau-b"
                   + "".join(f"; {n}" for n in agreement.notes))
        tables.append(ResultTable(title, ("group", "turns", "Pearson", "Spearman", "Kendall", "|A-B|", "exact",
                                          "±1"), tuple(rows), caption, frozenset({0})))
        counts = confusion(agreement.rated)
        tables.append(ResultTable(f"ratings: {la} (rows) x {lb} (columns)", (f"{la} \\ {lb}", *map(str, RATINGS)),
                                  tuple((str(r), *(str(c) if c else "·" for c in counts[r - 1])) for r in RATINGS),
                                  "how many turns got each pair of (rounded) ratings; the diagonal is exact agreement"))
    if agreement.games:
        rows = []
        for name, members in groups(agreement.games):
            s = game_stats(members)
            rows.append((name, str(int(s["games"] or 0)), cell(s["agreement"], 3),
                         str(int(s["games_without_ties"] or 0)), cell(s["agreement_without_ties"], 3)))
        tables.append(ResultTable(f"pairwise outcomes: {la} vs {lb}", ("group", "games", "agreement (with ties)",
                                                                     "games without ties", "agreement (without ties)"),
                                  tuple(rows), "the same outcome (win, tie, loss) for the same game; without ties: "
                                               "the games neither judge called a tie, as the MT-Bench paper reports",
                                  frozenset({0})))
    return tables


def agreement_json(agreement: Agreement) -> dict[str, Any]:
    return {
        "labels": list(agreement.labels), "judges": list(agreement.judges), "notes": list(agreement.notes),
        "ratings": ({name: rating_stats(members) for name, members in groups(agreement.rated)}
                    if agreement.rated else {}),
        "confusion": confusion(agreement.rated) if agreement.rated else None,
        "pairwise": {name: game_stats(members) for name, members in groups(agreement.games)} if agreement.games else {},
    }
