"""Summary tables from sample records: per task and genre, every metric with its n.

Long format (task, genre, metric, value, n) is what summary.csv stores. Besides each task's own
metrics, every task gets `format_violation` (share of scored replies whose strict extraction
failed) and `error_rate` (share of samples whose request failed, or whose scoring failed on the
harness's side, which a scorer records as `details["error"]`, such as a sandbox that could not run
the program; their scores are None and are left out of every mean, never counted as 0).

Group-level metrics: `group_metrics` maps a task to its scorer's `aggregate(records) -> {metric:
value}` (see evalkit.roles.Scorer), called with the records of each row's group. A metric it
returns replaces the per-sample mean of the same name; its n is the number of distinct samples.

Genre groups: a genre written `GROUP/name` (Jaster: `NLI/jnli`) belongs to GROUP. A task with such
genres gets a row per group whose value is the mean of its genres' values, and its `all` row is
the mean of its groups (Jaster: category scores and AVG); `error_rate` stays the share of the
samples. Group-level metrics are computed per genre, then averaged like the others.

A task may name the groups its `all` row averages (`averages`, from TaskInfo.average_groups:
Jaster's are llm-jp-eval's AVG categories). Groups outside them still get their rows, and one more
row, `all+G1+G2` (the groups outside, sorted), averages every group present: an extension of the
headline number that never passes for it. When none of the named groups is present, `all` averages
the groups there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from evalkit.records import SampleRecord

if TYPE_CHECKING:
    from evalkit.manifest import TaskInfo

ALL = "all"
COLUMNS = ["task", "genre", "metric", "value", "n"]
GROUP_SEPARATOR = "/"

Cells = list[tuple[str, Any, int]]  # (metric, value, n) of one row
Aggregate = Callable[[Sequence[SampleRecord]], Mapping[str, float | None]]


def summarize_run(records: Iterable[SampleRecord], tasks: Mapping[str, "TaskInfo"],
                  group_metrics: Mapping[str, Aggregate] | None = None):
    """The summary of a run's records, as its run.json describes its tasks."""
    return summarize(records, {name: info.metrics for name, info in tasks.items()}, group_metrics,
                     {name: info.average_groups for name, info in tasks.items() if info.average_groups is not None})


def summarize(
    records: Iterable[SampleRecord],
    metric_order: Mapping[str, Sequence[str]] | None = None,
    group_metrics: Mapping[str, Aggregate] | None = None,
    averages: Mapping[str, Sequence[str]] | None = None,
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
            "error": [not r.answered or "error" in r.details for r in records],
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
            ordered = _grouped_rows(task_frame, genres, {genre: cells(g) for genre, g in genres.items()},
                                    (averages or {}).get(task))
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


def headline_groups(groups: Iterable[str], average: Sequence[str] | None) -> list[str]:
    """The groups present that `all` averages: those named in `average`, or every one when it names none
    of them (a run of Jaster's STS alone has nothing else its `all` could mean)."""
    groups = list(groups)
    return [g for g in groups if average is None or g in average] or groups


def covers(row: str, genre: str, average: Sequence[str] | None = None) -> bool:
    """Whether a summary row averages over a genre: `all` its groups in `average` (every group when None),
    `all+...` every genre, a group its genres, a genre itself."""
    if row == ALL:  # `average`: the headline groups present (headline_groups)
        return average is None or GROUP_SEPARATOR not in genre or genre.split(GROUP_SEPARATOR, 1)[0] in average
    if row.startswith(ALL + "+"):
        return True
    return genre == row or genre.startswith(row + GROUP_SEPARATOR)


def extension_name(outside: Iterable[str]) -> str:
    """The row that averages every group, named by the groups the headline `all` leaves out."""
    return "+".join([ALL, *sorted(outside)])


def _grouped_rows(task_frame, genres: dict, genre_rows: dict[str, Cells],
                  average: Sequence[str] | None = None) -> list[tuple[str, Cells]]:
    """`all` (mean of the groups it averages), `all+...` when groups were left out of it, then each group
    (mean of its genres) followed by its genres."""
    groups: dict[str, list[str]] = {}
    for genre in genre_rows:
        groups.setdefault(genre.split(GROUP_SEPARATOR, 1)[0], []).append(genre)
    group_rows = {}
    for group, members in sorted(groups.items()):
        errors = [bool(e) for m in members for e in genres[m]["error"]]
        group_rows[group] = _mean_of([genre_rows[m] for m in members]) + [("error_rate", sum(errors) / len(errors), len(errors))]
    error_rate = ("error_rate", float(task_frame["error"].mean()), int(len(task_frame)))
    headline = headline_groups(group_rows, average)
    outside = [g for g in group_rows if g not in headline]
    ordered: list[tuple[str, Cells]] = [(ALL, _mean_of([group_rows[g] for g in headline]) + [error_rate])]
    if outside:
        ordered.append((extension_name(outside), _mean_of(list(group_rows.values())) + [error_rate]))
    for group, members in sorted(groups.items()):
        if members != [group]:  # a genre without a group is its own group: one row, not two
            ordered.append((group, group_rows[group]))
        ordered.extend((m, genre_rows[m]) for m in members)
    return ordered
