"""Scoring a bridged lm-eval document with lm-eval's own filters, `process_results` and aggregations.

Each document's replies become lm-eval Instances again (its request arguments travel with the
Sample), every filter ensemble of its task runs over them, and `process_results` gives the metrics
once per filter, named as lm-eval names them: `exact_match,strict-match`, `acc,none`.

- A metric whose per-document value is a number is a score (its mean is lm-eval's `mean`).
- Any other (BLEU's (reference, prediction) pairs, a rolling log-likelihood's (log p, words)) is
  kept in the record's details as lm-eval's item and aggregated by lm-eval's own function over the
  records of each summary row (`aggregate`). So is a numeric metric whose aggregation is not the mean.
- A group's `all` row combines its leaf tasks as its `aggregate_metric_list` says (weighted by size
  or not), as lm-eval reports the group.

Strict is the task's first metric under its first filter; lenient the same metric under the next
filter, when there is one (gsm8k: strict-match, flexible-extract). A generated reply whose first
filter found nothing (lm-eval's `[invalid]`) violates the format.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np  # lm-eval's metric values are numpy numbers; it depends on numpy

from evalkit.lmeval_io import strict_answer
from evalkit.roles import Scorer
from evalkit.types import Loglikelihood, Reply, Sample, Score

if TYPE_CHECKING:
    from evalkit.records import SampleRecord

    from .library import LoadedTasks
    from .task import LmEvalTask



class LmEvalScorer(Scorer):
    def __init__(self, task: "LmEvalTask") -> None:
        self.task = task
        self.metrics: tuple[str, ...] = ()
        self.lenient_metric: str | None = None
        self.item_metrics: set[str] = set()  # metric keys lm-eval aggregates by a function of its own
        self.loaded: LoadedTasks | None = None

    def prepare(self, loaded: "LoadedTasks") -> None:
        """The metric keys of the loaded tasks (in lm-eval's order), known before any answer comes."""
        from lm_eval.api.metrics import mean

        self.loaded = loaded
        keys: list[str] = []
        for lm_task in loaded.tasks.values():
            filters = [f.name for f in getattr(lm_task, "_filters", [])] or ["none"]
            aggregations = lm_task.aggregation()
            for filter_name in filters:
                for metric in aggregations:
                    key = f"{metric},{filter_name}"
                    if key not in keys:
                        keys.append(key)
                    if aggregations[metric] is not mean:
                        self.item_metrics.add(key)
        self.metrics = tuple(keys)
        if keys:
            strict, _, first_filter = keys[0].partition(",")
            self.lenient_metric = next((k for k in keys[1:] if k.partition(",")[0] == strict
                                        and k.partition(",")[2] != first_filter), None)

    # --- one document ----------------------------------------------------------------------------

    def score(self, items: Sequence[tuple[Sample, list[Reply]]]) -> list[Score]:
        return [self._score_guarded(sample, replies) for sample, replies in items]

    def _score_guarded(self, sample: Sample, replies: list[Reply]) -> Score:
        """A metric of lm-eval's that fails on one document is a scoring error of that document (counted in
        error_rate, shown), not the end of the run."""
        try:
            return self._score_one(sample, replies)
        except Exception as exc:
            return Score(value=None, answer=None, format_ok=None, metrics={key: None for key in self.metrics},
                         details={"lm_task": sample.metadata.get("task"), "doc_id": sample.metadata.get("doc_id"),
                                  "error": f"lm-eval could not score it: {type(exc).__name__}: {str(exc)[:300]}"})

    def _score_one(self, sample: Sample, replies: list[Reply]) -> Score:
        from lm_eval.api.instance import Instance

        assert self.loaded is not None, "the task is loaded before it is scored"
        meta = sample.metadata
        lm_task = self.loaded.tasks[meta["task"]]
        request_type, repeats = meta["request_type"], meta["repeats"]
        per_request = repeats if request_type == "generate_until" else 1
        instances = []
        for i, arguments in enumerate(meta["arguments"]):
            got = replies[i * per_request:(i + 1) * per_request]
            instance = Instance(request_type=request_type, doc=meta["doc"], arguments=tuple(arguments), idx=i,
                                metadata=(meta["task"], meta["doc_id"], repeats))
            instance.resps = [_lm_eval_response(request_type, reply) for reply in got]
            instances.append(instance)
        for ensemble in getattr(lm_task, "_filters", []):
            ensemble.apply(instances)
        scores: dict[str, float | None] = {key: None for key in self.metrics}
        items: dict[str, Any] = {}
        filtered: dict[str, Any] = {}
        for filter_name in instances[0].filtered_resps:
            results = [instance.filtered_resps[filter_name] for instance in instances]
            filtered[filter_name] = _jsonable(results if len(results) > 1 else results[0])
            for metric, value in lm_task.process_results(meta["doc"], results).items():
                key = f"{metric},{filter_name}"
                scores[key] = _number(value)
                if key in self.item_metrics or scores[key] is None:
                    items[key] = _jsonable(value)
        details: dict[str, Any] = {"lm_task": meta["task"], "doc_id": meta["doc_id"]}
        if request_type == "generate_until":  # a log-likelihood's filtered reply is the reply itself
            details["filtered_resps"] = filtered
        if items:
            details["items"] = items
        answer, format_ok = self._answer(lm_task, sample, replies, filtered)
        strict = scores.get(self.metrics[0]) if self.metrics else None
        return Score(value=strict, answer=answer, format_ok=format_ok, metrics=scores, details=details)

    def _answer(self, lm_task: Any, sample: Sample, replies: list[Reply],
                filtered: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        """What the model answered, as a person reads it: the first filter's answer of a generated reply
        (with whether it found one), or the multiple-choice choice with the highest log-likelihood."""
        meta = sample.metadata
        if meta["request_type"] == "generate_until":
            return strict_answer(next(iter(filtered.values()), None), "generate_until")
        if lm_task.get_config("output_type") != "multiple_choice" or not replies:
            return None, None
        # the choices' own requests; acc_mutual_info appends unconditional ones after them
        choices = len(lm_task.doc_to_choice(meta["doc"])) if not lm_task.multiple_input else len(replies)
        logprobs = [r.logprob if isinstance(r, Loglikelihood) else -math.inf for r in replies[:choices]]
        best = max(range(len(logprobs)), key=logprobs.__getitem__)
        continuation = meta["arguments"][best][1] if len(meta["arguments"][best]) > 1 else None
        return (None if continuation is None else str(continuation).strip()), None

    # --- over records ----------------------------------------------------------------------------

    def aggregate(self, records: Sequence["SampleRecord"]) -> Mapping[str, float | None]:
        """lm-eval's own figures for a row: item metrics by its aggregation functions, per leaf task; rows
        over several leaf tasks (a group's `all`) combined as the group's aggregate_metric_list says."""
        if not records or not self._definitions():
            return {}
        by_leaf: dict[str, list["SampleRecord"]] = defaultdict(list)
        for record in records:
            if record.answered and "lm_task" in record.details:
                by_leaf[record.details["lm_task"]].append(record)
        out: dict[str, float | None] = {}
        for key in self.metrics:
            per_leaf = {leaf: self._leaf_value(leaf, key, recs) for leaf, recs in by_leaf.items()}
            per_leaf = {leaf: v for leaf, v in per_leaf.items() if v is not None}
            if len(by_leaf) == 1:
                if key in self.item_metrics:
                    out[key] = next(iter(per_leaf.values()), None)
                continue
            combined = self._combine(key, per_leaf, {leaf: len(recs) for leaf, recs in by_leaf.items()})
            if combined is not None or key in self.item_metrics:
                out[key] = combined
        return out

    def _definitions(self) -> bool:
        """Whether lm-eval's task definitions are at hand: loaded with the task for a run, or read here when
        a stored run is summed up again (`show`, `compare`) without loading its documents."""
        if self.loaded is None:
            from evalkit.errors import EvalkitError

            from .library import load_tasks

            try:
                self.prepare(load_tasks(self.task.lm_name, self.task.include_path))
            except EvalkitError:
                return False
        return True

    def _leaf_value(self, leaf: str, key: str, records: Sequence["SampleRecord"]) -> float | None:
        metric = key.partition(",")[0]
        lm_task = self.loaded.tasks.get(leaf) if self.loaded else None
        if lm_task is None:
            return None
        if key in self.item_metrics:
            values = [r.details.get("items", {}).get(key) for r in records]
        else:
            values = [r.scores.get(key) for r in records]
        values = [v for v in values if v is not None]
        if not values:
            return None
        try:
            value = lm_task.aggregation()[metric](values)
        except Exception:  # an aggregation that cannot take what was stored: no figure rather than a wrong one
            return None
        return _number(value)

    def _combine(self, key: str, per_leaf: Mapping[str, float], sizes: Mapping[str, int]) -> float | None:
        """A group's figure from its leaf tasks' figures: lm-eval's aggregate_subtask_metrics."""
        group = self.loaded.group if self.loaded else None
        metric, _, filter_name = key.partition(",")
        config = next((c for c in (getattr(group, "aggregate_metric_list", None) or [])
                       if c.metric == metric and filter_name in (c.filter_list or ["none"])), None)
        if config is None or not per_leaf:
            return None
        weights = {leaf: (sizes[leaf] if config.weight_by_size else 1) for leaf in per_leaf}
        return sum(per_leaf[leaf] * weights[leaf] for leaf in per_leaf) / sum(weights.values())


def _lm_eval_response(request_type: str, reply: Reply) -> Any:
    """A reply in the shape lm-eval's filters and process_results take."""
    if isinstance(reply, Loglikelihood):
        return reply.logprob if request_type == "loglikelihood_rolling" else (reply.logprob, reply.greedy)
    return reply


def _number(value: Any) -> float | None:
    """A metric value as a float (numpy's scalars included), or None when it is not a number."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    return float(value) if isinstance(value, (bool, int, float)) else None


def _jsonable(value: Any) -> Any:
    """lm-eval's values (tuples, numpy numbers) as JSON values for the record."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
