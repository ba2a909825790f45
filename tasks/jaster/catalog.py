"""The Jaster catalogue: each dataset's category, metrics, output budget, answer format and source, read from templates/datasets.yaml."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import yaml

from evalkit.errors import EvalkitError

ANSWER_KINDS = ("label", "choice", "number", "score", "text", "reading", "lines", "code")


@dataclass(frozen=True)
class AnswerFormat:
    """What a valid reply looks like, and what the lenient reading may accept instead."""

    kind: str
    labels: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    line_pattern: re.Pattern[str] | None = None
    range: tuple[float, float] | None = None


@dataclass(frozen=True)
class SourceFile:
    name: str
    url: str | None
    optional: bool = False


@dataclass(frozen=True)
class Source:
    """Where a dataset's original files live: a folder under --data-dir, and their published URLs."""

    folder: str
    version: str
    files: tuple[SourceFile, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)  # loader-specific: xml_url, subjects, hub, ...

    def file(self, name: str) -> SourceFile:
        for f in self.files:
            if f.name == name:
                return f
        return SourceFile(name, None, optional=False)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    category: str
    metrics: tuple[str, ...]
    output_length: int
    answer: AnswerFormat
    source: Source
    instruction: str
    language: str = "ja"

    @property
    def metric(self) -> str:
        """The default metric: the dataset's strict score."""
        return self.metrics[0]


@dataclass(frozen=True)
class Catalog:
    categories: tuple[str, ...]
    datasets: Mapping[str, DatasetSpec]
    average: tuple[str, ...] = ()  # the categories llm-jp-eval's AVG is the mean of

    def in_category(self, category: str) -> list[str]:
        return [name for name, spec in self.datasets.items() if spec.category == category]


def _answer(name: str, raw: Mapping[str, Any]) -> AnswerFormat:
    kind = raw.get("kind")
    if kind not in ANSWER_KINDS:
        raise EvalkitError(f"jaster catalogue: {name}: answer.kind {kind!r} is not one of {', '.join(ANSWER_KINDS)}")
    pattern = raw.get("line_pattern")
    bounds = raw.get("range")
    return AnswerFormat(
        kind=kind,
        labels=tuple(str(label) for label in raw.get("labels", ())),
        aliases={str(k): str(v) for k, v in (raw.get("aliases") or {}).items()},
        # replies are NFKC-normalised before they are checked, so the pattern is too: （ -> (, ２ -> 2
        line_pattern=re.compile(unicodedata.normalize("NFKC", pattern)) if pattern else None,
        range=(float(bounds[0]), float(bounds[1])) if bounds else None,
    )


def _source(raw: Mapping[str, Any]) -> Source:
    files = []
    for fname, value in (raw.get("files") or {}).items():
        if isinstance(value, Mapping):
            files.append(SourceFile(fname, value.get("url"), bool(value.get("optional", False))))
        else:
            files.append(SourceFile(fname, value))
    extra = {k: v for k, v in raw.items() if k not in ("folder", "version", "files")}
    return Source(folder=raw["folder"], version=str(raw["version"]), files=tuple(files), extra=extra)


def parse_catalog(text: str) -> Catalog:
    raw = yaml.safe_load(text)
    categories = tuple(raw["categories"])
    datasets = {}
    for name, entry in raw["datasets"].items():
        if entry["category"] not in categories:
            raise EvalkitError(f"jaster catalogue: {name}: unknown category {entry['category']!r}")
        datasets[name] = DatasetSpec(
            name=name,
            category=entry["category"],
            metrics=tuple(entry["metrics"]),
            output_length=int(entry["output_length"]),
            answer=_answer(name, entry["answer"]),
            source=_source(entry["source"]),
            instruction=entry["instruction"].strip(),
            language=entry.get("language", "ja"),
        )
    average = tuple(raw.get("average") or categories)
    unknown = [c for c in average if c not in categories]
    if unknown:
        raise EvalkitError(f"jaster catalogue: average names unknown categories {', '.join(unknown)}")
    return Catalog(categories, datasets, average)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    text = resources.files("evalkit.tasks.jaster").joinpath("templates/datasets.yaml").read_text(encoding="utf-8")
    return parse_catalog(text)


@lru_cache(maxsize=1)
def frames() -> Mapping[str, Any]:
    text = resources.files("evalkit.tasks.jaster").joinpath("templates/frames.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
