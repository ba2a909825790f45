"""The end of a run (or a re-score, or an import): the summary, the final manifest, and the error-rate verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from evalkit.backends.managed import RequestStats
from evalkit.errors import RunFailed
from evalkit.manifest import RunManifest, SummaryRow, now_iso
from evalkit.records import SampleRecord
from evalkit.store import RunStore
from evalkit.summary import summarize_run

if TYPE_CHECKING:
    import pandas as pd

Aggregate = Callable[[Sequence[SampleRecord]], Mapping[str, float | None]]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    summary: "pd.DataFrame"  # long format: task, genre, metric, value, n
    manifest: RunManifest
    stats: RequestStats


def finish_run(store: RunStore, aggregates: Mapping[str, Aggregate], stats: RequestStats | None = None,
               seconds: float | None = None, judge_stats: RequestStats | None = None) -> RunOutcome:
    """Write summary.csv and the final run.json. Without `stats` (a re-score, an import) the request
    figures and timings already in run.json are kept. Raises RunFailed (results kept) when more
    samples failed than the run's --max-error-rate allows."""
    records = store.records()
    manifest = store.manifest
    summary = summarize_run(records, manifest.tasks, aggregates)
    store.write_summary(summary)
    errors = sum(1 for r in records if not r.answered)
    error_rate = errors / len(records) if records else 0.0
    limit = manifest.spec.max_error_rate
    fields: dict[str, Any] = {
        "status": "failed" if error_rate > limit else "completed",
        "summary": [SummaryRow(**row) for row in summary.astype(object).where(summary.notna(), None).to_dict("records")],
    }
    if stats is not None:
        fields.update(finished_at=now_iso(), timings={"wall_seconds": round(seconds or 0.0, 3)}, requests=stats)
    if judge_stats is not None:
        fields["judge_requests"] = judge_stats
    manifest = store.update(**fields)
    if error_rate > limit:
        raise RunFailed(
            f"{errors} of {len(records)} samples failed ({error_rate:.1%} > --max-error-rate {limit:g}); "
            f"results kept in {store.dir}; re-run the same command to retry the failed ones",
        )
    return RunOutcome(store.dir, summary, manifest, stats or RequestStats())
