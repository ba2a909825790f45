"""RunSpec: the validated, frozen description of a run, as the CLI received it and run.json keeps it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from evalkit import params
from evalkit.redact import redact_url

Scalar = str | int | float | bool

# The fields that decide a run's answers and scores; a run folder can only be resumed with the same.
RESUME_FIELDS = (
    "tasks", "model", "model_args", "base_url", "data_dir", "limit", "num_fewshot", "max_tokens", "temperature",
    "num_samples", "seed", "judge", "judge_base_url", "judge_args",
)


class RunSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: list[str] = Field(min_length=1)
    model: str
    # engine arguments: JSON values, so nested ones (vLLM's hf_overrides={...}) pass intact
    model_args: dict[str, JsonValue] = Field(default_factory=dict)
    base_url: str | None = None  # credentials stripped in run.json (see written)
    data_dir: str | None = None
    # -T values as given, typed, per task (only the tasks whose family declares the key); run.json's
    # `tasks` entries hold every parameter's value, defaults included.
    task_params: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    limit: int | None = Field(default=None, ge=1)
    num_fewshot: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    num_samples: int = Field(default=1, ge=1)  # answers sampled per sample (pass@k, MT-Bench choices)
    seed: int = 1234
    concurrency: int = Field(default=8, ge=1)
    max_retries: int = Field(default=5, ge=0)
    request_timeout: float = Field(default=600.0, gt=0)
    max_requests_per_second: float | None = Field(default=None, gt=0)
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    workers: int | None = Field(default=None, ge=1)  # scorers run at once (code execution, judging)
    allow_code_execution: bool = False  # the explicit opt-in to run generated code (HumanEval)
    judge: str | None = None  # BACKEND/MODEL of the LLM judge (MT-Bench)
    judge_base_url: str | None = None
    judge_args: dict[str, JsonValue] = Field(default_factory=dict)  # checked by the judge: max_tokens, retries, json

    def written(self) -> "RunSpec":
        """The spec as run.json keeps it: no credentials in either base URL."""
        return self.model_copy(update={
            "base_url": redact_url(self.base_url) if self.base_url else None,
            "judge_base_url": redact_url(self.judge_base_url) if self.judge_base_url else None,
        })

    def differences(self, other: "RunSpec") -> list[str]:
        """What `other` changes that a run folder cannot take: the fields that decide answers and
        scores, and each task parameter by name."""
        mine, theirs = self.written(), other.written()
        out = [name for name in RESUME_FIELDS if getattr(mine, name) != getattr(theirs, name)]
        out += [f"task parameter {change}" for change in params.changed(mine.task_params, theirs.task_params)]
        return out
