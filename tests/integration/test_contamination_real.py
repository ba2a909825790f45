"""The contamination scan on real data: Jaster, GSM8K, MGSM-ja and HumanEval items planted in real text from
../shared/data (bench/contamination_corpus.py) are found, and the same text without them flags nothing.

Opt-in (EVALKIT_INTEGRATION=1): needs the data folder (EVALKIT_DATA_DIR). About half a minute.
bench/contamination_tokens.py runs the full measurement this samples.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from evalkit.contamination.check import CheckSettings, check, task_segments
from evalkit.contamination.report import items
from evalkit.contamination.text import tokenizer
from tests.integration.test_lmeval_agreement import DATA_DIR

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from contamination_corpus import KINDS, background, make_plants, write_corpus  # noqa: E402

pytestmark = pytest.mark.integration
TASKS = ["jaster", "gsm8k", "mgsm_ja", "humaneval"]


def flagged(found) -> set[tuple[str, str]]:
    return {key for key, item in items(found, 0.0).items() if item["parts"]}


def test_planted_real_items_are_found_and_a_clean_corpus_flags_nothing(tmp_path):
    if os.environ.get("EVALKIT_INTEGRATION") != "1":
        pytest.skip("opt-in: set EVALKIT_INTEGRATION=1")
    if not (DATA_DIR / "jaster").is_dir():
        pytest.skip(f"needs {DATA_DIR}")
    segments = task_segments(CheckSettings(tasks=TASKS, corpora=[], data_dir=DATA_DIR))
    answers = {(s.task, s.sample_id): s.text for s in segments if s.part == "answer"}
    split = tokenizer("units").split
    # items long enough for every kind to be checkable: 40 units, so a 60% piece still has 24 >= 20 characters
    candidates = [(s.task, s.sample_id, s.text, answers.get((s.task, s.sample_id))) for s in segments
                  if s.part == "input" and len(split(s.text)) >= 40]
    plants = make_plants(candidates, 25, random.Random(2026))
    paragraphs = [p for source in background(DATA_DIR).values() for p in source]
    dirty, clean = tmp_path / "planted.jsonl", tmp_path / "clean.jsonl"
    write_corpus(dirty, 4_000_000, paragraphs, plants, seed=3)
    write_corpus(clean, 4_000_000, paragraphs, [], seed=4)

    def scan(corpus):
        return check(CheckSettings(tasks=TASKS, corpora=[str(corpus)], workers=2), segments)[1]

    found = flagged(scan(dirty))
    for kind in KINDS:
        mine = {(p.task, p.sample_id) for p in plants if p.kind == kind}
        assert mine and mine <= found, (kind, sorted(mine - found))
    assert flagged(scan(clean)) == set()
