"""Runs side by side: every shared metric per run, the change against the first run, and whether it is real.

Runs are compared on the samples (and choices) they all have. When that is fewer than a run holds
(another --limit, a failed sample), each run's summary is computed again on the shared samples
only, and the comparison says so; a task whose version or data differ between runs is flagged.
Each row's change gets a paired test on the shared samples (evalkit.stats), and the p-values of a
task's rows are adjusted together (Holm), per metric and run, so that a task with thirty genres
does not find a "significant" drop by chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.records import SampleRecord
from evalkit.stats import PairedResult, holm, paired_test
from evalkit.summary import ALL, GROUP_SEPARATOR, covers, headline_groups, summarize_run
from evalkit.tables import ResultTable, cell
from evalkit.views import content_hashes, current_summary, genre_label, group_metrics, is_grouped

if TYPE_CHECKING:
    from evalkit.store import RunResult

Aggregate = Callable[[Sequence[SampleRecord]], Mapping[str, float | None]]
Row = tuple[str, str, str, "float | None", int]  # a summary row: task, genre, metric, value, n
ALPHA = 0.05
LOWER_IS_BETTER = ("format_violation", "error_rate", "judge_failures", "pairwise_failures", "loss_rate")


@dataclass(frozen=True)
class RowComparison:
    """One summary row (task, genre, metric) in every run, and each later run's test against the first."""

    task: str
    genre: str
    metric: str
    values: tuple[float | None, ...]
    n: tuple[int, ...]
    tests: tuple[PairedResult | None, ...]  # [0] is None: the first run is the baseline
    adjusted_p: tuple[float | None, ...]  # Holm-adjusted over the task's rows of this metric

    def delta(self, run: int) -> float | None:
        a, b = self.values[0], self.values[run]
        return None if a is None or b is None else b - a

    def significant(self, run: int, alpha: float = ALPHA) -> bool:
        p = self.adjusted_p[run]
        return p is not None and p < alpha


@dataclass(frozen=True)
class TaskComparison:
    task: str
    strict_metric: str
    lenient_metric: str | None
    grouped: bool
    shared: int  # (sample, choice) pairs every run has
    counts: tuple[int, ...]  # pairs each run has
    notes: tuple[str, ...]
    rows: tuple[RowComparison, ...]

    def row(self, genre: str, metric: str) -> RowComparison | None:
        return next((r for r in self.rows if r.genre == genre and r.metric == metric), None)


@dataclass(frozen=True)
class Comparison:
    runs: tuple["RunResult", ...]
    labels: tuple[str, ...]  # A, B, C, ...
    tasks: tuple[TaskComparison, ...]
    notes: tuple[str, ...]

    def task(self, name: str) -> TaskComparison | None:
        return next((t for t in self.tasks if t.task == name), None)


def labels_for(count: int) -> tuple[str, ...]:
    return tuple(chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(count))


def sample_value(record: SampleRecord, metric: str) -> float | None:
    """A record's per-sample value of a summary metric (None: the sample has none)."""
    if metric == "format_violation":
        return None if record.format_ok is None else float(not record.format_ok)
    if metric == "error_rate":
        return float(not record.answered)
    return record.scores.get(metric)


def compare_runs(runs: Sequence["RunResult"], tested: Callable[[str, str], bool] | None = None) -> Comparison:
    """Every task all runs share, row by row, against the first run. `tested(task, metric)` says which
    metrics get paired tests (default: all); the others are compared by value only, which is faster."""
    if len(runs) < 2:
        raise EvalkitError("compare needs at least two runs")
    labels = labels_for(len(runs))
    notes = []
    names = list(runs[0].manifest.tasks)
    for run in runs[1:]:
        names += [t for t in run.manifest.tasks if t not in names]
    shared = [t for t in names if all(t in run.manifest.tasks for run in runs)]
    for name in names:
        if name not in shared:
            have = [label for label, run in zip(labels, runs) if name in run.manifest.tasks]
            notes.append(f"{name} is only in {', '.join(have)}: not compared")
    if not shared:
        raise EvalkitError("the runs share no task: nothing to compare")
    summaries = [_stored_rows(run) for run in runs]
    tasks = tuple(_compare_task(name, runs, labels, summaries, tested) for name in shared)
    return Comparison(tuple(runs), labels, tasks, tuple(notes))


