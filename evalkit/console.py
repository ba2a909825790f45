"""What a person sees: rich progress bars while a run goes, and the run's tables after it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evalkit.records import SampleRecord

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.manifest import RunManifest

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


def print_results(summary: "pd.DataFrame", manifest: "RunManifest", requests: bool = True) -> None:
    """The summary table, the tasks' own tables, and what the run's requests (and its judge's) cost."""
    from evalkit.tables import rich_table
    from evalkit.views import run_tables

    for table in run_tables(summary, manifest):
        stdout.print(rich_table(table))
    r = manifest.requests
    if requests and r is not None:
        seconds = (manifest.timings or {}).get("wall_seconds", 0.0)
        console.print(f"requests: {r.sent} sent, {r.cache_hits} from cache, {r.retries} retries, {r.errors} failed · "
                      f"{seconds:.1f} s")
    j = manifest.judge_requests
    if j is not None:
        console.print(f"judge requests: {j.sent} sent, {j.cache_hits} from cache, {j.retries} retries, {j.errors} failed")
