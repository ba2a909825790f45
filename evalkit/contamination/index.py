"""The benchmark side: every item's text cut into n-grams, indexed once, small enough to send to every worker.

An item is one sample of a task, in two segments: its input (the question, the passage, the turns:
what the task puts in the prompt, without the few-shot frame, which every prompt of the task shares
and which would flag everything) and its gold answer (the target, or a reference answer). Each
segment's units become ids from one vocabulary, the benchmark's own: a corpus unit the benchmark
never uses cannot be part of a matching n-gram, so it breaks the window. For each n-gram size the
index holds every window's 64-bit hash, sorted, with the segment and position it comes from; a
corpus window whose hash is there is a candidate, confirmed against the segment's exact ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from evalkit.contamination.coder import window_hashes
from evalkit.contamination.text import Tokenizer, is_japanese


@dataclass(frozen=True)
class Segment:
    task: str
    sample_id: str
    genre: str
    part: str  # "input" | "answer"
    text: str


@dataclass
class Grams:
    """The windows of every segment for one n: hashes sorted, with their segment and position."""

    hashes: np.ndarray  # uint64, sorted
    segment: np.ndarray  # int64
    position: np.ndarray  # int64

    def has(self, values: np.ndarray) -> np.ndarray:
        """Which of `values` are hashes of some window."""
        if not len(self.hashes):
            return np.zeros(len(values), dtype=bool)
        slot = np.minimum(np.searchsorted(self.hashes, values), len(self.hashes) - 1)
        return self.hashes[slot] == values

    def owners(self, value: int) -> Iterator[tuple[int, int]]:
        key = np.uint64(value)
        lo, hi = np.searchsorted(self.hashes, key, "left"), np.searchsorted(self.hashes, key, "right")
        return zip(self.segment[lo:hi].tolist(), self.position[lo:hi].tolist())


@dataclass
class BenchmarkIndex:
    """Items, their ids and n-grams, and the vocabulary the corpus is mapped into."""

    tokenizer: str
    sizes: dict[str, int]  # language -> n
    segments: list[Segment] = field(default_factory=list)
    language: list[str] = field(default_factory=list)  # per segment
    ids: list[np.ndarray] = field(default_factory=list)  # per segment
    vocab: dict[str, int] = field(default_factory=dict)
    grams: dict[int, Grams] = field(default_factory=dict)  # n -> windows
    words: list[str] = field(default_factory=list)  # words[id] is the unit

    @classmethod
    def build(cls, segments: Iterable[Segment], tok: Tokenizer, sizes: dict[str, int]) -> "BenchmarkIndex":
        index = cls(tok.name, dict(sizes))
        windows: dict[int, list[tuple[np.ndarray, int]]] = {}
        for segment in segments:
            found = tok.split(segment.text)
            language = "ja" if tok.name != "lm-eval" and is_japanese(found) else "en"
            ids = np.array([index.vocab.setdefault(u, len(index.vocab)) for u in found], dtype=np.int64)
            windows.setdefault(sizes[language], []).append((window_hashes(ids, sizes[language]), len(index.segments)))
            index.segments.append(segment)
            index.language.append(language)
            index.ids.append(ids)
        for n, parts in windows.items():
            hashes = np.concatenate([h for h, _ in parts])
            owner = np.concatenate([np.full(len(h), s, dtype=np.int64) for h, s in parts])
            position = np.concatenate([np.arange(len(h), dtype=np.int64) for h, _ in parts])
            order = np.argsort(hashes, kind="stable")
            index.grams[n] = Grams(hashes[order], owner[order], position[order])
        index.words = list(index.vocab)  # ids are given in order
        return index

    def n(self, segment: int) -> int:
        return self.sizes[self.language[segment]]

    def count(self, segment: int) -> int:
        """The segment's n-grams (0: shorter than n, so it cannot be checked)."""
        return max(0, len(self.ids[segment]) - self.n(segment) + 1)

    def ngram_sizes(self) -> list[int]:
        return sorted(n for n, grams in self.grams.items() if len(grams.hashes))

    def unit_text(self, window: Sequence[int]) -> str:
        """An n-gram written back as text (CJK characters joined, words spaced)."""
        found = [self.words[i] for i in window]
        return "".join(found) if all(len(u) == 1 and not u.isascii() for u in found) else " ".join(found)


def segments_of_samples(task: str, samples: Sequence) -> list[Segment]:
    """Input and answer segments of a task's samples (see the module docstring)."""
    out = []
    for sample in samples:
        out.append(Segment(task, sample.id, sample.genre, "input", "\n".join(sample.turns)))
        answer = sample.target
        reference = sample.metadata.get("reference")
        if not answer and reference:
            answer = "\n".join(reference) if isinstance(reference, (list, tuple)) else str(reference)
        if answer:
            out.append(Segment(task, sample.id, sample.genre, "answer", str(answer)))
    return out
