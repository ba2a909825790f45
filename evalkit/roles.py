"""The roles a plugin plays, declared: Task, Scorer and Judge, each with defaults for its optional parts.

The core calls these methods; it never asks whether a plugin happens to have one. A task is cheap
to build (the registry builds one to list it) and reads its data only in `load`, which returns
the samples as a value: everything a prompt or a score needs travels with its Sample (its
few-shot examples, its reference answer, its dataset's scoring rule), so `build_request` and
`score` depend on nothing that loading left behind. The Backend role is in evalkit.backends.base.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from evalkit.types import GENERATION_KINDS, Reply, Request, Sample, Score

if TYPE_CHECKING:
    from evalkit.backends.managed import ManagedBackend
    from evalkit.records import SampleRecord


class Scorer(ABC):
    """Batch in, scores out: one Score per (sample, outputs) pair, in order; `outputs` holds one reply per turn.

    `metrics` names every per-sample metric; `strict_metric` (default: the first) is the one
    comparable with the reference harness and `lenient_metric` the same answer read leniently.
    `value_range` is the range of the strict metric (a 1-10 judge rating), which a leaderboard
    uses to put tasks on one scale. `average_groups` names the genre groups the summary's `all`
    row averages, when it is not all of them (evalkit.summary).
    """

    metrics: tuple[str, ...] = ()
    lenient_metric: str | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    average_groups: tuple[str, ...] | None = None
    # What a summary table shows as strict and lenient when not strict_metric / lenient_metric: a
    # group-level metric such as HumanEval's pass@1 per problem.
    table_metrics: tuple[str, str | None] | None = None

    @property
    def strict_metric(self) -> str:
        return self.metrics[0]

    @abstractmethod
    def score(self, items: Sequence[tuple[Sample, list[Reply]]]) -> list[Score]: ...

    async def ascore(self, items: Sequence[tuple[Sample, list[Reply]]]) -> list[Score]:
        """The runner awaits this; by default `score` runs in a worker thread, so the event loop
        keeps streaming answers while a slow scorer (code execution) works."""
        return await asyncio.to_thread(self.score, items)

    def aggregate(self, records: Sequence["SampleRecord"]) -> Mapping[str, float | None]:
        """Metrics that exist only over a group of stored records (a correlation over a dataset,
        pass@k over a problem's answers). The summary calls it for every task x genre group; a
        metric returned here replaces the per-sample mean of the same name."""
        return {}

    @property
    def available(self) -> bool:
        """Whether this scorer can score now. A judge without a judge model cannot: a run stores
        its answers unscored, and a re-score keeps the scores already stored."""
        return True

    def incomplete(self, record: "SampleRecord") -> bool:
        """Whether a stored record's scoring is unfinished (a judge request failed); a re-run
        scores it again from the stored answers, without asking the model."""
        return False

    def failed(self, record: "SampleRecord") -> bool:
        """Whether an answered record could not be scored (a judge gave no rating). Such records count
        against the run's --max-error-rate like failed requests. A scorer whose own machinery failed
        (a sandbox that could not run the program) says why in `details["error"]`, which the summary
        counts in `error_rate`."""
        return False

    def plan(self, samples: Sequence[Sample], run_dir: "Path") -> str | None:
        """A line for the person watching before scoring these samples of the run in `run_dir` starts
        (a judge's call count)."""
        return None


@dataclass(frozen=True)
class JudgeModel:
    """The judge model a run grades with: `--judge`, behind the run's cache, retries and rate limit."""

    name: str  # BACKEND/MODEL, as given
    backend: "ManagedBackend"
    args: Mapping[str, Any] = field(default_factory=dict)  # --judge-args, checked by the judge


class Judge(Scorer):
    """A Scorer that asks a judge model. It receives the model when it is built (None: no --judge)."""

    def __init__(self, judge: JudgeModel | None) -> None:
        self.judge = judge

    @property
    def available(self) -> bool:
        return self.judge is not None

    @abstractmethod
    async def ascore(self, items: Sequence[tuple[Sample, list[str]]]) -> list[Score]: ...

    def score(self, items: Sequence[tuple[Sample, list[str]]]) -> list[Score]:
        """Synchronous scoring, for use outside an event loop (the runner awaits `ascore`)."""
        return asyncio.run(self.ascore(items))


@dataclass(frozen=True)
class TaskData:
    """What loading a task returns: its samples, and where they came from (a content hash), for run.json.

    `notes`: where this run's data departs from the protocol the task reproduces (a split the data
    folder cannot give, a dataset left out), said under every summary table of the run."""

    samples: tuple[Sample, ...]
    fingerprint: Mapping[str, Any]
    notes: tuple[str, ...] = ()


class Task(ABC):
    """Where samples come from, how prompts are built, and how answers are scored.

    Subclasses set `name`, `version` and `scorer` (usually in `__init__`, from the TaskOptions the
    family's `build` receives) and implement `load` and `build_request`.
    """

    name: str
    version: str
    scorer: Scorer
    runs_generated_code: ClassVar[bool] = False  # True: the run needs --allow-code-execution first
    request_kinds: ClassVar[frozenset[str]] = GENERATION_KINDS  # the Request kinds build_request makes

    @abstractmethod
    def load(self) -> TaskData:
        """Read the data; raise EvalkitError with the file and what is wrong when it is bad."""

    @abstractmethod
    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        """The request for turn len(history), given the model's answers to the earlier turns."""

    def build_requests(self, sample: Sample, history: Sequence[Reply]) -> Sequence[Request]:
        """Every request of turn len(history), answered together: by default the one `build_request` makes.
        A task that asks several questions of one item (a log-likelihood per choice) returns them all;
        its scorer receives their replies in this order."""
        return (self.build_request(sample, history),)  # type: ignore[arg-type]

    def limit(self, samples: Sequence[Sample], n: int) -> list[Sample]:
        """`--limit n`: the first n samples. A collection of datasets limits each one (Jaster)."""
        return list(samples[:n])
