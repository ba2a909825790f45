"""Jaster, the llm-jp-eval dataset collection, as one task family: a dataset or a category is a variant.

Task names:
- `jaster`: every dataset present (in --data-dir, or all of them online), in the completion profile;
- `jaster:NLI` (a category) or `jaster:jnli` (a dataset);
- any of them with `:chat` appended (`jaster:chat`, `jaster:jnli:chat`): few-shot examples as chat
  turns instead of the Alpaca-style completion frame, as `gsm8k:chat` is to `gsm8k`.

The prompts are llm-jp-eval 1.3.0's, its texts read from its published files (protocol.py).

Task parameters (`-T key=value`, recorded in run.json and checked on resume; `evalkit tasks jaster`):
- prompts: `llm-jp-eval-1.3.0` (default) or `evalkit` (evalkit's own wording, templates/);
- max_samples: test samples per dataset (default 100, llm-jp-eval's; -1 for all);
- jaster_dir: read llm-jp-eval's preprocessed evaluation/ files instead of the originals;
- protocol_dir: where llm-jp-eval's prompt_frame.json and evaluation/test files are (protocol.py);
- metrics: another default metric per dataset, e.g. `alt-e-to-j=comet_wmt22` (a scoring parameter:
  `evalkit score RUN -T metrics=...` re-scores with it).
EVALKIT_JASTER_CACHE (a path) is where published files are downloaded to when no --data-dir is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping

from evalkit.registry import TaskFamily, TaskOptions
from evalkit.tasks.jaster.catalog import catalog
from evalkit.tasks.jaster.sources import DatasetFiles
from evalkit.tasks.jaster.task import PARAMS, JasterTask, parse_variant


class JasterVariants(Mapping[str, str]):
    """The variants `evalkit tasks` lists (all, each category, each dataset, chat); any of them + ':chat' is valid too."""

    def _listed(self) -> dict[str, str]:
        cat = catalog()
        listed = {"": "every dataset present", "chat": "every dataset present, few-shots as chat turns"}
        for category in cat.categories:
            members = cat.in_category(category)
            listed[category] = f"category: {', '.join(members)}"
        for name, spec in cat.datasets.items():
            listed[name] = f"{spec.category}, {spec.metric}, {spec.output_length} tokens"
        return listed

    def __getitem__(self, key: str) -> str:
        listed = self._listed()
        if key in listed:
            return listed[key]
        base = key.removesuffix(":chat")
        if key.endswith(":chat") and base in listed and base not in ("", "chat"):
            return f"{listed[base]} (chat)"
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._listed())

    def __len__(self) -> int:
        return len(self._listed())


def overview(data: Path | None) -> tuple[str, str]:
    """`evalkit tasks`' row: the variants folded, and how many datasets the data folder holds (a look
    at folders: loading them to count samples takes seconds, which `evalkit tasks jaster` spends)."""
    cat = catalog()
    names = f"jaster, jaster:chat + {len(cat.categories)} categories, {len(cat.datasets)} datasets (each also :chat)"
    if data is None:
        return names, "–"
    present = sum(DatasetFiles(name, spec.source, data).present() for name, spec in cat.datasets.items())
    return names, f"{present} of {len(cat.datasets)} datasets"


def build_jaster(variant: str, options: TaskOptions) -> JasterTask:
    name = f"jaster:{variant}" if variant else "jaster"
    return JasterTask(name, parse_variant(variant), options)


jaster_family = TaskFamily(
    name="jaster",
    description="Jaster with llm-jp-eval 1.3.0's prompts and scores: strict, lenient and format violation per dataset and category",
    build=build_jaster,
    variants=JasterVariants(),
    params=PARAMS,
    overview=overview,
)
