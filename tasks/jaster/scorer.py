"""The Jaster scorer: per sample, the dataset's default metric on the strict reading and on the lenient reading, and format_ok.

Each sample carries its dataset's ScoringRule (`metadata["rule"]`, one object shared by the
dataset's samples), so the scorer holds no state of its own. Scores are stored under the stable names `strict` (llm-jp-eval compatible) and `lenient`; `details`
says which metric they are and what each reading found. For a dataset-level metric (JSTS's
Pearson) a single sample has no score of its own (None): its details keep the numbers read from
the reply, and `aggregate` computes the metric over the dataset when the summary is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.catalog import AnswerFormat
from evalkit.tasks.jaster.extract import format_ok, lenient_answer
from evalkit.tasks.jaster.metrics import (
    DATASET_LEVEL,
    PER_SAMPLE,
    bert_score_f1,
    comet_wmt22,
    correlation,
    normalize,
    parse_float,
    strict_prediction,
)
from evalkit.records import SampleRecord
from evalkit.roles import Scorer
from evalkit.types import Sample, Score


@dataclass(frozen=True)
class ScoringRule:
    metric: str
    answer: AnswerFormat
    language: str = "ja"


class JasterScorer(Scorer):
    metrics = ("strict", "lenient")
    strict_metric = "strict"
    lenient_metric = "lenient"

    def __init__(self, average: Sequence[str] | None = None) -> None:
        # The categories AVG averages (llm-jp-eval's); None: every category present.
        self.average_groups = tuple(average) if average is not None else None

    def score(self, items: Sequence[tuple[Sample, list[str]]]) -> list[Score]:
        return [self._score_one(sample, outputs[-1] if outputs else "") for sample, outputs in items]

    def _score_one(self, sample: Sample, reply: str) -> Score:
        dataset = sample.metadata.get("dataset", "")
        rule: ScoringRule | None = sample.metadata.get("rule")
        if rule is None:
            raise EvalkitError(f"jaster: sample {sample.id} carries no scoring rule (it was not loaded by the jaster task)")
        gold = normalize(sample.target or "")
        strict = strict_prediction(reply)
        valid = format_ok(rule.answer, strict)
        # A valid strict answer is also what the lenient reading finds first; free text is always un-wrapped.
        lenient = strict if valid and rule.answer.kind in ("label", "choice", "number", "score") else lenient_answer(
            rule.answer, reply, sample.metadata)
        details: dict = {"dataset": dataset, "metric": rule.metric, "strict": strict, "lenient": lenient}
        if rule.metric in DATASET_LEVEL:
            details.update(strict_number=parse_float(strict), lenient_number=parse_float(lenient), gold_number=float(gold))
            metrics: dict[str, float | None] = {"strict": None, "lenient": None}
        else:
            measure = self._measure(rule, sample)
            metrics = {"strict": measure(strict, gold), "lenient": measure(lenient, gold)}
        return Score(value=metrics["strict"], answer=strict, format_ok=valid, metrics=metrics, details=details)

    @staticmethod
    def _measure(rule: ScoringRule, sample: Sample) -> Callable[[str, str], float]:
        if rule.metric == "comet_wmt22":
            return lambda prediction, gold: comet_wmt22(prediction, gold, source=sample.turns[0])
        if rule.metric == "bert_score":
            return lambda prediction, gold: bert_score_f1(prediction, gold, rule.language)
        return PER_SAMPLE[rule.metric]

    def aggregate(self, records: Sequence[SampleRecord]) -> dict[str, float | None]:
        """Dataset-level metrics over the records of one dataset (the summary calls this per genre)."""
        answered = [r for r in records if r.answered]
        scored = [r for r in answered if "gold_number" in r.details]
        datasets = {r.details["dataset"] for r in scored}
        if len(datasets) != 1 or len(scored) != len(answered):
            return {}  # several datasets (a category, all): their rows average the datasets' values
        metric = scored[0].details["metric"]
        gold = [r.details["gold_number"] for r in scored]
        return {
            "strict": correlation(metric, [r.details["strict_number"] for r in scored], gold),
            "lenient": correlation(metric, [r.details["lenient_number"] for r in scored], gold),
        }
