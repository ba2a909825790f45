"""A leaderboard profile: several tasks' numbers combined into one overall score, with weights from a small file.

```yaml
name: ja-leaderboard
components:
  - {task: jaster, metric: strict, weight: 1}          # Jaster AVG (genre `all`)
  - {task: mt_bench_ja, metric: score, weight: 1}      # MT-Bench, on its 1-10 scale: divided by 10
  - {task: gsm8k, genre: all, metric: flexible_extract, weight: 0.5, scale: 1.0}
```

Each component's value is multiplied by `scale` (default: 1 / the top of the task's value range,
so a 1-10 judge score counts as score/10, as the Nejumi and Swallow leaderboards do), and the
overall score is the weighted mean of the components the run has; the ones it lacks are named.
Without a file, every task of the run counts once with its strict metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from pydantic import BaseModel, ConfigDict, Field

from evalkit.summary import ALL
from evalkit.yaml_files import load_model

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.manifest import TaskInfo


class Component(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    genre: str = ALL
    metric: str | None = None  # None: the task's strict metric
    weight: float = Field(default=1.0, gt=0)
    scale: float | None = Field(default=None, gt=0)  # None: 1 / the top of the task's value range


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    components: list[Component] = Field(min_length=1)


@dataclass(frozen=True)
class Part:
    component: Component
    metric: str
    value: float | None  # as the summary has it
    scaled: float | None  # value x scale: what the overall score averages


@dataclass(frozen=True)
class Standing:
    profile: str
    overall: float | None
    parts: tuple[Part, ...]

    @property
    def missing(self) -> list[str]:
        return [f"{p.component.task}/{p.component.genre}/{p.metric}" for p in self.parts if p.scaled is None]


def default_profile(tasks: Mapping[str, "TaskInfo"]) -> Profile:
    return Profile(name="every task, strict", components=[Component(task=name) for name in tasks])


def load_profile(path: Path) -> Profile:
    """A profile file (YAML); a one-line error naming the file and what is wrong."""
    return load_model(path, Profile, "leaderboard profile")


def standing(profile: Profile, summary: "pd.DataFrame", tasks: Mapping[str, "TaskInfo"]) -> Standing:
    """The profile applied to one run's summary."""
    values = {(r.task, r.genre, r.metric): r.value for r in summary.itertuples(index=False)}
    parts = []
    for component in profile.components:
        info = tasks.get(component.task)
        metric = component.metric or (info.strict_metric if info else "?")
        value = values.get((component.task, component.genre, metric))
        value = None if value is None or value != value else float(value)
        scale = component.scale or (1.0 / info.value_range[1] if info else 1.0)
        parts.append(Part(component, metric, value, None if value is None else value * scale))
    present = [p for p in parts if p.scaled is not None]
    weight = sum(p.component.weight for p in present)
    overall = sum(p.scaled * p.component.weight for p in present) / weight if present else None  # type: ignore[operator]
    return Standing(profile.name, overall, tuple(parts))
