"""Summary tables from sample records: per task and genre, every metric with its n.

Long format (task, genre, metric, value, n) is what summary.csv stores. Besides each task's own
metrics, every task gets `format_violation` (share of scored replies whose strict extraction
failed) and `error_rate` (share of samples whose request failed; their scores are None and are
left out of every mean, never counted as 0).

Group-level metrics: `group_metrics` maps a task to its scorer's `aggregate(records) -> {metric:
value}` (see evalkit.roles.Scorer), called with the records of each row's group. A metric it
returns replaces the per-sample mean of the same name; its n is the number of distinct samples.

Genre groups: a genre written `GROUP/name` (Jaster: `NLI/jnli`) belongs to GROUP. A task with such
genres gets a row per group whose value is the mean of its genres' values, and its `all` row is
the mean of its groups (Jaster: category scores and AVG); `error_rate` stays the share of the
samples. Group-level metrics are computed per genre, then averaged like the others.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

from evalkit.records import SampleRecord

ALL = "all"
COLUMNS = ["task", "genre", "metric", "value", "n"]
GROUP_SEPARATOR = "/"

Cells = list[tuple[str, Any, int]]  # (metric, value, n) of one row


def summarize(
    records: Iterable[SampleRecord],
    metric_order: Mapping[str, Sequence[str]] | None = None,
    group_metrics: Mapping[str, Callable[[Sequence[SampleRecord]], Mapping[str, float | None]]] | None = None,
):
    """Rows for each task: `all`, then each genre (each group first, when genres are grouped)."""
    import pandas as pd  # heavy: not needed for `evalkit --help`

    records = list(records)
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(
        {
            "index": range(len(records)),
            "task": [r.task for r in records],
            "genre": [r.genre or ALL for r in records],
            "error": [not r.answered for r in records],
            "format_violation": [None if r.format_ok is None else float(not r.format_ok) for r in records],
        }
    )
    metric_names: dict[str, list[str]] = {}
    for r in records:
        names = metric_names.setdefault(r.task, [])
        names.extend(m for m in r.scores if m not in names)
    for names in metric_names.values():
        for name in names:
            if name not in frame:
                frame[name] = [r.scores.get(name) for r in records]

    rows = []
    for task, task_frame in frame.groupby("task", sort=False):
        metrics = list((metric_order or {}).get(task) or metric_names.get(task, []))
        aggregate = (group_metrics or {}).get(task)

        def cells(g) -> Cells:
            out: Cells = []
            for metric in [*metrics, "format_violation"]:
                values = pd.to_numeric(g[metric], errors="coerce").dropna() if metric in g else pd.Series(dtype=float)
                out.append((metric, float(values.mean()) if len(values) else None, int(len(values))))
            if aggregate is not None:
                group = [records[i] for i in g["index"]]
                _merge(out, aggregate(group), len({r.sample_id for r in group}))
            return out + [("error_rate", float(g["error"].mean()), int(len(g)))]

        genres = {genre: g for genre, g in task_frame.groupby("genre", sort=True) if genre != ALL}
        if any(GROUP_SEPARATOR in genre for genre in genres):
            ordered = _grouped_rows(task_frame, genres, {genre: cells(g) for genre, g in genres.items()})
        else:
            ordered = [(ALL, cells(task_frame))] + [(genre, cells(g)) for genre, g in genres.items()]
        for genre, row in ordered:
            rows.extend((task, genre, metric, value, n) for metric, value, n in row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _merge(out: Cells, extra: Mapping[str, float | None], n: int) -> None:
    """Group-level metrics replace the per-sample mean of the same name, or join the row before format_violation."""
    for metric, value in (extra or {}).items():
        value = None if value is None else float(value)
        names = [m for m, _, _ in out]
        if metric in names:
            out[names.index(metric)] = (metric, value, n)
        else:
            out.insert(names.index("format_violation"), (metric, value, n))


def _mean_of(rows: list[Cells]) -> Cells:
    """Per metric (in the first row's order), the mean of the rows' values that exist, and the sum of their n."""
    order = list(dict.fromkeys(metric for row in rows for metric, _, _ in row if metric != "error_rate"))
    out: Cells = []
    for metric in order:
        found = [(v, n) for row in rows for m, v, n in row if m == metric]
        values = [v for v, _ in found if v is not None]
        out.append((metric, sum(values) / len(values) if values else None, sum(n for _, n in found)))
    return out


def _grouped_rows(task_frame, genres: dict, genre_rows: dict[str, Cells]) -> list[tuple[str, Cells]]:
    """`all` (mean of groups), then each group (mean of its genres) followed by its genres."""
    groups: dict[str, list[str]] = {}
    for genre in genre_rows:
        groups.setdefault(genre.split(GROUP_SEPARATOR, 1)[0], []).append(genre)
    group_rows = {}
    for group, members in sorted(groups.items()):
        errors = [bool(e) for m in members for e in genres[m]["error"]]
        group_rows[group] = _mean_of([genre_rows[m] for m in members]) + [("error_rate", sum(errors) / len(errors), len(errors))]
    everything = _mean_of(list(group_rows.values()))
    everything.append(("error_rate", float(task_frame["error"].mean()), int(len(task_frame))))
    ordered: list[tuple[str, Cells]] = [(ALL, everything)]
    for group, members in sorted(groups.items()):
        if members != [group]:  # a genre without a group is its own group: one row, not two
            ordered.append((group, group_rows[group]))
        ordered.extend((m, genre_rows[m]) for m in members)
    return ordered
