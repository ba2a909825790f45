"""Reading a judge's verdict: a 1-10 rating or a pairwise choice, from free text or a JSON reply.

The published prompts ask for `[[rating]]` (`[[評価]]` in the Japanese ones) and `[[A]]`/`[[B]]`/
`[[C]]`. FastChat reads the first `[[N]]`, else the first `[N]`, and keeps whatever number it finds.
We read the same forms, plus what real judges write instead (full-width digits and brackets, `【】`,
`[[rating: 8]]`, `[[8/10]]`, a JSON object), and differ on purpose in three ways:
- the LAST verdict wins: a judge that echoes the prompt's example ("評価：[[5]]") does so before
  its own verdict, never after it;
- a single-bracket number counts only after a rating word or at the very end of the reply, so
  that a citation like "see [1]" in the middle of an explanation is not read as a score;
- a rating outside 1-10 is no rating: it is asked again, then counted as a judge failure;
- given the prompt, a verdict inside a verbatim copy of it (the 20 characters before it and the
  verdict both in the prompt, whitespace aside) is an echo, not a verdict: small judges often
  repeat their instructions, example "Rating: [[5]]" included, and a judge quoting an answer that
  says "[[10]]" has not rated it 10;
- a reply that reproduces half or more of the instructions it was sent (`echoed_share` of the
  prompt's own text, JudgePrompt.instructions: the system prompt and the template without the
  question, answers and reference; its 30-character pieces found in the reply, NFKC forms and
  whitespace ignored) is an echo as a whole: whatever verdict it holds, the judge has not judged.
  Judges quote the answer or the reference they grade (GPT-4 copies a whole reference program as
  its "corrected answer"), so those parts are not counted; none of the 564 GPT-4 judgments of
  Japanese MT-Bench reproduces a single piece of its instructions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Iterable, Literal

Verdict = Literal["A", "B", "tie"]
Outcome = Literal["win", "loss", "tie"]

MIN_RATING, MAX_RATING = 1.0, 10.0
ECHO_CONTEXT = 20  # characters before a verdict that, found verbatim in the prompt, make it an echo
ECHO_PIECE = 30  # the prompt is cut into pieces this long to see how much of it a reply reproduces
ECHO_SHARE = 0.5  # a reply reproducing this share of its prompt's pieces is an echo, not a judgment

_NUMBER = r"(\d+(?:\.\d+)?)"
_OUT_OF_TEN = r"(?:\s*/\s*10)?"
_RATING_WORD = r"(?:rating|score|評価|点数|得点|スコア)"
_DOUBLE = re.compile(r"\[\[\s*(?:" + _RATING_WORD + r"\s*[:=]?\s*)?" + _NUMBER + _OUT_OF_TEN + r"\s*\]\]", re.I)
_SINGLE_AFTER_WORD = re.compile(_RATING_WORD + r"\s*[:=]?\s*\[\s*" + _NUMBER + _OUT_OF_TEN + r"\s*\]", re.I)
_SINGLE_AT_END = re.compile(r"\[\s*" + _NUMBER + _OUT_OF_TEN + r"\s*\]\W*$")
_PAIR = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
# Brackets NFKC leaves alone but Japanese judges use for the verdict.
_BRACKETS = str.maketrans({"【": "[", "】": "]", "〔": "[", "〕": "]", "〚": "[", "〛": "]"})


def normalize(text: str) -> str:
    """Full-width digits, brackets and colons to ASCII (NFKC), and the other bracket shapes to []."""
    return unicodedata.normalize("NFKC", text).translate(_BRACKETS)


def _json_object(text: str) -> dict | None:
    stripped = _FENCE.sub("", text.strip())
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _in_range(value: float) -> float | None:
    return value if MIN_RATING <= value <= MAX_RATING else None


def squeeze(text: str) -> str:
    """NFKC forms and one space for any run of whitespace: how an echo is compared with its source."""
    return " ".join(normalize(text).split())


def echoed_share(reply: str | None, prompt: str | None) -> float:
    """The share of `prompt` (a judge prompt's instructions) a reply reproduces: of its consecutive
    30-character pieces (whitespace squeezed), how many appear in the reply. 0.0 for a text shorter
    than three pieces."""
    if not reply or not prompt:
        return 0.0
    source, copy = squeeze(prompt), squeeze(reply)
    pieces = [source[i : i + ECHO_PIECE] for i in range(0, len(source) - ECHO_PIECE + 1, ECHO_PIECE)]
    if len(pieces) < 3:
        return 0.0
    return sum(piece in copy for piece in pieces) / len(pieces)


def is_echo(reply: str | None, prompt: str | None) -> bool:
    return echoed_share(reply, prompt) >= ECHO_SHARE


def _own(matches: Iterable[re.Match[str]], text: str, prompt: str | None) -> list[re.Match[str]]:
    """The verdicts that are the judge's own: not inside a copy of its prompt, whitespace aside (a judge
    repeating its instructions' example "Rating: [[5]]", or quoting an answer that says "[[10]]")."""
    if not prompt:
        return list(matches)
    source = squeeze(prompt)

    def echoed(m: re.Match[str]) -> bool:
        verdict = squeeze(m.group(0))
        before = squeeze(text[max(0, m.start() - 4 * ECHO_CONTEXT) : m.start()] + " ").rstrip()
        if len(before) < ECHO_CONTEXT:
            return False  # too little before it to tell: a plain verdict
        gap = " " if text[m.start() - 1 : m.start()].isspace() else ""
        return before[-ECHO_CONTEXT:] + gap + verdict in source

    return [m for m in matches if not echoed(m)]


def parse_rating(reply: str | None, prompt: str | None = None) -> float | None:
    """The 1-10 rating in a judge's reply, or None when there is none (or it is out of range).
    With the `prompt` the judge was sent, a rating that only repeats the prompt does not count."""
    if not reply or not reply.strip():
        return None
    text = normalize(reply)
    obj = _json_object(text)
    if obj is not None and "rating" in obj:
        try:
            return _in_range(float(obj["rating"]))
        except (TypeError, ValueError):
            pass  # a JSON reply whose rating is not a number: read the text as free text below
    found = (_own(_DOUBLE.finditer(text), text, prompt) or _own(_SINGLE_AFTER_WORD.finditer(text), text, prompt)
             or _own(_SINGLE_AT_END.finditer(text.rstrip()), text, prompt))
    return _in_range(float(found[-1].group(1))) if found else None


def parse_pair_verdict(reply: str | None, prompt: str | None = None) -> Verdict | None:
    """'A', 'B' or 'tie' ([[C]]) from a pairwise judge's reply; None when it gave no verdict.
    With the `prompt`, a verdict that only repeats the prompt's own "[[A]]" does not count."""
    if not reply:
        return None
    text = normalize(reply)
    obj = _json_object(text)
    if obj is not None and str(obj.get("verdict", "")).strip().upper() in ("A", "B", "C"):
        letter = str(obj["verdict"]).strip().upper()
    else:
        found = _own(_PAIR.finditer(text), text, prompt)
        if not found:
            return None
        letter = found[-1].group(1)
    return "tie" if letter == "C" else letter  # type: ignore[return-value]


def pair_outcome(model_first: Verdict | None, baseline_first: Verdict | None) -> Outcome | None:
    """The model's result against the baseline from the two orders FastChat plays.

    `model_first` is the verdict with the model's answer shown as A, `baseline_first` with it
    shown as B. As in FastChat's show_result, a tie in the first game, or two games that disagree
    (the verdict flipped with the order), is a tie. None when either game has no verdict.
    """
    if model_first is None or baseline_first is None:
        return None
    first = {"A": "model", "B": "baseline", "tie": "tie"}[model_first]
    second = {"A": "baseline", "B": "model", "tie": "tie"}[baseline_first]
    if first == "tie" or first != second:
        return "tie"
    return "win" if first == "model" else "loss"


# Structured output: the judge may be asked for JSON instead of free text (`--judge-args json=true`).
RATING_SCHEMA = {
    "type": "object",
    "properties": {
        "explanation": {"type": "string"},
        # An enum, not minimum/maximum: grammar-constrained servers (llama.cpp) enforce enums only.
        "rating": {"type": "integer", "enum": list(range(1, 11))},
    },
    "required": ["explanation", "rating"],
}
PAIR_SCHEMA = {
    "type": "object",
    "properties": {"explanation": {"type": "string"}, "verdict": {"type": "string", "enum": ["A", "B", "C"]}},
    "required": ["explanation", "verdict"],
}


def response_formats(schema: dict) -> list[str]:
    """The wire shapes of a JSON-schema request, most standard first; a server that refuses one
    (HTTP 400/422) is asked with the next, and then without any (free text, [[rating]] parsing).
    OpenAI and vLLM take `json_schema`; llama-cpp-python's server takes `json_object` + `schema`."""
    shapes = [
        {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}},
        {"type": "json_object", "schema": schema},
    ]
    return [json.dumps(shape, sort_keys=True) for shape in shapes]
