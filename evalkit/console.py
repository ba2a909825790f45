"""What a person sees: rich progress bars while a run goes, and the summary table after it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evalkit.records import SampleRecord
from evalkit.summary import GROUP_SEPARATOR

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.manifest import RunManifest, TaskInfo

console = Console(stderr=True)  # progress and notes; tables go to stdout
stdout = Console()


class ProgressReporter:
    """One bar per task, with the count of errors and cache hits as answers arrive."""

    def __init__(self, header: str | None = None) -> None:
        self._header = header
        self._started = False
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._bars: dict[str, Any] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._header_shown = False

    def __enter__(self) -> "ProgressReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._progress.stop()

    def task_started(self, task: str, total: int, done: int) -> None:
        # The header and bars appear only once the run is under way, so that bad input caught
        # before it (unknown task, missing data, unreachable server) stays one line on stderr.
        if not self._started:
            self._show_header()
            self._progress.start()
            self._started = True
        note = f"{done} already done" if done else ""
        self._counts[task] = {"errors": 0, "cached": 0}
        self._bars[task] = self._progress.add_task(task, total=total, completed=done, note=note)

    def sample_done(self, task: str, record: SampleRecord) -> None:
        counts = self._counts[task]
        counts["errors"] += not record.answered
        counts["cached"] += record.cached
        note = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        self._progress.update(self._bars[task], advance=1, note=note)

    def note(self, text: str) -> None:
        """A line for the person watching, once the run is under way (how many judge calls it makes)."""
        self._show_header()
        console.print(text, highlight=False, markup=False)

    def _show_header(self) -> None:
        if self._header and not self._header_shown:
            console.print(self._header)
        self._header_shown = True


def _fmt(value: Any) -> str:
    return "–" if value is None or value != value else f"{value:.4f}"


def summary_table(summary: "pd.DataFrame", tasks: Mapping[str, "TaskInfo"]) -> Table:
    """Task x genre rows; strict, lenient, format-violation and error columns side by side."""
    table = Table(title="evalkit summary", show_lines=False)
    for name, justify in [("task", "left"), ("genre", "left"), ("n", "right"), ("strict", "right"),
                          ("lenient", "right"), ("format violation", "right"), ("errors", "right")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    cells = {(r.task, r.genre, r.metric): (r.value, r.n) for r in summary.itertuples(index=False)}
    seen: list[tuple[str, str]] = []
    for r in summary.itertuples(index=False):
        if (r.task, r.genre) not in seen:
            seen.append((r.task, r.genre))
    # Tasks with grouped genres (`GROUP/name`, see evalkit.summary): `all` is the mean of the groups.
    grouped = {task for task, genre in seen if GROUP_SEPARATOR in genre}
    for task, genre in seen:
        info = tasks.get(task)
        strict_name = info.strict_metric if info else None
        lenient_name = info.lenient_metric if info else None
        strict = cells.get((task, genre, strict_name), (None, 0))
        lenient = cells.get((task, genre, lenient_name), (None, 0)) if lenient_name else (None, 0)
        violation = cells.get((task, genre, "format_violation"), (None, 0))
        errors = cells.get((task, genre, "error_rate"), (None, 0))
        label, style = genre, None
        if task in grouped:  # the group row comes first, so its members show their own names, indented
            label, style = (f"  {genre.split(GROUP_SEPARATOR, 1)[1]}", None) if GROUP_SEPARATOR in genre else (
                "AVG" if genre == "all" else genre, "bold")
        table.add_row(task, label, str(errors[1]), _fmt(strict[0]), _fmt(lenient[0]), _fmt(violation[0]), _fmt(errors[0]),
                      style=style)
    table.caption = "; ".join(
        f"{task}: strict = {info.strict_metric}, lenient = {info.lenient_metric or '–'}" for task, info in tasks.items()
    )
    if grouped:
        table.caption += "; AVG = mean of the groups (bold), each group = mean of the genres under it"
    return table


def task_tables(summary: "pd.DataFrame", task_names: Sequence[str]) -> list[Table]:
    """The tables the tasks' own families draw (MT-Bench per category and turn), where their plugin is installed."""
    from evalkit.registry import task_family
    from evalkit.tables import rich_table

    tables = []
    for name in task_names:
        family = task_family(name.partition(":")[0])
        if family is not None and family.tables is not None:
            tables += [rich_table(t) for t in family.tables(name, summary)]
    return tables


def print_results(summary: "pd.DataFrame", manifest: "RunManifest", requests: bool = True) -> None:
    """The summary table, the tasks' own tables, and what the run's requests (and its judge's) cost."""
    stdout.print(summary_table(summary, manifest.tasks))
    for table in task_tables(summary, list(manifest.tasks)):
        stdout.print(table)
    r = manifest.requests
    if requests and r is not None:
        seconds = (manifest.timings or {}).get("wall_seconds", 0.0)
        console.print(f"requests: {r.sent} sent, {r.cache_hits} from cache, {r.retries} retries, {r.errors} failed · "
                      f"{seconds:.1f} s")
    j = manifest.judge_requests
    if j is not None:
        console.print(f"judge requests: {j.sent} sent, {j.cache_hits} from cache, {j.retries} retries, {j.errors} failed")
