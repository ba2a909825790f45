"""What a run's numbers look like to a person: its summary table, its tasks' own tables, its header facts.

Every table is a ResultTable, drawn by the console (rich), `evalkit show --format md` (Markdown) and
the HTML report alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from evalkit.summary import ALL, GROUP_SEPARATOR
from evalkit.tables import ResultTable, cell

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.manifest import RunManifest, TaskInfo
    from evalkit.store import RunResult


def genre_label(genre: str, grouped: bool) -> str:
    """How a summary row is named in a table: a grouped task's `all` is AVG (`all+X` AVG+X) and its members are indented."""
    if not grouped:
        return genre
    if genre == ALL or genre.startswith(ALL + "+"):
        return "AVG" + genre[len(ALL):]
    return f"  {genre.split(GROUP_SEPARATOR, 1)[1]}" if GROUP_SEPARATOR in genre else genre


def is_grouped(genres: Sequence[str]) -> bool:
    return any(GROUP_SEPARATOR in genre for genre in genres)


def table_metrics_of(info: "TaskInfo | None") -> tuple[str, str | None]:
    """The metrics a summary table's strict and lenient columns show for a task: its table metrics where
    it names them (HumanEval's pass@1 per problem), else its strict and lenient metrics."""
    if info is None:
        return "", None
    if info.table_metrics:
        strict, lenient = (list(info.table_metrics) + [None])[:2]
        return strict or info.strict_metric, lenient
    return info.strict_metric, info.lenient_metric


def summary_table(summary: "pd.DataFrame", tasks: Mapping[str, "TaskInfo"]) -> ResultTable:
    """Task x genre rows; strict, lenient, format-violation and error columns side by side.

    n is what the strict value is a mean over (samples, or a pass@k's problems); a task with one genre
    gets its `all` row alone; with one task the task column goes (room for Jaster's dataset names at 80
    columns) and the title names it."""
    cells = {(r.task, r.genre, r.metric): (r.value, r.n) for r in summary.itertuples(index=False)}
    seen = list(dict.fromkeys((r.task, r.genre) for r in summary.itertuples(index=False)))
    names = list(dict.fromkeys(t for t, _ in seen))
    grouped = {task for task in names if is_grouped([g for t, g in seen if t == task])}
    single_genre = {task for task in names if len([g for t, g in seen if t == task and g != ALL]) == 1}
    one_task = len(names) == 1
    rows, emphasized = [], set()
    for task, genre in seen:
        if task in single_genre and task not in grouped and genre != ALL:
            continue  # the same numbers as its `all` row
        strict_name, lenient_name = table_metrics_of(tasks.get(task))
        strict = cells.get((task, genre, strict_name), (None, 0))
        lenient = cells.get((task, genre, lenient_name), (None, 0)) if lenient_name else (None, 0)
        violation = cells.get((task, genre, "format_violation"), (None, 0))
        errors = cells.get((task, genre, "error_rate"), (None, 0))
        n = strict[1] if strict[0] is not None else errors[1]
        if task in grouped and GROUP_SEPARATOR not in genre:  # AVG and the group rows: the numbers people quote
            emphasized.add(len(rows))
        row = (genre_label(genre, task in grouped), str(n), cell(strict[0]), cell(lenient[0]), cell(violation[0]),
               cell(errors[0]))
        rows.append(row if one_task else (task, *row))
    named = []
    for task, info in tasks.items():
        strict_name, lenient_name = table_metrics_of(info)
        said = [f"strict = {strict_name}"] if strict_name != "strict" else []
        said += [f"lenient = {lenient_name}"] if lenient_name and lenient_name != "lenient" else []
        if said:
            named.append(f"{task}: {', '.join(said)}")
    caption = "; ".join(named)
    for task in names:
        if task in grouped:
            said = average_note(task, tasks[task], [g for t, g in seen if t == task]) if task in tasks else ""
            caption += f"; {said or (task + ' AVG = mean of the groups')} (bold; each group = mean of the genres under it)"
    caption += "".join(f"; {task}: {note}" for task, info in tasks.items() for note in info.notes)
    columns = ("genre", "n", "strict", "lenient", "format violation", "errors")
    return ResultTable(f"evalkit summary: {names[0]}" if one_task else "evalkit summary",
                       columns if one_task else ("task", *columns), tuple(rows), caption.removeprefix("; "),
                       frozenset(emphasized), left_aligned=1 if one_task else 2)


def average_note(task: str, info: "TaskInfo", genres: Sequence[str]) -> str:
    """What a task's AVG averages when it is not every group: which of its groups are missing, which are outside."""
    if info.average_groups is None:
        return ""
    present = {g.split(GROUP_SEPARATOR, 1)[0] for g in genres if GROUP_SEPARATOR in g}
    counted = [g for g in info.average_groups if g in present]
    missing = [g for g in info.average_groups if g not in present]
    outside = sorted(present - set(info.average_groups))
    if not counted:
        return ""
    note = f"{task} AVG = mean of {', '.join(counted)}"
    if missing:
        note += f" (not run, so not averaged: {', '.join(missing)})"
    if outside:
        note += f"; AVG+{'+'.join(outside)} also averages {', '.join(outside)}"
    return note


