"""Judge prompts as published data: loading the prompt files and choosing the template for a category and turn.

Which template grades what follows FastChat's llm_judge: `single-v1` for a first turn,
`single-v1-multi-turn` for the second (the whole conversation shown, the second answer graded),
their `-math-` variants with the reference answer for the categories in NEED_REF_CATS, and
`pair-v2` / `pair-math-v1` (and `-multi-turn`) for pairwise comparison.

Japanese MT-Bench publishes only `single-v1` and `single-math-v1` in Japanese. Our decision: a
PromptSet layers the Japanese file over FastChat's English one, so Japanese first turns are graded
with the Japanese prompts, and second turns and pairwise comparisons with FastChat's English
prompts (the conversation itself stays Japanese). `PromptSet.fallbacks` names the borrowed ones
and they are recorded in run.json, so a reader of the results can see it.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from evalkit.data import read_jsonl, require_fields
from evalkit.errors import EvalkitError

NEED_REF_CATS = ("math", "reasoning", "coding")  # graded against a reference answer, as in FastChat
PROMPT_FIELDS = ("name", "type", "system_prompt", "prompt_template", "output_format")
Messages = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    type: str  # "single" or "pairwise"
    system_prompt: str
    prompt_template: str
    output_format: str  # "[[rating]]", "[[評価]]", "[[A]]"
    source: str  # the file it was read from

    def instructions(self) -> str:
        """The prompt's own text: the system prompt and the template without its fields (the question,
        the answers, the reference). What a judge that echoes its prompt reproduces; what a judge that
        quotes the answer it grades does not."""
        literals = [literal for literal, _, _, _ in string.Formatter().parse(self.prompt_template)]
        return f"{self.system_prompt}\n{''.join(literals)}"

    def render(self, fields: Mapping[str, str]) -> Messages:
        """System and user messages, the template filled exactly as FastChat fills it (str.format)."""
        try:
            user = self.prompt_template.format(**fields)
        except (KeyError, IndexError) as exc:
            raise EvalkitError(f"judge prompt {self.name!r} in {self.source} needs field {exc}") from None
        return (("system", self.system_prompt), ("user", user))


def load_prompt_file(path: Path) -> dict[str, JudgePrompt]:
    rows = read_jsonl(path)
    require_fields(rows, PROMPT_FIELDS, str(path))
    return {
        row["name"]: JudgePrompt(row["name"], row["type"], row["system_prompt"], row["prompt_template"],
                                 row["output_format"], f"{path.parent.name}/{path.name}")
        for row in rows
    }


@dataclass(frozen=True)
class PromptSet:
    """Prompts by name: the first file's win, later files fill in what it lacks."""

    prompts: Mapping[str, JudgePrompt]
    fallbacks: tuple[str, ...]  # names taken from a later (fallback) file
    fingerprint: str

    @classmethod
    def load(cls, paths: Sequence[Path]) -> "PromptSet":
        prompts: dict[str, JudgePrompt] = {}
        fallbacks: list[str] = []
        digest = hashlib.sha256()
        for index, path in enumerate(paths):
            digest.update(path.read_bytes())
            for name, prompt in load_prompt_file(path).items():
                if name not in prompts:
                    prompts[name] = prompt
                    if index > 0 and len(paths) > 1:
                        fallbacks.append(name)
        return cls(prompts, tuple(fallbacks), f"sha256:{digest.hexdigest()}")

    def get(self, name: str) -> JudgePrompt:
        if name not in self.prompts:
            raise EvalkitError(f"no judge prompt named {name!r} in {', '.join(sorted({p.source for p in self.prompts.values()}))}")
        return self.prompts[name]

    def describe(self) -> dict[str, object]:
        return {"fingerprint": self.fingerprint, "from": {n: p.source for n, p in sorted(self.prompts.items())},
                "fallbacks": list(self.fallbacks)}


def prompt_name(category: str, turn: int, pairwise: bool = False) -> str:
    """The FastChat judge prompt for a category and turn (1 or 2), single-answer or pairwise."""
    reference = category in NEED_REF_CATS
    if pairwise:
        base = "pair-math-v1" if reference else "pair-v2"
    else:
        base = "single-math-v1" if reference else "single-v1"
    return f"{base}-multi-turn" if turn == 2 else base


def single_fields(questions: Sequence[str], answers: Sequence[str], reference: Sequence[str] | None, turn: int) -> dict[str, str]:
    """Template fields for grading one answer at `turn` (turn 2 shows the whole conversation)."""
    if turn == 1:
        fields = {"question": questions[0], "answer": answers[0]}
    else:
        fields = {"question_1": questions[0], "question_2": questions[1], "answer_1": answers[0], "answer_2": answers[1]}
    return {**fields, **_reference_fields(reference, turn)}


def pair_fields(questions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str],
                reference: Sequence[str] | None, turn: int) -> dict[str, str]:
    """Template fields for comparing answer A with answer B at `turn`."""
    if turn == 1:
        fields = {"question": questions[0], "answer_a": answers_a[0], "answer_b": answers_b[0]}
    else:
        fields = {"question_1": questions[0], "question_2": questions[1], "answer_a_1": answers_a[0],
                  "answer_a_2": answers_a[1], "answer_b_1": answers_b[0], "answer_b_2": answers_b[1]}
    return {**fields, **_reference_fields(reference, turn)}


def _reference_fields(reference: Sequence[str] | None, turn: int) -> dict[str, str]:
    if not reference:
        return {}
    fields = {"ref_answer_1": reference[0]}
    if turn == 2 and len(reference) > 1:
        fields["ref_answer_2"] = reference[1]
    return fields


def load_references(path: Path) -> dict[str, tuple[str, ...]]:
    """question_id -> the reference answer's turns, from a FastChat answer file (choice 0)."""
    references = {}
    for row in read_jsonl(path):
        try:
            references[str(row["question_id"])] = tuple(row["choices"][0]["turns"])
        except (KeyError, IndexError, TypeError):
            raise EvalkitError(f"{path}: reference answer {json.dumps(row.get('question_id'))} is not in FastChat's answer format") from None
    return references
