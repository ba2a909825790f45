"""From a RunSpec to what a run needs: its tasks built and loaded, the model's backend, the request machinery.

Everything here happens before a run folder is written, so bad input (an unknown task or task
parameter, missing data, a missing opt-in, an unreachable server) fails with one line and leaves
nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from evalkit.backends.base import Backend, BackendSettings, load_backend
from evalkit.backends.managed import ManagedBackend, RetryPolicy
from evalkit.cache import RequestCache
from evalkit.errors import EvalkitError
from evalkit.manifest import TaskInfo
from evalkit.params import parse_assignments, split_by_task
from evalkit.registry import TaskOptions, build_task, family_of, resolve_params
from evalkit.roles import JudgeModel, Task
from evalkit.spec import RunSpec
from evalkit.types import Sample


@dataclass(frozen=True)
class PreparedTask:
    """A task built for this run and its samples loaded (after --limit)."""

    task: Task
    samples: tuple[Sample, ...]
    fingerprint: Mapping[str, Any]
    params: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    def info(self) -> TaskInfo:
        """What run.json says of this task."""
        scorer = self.task.scorer
        return TaskInfo(version=self.task.version, data=dict(self.fingerprint), samples=len(self.samples),
                        metrics=list(scorer.metrics), strict_metric=scorer.strict_metric,
                        lenient_metric=scorer.lenient_metric, value_range=scorer.value_range, params=dict(self.params),
                        average_groups=list(scorer.average_groups) if scorer.average_groups is not None else None,
                        table_metrics=list(scorer.table_metrics) if scorer.table_metrics else None,
                        notes=list(self.notes))


def task_params_of(task_names: Sequence[str], assignments: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The `-T key=value` assignments of a command line, typed, for each task that declares the key."""
    given = parse_assignments(assignments)
    if not given:
        return {}
    return split_by_task(given, {name: family_of(name)[0].params for name in task_names})


def uses_judge(spec: RunSpec) -> bool:
    """Whether some task of the run is graded by an LLM judge."""
    return any(family_of(name)[0].uses_judge for name in spec.tasks)


def prepare_tasks(spec: RunSpec, judge: JudgeModel | None = None, scoring: bool = True) -> list[PreparedTask]:
    """Build every task and load its samples, so that bad input fails before anything is written.

    `scoring=False` when only the samples are read (dump, contamination), so that no code will run
    and no opt-in is asked for."""
    options = TaskOptions(
        data_dir=Path(spec.data_dir) if spec.data_dir else None, num_fewshot=spec.num_fewshot,
        max_tokens=spec.max_tokens, temperature=spec.temperature, seed=spec.seed, limit=spec.limit,
        allow_code_execution=spec.allow_code_execution, judge=judge,
    )
    tasks = [build_task(name, options, spec.task_params.get(name)) for name in spec.tasks]
    if scoring:
        require_code_execution_opt_in(spec, tasks)
    prepared = []
    for task in tasks:
        data = task.load()
        samples = data.samples if spec.limit is None else task.limit(data.samples, spec.limit)
        params = resolve_params(task.name, spec.task_params.get(task.name))
        prepared.append(PreparedTask(task, tuple(samples), data.fingerprint, params, data.notes))
    return prepared


def require_code_execution_opt_in(spec: RunSpec, tasks: Sequence[Task]) -> None:
    """Tasks that run model-generated code need the user's explicit opt-in, checked before any data
    is read, any request sent or any run folder written."""
    needing = [task.name for task in tasks if task.runs_generated_code]
    if needing and not spec.allow_code_execution:
        raise EvalkitError(
            f"{', '.join(needing)} {'runs' if len(needing) == 1 else 'run'} model-generated code (in evalkit's sandbox); "
            "opt in with --allow-code-execution or EVALKIT_ALLOW_CODE_EXECUTION=1"
        )


def load_model(spec: RunSpec) -> Backend:
    """The model's backend, as --model, --base-url and --model-args name it."""
    settings = BackendSettings(base_url=spec.base_url, request_timeout=spec.request_timeout, model_args=spec.model_args,
                               concurrency=spec.concurrency)
    return load_backend(spec.model, settings)


def managed(backend: Backend, cache: RequestCache | None, spec: RunSpec) -> ManagedBackend:
    """The run's request machinery around a backend; the model's and the judge's are built alike."""
    return ManagedBackend(
        backend,
        cache=cache,
        concurrency=spec.concurrency,
        retry=RetryPolicy(max_retries=spec.max_retries),
        max_requests_per_second=spec.max_requests_per_second,
    )
