"""The wiki_* tasks from the original KNP documents are exactly what llm-jp-eval 1.3.0's preprocessing wrote from them.

Opt-in (EVALKIT_INTEGRATION=1): needs the data folder in EVALKIT_DATA_DIR (with jaster/wiki/ and jaster/llm-jp-eval-1.3.0/).
Compares every test sample, in order, and the first 32 of train (the reference keeps only those; its
wiki_* train files were made from the dev documents, which is where evalkit takes few-shots from locally).
About ten seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalkit.tasks.jaster.datasets import load_original

pytestmark = pytest.mark.integration
REFERENCE = Path("jaster/llm-jp-eval-1.3.0/evaluation")
# task, number of test samples in the reference (documents with nothing to annotate are left out)
TASKS = [("wiki_reading", 200), ("wiki_ner", 113), ("wiki_dependency", 200), ("wiki_pas", 199), ("wiki_coreference", 200)]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if os.environ.get("EVALKIT_INTEGRATION") != "1" or not os.environ.get("EVALKIT_DATA_DIR"):
        pytest.skip("opt-in: set EVALKIT_INTEGRATION=1 and EVALKIT_DATA_DIR to the data folder")
    root = Path(os.environ["EVALKIT_DATA_DIR"]).resolve()
    if not (root / "jaster/wiki/wac_v1.1.2_test.jsonl").is_file() or not (root / REFERENCE / "test/wiki_ner.json").is_file():
        pytest.skip(f"{root} lacks jaster/wiki/wac_v1.1.2_test.jsonl or {REFERENCE}/test/wiki_ner.json")
    return root


def reference(root: Path, split: str, task: str) -> list[tuple[str, str]]:
    samples = json.loads((root / REFERENCE / split / f"{task}.json").read_text(encoding="utf-8"))["samples"]
    return [(s["input"], s["output"]) for s in samples]


@pytest.mark.parametrize("task, n_test", TASKS)
def test_every_test_sample_and_the_first_32_train_samples_are_llm_jp_evals(data_dir, task, n_test):
    loaded = load_original(task, data_dir, num_fewshot=32, limit=None)
    expected_test = reference(data_dir, "test", task)
    assert len(expected_test) == n_test
    got = [(ex.input, ex.output) for ex in loaded.test]
    mismatched = [i for i, (a, b) in enumerate(zip(got, expected_test)) if a != b]
    assert (len(got), mismatched) == (n_test, [])
    assert [(ex.input, ex.output) for ex in loaded.shots] == reference(data_dir, "train", task)[:32]
