"""RunManifest: run.json, typed. Written before the first request, updated as the run goes and when it ends.

Published as JSON Schema in evalkit/schemas/run-manifest.schema.json (generated from this model).
A run folder an older evalkit wrote (`evalkit-run/1`) is read through `upgrade_v1_manifest`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from evalkit.backends.managed import RequestStats
from evalkit.spec import RunSpec

RUN_FORMAT = "evalkit-run/2"
LEGACY_FORMATS = ("evalkit-run/1",)
Status = Literal["running", "completed", "failed", "interrupted"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class TaskInfo(BaseModel):
    """What run.json says of one task: its version, data fingerprint, metrics and parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    data: dict[str, Any] = Field(description="where the data came from and a content hash of it")
    samples: int = Field(description="samples in the run (after --limit)")
    metrics: list[str]
    strict_metric: str
    lenient_metric: str | None = None
    value_range: tuple[float, float] = Field(default=(0.0, 1.0), description="the range of the strict metric")
    params: dict[str, Any] = Field(default_factory=dict, description="every task parameter's value, defaults included")
    average_groups: list[str] | None = Field(
        default=None, description="the genre groups the `all` row averages (None: every group); see evalkit.summary")
    table_metrics: list[str | None] | None = Field(
        default=None, description="the metrics a summary table shows as strict and lenient, when not those above "
                                  "(HumanEval: pass@1 per problem)")
    notes: list[str] = Field(default_factory=list,
                             description="where the run's data departs from the protocol the task reproduces")


class SummaryRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    genre: str
    metric: str
    value: float | None
    n: int


class RunManifest(BaseModel):
    """run.json."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["evalkit-run/2"] = RUN_FORMAT
    evalkit_version: str
    git_sha: str | None = None
    created_at: str
    status: Status
    spec: RunSpec
    backend: dict[str, Any] = Field(description="where the answers came from (Backend.provenance: kind, library and "
                                                "its version, model, weights fingerprint); never a secret")
    tasks: dict[str, TaskInfo]
    resumed_at: str | None = None
    finished_at: str | None = None
    rescored_at: str | None = None
    timings: dict[str, float] | None = None
    requests: RequestStats | None = None
    judge_requests: RequestStats | None = None
    judge_backend: dict[str, Any] | None = Field(default=None, description="where the judge's gradings came from "
                                                 "(Backend.provenance of --judge); None without a judge")
    summary: list[SummaryRow] | None = None
    origin: dict[str, Any] | None = Field(default=None, description="where an imported run came from")
    upgraded_from: str | None = Field(default=None, description="the format an older evalkit wrote, when upgraded")


# --- evalkit-run/1 --------------------------------------------------------------------------------

_V1_TASK_PARAMS = {"jaster_dir": ("jaster",), "baseline": ("mt_bench", "mt_bench_ja")}  # v1 core field -> families


def upgrade_v1_manifest(data: Mapping[str, Any]) -> dict[str, Any]:
    """An evalkit-run/1 run.json in today's shape. Version 1 kept two task settings in the core spec
    (`jaster_dir` for Jaster, `baseline` for MT-Bench) and Jaster's sample count in an environment
    variable, recorded only in the task's data fingerprint; they become task parameters."""
    manifest = dict(data)
    spec = dict(manifest.get("spec") or {})
    tasks = {name: dict(info) for name, info in (manifest.get("tasks") or {}).items()}
    task_params: dict[str, dict[str, Any]] = {}
    for field, families in _V1_TASK_PARAMS.items():
        value = spec.pop(field, None)
        for task in spec.get("tasks") or []:
            if value is not None and task.partition(":")[0] in families:
                task_params.setdefault(task, {})[field] = value
    for task, info in tasks.items():
        limit = (info.get("data") or {}).get("max_samples_per_dataset", 100) if task.partition(":")[0] == "jaster" else 100
        if limit != 100:
            task_params.setdefault(task, {})["max_samples"] = -1 if limit is None else limit
        info["params"] = task_params.get(task, {})
    spec["task_params"] = task_params
    manifest.update(format=RUN_FORMAT, spec=spec, tasks=tasks, upgraded_from=data.get("format"))
    if "import" in manifest:
        manifest["origin"] = manifest.pop("import")
    return manifest
