"""The corpus side, fast: a whole chunk of documents cut into units and mapped to the index's ids in numpy.

`text.units(text.fold(doc))` cuts one document at a time with a regular expression and looks up
each unit in a dict: about 4 MB/s. `UnitCoder` does the same on a chunk of documents at once,
without a Python loop per character or unit:

- folding (NFKC, then case folding) maps each code point through a table (`fold_table`), which is
  exact whenever no character of the chunk can compose with its neighbour (combining marks,
  voiced-sound marks, Hangul vowel and final jamo); a chunk with one is folded by `text.fold`;
- the code points are classified by a table built from the same character classes as `text.units`
  (word letter, CJK letter, document boundary, other);
- every run of word letters is hashed with a polynomial hash from prefix sums, and CJK letters
  mapped through a code-point table.
 Words map to ids through their hashes, so a
(vanishingly rare) 64-bit collision could make a window look like a benchmark n-gram; `scan`
therefore confirms every hit on the exact units of its document, and no verdict rests on a hash.
`tests/test_contamination_text.py` checks that both cut every text, hostile ones included, the same.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from evalkit.contamination.text import CJK_CHAR, WORD_CHAR

BASE = 1_000_003
_BASE_INV = pow(BASE, -1, 1 << 64)
OTHER, WORD, CJK, BOUNDARY = 0, 1, 2, 3
SEPARATOR = "\x00"  # between documents; a document's own NULs are read as spaces
UNKNOWN = -1  # a unit the benchmark never uses, or a document boundary: no n-gram spans one


@lru_cache(maxsize=1)
def _every_character() -> str:
    return "".join(map(chr, range(0x110000)))


@dataclass(frozen=True)
class FoldTable:
    """`text.fold` per code point: most map to one code point (`single`), a few to several (`expansions`);
    `unstable` marks those that may compose with a neighbour under NFKC, where no table is exact."""

    single: np.ndarray  # uint32
    length: np.ndarray  # uint8: code points the character folds to
    expansions: dict[int, np.ndarray]
    unstable: np.ndarray  # bool


@lru_cache(maxsize=1)
def fold_table() -> FoldTable:
    """Built once per process (about 0.4 s). A character without a decomposition is its own NFKC."""
    every = _every_character()
    single = np.arange(0x110000, dtype=np.uint32)
    length = np.ones(0x110000, dtype=np.uint8)
    unstable = np.zeros(0x110000, dtype=np.bool_)
    expansions: dict[int, np.ndarray] = {}
    decomposed = [(point, d) for point, d in enumerate(map(unicodedata.decomposition, every)) if d]
    seconds = [int(d.split()[1], 16) for _, d in decomposed if not d.startswith("<") and " " in d]
    unstable[seconds] = True  # the second of a canonical pair may compose with what precedes it
    unstable[0x1161:0x1176] = True  # Hangul vowel jamo compose with a leading consonant,
    unstable[0x11A8:0x11C3] = True  # final consonants with a syllable
    unstable[[i for i, c in enumerate(every) if unicodedata.combining(c)]] = True
    changing = {point for point, _ in decomposed}
    changing.update(i for i, c in enumerate(every) if c.casefold() != c)
    for point in sorted(changing):
        normal = unicodedata.normalize("NFKC", every[point])
        folded = normal.casefold()
        if any(unstable[ord(x)] for x in normal):
            unstable[point] = True
        if len(folded) == 1:
            single[point] = ord(folded)
        else:
            length[point] = len(folded)
            expansions[point] = np.array([ord(x) for x in folded], dtype=np.uint32)
    return FoldTable(single, length, expansions, unstable)


def fold_points(text: str) -> np.ndarray:
    """The code points of `text.fold(text)`."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = fold_table()
    if table.unstable[points].any():
        folded = unicodedata.normalize("NFKC", text).casefold()
        return np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = table.length[points]
    mapped = table.single[points]
    if (lengths == 1).all():
        return mapped
    out = np.repeat(mapped, lengths)
    at = np.cumsum(lengths, dtype=np.int64) - lengths
    for position in np.flatnonzero(lengths != 1).tolist():
        expansion = table.expansions[int(points[position])]
        out[at[position]:at[position] + len(expansion)] = expansion
    return out


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """The class of every code point (a 1.1 MB table, built once per process in about 0.2 s)."""
    every = _every_character()
    table = np.zeros(0x110000, dtype=np.uint8)
    table[[m.start() for m in re.finditer(WORD_CHAR, every)]] = WORD
    table[[m.start() for m in re.finditer(CJK_CHAR, every)]] = CJK
    table[ord(SEPARATOR)] = BOUNDARY
    return table