def _compare_task(name: str, runs: Sequence["RunResult"], labels: Sequence[str],
                  run_summaries: Sequence[list[Row]], tested: Callable[[str, str], bool] | None) -> TaskComparison:
    by_run = [{(r.sample_id, r.choice): r for r in run.records if r.task == name} for run in runs]
    keys = set.intersection(*(set(records) for records in by_run))
    infos = [run.manifest.tasks[name] for run in runs]
    notes = []
    if len({info.version for info in infos}) > 1:
        notes.append(f"task versions differ ({', '.join(f'{l}: {i.version}' for l, i in zip(labels, infos))}): "
                     "prompts or scoring may not be the same")
    if len({tuple(content_hashes(info.data)) for info in infos}) > 1:
        notes.append("the data fingerprints differ: the runs did not read the same files")
    for key in dict.fromkeys(k for info in infos for k in info.params):
        if len({repr(info.params.get(key)) for info in infos}) > 1:
            notes.append(f"task parameter {key} differs ({', '.join(f'{l}: {i.params.get(key)}' for l, i in zip(labels, infos))})")
    counts = tuple(len(records) for records in by_run)
    whole = all(len(records) == len(keys) for records in by_run)
    if not whole:
        notes.append(f"compared on the {len(keys)} samples every run has "
                     f"({', '.join(f'{l}: {c}' for l, c in zip(labels, counts))})")
    aggregate = None if whole else group_metrics(runs[0], name)
    if not whole and aggregate is None:
        notes.append(f"the {name} plugin cannot be built here: its group-level metrics are not recomputed")
    summaries = [_summary(run, summary, name, records, keys, whole, aggregate)
                 for run, summary, records in zip(runs, run_summaries, by_run)]
    cells = [{(genre, metric): (value, n) for _, genre, metric, value, n in rows} for rows in summaries]
    order = list(dict.fromkeys((genre, metric) for _, genre, metric, _, _ in summaries[0]))
    genres = list(dict.fromkeys(g for g, _ in order))
    grouped = is_grouped(genres)
    shared_samples = SharedSamples([[records[k] for k in sorted(keys)] for records in by_run], infos[0].average_groups)
    pending: dict[tuple[str, str], list[PairedResult | None]] = {}
    for genre, metric in order:
        wanted = tested is None or tested(name, metric)
        pending[genre, metric] = [None] + [shared_samples.test(i, genre, metric, genres, grouped) if wanted else None
                                           for i in range(1, len(runs))]
    adjusted = _holm_by_metric(pending, len(runs))
    rows = tuple(
        RowComparison(name, genre, metric,
                      tuple(_value(c.get((genre, metric))) for c in cells),
                      tuple(int(c.get((genre, metric), (None, 0))[1]) for c in cells),
                      tuple(pending[genre, metric]), tuple(adjusted[genre, metric]))
        for genre, metric in order
    )
    value_only = [r.genre for r in rows if grouped and r.metric == infos[0].strict_metric and GROUP_SEPARATOR in r.genre
                  and r.values[0] is not None and all(t is None for t in r.tests[1:])]
    if value_only:
        notes.append(f"{', '.join(value_only)}: a dataset-level metric, compared by value only; the tests of the "
                     "rows above cover their other datasets")
    return TaskComparison(name, infos[0].strict_metric, infos[0].lenient_metric, grouped, len(keys), counts,
                          tuple(notes), rows)


def _value(found: tuple[Any, Any] | None) -> float | None:
    if found is None or found[0] is None or found[0] != found[0]:
        return None
    return float(found[0])


def _stored_rows(run: "RunResult") -> list[Row] | None:
    """The summary rows the run ended with (None for a run that has not ended)."""
    if not run.manifest.summary:
        return None
    return [(r.task, r.genre, r.metric, r.value, r.n) for r in run.manifest.summary]


