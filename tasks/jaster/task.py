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
from evalkit.tasks.jaster.preprocessed import available
from evalkit.tasks.jaster.prompts import DatasetPrompt, evalkit_frame, stop_sequences
from evalkit.tasks.jaster.protocol import EVALKIT_PROFILE, PROFILES, PROTOCOL, Protocol, find_evaluation, locate
from evalkit.tasks.jaster.scorer import JasterScorer, ScoringRule
from evalkit.tasks.jaster.sources import DatasetFiles
from evalkit.types import GenerationParams, Request, Sample

PARAMS = (
    Param("prompts", "str", f"whose frame and instructions: {PROTOCOL} (read from its published files) or "
          f"{EVALKIT_PROFILE} (evalkit's own wording)", default=PROTOCOL, choices=PROFILES),
    Param("max_samples", "int", "test samples per dataset (-1: all)", default=DEFAULT_MAX_SAMPLES),
    Param("jaster_dir", "path", "read llm-jp-eval's preprocessed evaluation/ files from this folder instead of the originals"),
    Param("protocol_dir", "path", f"folder with llm-jp-eval's prompt_frame.json and evaluation/test files "
          f"(default: DATA_DIR/jaster/{PROTOCOL})"),
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


def run_notes(loaded: dict[str, LoadedDataset], skipped: dict[str, str]) -> tuple[str, ...]:
    """The datasets' departures from llm-jp-eval (one line per distinct note, naming its datasets) and the
    datasets left out, for the summary table."""
    by_note: dict[str, list[str]] = {}
    for name, dataset in loaded.items():
        for note in dataset.info.get("notes", ()):
            by_note.setdefault(note, []).append(name)
    notes = [f"{', '.join(names)}: {note}" for note, names in by_note.items()]
    if skipped:
        notes.append(f"left out {', '.join(skipped)} (run.json's data.skipped says why)")
    return tuple(notes)


class JasterTask(Task):
    def __init__(self, name: str, selection: Selection, options: TaskOptions) -> None:
        self.name = name
        self.selection = selection
        self.options = options
        self.profile = options.params.get("prompts") or PROTOCOL
        # The protocol's name is in the version, so a run is never resumed under other prompts.
        self.version = f"jaster-2/{self.profile}"
        self.num_fewshot = DEFAULT_NUM_FEWSHOT if options.num_fewshot is None else options.num_fewshot
        max_samples = options.params.get("max_samples", DEFAULT_MAX_SAMPLES)
        self.max_samples: int | None = None if max_samples is not None and max_samples < 0 else max_samples
        jaster_dir = options.params.get("jaster_dir")
        self.jaster_dir = Path(jaster_dir) if jaster_dir else None
        protocol_dir = options.params.get("protocol_dir")
        self.protocol_dir = Path(protocol_dir) if protocol_dir else None
        self.metrics = parse_metric_overrides(options.params.get("metrics"))
        self.scorer = JasterScorer(average=catalog().average)

    def _protocol(self) -> Protocol | None:
        if self.profile != PROTOCOL:
            return None
        return locate(self.protocol_dir, self.jaster_dir, self.options.data_dir)

    # --- loading --------------------------------------------------------------------------------

    def load(self) -> TaskData:
        evaluation = find_evaluation(self.jaster_dir) if self.jaster_dir is not None else None
        candidates = list(self.selection.datasets)
        absent: list[str] = []
        if evaluation is not None:
            have = set(available(evaluation.evaluation))
            absent = [n for n in candidates if n not in have]
        elif self.options.data_dir is not None and not self.selection.single:
            cat = catalog()
            absent = [n for n in candidates if not DatasetFiles(n, cat.datasets[n].source, self.options.data_dir).present()]
        skipped: dict[str, str] = {}
        loaded: dict[str, LoadedDataset] = {}
        protocol = self._protocol() if len(absent) < len(candidates) else None
        for name in candidates:
            if name in absent:
                continue
            try:
                loaded[name] = self._load_dataset(name, protocol, evaluation.evaluation if evaluation else None)
            except EvalkitError as exc:
                if self.selection.single:
                    raise
                skipped[name] = str(exc)
                warn(f"{self.name}: skipped {name}: {exc}")
        if absent and not self.selection.single:
            where = evaluation.evaluation if evaluation else self.options.data_dir
            warn(f"{self.name}: {len(absent)} dataset(s) not in {where}: {', '.join(absent)}")
        if not loaded:
            raise EvalkitError(f"{self.name}: no dataset could be loaded ({len(skipped)} failed, {len(absent)} absent)"
                               + (f"; first failure: {next(iter(skipped.values()))}" if skipped else ""))
        samples: list[Sample] = []
        for name, dataset in loaded.items():
            spec = dataset.spec
            frame = protocol.frame if protocol is not None else evalkit_frame(spec.language)
            # Shared by every sample of the dataset: how its prompt is framed and how its answers are scored.
            shared = {"dataset": name, "category": spec.category,
                      "prompt": DatasetPrompt(frame, spec.instruction, tuple(dataset.shots), spec.language),
                      "rule": ScoringRule(spec.metric, spec.answer, spec.language),
                      "max_tokens": spec.output_length}
            for i, example in enumerate(dataset.test):
                metadata: dict[str, Any] = {**shared, "source_id": example.id}
                if "choices" in example.meta:
                    metadata["choices"] = list(example.meta["choices"])
                samples.append(Sample(id=f"{name}-{i}", turns=(example.input,), target=example.output,
                                      genre=f"{spec.category}/{name}", metadata=metadata))
        return TaskData(tuple(samples), fingerprint={
            "profile": "chat" if self.selection.chat else "completion",
            "prompts": protocol.info() if protocol is not None else {"name": EVALKIT_PROFILE},
            "jaster_dir": {"evaluation": str(evaluation.evaluation), "layout": evaluation.name} if evaluation else None,
            "num_fewshot": self.num_fewshot,
            "max_samples_per_dataset": self.max_samples,
            "datasets": {name: dataset.info for name, dataset in loaded.items()},
            "skipped": skipped,
            "absent": absent,
        }, notes=run_notes(loaded, skipped))

    def _load_dataset(self, name: str, protocol: Protocol | None, evaluation: Path | None) -> LoadedDataset:
        metric = self.metrics.get(name)
        if evaluation is not None:
            return load_from_preprocessed(name, evaluation, self.num_fewshot, self.max_samples, metric,
                                          own_head=protocol is not None)
        head = protocol.head(name) if protocol is not None else None
        return load_original(name, self.options.data_dir, self.num_fewshot, self.max_samples, metric, head)

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