class _Powers:
    """BASE^i and BASE^-i (mod 2^64) for i < size, grown on demand."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=np.uint64)
        self.down = np.ones(1, dtype=np.uint64)

    def get(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < size:
            grown = max(size, 2 * len(self.up))
            with np.errstate(over="ignore"):
                one = np.ones(1, dtype=np.uint64)
                self.up = np.concatenate((one, np.cumprod(np.full(grown - 1, BASE, dtype=np.uint64))))
                self.down = np.concatenate((one, np.cumprod(np.full(grown - 1, _BASE_INV, dtype=np.uint64))))
        return self.up[:size], self.down[:size]


_POWERS = _Powers()


def span_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each span [start, end) of `values` (non-negative ints), sum values[j]+1 times BASE^(end-1-j)
    mod 2^64: the same hash a loop `h = h*BASE + v+1` gives, from prefix sums, whatever the spans' lengths."""
    if not len(starts):
        return np.zeros(0, dtype=np.uint64)
    up, down = _POWERS.get(len(values) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(values) + 1, dtype=np.uint64)
        np.cumsum((values.astype(np.uint64) + np.uint64(1)) * down[:len(values)], out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * up[ends - 1]


def window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """The hash of every window of n ids (ids >= 0), by `span_hashes`."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    starts = np.arange(count)
    return span_hashes(ids, starts, starts + n)


class UnitCoder:
    """Cuts chunks of documents into the ids of `vocab` (the index's units); UNKNOWN for any other unit."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        self.classes = char_classes()
        self.cjk_ids = np.full(0x110000, UNKNOWN, dtype=np.int64)
        words, word_ids = [], []
        for unit, i in vocab.items():
            if len(unit) == 1 and self.classes[ord(unit)] == CJK:
                self.cjk_ids[ord(unit)] = i
            else:
                words.append(unit)
                word_ids.append(i)
        hashes = self._word_hashes(SEPARATOR.join(words)) if words else np.zeros(0, dtype=np.uint64)
        if len(hashes) != len(words):
            raise ValueError("a vocabulary word is not one run of word letters")
        order = np.argsort(hashes)
        self.word_hashes = hashes[order]
        self.word_ids = np.array(word_ids, dtype=np.int64)[order]

    def _word_hashes(self, text: str) -> np.ndarray:
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        starts, ends = self._runs(self.classes[points] == WORD)
        return span_hashes(points, starts, ends)

    @staticmethod
    def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        edges = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, starts): the units of all texts in order, each text followed by one UNKNOWN, and
        the index in `ids` where each text's units begin."""
        joined = SEPARATOR.join(texts) + SEPARATOR
        if joined.count(SEPARATOR) != len(texts):
            joined = SEPARATOR.join(t.replace(SEPARATOR, " ") for t in texts) + SEPARATOR
        points = fold_points(joined)
        classes = self.classes[points]
        unit_id = np.empty(len(points), dtype=np.int64)
        is_unit = classes >= CJK  # CJK letters and boundaries; word runs are added below
        cjk = classes == CJK
        unit_id[cjk] = self.cjk_ids[points[cjk]]
        unit_id[classes == BOUNDARY] = -2
        starts, ends = self._runs(classes == WORD)
        if len(starts):
            hashes = span_hashes(points, starts, ends)
            slot = np.minimum(np.searchsorted(self.word_hashes, hashes), max(len(self.word_hashes) - 1, 0))
            known = self.word_hashes[slot] == hashes if len(self.word_hashes) else np.zeros(len(hashes), dtype=bool)
            unit_id[starts] = np.where(known, self.word_ids[slot] if len(self.word_ids) else UNKNOWN, UNKNOWN)
            is_unit[starts] = True
        ids = unit_id[is_unit]
        boundaries = np.flatnonzero(ids == -2)
        ids[boundaries] = UNKNOWN
        return ids, np.concatenate(([0], boundaries[:-1] + 1)).astype(np.int64)
