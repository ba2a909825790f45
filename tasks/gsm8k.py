"""GSM8K and MGSM: grade-school math word problems, in English and Japanese.

Profiles:
- `gsm8k` (profile `lm-eval`): byte-identical prompts to lm-evaluation-harness 0.4.x's `gsm8k`
  task (5-shot "Question: ...\\nAnswer:" drawn from the train split by lm-eval's seeded sampler,
  the same stop sequences) scored by its `strict-match` and `flexible-extract` filters.
- `gsm8k:chat`: zero-shot chain of thought in one chat turn, with an explicit answer line.
- `mgsm_ja`, `mgsm_en`: the MGSM native chain-of-thought exemplars published with the dataset.

Every profile reports `strict_match` (the required format), `flexible_extract` (the answer read
leniently) and, through `format_ok`, the format-violation rate.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from evalkit.data import DataSplit, file_sha256, load_hub_split, local_file, read_jsonl, read_tsv, require_fields
from evalkit.errors import EvalkitError
from evalkit.registry import TaskFamily, TaskOptions
from evalkit.roles import Scorer, Task, TaskData
from evalkit.tasks.math_answers import (
    FLEXIBLE,
    GSM8K_STRICT,
    INVALID,
    exact_match,
    last_number,
    numbers_equal,
    regex_extract,
)
from evalkit.types import GenerationParams, Request, Sample, Score

GENRE = "math"
LMEVAL_STOP = ("Question:", "</s>", "<|im_end|>")  # lm-eval gsm8k.yaml `until`
LMEVAL_MAX_TOKENS = 256  # lm-eval's default max_gen_toks for API models
LMEVAL_SEED = 1234  # lm-eval sends seed=1234 with every API request


def _load_gsm8k_split(options: TaskOptions, split: str) -> DataSplit:
    if options.data_dir is None:
        data = load_hub_split("openai/gsm8k", "main", split)
    else:
        path = local_file(options.data_dir, "gsm8k", f"{split}.jsonl")
        data = DataSplit(read_jsonl(path), f"sha256:{file_sha256([path])}")
    require_fields(data.rows, ("question", "answer"), f"gsm8k/{split}")
    return data


class MathScorer(Scorer):
    """Strict and flexible extraction of one number per reply, compared with the target."""

    metrics = ("strict_match", "flexible_extract")
    strict_metric = "strict_match"
    lenient_metric = "flexible_extract"

    def __init__(
        self,
        strict: Callable[[str], str],
        flexible: Callable[[str], str],
        match: Callable[[str, str], float],
    ) -> None:
        self._strict, self._flexible, self._match = strict, flexible, match

    def score(self, items: Sequence[tuple[Sample, list[str]]]) -> list[Score]:
        scores = []
        for sample, outputs in items:
            reply = outputs[0] if outputs else ""
            target = sample.target or ""
            strict, flexible = self._strict(reply), self._flexible(reply)
            metrics = {"strict_match": self._match(strict, target), "flexible_extract": self._match(flexible, target)}
            scores.append(
                Score(
                    value=metrics["strict_match"],
                    answer=None if strict == INVALID else strict,
                    format_ok=strict != INVALID,
                    metrics=metrics,
                    details={"strict_match": strict, "flexible_extract": flexible},
                )
            )
        return scores


def _numeric_match(prediction: str, reference: str) -> float:
    return float(numbers_equal(prediction, reference))


# --- gsm8k, the lm-eval profile --------------------------------------------------------------


class GSM8KLmEval(Task):
    """lm-eval's gsm8k task, reproduced prompt for prompt."""

    version = "lm-eval-gsm8k-3.0"

    def __init__(self, options: TaskOptions) -> None:
        self.name = "gsm8k"
        self.options = options
        self.num_fewshot = 5 if options.num_fewshot is None else options.num_fewshot
        self.max_tokens = options.max_tokens or LMEVAL_MAX_TOKENS
        self.scorer = MathScorer(
            strict=lambda reply: regex_extract(reply, GSM8K_STRICT, 0),
            flexible=lambda reply: regex_extract(reply, FLEXIBLE, -1),
            match=exact_match,
        )

    def load(self) -> TaskData:
        test = _load_gsm8k_split(self.options, "test")
        train = _load_gsm8k_split(self.options, "train") if self.num_fewshot else DataSplit([], "")
        if self.num_fewshot > len(train.rows):
            raise EvalkitError(f"gsm8k: --num-fewshot {self.num_fewshot} exceeds the {len(train.rows)} train rows")
        # lm-eval draws each document's shots from one Random(1234) shared by all documents, in
        # document order, so the shots of document i depend only on i.
        rnd = random.Random(self.options.seed)
        indices = list(range(len(train.rows)))
        samples = []
        for i, row in enumerate(test.rows):
            picked = rnd.sample(indices, self.num_fewshot) if self.num_fewshot else []
            shots = tuple((train.rows[j]["question"], train.rows[j]["answer"]) for j in picked)
            samples.append(Sample(id=str(i), turns=(row["question"],), target=row["answer"], genre=GENRE,
                                  metadata={"fewshot": tuple(picked), "shots": shots}))
        return TaskData(tuple(samples), {"test": test.fingerprint, "train": train.fingerprint, "rows": len(samples)})

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        shots = "".join(f"Question: {question}\nAnswer: {answer}\n\n" for question, answer in sample.metadata["shots"])
        return Request(
            kind="completion",
            prompt=f"{shots}Question: {sample.turns[0]}\nAnswer:",
            params=GenerationParams(
                max_tokens=self.max_tokens, temperature=self.options.temperature or 0.0, stop=LMEVAL_STOP, seed=LMEVAL_SEED
            ),
        )


