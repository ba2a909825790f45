"""JMMLU from the original CSV files is exactly what llm-jp-eval 1.3.0's preprocessing wrote from them.

Opt-in (EVALKIT_INTEGRATION=1): needs the data folder in EVALKIT_DATA_DIR (with jaster/jmmlu/ and jaster/llm-jp-eval-1.3.0/).
Compares every test sample, in order, and the first 32 of train (the reference keeps only those).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalkit.tasks.jaster.datasets import load_original

pytestmark = pytest.mark.integration
REFERENCE = Path("jaster/llm-jp-eval-1.3.0/evaluation")


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if os.environ.get("EVALKIT_INTEGRATION") != "1" or not os.environ.get("EVALKIT_DATA_DIR"):
        pytest.skip("opt-in: set EVALKIT_INTEGRATION=1 and EVALKIT_DATA_DIR to the data folder")
    root = Path(os.environ["EVALKIT_DATA_DIR"]).resolve()
    if not (root / "jaster/jmmlu").is_dir() or not (root / REFERENCE / "test/jmmlu.json").is_file():
        pytest.skip(f"{root} lacks jaster/jmmlu/ or {REFERENCE}/test/jmmlu.json")
    return root


def reference(root: Path, split: str) -> list[tuple[str, str]]:
    samples = json.loads((root / REFERENCE / split / "jmmlu.json").read_text(encoding="utf-8"))["samples"]
    return [(s["input"], s["output"]) for s in samples]


def test_every_test_sample_and_the_first_32_train_samples_are_llm_jp_evals(data_dir):
    loaded = load_original("jmmlu", data_dir, num_fewshot=32, limit=None)
    expected_test = reference(data_dir, "test")
    assert len(expected_test) == 3541
    assert [(ex.input, ex.output) for ex in loaded.test] == expected_test
    assert [(ex.input, ex.output) for ex in loaded.shots] == reference(data_dir, "train")[:32]
    assert loaded.info["notes"] == []


def test_a_limit_and_four_shots_take_the_same_first_samples(data_dir):
    loaded = load_original("jmmlu", data_dir, num_fewshot=4, limit=100)
    assert [(ex.input, ex.output) for ex in loaded.test] == reference(data_dir, "test")[:100]
    assert [(ex.input, ex.output) for ex in loaded.shots] == reference(data_dir, "train")[:4]
