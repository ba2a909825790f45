"""JMMLU as llm-jp-eval 1.3.0 splits it, on invented subject files: which rows are test, which train, in what order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from evalkit.tasks.jaster.catalog import catalog
from evalkit.tasks.jaster.datasets import LOADERS
from evalkit.tasks.jaster.sources import DatasetFiles
from tests.fixtures_jaster import write


def subject_csv(subject: str, n: int, bom: bool = False) -> str:
    rows = "".join(f"{subject}の問{i},選択肢a,選択肢b,\"選択肢c, 長い\",選択肢d,{'ABCD'[i % 4]}\n" for i in range(n))
    return ("\ufeff" if bom else "") + rows


def load(data: Path, **hints):
    return LOADERS["jmmlu"](DatasetFiles("jmmlu", catalog().datasets["jmmlu"].source, data, **hints))


def ids(examples) -> list[str]:
    return [ex.id for ex in examples]


# (subject files and their row counts, test ids in order, train ids at 0-2 and 16-18, train size)
CASES = {
    # llm-jp-eval meets econometrics before anatomy (its own order, not the alphabet's)
    "two subjects, its order": (
        {"anatomy": 20, "econometrics": 20},
        ["econometrics:3", "econometrics:8", "econometrics:10", "econometrics:1"],
        ["econometrics:12", "econometrics:19", "anatomy:18"], ["anatomy:2", "econometrics:17", "anatomy:15"], 32,
    ),
    # an odd subject gives test the extra row: 9/10 and 10/11 dev/test
    "odd row counts": (
        {"marketing": 21, "sociology": 19},
        ["marketing:17", "sociology:3", "sociology:8", "sociology:10", "sociology:1"],
        ["marketing:15", "marketing:10", "marketing:19"], ["marketing:2", "sociology:11", "marketing:0"], 32,
    ),
    # under 16 test rows: all of dev and all of test become train, and test is empty
    "too few rows": (
        {"abstract_algebra": 10},
        [],
        ["abstract_algebra:3", "abstract_algebra:2", "abstract_algebra:7"], [], 10,
    ),
}


@pytest.mark.parametrize("files, test_ids, train_head, train_from_test, n_train", CASES.values(), ids=CASES.keys())
def test_split_and_order(tmp_path, files, test_ids, train_head, train_from_test, n_train):
    for subject, n in files.items():
        write(tmp_path / f"jaster/jmmlu/{subject}.csv", subject_csv(subject, n))
    splits = load(tmp_path)
    assert ids(splits.test) == test_ids
    assert ids(splits.fewshot)[:3] == train_head and ids(splits.fewshot)[16:19] == train_from_test
    assert len(splits.fewshot) == n_train and splits.fewshot_source == "train"
    assert f"{len(files)} of 53 subjects" in splits.notes[0]


def test_the_rule_spelled_out(tmp_path):
    """One generator seeded 42: shuffle each subject in llm-jp-eval's order and halve it (dev, test),
    shuffle dev, shuffle test; train is dev[:16] + test[:16], and test loses those 16."""
    counts = {"college_biology": 30, "world_history": 25, "anatomy": 23}
    for subject, n in counts.items():
        write(tmp_path / f"jaster/jmmlu/{subject}.csv", subject_csv(subject, n))
    rng = random.Random(42)
    dev, test = [], []
    for subject in ("anatomy", "world_history", "college_biology"):  # llm-jp-eval's order, not the alphabet's
        rows = [f"{subject}:{i}" for i in range(counts[subject])]
        rng.shuffle(rows)
        dev += rows[: len(rows) // 2]
        test += rows[len(rows) // 2:]
    rng.shuffle(dev)
    rng.shuffle(test)
    splits = load(tmp_path)
    assert ids(splits.fewshot) == dev[:16] + test[:16]
    assert ids(splits.test) == test[16:]


def test_reading_hints_do_not_change_the_result(tmp_path):
    for subject, n in {"anatomy": 20, "econometrics": 21}.items():
        write(tmp_path / f"jaster/jmmlu/{subject}.csv", subject_csv(subject, n))
    full = load(tmp_path)
    hinted = load(tmp_path, max_test=1, max_fewshot=1)
    assert (hinted.test, hinted.fewshot) == (full.test, full.fewshot)


@pytest.mark.parametrize("raw, expected_input", [
    ("\ufeff問1,a,b,c,d,A\n", "質問：問1\n選択肢：A.a,B.b,C.c,D.d"),  # byte order mark dropped
    ("\"一行目\r\n二行目\",a,b,c,d,A\n", "質問：一行目\n二行目\n選択肢：A.a,B.b,C.c,D.d"),  # CR LF in a field -> LF
    ("\"一行目\r二行目\",a, b ,c,d,A\n", "質問：一行目\n二行目\n選択肢：A.a,B. b ,C.c,D.d"),  # lone CR -> LF; spaces kept
])
def test_field_text_is_read_as_llm_jp_eval_reads_it(tmp_path, raw, expected_input):
    # 34 rows: dev 17, test 17, so one row is left in test and every row is in one split or the other
    filler = "".join(f"埋め{i},a,b,c,d,B\n" for i in range(33))
    write(tmp_path / "jaster/jmmlu/anatomy.csv", raw + filler)
    splits = load(tmp_path)
    (row,) = [ex for ex in splits.test + splits.fewshot if ex.id == "anatomy:0"]
    assert (row.input, row.output) == (expected_input, "A")
