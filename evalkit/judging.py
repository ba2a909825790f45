"""The judge model of a run: `--judge BACKEND/MODEL`, behind the run's cache and retries, and what it will cost.

The judge's backend is loaded like the model's and wrapped in a ManagedBackend built exactly as the
model's is, over the same request cache: judge calls get the same concurrency bound, capped
retries, rate limit and caching, so a re-run re-sends nothing that was answered. It is loaded only
when a task of the run is graded by a judge (its family `uses_judge`), and handed to those tasks
when they are built. Before any judge call the run says how many it will make.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from evalkit.backends.base import Backend, BackendSettings, load_backend
from evalkit.cache import RequestCache
from evalkit.errors import EvalkitError
from evalkit.plan import PreparedTask, managed, uses_judge
from evalkit.roles import JudgeModel
from evalkit.spec import RunSpec
from evalkit.types import Sample


def load_judge(spec: RunSpec, cache: RequestCache | None, backend: Backend | None = None) -> JudgeModel | None:
    """The judge model when a task needs one and --judge names it (None otherwise); bad input is a
    one-line error before anything is written. `backend` replaces the one --judge names (tests)."""
    if not spec.judge:
        if spec.judge_base_url or spec.judge_args:
            raise EvalkitError("--judge-base-url and --judge-args go with --judge")
        return None
    if not uses_judge(spec):
        return None
    if backend is None:
        settings = BackendSettings(base_url=spec.judge_base_url, request_timeout=spec.request_timeout,
                                   concurrency=spec.concurrency)
        try:
            backend = load_backend(spec.judge, settings, flag="--judge")
        except EvalkitError as exc:  # the backends' messages name the model's flags; these are the judge's
            raise EvalkitError(f"judge: {str(exc).replace('--base-url', '--judge-base-url')}") from None
    return JudgeModel(spec.judge, managed(backend, cache, spec), dict(spec.judge_args))


def announce(note: Callable[[str], None], prepared: PreparedTask, answers: Sequence[Sample], run_dir: Path) -> None:
    """Tell the person watching what scoring `answers` (one per sample and choice) of the run in `run_dir` will take."""
    line = prepared.task.scorer.plan(answers, run_dir) if answers else None
    if line:
        note(line)