def _summary(run: "RunResult", stored: list[Row] | None, name: str, records: Mapping[tuple[str, int], SampleRecord],
             keys: set, whole: bool, aggregate: Aggregate | None) -> list[Row]:
    """The run's summary rows of this task: as the run ended, or computed again (on the shared samples)."""
    if whole and stored is not None:
        return [row for row in stored if row[0] == name]
    if whole:
        frame, _ = current_summary(run)
    else:
        kept = [records[k] for k in sorted(keys)]
        frame = summarize_run(kept, {name: run.manifest.tasks[name]}, {name: aggregate} if aggregate else None)
    return [(r.task, r.genre, r.metric, r.value, r.n) for r in frame.itertuples(index=False) if r.task == name]


class SharedSamples:
    """The records every run has of one task, in one order, with each metric's values as arrays."""

    def __init__(self, records: Sequence[Sequence[SampleRecord]], average: Sequence[str] | None = None) -> None:
        self.records = records
        self.genres = np.array([r.genre for r in records[0]], dtype=str)
        groups = dict.fromkeys(g.split(GROUP_SEPARATOR, 1)[0] for g in self.genres if GROUP_SEPARATOR in g)
        self.average = headline_groups(groups, average)  # the groups the task's `all` row averages
        self._values: dict[tuple[int, str], np.ndarray] = {}
        self._positions: dict[str, np.ndarray] = {}
        self._tests: dict[tuple, PairedResult | None] = {}

    def values(self, run: int, metric: str) -> np.ndarray:
        """The metric's per-sample values in one run (NaN: the sample has none)."""
        if (run, metric) not in self._values:
            found = (sample_value(r, metric) for r in self.records[run])
            self._values[run, metric] = np.array([np.nan if v is None else v for v in found], dtype=float)
        return self._values[run, metric]

    def positions(self, row: str) -> np.ndarray:
        """Which samples a summary row covers (evalkit.summary.covers): `all`, a group's genres, or one genre."""
        if row not in self._positions:
            inside = [covers(row, g, self.average) for g in self.genres]
            self._positions[row] = np.flatnonzero(np.array(inside, dtype=bool))
        return self._positions[row]

    def test(self, run: int, row: str, metric: str, genres: Sequence[str], grouped: bool) -> PairedResult | None:
        at = self.positions(row)
        pooled = not grouped or metric == "error_rate" or GROUP_SEPARATOR in row  # a pooled mean, or one genre
        # A task with one genre has two rows of the same samples (`all` and the genre): test them once.
        key = (run, metric, pooled, row if not pooled else at.tobytes())
        if key not in self._tests:
            self._tests[key] = self._test(run, row, metric, genres, at, pooled)
        return self._tests[key]

    def _test(self, run: int, row: str, metric: str, genres: Sequence[str], at: np.ndarray,
              pooled: bool) -> PairedResult | None:
        a, b = self.values(0, metric)[at], self.values(run, metric)[at]
        keep = ~(np.isnan(a) | np.isnan(b))
        if not keep.any():
            return None
        a, b, strata = a[keep], b[keep], self.genres[at][keep]
        if pooled:
            return paired_test(a, b)
        members = [g for g in genres if GROUP_SEPARATOR in g and covers(row, g, self.average)]
        return paired_test(a, b, strata, _genre_weights(row, members, set(strata)))


def _genre_weights(row: str, members: Sequence[str], present: set[str]) -> dict[str, float]:
    """Each genre's share of a grouped row: a group row is the mean of its genres, `all` (and `all+...`) the
    mean of the groups it covers."""
    members = [g for g in members if g in present]
    if row != ALL and not row.startswith(ALL + "+"):
        return {g: 1.0 / len(members) for g in members}
    groups: dict[str, list[str]] = {}
    for g in members:
        groups.setdefault(g.split(GROUP_SEPARATOR, 1)[0], []).append(g)
    return {g: 1.0 / (len(groups) * len(gs)) for gs in groups.values() for g in gs}


