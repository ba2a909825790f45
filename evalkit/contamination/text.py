"""How text is normalised and cut into units before n-grams are taken, the same way for corpus and benchmark.

`normalize`: NFKC (full-width letters and digits become ASCII, half-width katakana full-width),
case folded, every character that is neither a letter, a digit nor a space (punctuation, symbols,
。、「」) turned into a space, runs of spaces collapsed. So "Ｔｈｅ answer, is 42!" and
"the answer is 42" are the same text.

Units (`units`): a run of Latin letters, digits or other non-CJK letters is one unit (a word);
each kanji, hiragana or katakana letter is a unit of its own; everything else separates units.
English is counted in words and Japanese, which has no spaces, in characters, in one pass, mixed
text included. The alternative for Japanese, MeCab words, was measured against characters on
planted Jaster items (bench/contamination_tokens.py, results in bench/results/): at the smallest
n that flags nothing in a clean corpus (20 characters, 10 MeCab words), characters found 105 of
120 verbatim copies (MeCab 108: items of 10 to 19 characters), 105 copies with changed spacing,
width and punctuation (MeCab 90: a space between two characters changes MeCab's words, not the
characters), 120 gold answers in another context (113) and 83 partial copies (78), and scanned
three times as fast (4.2 s against 12.5 s), with no dictionary. So characters are the default;
`tokenizer="mecab"` is there to check that on your own data.

`lm-eval` is lm-evaluation-harness's decontamination normalisation (ASCII letters lower-cased,
string.punctuation deleted, whitespace-split words), for comparing verdicts with it.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Callable

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u31f0-\u31ff"
CJK_CHAR = f"(?=[^\\W_])[{CJK}]"  # a unit on its own (letters only: not ・ or ゛)
WORD_CHAR = f"[^\\W_{CJK}]"  # runs of these are words: letters and digits of every other script
_UNITS = re.compile(f"{CJK_CHAR}|{WORD_CHAR}+")
_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")
_LMEVAL = str.maketrans(string.ascii_lowercase + string.ascii_uppercase, string.ascii_lowercase * 2, string.punctuation)
_CJK_CHAR = re.compile(CJK_CHAR)


def normalize(text: str) -> str:
    text = fold(text)
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def units(text: str) -> list[str]:
    """The units of text: words, and single CJK characters. Characters that are neither are
    dropped, so normalising first only needs NFKC and case folding: units(normalize(t)) ==
    units(fold(t))."""
    return _UNITS.findall(text)


def fold(text: str) -> str:
    """NFKC and case folding: the part of `normalize` that changes units."""
    return unicodedata.normalize("NFKC", text).casefold()


def is_japanese(unit_list: list[str]) -> bool:
    """Whether most units are CJK characters: such text takes the Japanese n-gram size."""
    cjk = sum(1 for u in unit_list if len(u) == 1 and _CJK_CHAR.match(u))
    return cjk * 2 >= len(unit_list) and cjk > 0


@dataclass(frozen=True)
class Tokenizer:
    name: str
    split: Callable[[str], list[str]]  # raw text -> units


def _mecab_split() -> Callable[[str], list[str]]:
    """MeCab's words; when MeCab is missing or does not start, one line naming the module and the one install
    command (not MeCab's own message)."""
    import importlib

    from evalkit.errors import EvalkitError

    install = "pip install 'evalkit[jaster-mecab]'"
    modules = {}
    for name in ("MeCab", "ipadic"):
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            pass
    missing = [name for name in ("MeCab", "ipadic") if name not in modules]
    if missing:
        raise EvalkitError(f"tokenizer mecab needs MeCab (no module {', '.join(missing)}): {install}")
    try:
        tagger = modules["MeCab"].Tagger("-Owakati " + modules["ipadic"].MECAB_ARGS)
    except RuntimeError as exc:
        raise EvalkitError(f"tokenizer mecab needs MeCab (installed, but it failed to start: "
                           f"{type(exc).__name__}): {install}") from None

    def split(text: str) -> list[str]:
        return tagger.parse(normalize(text)).split()

    return split


def tokenizer(name: str) -> Tokenizer:
    if name == "units":
        return Tokenizer(name, lambda text: units(fold(text)))
    if name == "lm-eval":
        return Tokenizer(name, lambda text: text.translate(_LMEVAL).split())
    if name == "mecab":
        return Tokenizer(name, _mecab_split())
    from evalkit.errors import EvalkitError

    raise EvalkitError(f"unknown tokenizer {name!r}: units (default), mecab or lm-eval")
