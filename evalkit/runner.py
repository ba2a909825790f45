"""The runner: samples -> prompts -> backend (batched per turn, cached, concurrent) -> scores -> disk.

The path goes one way: the CLI makes a RunSpec; evalkit.plan builds its tasks (with the judge model
from evalkit.judging, for the tasks graded by one) and its backend; the runner generates turn by
turn, scores each sample as its last turn is answered and appends its record to the RunStore; the
summary and the verdict come from evalkit.outcome. Every answer is in the request cache before its
record is written, so a run killed at any point resumes without re-sending what was answered.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Protocol, Sequence

from evalkit import __version__
from evalkit.backends.base import Backend, require_request_kinds
from evalkit.backends.managed import ManagedBackend
from evalkit.cache import RequestCache
from evalkit.errors import EvalkitError, RunFailed
from evalkit.judging import announce, load_judge
from evalkit.manifest import RunManifest, now_iso
from evalkit.outcome import RunOutcome, finish_run
from evalkit.plan import PreparedTask, load_model, managed, prepare_tasks
from evalkit.records import SampleRecord
from evalkit.rescore import rescore_incomplete, unfinished
from evalkit.roles import JudgeModel
from evalkit.scoring import ScoringPool, make_record, unscored
from evalkit.spec import RunSpec
from evalkit.store import RunStore, source_git_sha
from evalkit.text_safety import received_reply
from evalkit.types import Completion, Reply, Request, Sample


class Reporter(Protocol):
    """What the runner tells the person watching (the CLI draws progress bars from it)."""

    def task_started(self, task: str, total: int, done: int) -> None: ...

    def sample_done(self, task: str, record: SampleRecord) -> None: ...

    def note(self, text: str) -> None:
        """A line for the person watching (how many judge calls a run will make)."""
        ...


class SilentReporter:
    def task_started(self, task: str, total: int, done: int) -> None: ...

    def sample_done(self, task: str, record: SampleRecord) -> None: ...

    def note(self, text: str) -> None: ...


def new_manifest(spec: RunSpec, backend: Backend, prepared: Sequence[PreparedTask],
                 judge: JudgeModel | None = None) -> RunManifest:
    return RunManifest(
        evalkit_version=__version__, git_sha=source_git_sha(), created_at=now_iso(), status="running",
        spec=spec.written(), backend=backend.provenance(), tasks={p.task.name: p.info() for p in prepared},
        judge_backend=judge.backend.backend.provenance() if judge is not None else None,
    )


def routed(request: Request, task: str, sample_id: str, turn: int, choice: int) -> Request:
    """Say where the answer belongs; a pinned seed moves with the choice, so sampled choices differ."""
    params = request.params
    if choice and params.seed is not None:
        params = replace(params, seed=params.seed + choice)
    return replace(request, params=params, task=task, sample_id=sample_id, turn=turn, choice=choice)


async def run_task(
    prepared: PreparedTask,
    backend: ManagedBackend,
    store: RunStore,
    pending: Sequence[tuple[Sample, int]],
    pool: ScoringPool,
    reporter: Reporter,
) -> None:
    """Generate every pending (sample, choice), turn by turn; score and record each as it finishes.

    A turn is one request, or several answered together (a multiple-choice item's log-likelihood per
    choice): the sample's replies for the turn are all of them, in request order."""
    task = prepared.task
    history: dict[tuple[str, int], list[Reply]] = {(s.id, c): [] for s, c in pending}
    received: dict[tuple[str, int], list[Reply]] = {(s.id, c): [] for s, c in pending}  # as they came (text_safety)
    failed: set[tuple[str, int]] = set()
    writes: list[asyncio.Task] = []

    async def record(sample: Sample, request: Request, completion: Completion) -> None:
        outputs = history[sample.id, request.choice]
        score = await pool.score(task, sample, outputs) if completion.ok else unscored(task)
        line = make_record(task, sample, request, outputs, completion, score, received[sample.id, request.choice])
        store.append(line)
        reporter.sample_done(task.name, line)

    try:
        for turn in range(max((len(s.turns) for s, _ in pending), default=0)):
            active = [(s, c) for s, c in pending if turn < len(s.turns) and (s.id, c) not in failed]
            requests: list[Request] = []
            owner: list[tuple[int, int]] = []  # request -> (its item in `active`, its place in the item's turn)
            first: list[int] = []  # item -> its first request, which its record shows
            for item, (sample, choice) in enumerate(active):
                asked = task.build_requests(sample, history[sample.id, choice])
                if not asked:
                    raise EvalkitError(f"task {task.name!r} made no request for sample {sample.id!r} (a bug in its plugin)")
                first.append(len(requests))
                owner += [(item, place) for place in range(len(asked))]
                requests += [routed(r, task.name, sample.id, turn, choice) for r in asked]
            answers: dict[int, dict[int, Completion]] = {}
            expected = Counter(item for item, _ in owner)
            async for i, completion in backend.stream(requests):
                item, place = owner[i]
                answers.setdefault(item, {})[place] = completion
                if len(answers[item]) < expected[item]:
                    continue
                sample, choice = active[item]
                got = answers.pop(item)
                turn_answers = [got[place] for place in range(expected[item])]
                first_error = next((a for a in turn_answers if not a.ok), None)
                if first_error is None:
                    history[sample.id, choice] += [a.reply for a in turn_answers]  # type: ignore[misc]
                    received[sample.id, choice] += [received_reply(a) for a in turn_answers]  # type: ignore[misc]
                else:
                    failed.add((sample.id, choice))
                if first_error is not None or turn == len(sample.turns) - 1:
                    last = first_error or replace(turn_answers[-1], cached=all(a.cached for a in turn_answers))
                    writes.append(asyncio.create_task(record(sample, requests[first[item]], last)))
        await asyncio.gather(*writes)
    finally:
        for write in writes:
            write.cancel()