def _holm_by_metric(pending: Mapping[tuple[str, str], list[PairedResult | None]], runs: int):
    adjusted = {key: [None] * runs for key in pending}
    for metric in dict.fromkeys(m for _, m in pending):
        keys = [k for k in pending if k[1] == metric]
        for i in range(1, runs):
            for key, p in zip(keys, holm_tests([pending[k][i] for k in keys])):
                adjusted[key][i] = p
    return adjusted


def holm_tests(tests: Sequence[PairedResult | None]) -> list[float | None]:
    """Holm-adjusted p of each test; rows that share one test (`all` and the only genre of a task)
    are one hypothesis, counted once."""
    unique = list({id(t): t for t in tests if t is not None}.values())
    adjusted = dict(zip((id(t) for t in unique), holm([t.p_value for t in unique])))
    return [None if t is None else adjusted[id(t)] for t in tests]


# --- tables --------------------------------------------------------------------------------------


def mark(p: float | None) -> str:
    """*, ** and *** for (adjusted) p below 0.05, 0.01 and 0.001."""
    if p is None:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < ALPHA else ""


def shown_metrics(task: TaskComparison, every: bool) -> list[str]:
    if every:
        return list(dict.fromkeys(r.metric for r in task.rows))
    wanted = [task.strict_metric, task.lenient_metric, "format_violation", "error_rate"]
    return [m for m in wanted if m and task.row(ALL, m) is not None]


def comparison_tables(comparison: Comparison, every_metric: bool = False) -> list[ResultTable]:
    """One table per task: each run's value, and per later run the change, its interval, p and flips."""
    tables = []
    labels = comparison.labels
    for task in comparison.tasks:
        columns = ["genre", "metric", "n", labels[0]]
        for label in labels[1:]:
            columns += [label, f"Δ {label}", "95% CI", "p (Holm)", "flips ↑/↓"]
        metrics = shown_metrics(task, every_metric)
        rows, emphasized, tones = [], set(), {}
        for row in task.rows:
            if row.metric not in metrics:
                continue
            if task.grouped and GROUP_SEPARATOR not in row.genre:
                emphasized.add(len(rows))
            cells = [genre_label(row.genre, task.grouped), row.metric, str(row.n[0]), cell(row.values[0])]
            for i in range(1, len(labels)):
                test, delta = row.tests[i], row.delta(i)
                if delta:
                    better = (delta < 0) == (row.metric in LOWER_IS_BETTER)
                    tones[len(rows), len(cells) + 1] = "good" if better else "bad"
                cells += [cell(row.values[i]),
                          "–" if delta is None else f"{delta:+.4f}{mark(row.adjusted_p[i])}",
                          f"[{test.ci_low:+.3f}, {test.ci_high:+.3f}]" if test else "–",
                          _p(row.adjusted_p[i]),
                          f"{test.improved}/{test.regressed}" if test else "–"]
            rows.append(tuple(cells))
        caption = ("Δ against A; paired tests on the shared samples (McNemar exact for 0/1 scores, else sign-flip "
                   "permutation), p adjusted over the task's rows (Holm); * p<0.05, ** p<0.01, *** p<0.001")
        if task.notes:
            caption += "; " + "; ".join(task.notes)
        tables.append(ResultTable(f"{task.task}: {' vs '.join(labels)}", tuple(columns), tuple(rows), caption,
                                  frozenset(emphasized), left_aligned=2, tones=tones))
    return tables


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def comparison_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """Every row of every task, one dict per (row, later run): for CSV and JSON."""
    out = []
    for task in comparison.tasks:
        for row in task.rows:
            for i in range(1, len(comparison.runs)):
                test = row.tests[i]
                out.append({
                    "task": row.task, "genre": row.genre, "metric": row.metric,
                    "baseline": comparison.labels[0], "candidate": comparison.labels[i],
                    "baseline_value": row.values[0], "candidate_value": row.values[i], "delta": row.delta(i),
                    "n": row.n[i], "n_tested": test.n if test else 0,
                    "ci_low": test.ci_low if test else None, "ci_high": test.ci_high if test else None,
                    "p": test.p_value if test else None, "p_holm": row.adjusted_p[i],
                    "test": test.method if test else None,
                    "improved": test.improved if test else None, "regressed": test.regressed if test else None,
                })
    return out
