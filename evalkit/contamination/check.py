"""One contamination check from start to end: the tasks' items indexed, the corpus scanned, the verdicts written."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from evalkit.contamination.corpus import SHARD_BYTES, shards
from evalkit.contamination.index import BenchmarkIndex, Segment, segments_of_samples
from evalkit.contamination.report import SegmentVerdict, verdicts, write
from evalkit.contamination.scan import scan
from evalkit.contamination.text import tokenizer
from evalkit.errors import EvalkitError

# N-gram sizes per tokenizer and language. English: lm-evaluation-harness's 13 words. Japanese: the
# smallest n that flagged nothing in a clean corpus of real text (bench/results/contamination_tokens.md).
# lm-eval's normalisation has no Japanese: every segment is English to it.
DEFAULT_SIZES = {"units": {"en": 13, "ja": 20}, "mecab": {"en": 13, "ja": 10}, "lm-eval": {"en": 13, "ja": 13}}


@dataclass(frozen=True)
class CheckSettings:
    tasks: Sequence[str]
    corpora: Sequence[str]
    tokenizer: str = "units"
    ngram: int | None = None  # English (word) n; None: the tokenizer's default
    ngram_ja: int | None = None  # Japanese n; None: the tokenizer's default
    threshold: float = 0.0  # share of a segment's n-grams that must be seen; 0: any one
    text_field: str = "text"
    workers: int | None = None
    engine: str = "processes"
    data_dir: Path | None = None
    task_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    limit: int | None = None
    shard_bytes: int = SHARD_BYTES

    def sizes(self) -> dict[str, int]:
        if self.tokenizer not in DEFAULT_SIZES:
            tokenizer(self.tokenizer)  # the one-line error naming the choices
        default = DEFAULT_SIZES[self.tokenizer]
        return {"en": self.ngram or default["en"], "ja": self.ngram_ja or default["ja"]}


def task_segments(settings: CheckSettings) -> list[Segment]:
    """Every item of the tasks, as input and answer segments (the same samples `evalkit run` would ask)."""
    from evalkit.plan import prepare_tasks
    from evalkit.spec import RunSpec

    # No few-shot frame: the items are the same without it, and its rows need not be there.
    spec = RunSpec(tasks=list(settings.tasks), model="contamination/none", num_fewshot=0,
                   data_dir=str(settings.data_dir) if settings.data_dir else None, limit=settings.limit,
                   task_params={k: dict(v) for k, v in settings.task_params.items()})
    out: list[Segment] = []
    for prepared in prepare_tasks(spec, scoring=False):
        out += segments_of_samples(prepared.task.name, prepared.samples)
    return out


def check(settings: CheckSettings, segments: Sequence[Segment], output: Path | None = None,
          progress: Callable[[int, int, int], None] | None = None) -> tuple[BenchmarkIndex, list[SegmentVerdict], dict]:
    """Index `segments`, scan the corpora, and (given `output`) write the report folder."""
    if not 0.0 <= settings.threshold <= 1.0:
        raise EvalkitError(f"--threshold {settings.threshold}: give a share between 0 and 1")
    started = time.perf_counter()
    index = BenchmarkIndex.build(segments, tokenizer(settings.tokenizer), settings.sizes())
    corpus = shards(settings.corpora, settings.text_field, settings.shard_bytes)
    hits = scan(index, corpus, settings.workers, settings.engine, progress)
    found = verdicts(index, hits)
    about = {
        "tasks": list(settings.tasks), "corpora": list(settings.corpora), "tokenizer": settings.tokenizer,
        "ngram": index.sizes, "threshold": settings.threshold, "text_field": settings.text_field,
        "task_params": {k: dict(v) for k, v in settings.task_params.items()}, "limit": settings.limit,
        "shards": len(corpus), "bytes": hits.bytes_read, "documents": hits.documents,
        "seconds": round(time.perf_counter() - started, 3), "engine": settings.engine,
    }
    if output is not None:
        write(output, found, settings.threshold, about)
    return index, found, about
