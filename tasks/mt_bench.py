"""MT-Bench and Japanese MT-Bench: two-turn questions answered turn by turn, graded by an LLM judge.

- `mt_bench`: FastChat's 80 questions (8 categories x 10), its per-category temperatures and its
  1024-token answer budget (gen_model_answer / gen_api_answer defaults).
- `mt_bench_ja`: Japanese MT-Bench from Stability-AI/FastChat jp-stable, its default 60-question
  file (coding and math removed upstream); `mt_bench_ja:full` is all 80. The fork's sampling:
  its own per-category temperatures (the values in the `generate_params` of its published model
  answers), top_p 0.9 and 512 new tokens. Its repetition_penalty 1.1 is not sent: the OpenAI
  API has no such parameter.

The second turn is asked with the model's own first answer in context (the runner passes it as
`history`). No system prompt is sent: the server's chat template applies the model's own default,
where FastChat used the model's conversation template. `--temperature` and `--max-tokens`
override the tables; `--num-choices N` samples N answers per question. The seed is not pinned,
because every choice gets the same generation parameters and a server that honours a seed would
then return N identical answers; the request cache is what makes a run repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from evalkit.data import file_sha256, read_jsonl, require_fields
from evalkit.errors import EvalkitError
from evalkit.judges.mt_bench import MTBenchJudge
from evalkit.judges.prompts import NEED_REF_CATS, PromptSet, load_references
from evalkit.judges.sources import data_file
from evalkit.judges.tables import judge_tables
from evalkit.params import Param
from evalkit.registry import TaskFamily, TaskOptions
from evalkit.roles import Task, TaskData
from evalkit.types import GenerationParams, Request, Sample

# FastChat llm_judge common.py temperature_config (lm-sys/FastChat).
FASTCHAT_TEMPERATURES = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                         "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}
# Stability-AI/FastChat jp-stable, as recorded in its model answers' generate_params.
JA_TEMPERATURES = {"writing": 0.5, "roleplay": 0.5, "extraction": 0.2, "math": 0.1, "coding": 0.1,
                   "reasoning": 0.1, "stem": 0.2, "humanities": 0.2}
UNKNOWN_CATEGORY_TEMPERATURE = 0.7  # both forks' default for a category missing from the table


@dataclass(frozen=True)
class Edition:
    """One published question set with its generation settings and judge prompt files."""

    name: str
    benchmark: str  # folder in the data dir
    questions: str
    prompt_files: tuple[tuple[str, str], ...]  # (benchmark, file); the first file's prompts win
    references: tuple[str, str]
    temperatures: Mapping[str, float]
    max_tokens: int
    top_p: float | None
    version: str


MT_BENCH = Edition(
    name="mt_bench", benchmark="mt_bench", questions="question.jsonl",
    prompt_files=(("mt_bench", "judge_prompts.jsonl"),), references=("mt_bench", "reference_answer/gpt-4.jsonl"),
    temperatures=FASTCHAT_TEMPERATURES, max_tokens=1024, top_p=None, version="fastchat-0e6d3e4-1",
)
# Japanese first turns are graded with the Japanese prompts; the prompts the fork does not publish
# in Japanese (multi-turn, pairwise) come from FastChat's English file (see evalkit.judges.prompts).
_JA = dict(
    benchmark="ja_mt_bench", prompt_files=(("ja_mt_bench", "judge_ja_prompts.jsonl"), ("mt_bench", "judge_prompts.jsonl")),
    references=("ja_mt_bench", "reference_answer/gpt-4.jsonl"), temperatures=JA_TEMPERATURES, max_tokens=512,
    top_p=0.9, version="jp-stable-e37eb28-1",
)
MT_BENCH_JA = Edition(name="mt_bench_ja", questions="question.jsonl", **_JA)  # type: ignore[arg-type]
MT_BENCH_JA_FULL = Edition(name="mt_bench_ja:full", questions="question_full.jsonl", **_JA)  # type: ignore[arg-type]


PARAMS = (
    Param("baseline", "path", "a run folder of the same task to compare against pairwise, both orders (needs --judge)",
          scope="scoring"),
)


class MTBench(Task):
    """A two-turn chat task whose scorer is the MT-Bench judge."""

    def __init__(self, edition: Edition, options: TaskOptions) -> None:
        self.edition = edition
        self.name = edition.name
        self.version = edition.version
        self.options = options
        self.max_tokens = options.max_tokens or edition.max_tokens
        baseline = options.params.get("baseline")
        if baseline and options.judge is None:
            raise EvalkitError("-T baseline needs --judge: the judge model makes the pairwise comparison")
        self.scorer = MTBenchJudge(edition.name, options.judge, Path(baseline) if baseline else None)

    def load(self) -> TaskData:
        data_dir, bench = self.options.data_dir, self.edition.benchmark
        question_path = data_file(data_dir, bench, self.edition.questions)
        rows = read_jsonl(question_path)
        require_fields(rows, ("question_id", "category", "turns"), str(question_path))
        reference_path = data_file(data_dir, *self.edition.references)
        references = load_references(reference_path)
        prompts = PromptSet.load([data_file(data_dir, b, f) for b, f in self.edition.prompt_files])
        samples = []
        for row in rows:
            qid, category = str(row["question_id"]), str(row["category"])
            if not isinstance(row["turns"], list) or not row["turns"]:
                raise EvalkitError(f"{question_path}: question {qid} has no turns")
            reference = None
            if category in NEED_REF_CATS:
                if qid not in references:
                    raise EvalkitError(f"{reference_path}: no reference answer for {category} question {qid}")
                reference = references[qid]
            samples.append(Sample(id=qid, turns=tuple(row["turns"]), target=None, genre=category,
                                  metadata={"reference": reference, "judge_prompts": prompts}))
        return TaskData(tuple(samples), {
            "questions": f"sha256:{file_sha256([question_path])}",
            "references": f"sha256:{file_sha256([reference_path])}",
            "judge_prompts": prompts.describe(),
            "rows": len(samples),
        })

    def limit(self, samples: Sequence[Sample], n: int) -> list[Sample]:
        """`--limit n` spread over the categories: the first question of each, then the second, ...; a
        quick check then sees every category instead of n questions of the first one."""
        by_category: dict[str, list[Sample]] = {}
        for sample in samples:
            by_category.setdefault(sample.genre, []).append(sample)
        chosen: set[str] = set()
        for rank in range(max((len(v) for v in by_category.values()), default=0)):
            for members in by_category.values():
                if len(chosen) < n and rank < len(members):
                    chosen.add(members[rank].id)
        return [s for s in samples if s.id in chosen]

    def temperature(self, category: str) -> float:
        if self.options.temperature is not None:
            return self.options.temperature
        return self.edition.temperatures.get(category, UNKNOWN_CATEGORY_TEMPERATURE)

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        messages: list[tuple[str, str]] = []
        for question, answer in zip(sample.turns, history):
            messages += [("user", question), ("assistant", answer)]
        messages.append(("user", sample.turns[len(history)]))
        return Request(
            kind="chat",
            messages=tuple(messages),
            params=GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature(sample.genre),
                                    top_p=self.edition.top_p),
        )


mt_bench_family = TaskFamily(
    name="mt_bench",
    description="MT-Bench: 80 two-turn questions in 8 categories, graded by an LLM judge (--judge)",
    build=lambda variant, options: MTBench(MT_BENCH, options),
    params=PARAMS,
    uses_judge=True,
    tables=judge_tables,
)
mt_bench_ja_family = TaskFamily(
    name="mt_bench_ja",
    description="Japanese MT-Bench (Stability-AI jp-stable), graded by an LLM judge (--judge)",
    build=lambda variant, options: MTBench(MT_BENCH_JA_FULL if variant == "full" else MT_BENCH_JA, options),
    variants={"": "the default 60 questions (coding and math removed upstream)", "full": "all 80 questions"},
    params=PARAMS,
    uses_judge=True,
    tables=judge_tables,
)
