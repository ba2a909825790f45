"""Scoring finished answers into SampleRecords: off the event loop, several at once, bounded."""

from __future__ import annotations

import asyncio
import os
from typing import Sequence

from evalkit.records import SampleRecord
from evalkit.roles import Task
from evalkit.types import Completion, Reply, Request, Sample, Score


def default_score_workers() -> int:
    return os.cpu_count() or 2


class ScoringPool:
    """Runs scorers at most `workers` at a time.

    A regex scorer costs microseconds, but a scorer that executes code or asks a judge model takes
    seconds; `Scorer.ascore` runs those in worker threads (or, for a judge, as coroutines) side by
    side while the event loop keeps streaming answers.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._slots = asyncio.Semaphore(max(1, workers or default_score_workers()))

    async def score(self, task: Task, sample: Sample, outputs: Sequence[Reply]) -> Score:
        async with self._slots:
            return (await task.scorer.ascore([(sample, list(outputs))]))[0]


def unscored(task: Task) -> Score:
    """The score of a sample whose request failed: None everywhere, left out of every mean."""
    return Score(value=None, answer=None, format_ok=None, metrics={m: None for m in task.scorer.metrics})


def make_record(task: Task, sample: Sample, request: Request, outputs: Sequence[Reply], completion: Completion,
                score: Score, received: Sequence[Reply] = ()) -> SampleRecord:
    """The record of a sample's last request (its final turn, or the turn that failed); `received`: the
    outputs as they came, which differ where a reply was not valid Unicode (evalkit.text_safety)."""
    rendered = request.rendered()
    return SampleRecord(
        task=task.name,
        sample_id=sample.id,
        choice=request.choice,
        genre=sample.genre,
        prompt=rendered.get("prompt"),
        messages=rendered.get("messages"),
        outputs=list(outputs),
        target=sample.target,
        answer=score.answer,
        scores=dict(score.metrics),
        format_ok=score.format_ok,
        details=dict(score.details),
        error=completion.error,
        cached=completion.cached,
        finish_reason=completion.finish_reason,
        escaped_outputs=list(received) if received and list(received) != list(outputs) else None,
    )


def rescored(record: SampleRecord, score: Score) -> SampleRecord:
    """A stored record with a new score: its answer and request stay as they were."""
    return record.model_copy(update={"answer": score.answer, "scores": dict(score.metrics),
                                     "format_ok": score.format_ok, "details": dict(score.details)})
