"""What a run's numbers look like to a person: its summary table, its tasks' own tables, its header facts.

Every table is a ResultTable, drawn by the console (rich), `evalkit show --format md` (Markdown) and
the HTML report alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from evalkit.summary import ALL, GROUP_SEPARATOR
from evalkit.tables import ResultTable, cell

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.manifest import RunManifest, TaskInfo
    from evalkit.registry import TaskFamily
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


def summary_table(summary: "pd.DataFrame", tasks: Mapping[str, "TaskInfo"]) -> ResultTable:
    """Task x genre rows; strict, lenient, format-violation and error columns side by side."""
    cells = {(r.task, r.genre, r.metric): (r.value, r.n) for r in summary.itertuples(index=False)}
    seen = list(dict.fromkeys((r.task, r.genre) for r in summary.itertuples(index=False)))
    grouped = {task for task in dict.fromkeys(t for t, _ in seen) if is_grouped([g for t, g in seen if t == task])}
    rows, emphasized = [], set()
    for task, genre in seen:
        info = tasks.get(task)
        strict = cells.get((task, genre, info.strict_metric if info else ""), (None, 0))
        lenient = cells.get((task, genre, info.lenient_metric), (None, 0)) if info and info.lenient_metric else (None, 0)
        violation = cells.get((task, genre, "format_violation"), (None, 0))
        errors = cells.get((task, genre, "error_rate"), (None, 0))
        if task in grouped and GROUP_SEPARATOR not in genre:  # AVG and the group rows: the numbers people quote
            emphasized.add(len(rows))
        rows.append((task, genre_label(genre, task in grouped), str(errors[1]), cell(strict[0]), cell(lenient[0]),
                     cell(violation[0]), cell(errors[0])))
    caption = "; ".join(f"{task}: strict = {info.strict_metric}, lenient = {info.lenient_metric or '–'}"
                        for task, info in tasks.items())
    if grouped:
        caption += "; AVG = mean of the groups (bold), each group = mean of the genres under it"
        caption += "".join(average_note(task, info, [g for t, g in seen if t == task])
                           for task, info in tasks.items() if task in grouped)
    caption += "".join(f"; {task}: {note}" for task, info in tasks.items() for note in info.notes)
    return ResultTable("evalkit summary", ("task", "genre", "n", "strict", "lenient", "format violation", "errors"),
                       tuple(rows), caption, frozenset(emphasized), left_aligned=2)


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
    note = f"; {task} AVG = mean of {', '.join(counted)}"
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
    if m.judge_requests is not None:
        j = m.judge_requests
        facts.append(("judge", f"{spec.judge}: {j.sent} sent, {j.cache_hits} from cache, {j.errors} failed"))
    if m.upgraded_from:
        facts.append(("format", f"upgraded from {m.upgraded_from}"))
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


def task_list_table(families: Sequence["TaskFamily"], data: Path | None) -> ResultTable:
    """`evalkit tasks`: every task of these families, with its genres and sample count when data is local."""
    from evalkit.errors import EvalkitError
    from evalkit.registry import TaskOptions, build_task

    rows = []
    for family in families:
        for name, (_, about) in zip(family.task_names(), family.variants.items()):
            genres, count = "–", "–"
            if data is not None:
                try:
                    samples = build_task(name, TaskOptions(data_dir=data)).load().samples
                    genres, count = ", ".join(sorted({s.genre for s in samples})), str(len(samples))
                except EvalkitError as exc:
                    count = f"unavailable ({exc})"
            rows.append((name, family.description + (f" — {about}" if about else ""), genres, count))
    return ResultTable("evalkit tasks", ("task", "description", "genres", "samples"), tuple(rows), left_aligned=4)


def parameters_table(family: "TaskFamily") -> ResultTable:
    """`evalkit tasks NAME`: the family's -T parameters."""
    rows = tuple((p.name, p.type + (f" ({'|'.join(p.choices)})" if p.choices else ""),
                  "required" if p.required else "–" if p.default is None else str(p.default), p.scope, p.help)
                 for p in family.params)
    return ResultTable(f"{family.name}: task parameters (-T KEY=VALUE)",
                       ("parameter", "type", "default", "scope", "what it does"), rows,
                       "scope task: fixed for the life of a run folder; scoring: only how answers are scored, so "
                       "`evalkit score RUN -T KEY=VALUE` may change it", left_aligned=5)
