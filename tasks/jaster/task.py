"""The Jaster task: one Task over a selection of datasets, each sample's genre `CATEGORY/dataset`.

Why one Task: `jaster` and `jaster:NLI` are single names in the registry, and the summary needs
dataset rows, category rows and the average over categories side by side. A genre of the form
`GROUP/name` is evalkit.summary's generic way to ask for group rows (the mean of the group's
genres) and an `all` row that is the mean of the groups: for Jaster, categories and AVG.

One bad dataset does not sink the others. A dataset named on its own (`jaster:jnli`) fails the run
before it starts, with the file and what is wrong. In a collection (`jaster`, `jaster:NLI`) it is
skipped with a warning line and recorded under `skipped` in run.json; datasets whose folder is not
in the data folder at all are listed under `absent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from evalkit.errors import EvalkitError
from evalkit.params import Param
from evalkit.registry import TaskOptions
from evalkit.roles import Task, TaskData
from evalkit.tasks.jaster.catalog import catalog
from evalkit.tasks.jaster.datasets import (
    DEFAULT_MAX_SAMPLES,
    DEFAULT_NUM_FEWSHOT,
    LoadedDataset,
    load_from_preprocessed,
    load_original,
    parse_metric_overrides,
)
from evalkit.tasks.jaster.preprocessed import available, evaluation_dir
from evalkit.tasks.jaster.prompts import DatasetPrompt, stop_sequences
from evalkit.tasks.jaster.scorer import JasterScorer, ScoringRule
from evalkit.tasks.jaster.sources import DatasetFiles
from evalkit.types import GenerationParams, Request, Sample

PARAMS = (
    Param("max_samples", "int", "test samples per dataset (-1: all)", default=DEFAULT_MAX_SAMPLES),
    Param("jaster_dir", "path", "read llm-jp-eval's preprocessed evaluation/ files from this folder instead of the originals"),
    Param("metrics", "str", "another default metric per dataset: alt-e-to-j=comet_wmt22,xlsum_ja=bert_score",
          scope="scoring"),
)

_warned: set[str] = set()


def warn(message: str) -> None:
    """One line on stderr, once per process (`evalkit tasks` builds several Jaster tasks)."""
    if message in _warned:
        return
    _warned.add(message)
    from rich.markup import escape

    from evalkit.console import console

    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


@dataclass(frozen=True)
class Selection:
    """Which datasets a task name asks for, and whether it named a single one."""

    datasets: tuple[str, ...]
    single: bool
    chat: bool


def parse_variant(variant: str) -> Selection:
    """'' / 'NLI' / 'jnli', each optionally followed by ':chat' ('chat' alone: every dataset, chat form)."""
    chat = variant == "chat" or variant.endswith(":chat")
    selection = "" if variant == "chat" else variant.removesuffix(":chat")
    cat = catalog()
    if selection == "":
        return Selection(tuple(cat.datasets), single=False, chat=chat)
    if selection in cat.categories:
        return Selection(tuple(cat.in_category(selection)), single=False, chat=chat)
    if selection in cat.datasets:
        return Selection((selection,), single=True, chat=chat)
    raise EvalkitError(f"jaster has no dataset or category {selection!r}")


class JasterTask(Task):
    version = "jaster-1"

    def __init__(self, name: str, selection: Selection, options: TaskOptions) -> None:
        self.name = name
        self.selection = selection
        self.options = options
        self.num_fewshot = DEFAULT_NUM_FEWSHOT if options.num_fewshot is None else options.num_fewshot
        max_samples = options.params.get("max_samples", DEFAULT_MAX_SAMPLES)
        self.max_samples: int | None = None if max_samples is not None and max_samples < 0 else max_samples
        jaster_dir = options.params.get("jaster_dir")
        self.evaluation_dir = evaluation_dir(Path(jaster_dir)) if jaster_dir else None
        self.metrics = parse_metric_overrides(options.params.get("metrics"))
        self.scorer = JasterScorer()

    # --- loading --------------------------------------------------------------------------------

    def load(self) -> TaskData:
        candidates = list(self.selection.datasets)
        absent: list[str] = []
        if self.evaluation_dir is not None:
            have = set(available(self.evaluation_dir))
            absent = [n for n in candidates if n not in have]
        elif self.options.data_dir is not None and not self.selection.single:
            cat = catalog()
            absent = [n for n in candidates if not DatasetFiles(n, cat.datasets[n].source, self.options.data_dir).present()]
        skipped: dict[str, str] = {}
        loaded: dict[str, LoadedDataset] = {}
        for name in candidates:
            if name in absent:
                continue
            try:
                loaded[name] = self._load_dataset(name)
            except EvalkitError as exc:
                if self.selection.single:
                    raise
                skipped[name] = str(exc)
                warn(f"{self.name}: skipped {name}: {exc}")
        if absent and not self.selection.single:
            warn(f"{self.name}: {len(absent)} dataset(s) not in {self.evaluation_dir or self.options.data_dir}: "
                 f"{', '.join(absent)}")
        if not loaded:
            raise EvalkitError(f"{self.name}: no dataset could be loaded ({len(skipped)} failed, {len(absent)} absent)"
                               + (f"; first failure: {next(iter(skipped.values()))}" if skipped else ""))
        samples: list[Sample] = []
        for name, dataset in loaded.items():
            spec = dataset.spec
            # Shared by every sample of the dataset: how its prompt is framed and how its answers are scored.
            shared = {"dataset": name, "category": spec.category,
                      "prompt": DatasetPrompt(spec.language, spec.instruction, tuple(dataset.shots)),
                      "rule": ScoringRule(spec.metric, spec.answer, spec.language),
                      "max_tokens": spec.output_length}
            for i, example in enumerate(dataset.test):
                metadata: dict[str, Any] = {**shared, "source_id": example.id}
                if "choices" in example.meta:
                    metadata["choices"] = list(example.meta["choices"])
                samples.append(Sample(id=f"{name}-{i}", turns=(example.input,), target=example.output,
                                      genre=f"{spec.category}/{name}", metadata=metadata))
        return TaskData(tuple(samples), {
            "profile": "chat" if self.selection.chat else "completion",
            "num_fewshot": self.num_fewshot,
            "max_samples_per_dataset": self.max_samples,
            "datasets": {name: dataset.info for name, dataset in loaded.items()},
            "skipped": skipped,
            "absent": absent,
        })

    def _load_dataset(self, name: str) -> LoadedDataset:
        metric = self.metrics.get(name)
        if self.evaluation_dir is not None:
            return load_from_preprocessed(name, self.evaluation_dir, self.num_fewshot, self.max_samples, metric)
        return load_original(name, self.options.data_dir, self.num_fewshot, self.max_samples, metric)

    # --- prompting ------------------------------------------------------------------------------

    def limit(self, samples: Sequence[Sample], n: int) -> list[Sample]:
        """`--limit n` means n per dataset, like llm-jp-eval's max_num_samples."""
        seen: dict[str, int] = {}
        kept = []
        for sample in samples:
            seen[sample.genre] = seen.get(sample.genre, 0) + 1
            if seen[sample.genre] <= n:
                kept.append(sample)
        return kept

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        prompt: DatasetPrompt = sample.metadata["prompt"]
        params = GenerationParams(
            max_tokens=self.options.max_tokens or sample.metadata["max_tokens"],
            temperature=0.0,
            stop=stop_sequences(),
            seed=self.options.seed,
        )
        if self.selection.chat:
            return Request(kind="chat", messages=prompt.chat(sample.turns[0]), params=params)
        return Request(kind="completion", prompt=prompt.completion(sample.turns[0]), params=params)