async def _execute(spec: RunSpec, prepared: Sequence[PreparedTask], model: ManagedBackend, store: RunStore,
                   reporter: Reporter) -> None:
    # Only answered records count as done: a re-run retries the samples whose request failed.
    stored = store.records()
    pool = ScoringPool(spec.workers)
    for p in prepared:
        done = {(r.sample_id, r.choice) for r in stored if r.task == p.task.name and r.answered}
        pending = [(s, c) for s in p.samples for c in range(spec.num_samples) if (s.id, c) not in done]
        # Answers whose scoring is unfinished (a judge request that failed) are scored again from
        # the stored answers, not regenerated.
        redo = unfinished(p, stored)
        announce(reporter.note, p, [s for s, _ in pending] + [s for s, _ in redo], store.dir)
        total = len(p.samples) * spec.num_samples
        reporter.task_started(p.task.name, total, total - len(pending))
        await rescore_incomplete(p, redo, store, pool)
        await run_task(p, model, store, pending, pool, reporter)


def run_evaluation(
    spec: RunSpec,
    run_dir: Path,
    *,
    cache_path: Path | None,
    reporter: Reporter | None = None,
    resume: bool = False,
    backend: Backend | None = None,
    judge_backend: Backend | None = None,
) -> RunOutcome:
    """Run `spec` into `run_dir`. Raises EvalkitError on bad input, RunFailed above the error rate.
    `backend` and `judge_backend` replace the ones `spec` names (tests script them)."""
    reporter = reporter or SilentReporter()
    existing = RunStore.reopen(run_dir, spec, resume)
    cache: RequestCache | None = None
    judge: JudgeModel | None = None
    try:
        cache = RequestCache(cache_path) if cache_path else None
        judge = load_judge(spec, cache, judge_backend)
        prepared = prepare_tasks(spec, judge)
        backend = backend or load_model(spec)
        require_request_kinds(backend, {p.task.name: p.task.request_kinds for p in prepared})
        manifest = new_manifest(spec, backend, prepared, judge)
        if existing is None:
            store = RunStore.create(run_dir, manifest)
        else:
            store = existing
            store.resume(manifest)
    except BaseException:
        if existing is not None:
            existing.release()
        if cache:
            cache.close()
        raise
    # A resumed run's wall time counts every session: what the earlier ones recorded, and this one.
    earlier = (store.manifest.timings or {}).get("wall_seconds", 0.0)
    started = time.monotonic()

    def wall_seconds() -> float:
        return earlier + time.monotonic() - started

    model = managed(backend, cache, spec)

    async def execute() -> None:
        try:
            await _execute(spec, prepared, model, store, reporter)
        finally:
            await model.aclose()
            if judge is not None:
                await judge.backend.aclose()
            store.close()

    # From here the run folder exists: whatever stops the run (Ctrl-C while answering or while
    # summing up, a crash) leaves it marked interrupted with its time so far, ready to --resume.
    try:
        for line in backend.plan_notes({p.task.name: [s.id for s in p.samples] for p in prepared}):
            reporter.note(line)
        asyncio.run(execute())
        return finish_run(store, {p.task.name: p.task.scorer for p in prepared}, model.stats,
                          wall_seconds(), judge.backend.stats if judge else None, backend)
    except RunFailed:
        raise  # finish_run has recorded the run as failed
    except BaseException:
        store.update(status="interrupted", requests=model.stats, judge_requests=judge.backend.stats if judge else None,
                     timings={"wall_seconds": round(wall_seconds(), 3)})
        raise
    finally:
        if cache:
            cache.close()
        store.release()