# --- gsm8k:chat --------------------------------------------------------------------------------

# Our own wording (no published template exists for this protocol).
CHAT_INSTRUCTION = (
    "Solve the following math word problem. Think step by step, then write the final answer "
    "on the last line in exactly this form:\nAnswer: <number>\n\nProblem: {question}"
)
_CHAT_STRICT = re.compile(r"Answer: ?(-?[0-9][0-9,]*(?:\.[0-9]+)?)")
_CHAT_LENIENT = re.compile(r"answer(?: is)?\s*[:：]?\s*\**\s*\$?\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)", re.IGNORECASE)


def chat_strict(reply: str) -> str:
    """The number on the reply's last non-empty line, when that line is exactly 'Answer: N'."""
    lines = [line.strip() for line in (reply or "").strip().splitlines() if line.strip()]
    match = _CHAT_STRICT.fullmatch(lines[-1]) if lines else None
    return match.group(1) if match else INVALID


def chat_lenient(reply: str) -> str:
    """The last 'answer ... N' anywhere, else the last number in the reply."""
    found = _CHAT_LENIENT.findall(reply or "")
    if found:
        return found[-1]
    return last_number(reply) or INVALID


class GSM8KChat(Task):
    version = "chat-1"

    def __init__(self, options: TaskOptions) -> None:
        self.name = "gsm8k:chat"
        self.options = options
        self.max_tokens = options.max_tokens or 512
        self.scorer = MathScorer(strict=chat_strict, flexible=chat_lenient, match=_numeric_match)

    def load(self) -> TaskData:
        test = _load_gsm8k_split(self.options, "test")
        samples = tuple(Sample(id=str(i), turns=(row["question"],), target=_final_answer(row["answer"]), genre=GENRE)
                        for i, row in enumerate(test.rows))
        return TaskData(samples, {"test": test.fingerprint, "rows": len(samples)})

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        return Request(
            kind="chat",
            messages=(("user", CHAT_INSTRUCTION.format(question=sample.turns[0])),),
            params=GenerationParams(
                max_tokens=self.max_tokens, temperature=self.options.temperature or 0.0, seed=self.options.seed
            ),
        )


def _final_answer(solution: str) -> str:
    return solution.rsplit("####", 1)[-1].strip().replace(",", "")


# --- MGSM --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MgsmLanguage:
    code: str
    question_prefix: str  # as in the published exemplars
    answer_prefix: str
    strict: re.Pattern[str]  # the exemplars' closing sentence
    stop: tuple[str, ...]