def task_tables(summary: "pd.DataFrame", task_names: Sequence[str]) -> list[ResultTable]:
    """The tables the tasks' own families draw (MT-Bench per category and turn, HumanEval pass@k),
    where their plugin is installed."""
    from evalkit.registry import task_family

    tables = []
    for name in task_names:
        family = task_family(name.partition(":")[0])
        if family is not None and family.tables is not None:
            tables += family.tables(name, summary)
    return tables


def run_tables(summary: "pd.DataFrame", manifest: "RunManifest") -> list[ResultTable]:
    return [summary_table(summary, manifest.tasks), *task_tables(summary, list(manifest.tasks))]


def header(run: "RunResult") -> list[tuple[str, str]]:
    """The facts that say what a run was: model, backend, settings, tasks, data, dates, requests."""
    m = run.manifest
    spec = m.spec
    settings = {k: v for k, v in spec.model_dump().items()
                if k not in ("tasks", "model", "task_params") and v not in (None, {}, [])}
    facts = [
        ("run", str(run.dir)),
        ("model", spec.model),
        ("backend", ", ".join(f"{k}={v}" for k, v in m.backend.items())),
        ("status", m.status),
        ("evalkit", f"{m.evalkit_version}" + (f" ({m.git_sha[:12]})" if m.git_sha else "")),
        ("created", m.created_at + (f"; finished {m.finished_at}" if m.finished_at else "")),
        ("settings", ", ".join(f"{k}={v}" for k, v in settings.items())),
    ]
    for name, info in m.tasks.items():
        params = ", ".join(f"{k}={v}" for k, v in info.params.items() if v is not None)
        facts.append((f"task {name}", f"version {info.version}, {info.samples} samples" + (f", {params}" if params else "")
                      + f", data {data_digest(info.data)}"))
    if m.requests is not None:
        r = m.requests
        seconds = (m.timings or {}).get("wall_seconds")
        facts.append(("requests", f"{r.sent} sent, {r.cache_hits} from cache, {r.retries} retries, {r.errors} failed"
                      + (f", {seconds:.1f} s" if seconds is not None else "")))
    if m.judge_backend is not None:
        facts.append(("judge backend", ", ".join(f"{k}={v}" for k, v in m.judge_backend.items())))
    if m.judge_requests is not None:
        j = m.judge_requests
        facts.append(("judge", f"{spec.judge}: {j.sent} sent, {j.cache_hits} from cache, {j.errors} failed"
                      + (f", {j.repaired} replies not valid Unicode (stored with U+FFFD)" if j.repaired else "")))
    if m.upgraded_from:
        facts.append(("format", f"upgraded from {m.upgraded_from}"))
    repaired = sum(1 for r in run.records if r.escaped_outputs is not None)
    if repaired:
        facts.append(("invalid text", f"{repaired} {'answer' if repaired == 1 else 'answers'} held text that is not "
                                      "valid Unicode: stored with U+FFFD, as they came in escaped_outputs"))
    return facts


def content_hashes(data: Mapping[str, object]) -> list[str]:
    """The content hashes in a task's data fingerprint (sha256 of files, a Hub dataset's fingerprint)."""
    hashes: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str) and value.startswith(("sha256:", "hf:")):
            hashes.append(value.split(":")[-1])
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return hashes


def data_digest(data: Mapping[str, object]) -> str:
    """The content hashes of a task's data, shortened: enough to see whether two runs read the same files."""
    hashes = [h[:12] for h in content_hashes(data)]
    return " ".join(hashes[:6]) + (f" (+{len(hashes) - 6})" if len(hashes) > 6 else "") if hashes else "–"


def current_summary(run: "RunResult") -> tuple["pd.DataFrame", str | None]:
    """The run's summary as it ended, or, for a run that has not ended (interrupted, still running),
    one computed from the records it has, with a note saying so."""
    stored = run.summary()
    if len(stored) or not run.records:
        return stored, None
    from evalkit.summary import summarize_run

    aggregates = {name: aggregate for name in run.manifest.tasks if (aggregate := group_metrics(run, name)) is not None}
    summary = summarize_run(run.records, run.manifest.tasks, aggregates)
    return summary, (f"the run is {run.manifest.status}: this summary is computed from the {len(run.records)} "
                     "records it holds")


def group_metrics(run: "RunResult", task: str):
    """The task's group-level metrics hook (pass@k, a correlation) from its installed plugin, to compute
    a summary again; None when the plugin cannot build the task here."""
    from evalkit.errors import EvalkitError
    from evalkit.registry import TaskOptions, build_task

    for params in (run.manifest.tasks[task].params, {}):
        try:
            return build_task(task, TaskOptions(), params).scorer.aggregate
        except EvalkitError:
            continue
    return None

