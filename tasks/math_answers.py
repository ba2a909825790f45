"""Answer extraction and matching for math word problems (GSM8K, MGSM).

The `lm-eval` profile reproduces lm-evaluation-harness 0.4.x exactly: a regex filter that falls
back to "[invalid]", then exact match after deleting the same ignore-regexes from both sides and
lower-casing. The chat profile adds a numeric comparison of its own.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

INVALID = "[invalid]"  # lm-eval's regex-filter fallback

# lm-eval gsm8k.yaml: filter "strict-match" (take the first) and "flexible-extract" (take the last).
GSM8K_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")

# lm-eval gsm8k.yaml metric_list: exact_match with these regexes_to_ignore, ignore_case.
_IGNORE = tuple(re.compile(p) for p in (",", r"\$", r"(?s).*#### ", r"\.$"))

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def regex_extract(text: str | None, pattern: re.Pattern[str], group_select: int = 0) -> str:
    """lm-eval's RegexFilter: the selected match (first non-empty group), stripped, else "[invalid]"."""
    if not isinstance(text, str):
        text = ""
    matches = pattern.findall(text)
    if not matches:
        return INVALID
    match = matches[group_select]
    if isinstance(match, tuple):
        groups = [g for g in match if g]
        if not groups:
            return INVALID
        match = groups[0]
    return match.strip()


def normalize_exact(text: str) -> str:
    for pattern in _IGNORE:
        text = pattern.sub("", text)
    return text.lower()


def exact_match(prediction: str, reference: str) -> float:
    """lm-eval's exact_match for gsm8k: 1.0 when both sides agree after normalisation."""
    return float(normalize_exact(prediction) == normalize_exact(reference))


def to_number(text: str | None) -> Decimal | None:
    """'1,234.50' / '$18' / '18.' -> Decimal; None when it is not a number."""
    if text is None:
        return None
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def numbers_equal(prediction: str | None, reference: str | None) -> bool:
    a, b = to_number(prediction), to_number(reference)
    return a is not None and b is not None and a == b


def last_number(text: str | None) -> str | None:
    """The last number in a reply: the lenient reading when the required format was not followed."""
    found = _NUMBER.findall(text or "")
    return found[-1].replace("$", "") if found else None
