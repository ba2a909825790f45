"""`lm_eval:<task or group>`: an lm-evaluation-harness task run through evalkit's runner.

lm-eval builds everything that makes its numbers: the documents, the few-shot contexts (seeded as
its `simple_evaluate` seeds them), the requests of each document, the filters and the metrics.
evalkit sends the requests through its own backends, cache, concurrency and resume, and stores a
record per document. One Sample is one lm-eval document; its requests are lm-eval's Instances:

- `generate_until`: one completion request (lm-eval's `until` as stop sequences, `max_gen_toks`);
- `loglikelihood` and `multiple_choice`: one log-likelihood request per (context, continuation),
  a choice each, answered together;
- `loglikelihood_rolling`: the document's log-likelihood as one request with an empty context,
  which a backend scores from its start-of-text token (lm-eval's rolling windows reduce to this
  whenever the text fits the model's context; a longer one fails on its own sample).

A group (`lm_eval:mmlu`) is one evalkit task whose genres are its leaf tasks, sample ids
`<leaf task>/<doc id>`, and whose `all` row is the group's aggregate as lm-eval computes it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from typing import Any, Sequence

from evalkit.errors import EvalkitError
from evalkit.registry import TaskOptions
from evalkit.roles import Task, TaskData
from evalkit.types import GenerationParams, Reply, Request, Sample

from .library import LoadedTasks, lm_eval_version, load_tasks
from .scorer import LmEvalScorer

PREFIX = "lm_eval:"
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's API models' default when a task's generation_kwargs name none
KINDS = {"generate_until": "completion", "loglikelihood": "loglikelihood",
         "multiple_choice": "loglikelihood", "loglikelihood_rolling": "loglikelihood"}


class LmEvalTask(Task):
    """One lm-eval task, group or tag; lm-eval is loaded in `load`, not when the task is built."""

    def __init__(self, lm_name: str, options: TaskOptions) -> None:
        self.lm_name = lm_name
        self.name = f"{PREFIX}{lm_name}"
        self.options = options
        self.include_path: str | None = options.params.get("include_path")
        self.version = f"lm-eval {lm_name}"
        self.request_kinds = frozenset({"completion", "loglikelihood"})  # narrowed to the task's own in `load`
        self.loaded: LoadedTasks | None = None
        self.scorer = LmEvalScorer(self)

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> TaskData:
        self.loaded = load_tasks(self.lm_name, self.include_path)
        samples: list[Sample] = []
        hashes: dict[str, str] = {}
        types: set[str] = set()
        for leaf, lm_task in self.loaded.tasks.items():
            output_type = lm_task.get_config("output_type")
            if output_type not in KINDS:
                raise EvalkitError(f"{self.name}: {leaf} has output type {output_type!r}, which the bridge does not run")
            if getattr(lm_task, "MULTIMODAL", False) or lm_task.get_config("doc_to_image"):
                raise EvalkitError(f"{self.name}: {leaf} is multimodal; evalkit's backends send text only")
            types.add(output_type)
            self._configure(lm_task)
            leaf_samples = self._build_samples(leaf, lm_task)
            hashes[leaf] = "sha256:" + hashlib.sha256(json.dumps(
                [s.metadata["arguments"] for s in leaf_samples], ensure_ascii=False, default=str).encode()).hexdigest()
            samples += leaf_samples
        self.request_kinds = frozenset(KINDS[t] for t in types)
        versions = {leaf: (t.get_config("metadata") or {}).get("version") for leaf, t in self.loaded.tasks.items()}
        # as `evalkit import lm-eval` names an imported task's version, so compare sets the two side by side
        self.version = f"lm-eval {self.lm_name} " + (
            str(next(iter(versions.values()))) if len(versions) == 1 else f"({len(versions)} tasks)")
        self.scorer.prepare(self.loaded)
        fingerprint: dict[str, Any] = {"lm_eval": lm_eval_version(), "kind": self.loaded.kind, "versions": versions,
                                       "requests": hashes}
        if self.include_path:
            fingerprint["include_path"] = self.include_path
        return TaskData(tuple(samples), fingerprint)

    def _configure(self, lm_task: Any) -> None:
        """What lm-eval's simple_evaluate sets on every task before building its requests."""
        default_shots = lm_task.get_config("num_fewshot")
        if self.options.num_fewshot is not None and default_shots != 0:  # a task that fixes 0 shots keeps them
            lm_task.set_config(key="num_fewshot", value=self.options.num_fewshot)
        elif default_shots is None:
            lm_task.set_config(key="num_fewshot", value=0)
        lm_task.set_fewshot_seed(seed=self.options.seed)  # evalkit's default seed is lm-eval's, 1234

    def _build_samples(self, leaf: str, lm_task: Any) -> list[Sample]:
        # lm-eval seeds Python's generator before building (some tasks shuffle their documents or
        # choices with it); the state is put back so the rest of evalkit is not affected.
        state = random.getstate()
        random.seed(0)
        try:
            lm_task.build_all_requests(limit=self.options.limit, rank=0, world_size=1)
        except Exception as exc:
            raise EvalkitError(f"{self.name}: lm-eval could not build the requests of {leaf}: "
                               f"{type(exc).__name__}: {str(exc)[:300]}") from None
        finally:
            random.setstate(state)
        by_doc: dict[int, list[Any]] = defaultdict(list)
        for instance in lm_task.instances:
            by_doc[instance.doc_id].append(instance)
        single = self.loaded is None or len(self.loaded.tasks) == 1
        # a genre is the task's alias where it has one (MMLU's `anatomy`); "/" would make it a genre group
        genre = str(lm_task.get_config("task_alias") or leaf).strip().replace("/", "-")
        samples = []
        for doc_id in sorted(by_doc):
            instances = sorted(by_doc[doc_id], key=lambda i: i.idx)
            first = instances[0]
            samples.append(Sample(
                id=str(doc_id) if single else f"{leaf}/{doc_id}",
                turns=(first.args[0] if first.args else "",),
                target=_target_text(lm_task, first.doc),
                genre=genre,
                metadata={"task": leaf, "doc_id": doc_id, "doc": first.doc, "request_type": first.request_type,
                          "arguments": [list(i.args) for i in instances], "repeats": first.repeats or 1},
            ))
        return samples

    def limit(self, samples: Sequence[Sample], n: int) -> list[Sample]:
        """`--limit n`: the first n documents of each leaf task, as lm-eval's --limit."""
        taken: dict[str, int] = defaultdict(int)
        out = []
        for sample in samples:
            if taken[sample.metadata["task"]] < n:
                taken[sample.metadata["task"]] += 1
                out.append(sample)
        return out

    # --- requests --------------------------------------------------------------------------------

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        return self.build_requests(sample, history)[0]

    def build_requests(self, sample: Sample, history: Sequence[Reply]) -> Sequence[Request]:
        kind = sample.metadata["request_type"]
        arguments = sample.metadata["arguments"]
        if kind == "generate_until":
            return [self._generation(context, gen_kwargs, copy)
                    for context, gen_kwargs, *_ in arguments for copy in range(sample.metadata["repeats"])]
        if kind == "loglikelihood_rolling":
            return [Request("loglikelihood", GenerationParams(), prompt="", continuation=args[0]) for args in arguments]
        return [Request("loglikelihood", GenerationParams(), prompt=context, continuation=continuation)
                for context, continuation, *_ in arguments]

    def _generation(self, context: str, gen_kwargs: dict[str, Any], copy: int) -> Request:
        until = gen_kwargs.get("until") or []
        temperature = self.options.temperature
        if temperature is None:
            temperature = float(gen_kwargs.get("temperature", 0.0)) if gen_kwargs.get("do_sample", True) else 0.0
        seed = self.options.seed + copy  # lm-eval's `repeats`: several answers, a seed each
        return Request("completion", GenerationParams(
            max_tokens=self.options.max_tokens or int(gen_kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS)),
            temperature=temperature, top_p=gen_kwargs.get("top_p"),
            stop=tuple([until] if isinstance(until, str) else until), seed=seed), prompt=context)


def _target_text(lm_task: Any, doc: dict[str, Any]) -> str | None:
    """The document's target as a person reads it: a multiple-choice index as its choice."""
    try:
        target = lm_task.doc_to_target(doc)
        if lm_task.get_config("output_type") == "multiple_choice" and isinstance(target, int):
            choices = lm_task.doc_to_choice(doc)
            if 0 <= target < len(choices):
                return str(choices[target])
        return None if target is None else str(target)
    except Exception:  # a target lm-eval itself cannot render: the records show none
        return None
