"""The scan's verdicts: per item (longest overlap, share of its n-grams seen, where first), per task and genre, on disk.

A segment is contaminated when at least `threshold` of its n-grams (default: any one, as
lm-evaluation-harness decides) occur in the corpus; an item when its input or its answer is. A
segment shorter than one n-gram cannot be checked and says so. The report folder holds:

- `items.jsonl`: every segment with its figures;
- `contaminated.jsonl`: one line per contaminated item (task, sample_id, genre, parts): the list
  `evalkit show/compare/gate/report --exclude` read to score the clean rest;
- `summary.csv`: per task and genre, items, checkable, contaminated and its fraction;
- `scan.json`: how the scan was made (corpora, tokenizer, n, threshold, bytes, documents, seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from evalkit.contamination.index import BenchmarkIndex
from evalkit.contamination.scan import Hits
from evalkit.summary import ALL
from evalkit.tables import ResultTable, cell


@dataclass(frozen=True)
class SegmentVerdict:
    task: str
    sample_id: str
    genre: str
    part: str
    language: str
    grams: int
    matched: int
    longest: int  # units in the longest run of overlapping n-grams (0: none)
    first: str | None
    first_ngram: str | None

    @property
    def fraction(self) -> float | None:
        return self.matched / self.grams if self.grams else None


def verdicts(index: BenchmarkIndex, hits: Hits) -> list[SegmentVerdict]:
    out = []
    for i, segment in enumerate(index.segments):
        found = sorted(hits.positions.get(i, ()))
        n = index.n(i)
        place = hits.first.get(i)
        out.append(SegmentVerdict(segment.task, segment.sample_id, segment.genre, segment.part, index.language[i],
                                  index.count(i), len(found), _longest(found) + n - 1 if found else 0,
                                  place[0] if place else None, place[1] if place else None))
    return out


def _longest(positions: Sequence[int]) -> int:
    best = run = 0
    previous = None
    for p in positions:
        run = run + 1 if previous is not None and p == previous + 1 else 1
        best, previous = max(best, run), p
    return best


def contaminated(segment: SegmentVerdict, threshold: float) -> bool:
    return segment.matched > 0 and (segment.fraction or 0.0) >= threshold


def items(segments: Sequence[SegmentVerdict], threshold: float) -> dict[tuple[str, str], dict[str, Any]]:
    """Per item: its genre, whether any segment could be checked, and its contaminated parts."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for s in segments:
        item = out.setdefault((s.task, s.sample_id), {"task": s.task, "sample_id": s.sample_id, "genre": s.genre,
                                                      "checkable": False, "parts": []})
        item["checkable"] |= s.grams > 0
        if contaminated(s, threshold):
            item["parts"].append(s.part)
    return out


def summary_rows(segments: Sequence[SegmentVerdict], threshold: float) -> list[tuple[str, str, int, int, int]]:
    """(task, genre, items, checkable, contaminated): `all` first, then each genre."""
    by_item = items(segments, threshold)
    rows = []
    for task in dict.fromkeys(item["task"] for item in by_item.values()):
        mine = [i for i in by_item.values() if i["task"] == task]
        for genre in [ALL, *sorted({i["genre"] for i in mine})]:
            chosen = [i for i in mine if genre == ALL or i["genre"] == genre]
            rows.append((task, genre, len(chosen), sum(i["checkable"] for i in chosen), sum(bool(i["parts"]) for i in chosen)))
    return rows


def summary_table(segments: Sequence[SegmentVerdict], threshold: float) -> ResultTable:
    rows = tuple((task, genre, str(n), str(checkable), str(dirty), cell(dirty / checkable if checkable else None, 3))
                 for task, genre, n, checkable, dirty in summary_rows(segments, threshold))
    rule = "any n-gram" if threshold == 0 else f"at least {threshold:.0%} of its n-grams"
    return ResultTable("contamination", ("task", "genre", "items", "checkable", "contaminated", "fraction"), rows,
                       f"an item is contaminated when its input or its answer shares {rule} with the corpus; "
                       "checkable: at least one part is as long as an n-gram", left_aligned=2)


def write(folder: Path, segments: Sequence[SegmentVerdict], threshold: float, settings: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "items.jsonl").open("w", encoding="utf-8") as fh:
        for s in segments:
            fh.write(json.dumps({"task": s.task, "sample_id": s.sample_id, "genre": s.genre, "part": s.part,
                                 "language": s.language, "ngrams": s.grams, "matched": s.matched,
                                 "fraction": s.fraction, "longest": s.longest, "first": s.first,
                                 "first_ngram": s.first_ngram, "contaminated": contaminated(s, threshold)},
                                ensure_ascii=False) + "\n")
    with (folder / "contaminated.jsonl").open("w", encoding="utf-8") as fh:
        for item in items(segments, threshold).values():
            if item["parts"]:
                fh.write(json.dumps({k: item[k] for k in ("task", "sample_id", "genre", "parts")}, ensure_ascii=False) + "\n")
    lines = ["task,genre,items,checkable,contaminated,fraction"]
    lines += [f"{t},{g},{n},{c},{d},{d / c if c else ''}" for t, g, n, c, d in summary_rows(segments, threshold)]
    (folder / "summary.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "scan.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
