"""Scoring stored answers again, without asking the model: `evalkit score RUN`, and the unfinished records of a resumed run.

A re-score rebuilds the run's tasks from run.json, optionally with another judge and other
scoring parameters (`-T` of scope "scoring": a Jaster metric, an MT-Bench baseline), scores every
stored answer with them and rewrites samples.jsonl and the summary. Judge calls go through the
request cache, so judgments made before cost nothing. A scorer that cannot score now (a judge with
no judge model) keeps the scores already stored.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from evalkit.backends.base import Backend
from evalkit.cache import RequestCache
from evalkit.errors import EvalkitError
from evalkit.judging import announce, load_judge
from evalkit.manifest import now_iso
from evalkit.outcome import RunOutcome, finish_run
from evalkit.plan import PreparedTask, prepare_tasks, task_params_of, uses_judge
from evalkit.records import SampleRecord
from evalkit.registry import family_of
from evalkit.scoring import ScoringPool, rescored
from evalkit.spec import RunSpec
from evalkit.store import LOCK, FolderLock, RunStore, holds_a_run, read_manifest
from evalkit.types import Sample


def unfinished(prepared: PreparedTask, records: Sequence[SampleRecord]) -> list[tuple[Sample, SampleRecord]]:
    """Stored answers of this task whose scoring its scorer calls incomplete (a judge request failed)."""
    samples = {s.id: s for s in prepared.samples}
    return [(samples[r.sample_id], r) for r in records
            if r.task == prepared.task.name and r.answered and r.sample_id in samples
            and prepared.task.scorer.incomplete(r)]


async def rescore_incomplete(prepared: PreparedTask, items: Sequence[tuple[Sample, SampleRecord]], store: RunStore,
                             pool: ScoringPool) -> None:
    """Score these records again from their stored answers and append them (the later line of a
    sample wins when the run is read)."""

    async def again(sample: Sample, record: SampleRecord) -> None:
        store.append(rescored(record, await pool.score(prepared.task, sample, record.outputs)))

    await asyncio.gather(*(again(sample, record) for sample, record in items))


def respecified(spec: RunSpec, judge: str | None, judge_base_url: str | None, judge_args: dict[str, Any] | None,
                assignments: Sequence[str]) -> RunSpec:
    """The spec of a run scored again: a new judge brings its own base URL and arguments (never the
    old judge's); -T may change the parameters that only decide scoring."""
    update: dict[str, Any] = {}
    if judge is not None:
        update.update(judge=judge, judge_base_url=judge_base_url, judge_args=judge_args or {})
    elif judge_base_url is not None or judge_args:
        raise EvalkitError("--judge-base-url and --judge-args go with --judge")
    given = task_params_of(spec.tasks, assignments)
    for task, values in given.items():
        declared = {p.name: p for p in family_of(task)[0].params}
        fixed = sorted(key for key in values if declared[key].scope != "scoring")
        if fixed:
            raise EvalkitError(f"-T {', '.join(fixed)} changes which answers {task} asks for; `evalkit score` "
                               "can change only scoring parameters (run the task again for the others)")
    if given:
        update["task_params"] = {task: {**spec.task_params.get(task, {}), **given.get(task, {})}
                                 for task in spec.tasks if task in given or task in spec.task_params}
    return spec.model_copy(update=update) if update else spec


def rescore_run(
    run_dir: Path,
    *,
    judge: str | None = None,
    judge_base_url: str | None = None,
    judge_args: dict[str, Any] | None = None,
    task_params: Sequence[str] = (),
    cache_path: Path | None = None,
    judge_backend: Backend | None = None,
    note: Callable[[str], None] = lambda text: None,
    into: Path | None = None,
) -> RunOutcome:
    """Score the stored outputs again with the current scorers, without calling the model; with `into`,
    a copy of the run written there, the run itself left as it was."""
    lock = None
    if into is not None:
        read_manifest(run_dir)  # a run, readable, before anything is copied; the run itself is left as it is
        lock = _claimed(into)
        try:
            if holds_a_run(into):
                raise EvalkitError(f"--into {into} exists and is not empty; name a new folder")
            shutil.copytree(run_dir, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns(LOCK))
        except BaseException:
            lock.release()
            raise
        run_dir = into
    store = RunStore.open(run_dir, lock)
    cache: RequestCache | None = None
    try:
        if judge is not None and not uses_judge(store.manifest.spec):
            raise EvalkitError(f"--judge: no task of {run_dir} ({', '.join(store.manifest.spec.tasks)}) is graded by "
                               "a judge, so there is nothing to judge; drop --judge to score it again")
        spec = respecified(store.manifest.spec, judge, judge_base_url, judge_args, task_params)
        cache = RequestCache(cache_path) if cache_path else None
        model = load_judge(spec, cache, judge_backend)
        prepared = prepare_tasks(spec, model)
        records = store.records()
        samples = _samples_of(run_dir, prepared, records)
        for p in prepared:
            if not p.task.scorer.available:
                note(f"{p.task.name}: no --judge given and the run names none: its stored judgments are kept")
            else:
                # as many turns as each stored answer has (an imported answer may hold the first only)
                stored = [(samples[r.task, r.sample_id], r) for r in records
                          if r.task == p.task.name and r.answered and r.outputs]
                answers = [replace(sample, turns=sample.turns[:len(r.outputs)]) for sample, r in stored]
                announce(note, p, answers, run_dir)
        tasks = {p.task.name: p.task for p in prepared}

        async def rescore_all() -> list[SampleRecord]:
            pool = ScoringPool(spec.workers)

            async def one(record: SampleRecord) -> SampleRecord:
                task = tasks[record.task]
                # Nothing to score (a failed request; an imported record without its answer), or no judge.
                if not record.answered or not record.outputs or not task.scorer.available:
                    return record
                return rescored(record, await pool.score(task, samples[record.task, record.sample_id], record.outputs))

            try:
                return list(await asyncio.gather(*(one(r) for r in records)))
            finally:
                if model is not None:
                    await model.backend.aclose()

        store.rewrite(asyncio.run(rescore_all()))
        store.update(spec=spec.written(), tasks={**store.manifest.tasks, **{p.task.name: p.info() for p in prepared}},
                     rescored_at=now_iso(),
                     **({"judge_backend": model.backend.backend.provenance()} if model is not None else {}))
        return finish_run(store, {p.task.name: p.task.scorer for p in prepared},
                          judge_stats=model.backend.stats if model else None)
    finally:
        if cache:
            cache.close()
        store.release()


def _claimed(into: Path) -> FolderLock:
    """The lock of the --into folder, made if need be, before anything is copied into it."""
    try:
        into.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalkitError(f"cannot create --into {into}: {exc.strerror}") from None
    return FolderLock.take(into)


def _samples_of(run_dir: Path, prepared: Sequence[PreparedTask], records: Sequence[SampleRecord]) -> dict[tuple[str, str], Sample]:
    """Every sample a stored record belongs to; a record of a task or sample the data lacks is an error."""
    samples = {(p.task.name, s.id): s for p in prepared for s in p.samples}
    names = {p.task.name for p in prepared}
    for record in records:
        if record.task not in names:
            raise EvalkitError(f"{run_dir}: samples.jsonl holds task {record.task!r}, which run.json does not list; "
                               "delete its lines, then run the command again")
        if (record.task, record.sample_id) not in samples:
            raise EvalkitError(f"{run_dir}: {record.task} sample {record.sample_id} is not in the task's data; "
                               "restore the data the run used (run.json's data_dir), or delete that sample's lines")
    return samples