MGSM_LANGUAGES = {
    "ja": MgsmLanguage("ja", "問題：", "ステップごとの答え：", re.compile(r"答えは(\-?[0-9\.\,]+)です"), ("問題：", "\n\n")),
    "en": MgsmLanguage(
        "en", "Question: ", "Step-by-Step Answer:", re.compile(r"The answer is (\-?[0-9\.\,]+)"), ("Question:", "\n\n")
    ),
}


class MGSM(Task):
    """MGSM with the native chain-of-thought exemplars, all 8 by default (`--num-fewshot`)."""

    version = "native-cot-1"

    def __init__(self, language: MgsmLanguage, options: TaskOptions) -> None:
        self.name = f"mgsm_{language.code}"
        self.lang = language
        self.options = options
        self.num_fewshot = 8 if options.num_fewshot is None else options.num_fewshot
        self.max_tokens = options.max_tokens or 512
        self.scorer = MathScorer(
            strict=lambda reply: regex_extract(reply, language.strict, 0),
            flexible=lambda reply: regex_extract(reply, FLEXIBLE, -1),
            match=_numeric_match,
        )

    def load(self) -> TaskData:
        code = self.lang.code
        if self.options.data_dir is None:
            test = load_hub_split("juletxara/mgsm", code, "test")
            train = load_hub_split("juletxara/mgsm", code, "train")
            rows = [(r["question"], str(r["answer_number"])) for r in test.rows]
            shots = [(r["question"], r["answer"]) for r in train.rows]
            fingerprint = {"test": test.fingerprint, "exemplars": train.fingerprint}
        else:
            test_path = local_file(self.options.data_dir, "gsm8k", f"mgsm_{code}.tsv")
            shot_path = local_file(self.options.data_dir, "gsm8k", f"mgsm_exemplars_{code}.jsonl")
            rows = [(q, a) for q, a in read_tsv(test_path, columns=2)]
            exemplars = read_jsonl(shot_path)
            require_fields(exemplars, ("q", "a"), str(shot_path))
            shots = [(r["q"], r["a"]) for r in exemplars]
            fingerprint = {"test": f"sha256:{file_sha256([test_path])}", "exemplars": f"sha256:{file_sha256([shot_path])}"}
        if self.num_fewshot > len(shots):
            raise EvalkitError(f"{self.name}: --num-fewshot {self.num_fewshot} exceeds the {len(shots)} exemplars")
        prefix = "".join(f"{q}\n{a}\n\n" for q, a in shots[: self.num_fewshot])  # one string, shared by every sample
        samples = tuple(Sample(id=str(i), turns=(q,), target=a, genre=GENRE, metadata={"shots": prefix})
                        for i, (q, a) in enumerate(rows))
        return TaskData(samples, {**fingerprint, "rows": len(rows)})

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        prompt = f"{sample.metadata['shots']}{self.lang.question_prefix}{sample.turns[0]}\n{self.lang.answer_prefix}"
        return Request(
            kind="completion",
            prompt=prompt,
            params=GenerationParams(
                max_tokens=self.max_tokens,
                temperature=self.options.temperature or 0.0,
                stop=self.lang.stop,
                seed=self.options.seed,
            ),
        )


def _build_gsm8k(variant: str, options: TaskOptions):
    return GSM8KChat(options) if variant == "chat" else GSM8KLmEval(options)


gsm8k_family = TaskFamily(
    name="gsm8k",
    description="GSM8K grade-school math (1,319 test problems)",
    build=_build_gsm8k,
    variants={"": "lm-eval profile: 5-shot, strict-match / flexible-extract", "chat": "zero-shot CoT chat turn"},
)
mgsm_ja_family = TaskFamily(
    name="mgsm_ja",
    description="MGSM Japanese: 250 GSM8K problems, native CoT exemplars",
    build=lambda variant, options: MGSM(MGSM_LANGUAGES["ja"], options),
)
mgsm_en_family = TaskFamily(
    name="mgsm_en",
    description="MGSM English: the same 250 problems, CoT exemplars",
    build=lambda variant, options: MGSM(MGSM_LANGUAGES["en"], options),
)
