"""The end of a run (or a re-score, or an import): the summary, the final manifest, and the error-rate verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from evalkit.backends.managed import RequestStats
from evalkit.errors import RunFailed
from evalkit.manifest import RunManifest, SummaryRow, now_iso
from evalkit.records import SampleRecord
from evalkit.roles import Judge
from evalkit.store import RunStore
from evalkit.summary import summarize_run

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.backends.base import Backend
    from evalkit.roles import Scorer

@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    summary: "pd.DataFrame"  # long format: task, genre, metric, value, n
    manifest: RunManifest
    stats: RequestStats


def finish_run(store: RunStore, scorers: Mapping[str, "Scorer"], stats: RequestStats | None = None,
               seconds: float | None = None, judge_stats: RequestStats | None = None,
               backend: "Backend | None" = None) -> RunOutcome:
    """Write summary.csv and the final run.json. Without `stats` (a re-score, an import) the request
    figures and timings already in run.json are kept; `seconds` is the run's wall time over all its
    sessions. Raises RunFailed (results kept) when more samples failed,
    by a request or in scoring (a judge gave no rating), than the run's --max-error-rate allows."""
    records = store.records()
    manifest = store.manifest
    summary = summarize_run(records, manifest.tasks, {name: s.aggregate for name, s in scorers.items()})
    store.write_summary(summary)
    errors = [r for r in records if not r.answered]
    ungraded = [r for r in records if r.answered and r.task in scorers and scorers[r.task].failed(r)]
    total = len(records) or 1
    limit = manifest.spec.max_error_rate
    failing = len(errors) / total > limit or len(ungraded) / total > limit
    fields: dict[str, Any] = {
        "status": "failed" if failing else "completed",
        "summary": [SummaryRow(**row) for row in summary.astype(object).where(summary.notna(), None).to_dict("records")],
    }
    if stats is not None:
        fields.update(finished_at=now_iso(), timings={"wall_seconds": round(seconds or 0.0, 3)}, requests=stats)
    if judge_stats is not None:
        fields["judge_requests"] = judge_stats
    manifest = store.update(**fields)
    if failing:
        judged = any(isinstance(scorers[r.task], Judge) for r in ungraded)
        raise RunFailed(failure_message(store.dir, len(records), errors, ungraded, limit, backend, judged))
    return RunOutcome(store.dir, summary, manifest, stats or RequestStats())


def failure_message(run_dir: Path, total: int, errors: Sequence[SampleRecord], ungraded: Sequence[SampleRecord],
                    limit: float, backend: "Backend | None", judged: bool = True) -> str:
    """What failed, how often, and the next step that can help."""
    parts, steps = [], []
    if len(errors) / total > limit:
        kinds = Counter(r.error.kind if r.error else "?" for r in errors)
        parts.append(f"{len(errors)} of {total} samples failed ({len(errors) / total:.1%} > --max-error-rate {limit:g}; "
                     + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) + ")")
        advice = backend.failure_advice(next(iter(kinds))) if backend is not None and len(kinds) == 1 else None
        steps.append(advice or f"evalkit run --resume {run_dir} retries the failed ones")
    if len(ungraded) / total > limit and not judged:  # a scorer of the harness's own failed (a sandbox that did not run)
        parts.append(f"{len(ungraded)} of {total} answers could not be scored ({len(ungraded) / total:.1%} > "
                     f"--max-error-rate {limit:g}; each record's details.error says why)")
        steps.append(f"evalkit run --resume {run_dir} scores them again")
    elif len(ungraded) / total > limit:
        parts.append(f"{len(ungraded)} of {total} answers could not be graded by the judge "
                     f"({len(ungraded) / total:.1%} > --max-error-rate {limit:g})")
        steps.append(f"evalkit score {run_dir} grades them again (add --judge BACKEND/MODEL for another judge)")
    return f"{'; '.join(parts)}; results kept in {run_dir}; " + "; ".join(steps)
