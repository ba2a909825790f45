"""Loading one Jaster dataset, from its original files or from llm-jp-eval's preprocessed output, with what run.json records about it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster import loaders_archives, loaders_json, loaders_tabular, loaders_xml
from evalkit.tasks.jaster.catalog import DatasetSpec, catalog
from evalkit.tasks.jaster.examples import Example, Splits, check_labels
from evalkit.tasks.jaster.metrics import check_available
from evalkit.tasks.jaster.preprocessed import load_preprocessed
from evalkit.tasks.jaster.protocol import DatasetHead
from evalkit.tasks.jaster.sources import DatasetFiles
from evalkit.tasks.jaster.wiki import load_wiki

DEFAULT_MAX_SAMPLES = 100  # llm-jp-eval's max_num_samples
DEFAULT_NUM_FEWSHOT = 4

LOADERS: dict[str, Callable[[DatasetFiles], Splits]] = {
    "jamp": loaders_tabular.load_jamp,
    "janli": loaders_tabular.load_janli,
    "jnli": loaders_json.load_jnli,
    "jsem": loaders_xml.load_jsem,
    "jsick": loaders_tabular.load_jsick,
    "jemhopqa": loaders_json.load_jemhopqa,
    "niilc": loaders_xml.load_niilc,
    "aio": loaders_json.load_aio,
    "jsquad": loaders_json.load_jsquad,
    "jcommonsenseqa": loaders_json.load_jcommonsenseqa,
    "commonsensemoralja": loaders_tabular.load_commonsensemoralja,
    "kuci": loaders_json.load_kuci,
    "chabsa": loaders_archives.load_chabsa,
    "wiki_reading": load_wiki("wiki_reading"),
    "wiki_ner": load_wiki("wiki_ner"),
    "wiki_dependency": load_wiki("wiki_dependency"),
    "wiki_pas": load_wiki("wiki_pas"),
    "wiki_coreference": load_wiki("wiki_coreference"),
    "mawps": loaders_json.load_mawps,
    "mgsm": loaders_tabular.load_mgsm,
    "alt-e-to-j": loaders_archives.load_alt_e_to_j,
    "alt-j-to-e": loaders_archives.load_alt_j_to_e,
    "wikicorpus-e-to-j": loaders_archives.load_wikicorpus_e_to_j,
    "wikicorpus-j-to-e": loaders_archives.load_wikicorpus_j_to_e,
    "jmmlu": loaders_tabular.load_jmmlu,
    "mmlu_en": loaders_tabular.load_mmlu_en,
    "mbpp": loaders_json.load_mbpp,
    "xlsum_ja": loaders_json.load_xlsum_ja,
    "jsts": loaders_json.load_jsts,
    "jcola-in-domain": loaders_json.load_jcola_in_domain,
    "jcola-out-of-domain": loaders_json.load_jcola_out_of_domain,
}


def parse_metric_overrides(text: str | None) -> dict[str, str]:
    """`alt-e-to-j=comet_wmt22,xlsum_ja=bert_score` (-T metrics): another default (strict) metric per dataset."""
    overrides = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, metric = item.partition("=")
        if not sep or name.strip() not in catalog().datasets or not metric.strip():
            raise EvalkitError(f"-T metrics: {item!r} is not <dataset>=<metric> with a Jaster dataset name")
        overrides[name.strip()] = metric.strip()
    return overrides


def _with_metric(spec: DatasetSpec, metric: str | None) -> DatasetSpec:
    return spec if metric is None else replace(spec, metrics=(metric, *[m for m in spec.metrics if m != metric]))


def with_head(spec: DatasetSpec, head: DatasetHead | None) -> DatasetSpec:
    """The catalogue's spec with llm-jp-eval's instruction, output length, metrics and labels in place of evalkit's."""
    if head is None:
        return spec
    answer = spec.answer
    if head.labels and answer.kind in ("label", "choice"):
        answer = replace(answer, labels=head.labels)
    return replace(spec, instruction=head.instruction, output_length=head.output_length, metrics=head.metrics,
                   answer=answer)


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset ready to prompt: its (possibly overridden) spec, test examples, few-shots, and run.json facts."""

    spec: DatasetSpec
    test: list[Example]
    shots: list[Example]
    info: dict[str, Any]


def _take(splits: Splits, spec: DatasetSpec, limit: int | None, num_fewshot: int) -> tuple[list[Example], list[Example]]:
    if not splits.test:
        raise EvalkitError(f"jaster:{spec.name}: the test split is empty")
    if num_fewshot > len(splits.fewshot):
        raise EvalkitError(
            f"jaster:{spec.name}: --num-fewshot {num_fewshot} exceeds the {len(splits.fewshot)} examples of its "
            f"few-shot pool ({splits.fewshot_source})"
        )
    return splits.test[:limit] if limit is not None else list(splits.test), splits.fewshot[:num_fewshot]


def load_original(name: str, data_dir: Path | None, num_fewshot: int, limit: int | None,
                  metric: str | None = None, head: DatasetHead | None = None) -> LoadedDataset:
    """A dataset from its published files (the data folder, else downloads), preprocessed as llm-jp-eval does;
    `head` is llm-jp-eval's (None: evalkit's own wording); `metric` replaces the default metric."""
    spec = _with_metric(with_head(catalog().datasets[name], head), metric)
    check_available(spec.metric)
    files = DatasetFiles(name, spec.source, data_dir, max_test=limit, max_fewshot=num_fewshot)
    splits = LOADERS[name](files)
    if spec.answer.kind in ("label", "choice"):
        check_labels(splits.test + splits.fewshot, spec.answer.labels, f"jaster:{name} ({files.folder})")
    test, shots = _take(splits, spec, limit, num_fewshot)
    info = {
        "category": spec.category,
        "metric": spec.metric,
        "version": spec.source.version,
        "source": "data folder" if files.offline else "published files (downloaded)",
        "fingerprint": f"sha256:{files.fingerprint()}",
        "files": dict(files.read),
        "test_rows": len(splits.test),
        "test_prepared": len(test),  # before the run's --limit
        "fewshot": f"first {len(shots)} of {splits.fewshot_source}",
        "notes": list(splits.notes),
    }
    return LoadedDataset(spec, test, shots, info)


def load_from_preprocessed(name: str, evaluation_dir: Path, num_fewshot: int, limit: int | None,
                           metric: str | None = None, own_head: bool = True) -> LoadedDataset:
    """A dataset from llm-jp-eval's own evaluation/ files; with `own_head` (the llm-jp-eval profile) their
    instruction, output length and metrics are used, else evalkit's."""
    pre = load_preprocessed(evaluation_dir, name)
    spec = _with_metric(with_head(catalog().datasets[name], pre.head if own_head else None), metric)
    check_available(spec.metric)
    test, shots = _take(pre.splits, spec, limit, num_fewshot)
    info = {
        "category": spec.category,
        "metric": spec.metric,
        "version": f"llm-jp-eval preprocessed ({evaluation_dir})",
        "source": "llm-jp-eval evaluation files",
        "fingerprint": f"sha256:{pre.fingerprint}",
        "files": list(pre.files),
        "test_rows": len(pre.splits.test),
        "test_prepared": len(test),  # before the run's --limit
        "fewshot": f"first {len(shots)} of {pre.splits.fewshot_source}",
        "notes": [f"its file sets {', '.join(pre.later_keys)} (a later llm-jp-eval release's); evalkit builds prompts "
                  "and reads replies as 1.3.0 does"] if pre.later_keys else [],
    }
    return LoadedDataset(spec, test, shots, info)
