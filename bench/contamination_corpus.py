"""Corpora for the contamination benches, generated from the real text in ../shared/data.

Background (what a training corpus holds that is not a benchmark item): paragraphs of the model
answers of MT-Bench and Japanese MT-Bench, the GPT-4 judge's explanations of Japanese MT-Bench,
and the Wikipedia Annotated Corpus documents of Jaster's dev split (its test documents are
Jaster items). A corpus of any size is made by drawing background paragraphs at random and
joining a few into a document; planted copies of benchmark items are placed into some documents
and recorded, so that every flag can be labelled right or wrong.

Kinds of plant (`plant`):
- verbatim: the item's input as it is;
- noisy: the input with changed spacing, full-width letters and digits, and other punctuation;
- answer: only the gold answer, inside a background paragraph (a different context);
- partial: a contiguous 60% of the input's characters.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

KINDS = ("verbatim", "noisy", "answer", "partial")


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) >= 20]


def _knp_surface(knp: str) -> list[str]:
    """Sentences of a KNP document: the first field of each morpheme line."""
    sentences, words = [], []
    for line in knp.splitlines():
        if line.startswith("EOS"):
            if words:
                sentences.append("".join(words))
            words = []
        elif line and not line.startswith(("#", "* ", "+ ")):
            words.append(line.split(" ", 1)[0])
    return sentences


def background(data_dir: Path) -> dict[str, list[str]]:
    """Background paragraphs by source name."""
    sources: dict[str, list[str]] = {"mt_bench_answers": [], "ja_mt_bench_answers": [], "ja_judgments": [], "wiki_dev": []}
    for name, folder in (("mt_bench_answers", "mt_bench/model_answer"), ("mt_bench_answers", "mt_bench/model_answer_unofficial"),
                         ("ja_mt_bench_answers", "ja_mt_bench/model_answer")):
        for path in sorted((data_dir / folder).glob("*.jsonl")):
            for row in _jsonl(path):
                for choice in row.get("choices", []):
                    for turn in choice.get("turns", []):
                        sources[name] += _paragraphs(str(turn))
    for path in sorted((data_dir / "ja_mt_bench/model_judgment").glob("*.jsonl")):
        for row in _jsonl(path):
            sources["ja_judgments"] += _paragraphs(str(row.get("judgment", "")))
    for row in _jsonl(data_dir / "jaster/wiki/wac_v1.1.2_dev.jsonl"):
        sentences = _knp_surface(row["knp"])
        sources["wiki_dev"] += ["".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    return sources


# --- planting ------------------------------------------------------------------------------------

_PUNCT_SWAP = {"、": ",", "。": ".", ",": "、", ".": "。", "?": "？", "？": "?", "!": "！", "「": "『", "」": "』", ":": "：", "(": "（", ")": "）"}


def noisy(text: str, rng: random.Random) -> str:
    """The same text for a reader: other spacing, ASCII letters and digits made full-width or of the
    other case, punctuation swapped between its ASCII and Japanese forms."""
    out = []
    for ch in text:
        if ch in _PUNCT_SWAP and rng.random() < 0.7:
            ch = _PUNCT_SWAP[ch]
        elif "!" <= ch <= "~" and ch.isalnum() and rng.random() < 0.3:
            ch = chr(ord(ch) + 0xFEE0)  # full-width form
        elif ch.isascii() and ch.isalpha() and rng.random() < 0.2:
            ch = ch.swapcase()
        if ch == " ":
            ch = rng.choice([" ", "  ", "\n", "\t", "\u3000"])  # spaces doubled, a line break, an ideographic space
        out.append(ch)
        if "\u3040" <= ch <= "\u9fff" and rng.random() < 0.08:
            out.append(" ")  # a space between Japanese characters, where there was none
    return "".join(out)


def partial(text: str, rng: random.Random, share: float = 0.6) -> str:
    length = max(1, int(len(text) * share))
    start = rng.randrange(0, max(1, len(text) - length + 1))
    return text[start:start + length]


@dataclass(frozen=True)
class Plant:
    task: str
    sample_id: str
    kind: str
    text: str


def make_plants(items: Sequence[tuple[str, str, str, str | None]], per_kind: int, rng: random.Random,
                min_answer_units: int = 32) -> list[Plant]:
    """`per_kind` items of each kind, none planted twice. items: (task, sample_id, input, answer); an
    answer is planted only when it has `min_answer_units` units (words, CJK characters) or more."""
    from evalkit.contamination.text import fold, units

    pool = list(items)
    rng.shuffle(pool)
    plants: list[Plant] = []
    with_answer = [i for i in pool if i[3] and len(units(fold(i[3]))) >= min_answer_units]
    used: set[tuple[str, str]] = set()
    for task, sid, _, answer in with_answer[:per_kind]:
        plants.append(Plant(task, sid, "answer", answer))
        used.add((task, sid))
    rest = [i for i in pool if (i[0], i[1]) not in used]
    for k, kind in enumerate(("verbatim", "noisy", "partial")):
        for task, sid, text, _ in rest[k * per_kind:(k + 1) * per_kind]:
            plants.append(Plant(task, sid, kind, text if kind == "verbatim" else noisy(text, rng) if kind == "noisy"
                                else partial(text, rng)))
    return plants


def write_corpus(path: Path, size_bytes: int, paragraphs: Sequence[str], plants: Sequence[Plant], seed: int) -> int:
    """A JSON-lines corpus of about `size_bytes`: documents of 1–6 background paragraphs; each plant
    goes into one document at a random place (an answer plant inside a paragraph). Returns its size."""
    rng = random.Random(seed)
    mean_document = 3.5 * (sum(len(p.encode("utf-8")) for p in paragraphs) / max(1, len(paragraphs)) + 2)
    docs_needed = max(len(plants) * 3, int(size_bytes / mean_document * 0.95), 1)  # plants spread over the corpus
    plant_at = {}
    if plants:
        slots = sorted(rng.sample(range(docs_needed), len(plants)))
        plant_at = dict(zip(slots, plants))
    written = 0
    k = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < size_bytes or k < docs_needed:
            parts = [rng.choice(paragraphs) for _ in range(rng.randint(1, 6))]
            plant = plant_at.get(k)
            if plant is not None:
                where = rng.randrange(len(parts) + 1)
                if plant.kind == "answer":
                    host = parts[min(where, len(parts) - 1)]
                    cut = rng.randrange(len(host) + 1)
                    parts[min(where, len(parts) - 1)] = host[:cut] + plant.text + host[cut:]
                else:
                    parts.insert(where, plant.text)
            line = json.dumps({"text": "\n\n".join(parts)}, ensure_ascii=False) + "\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            k += 1
    return written
