"""Loaders for the datasets published as TSV or CSV: Jamp, JaNLI, JSICK, JCommonsenseMorality, JMMLU, MMLU (en), MGSM."""

from __future__ import annotations

import csv
import io
import random
import tarfile

from evalkit.data import load_hub_split, read_jsonl
from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.examples import Example, Splits, gold, read_csv_rows, read_tsv_with_header
from evalkit.tasks.jaster.sources import DatasetFiles, split_train_dev


def _nli(premise: str, hypothesis: str) -> str:
    return f"前提：{premise}\n仮説：{hypothesis}"


def load_jamp(files: DatasetFiles) -> Splits:
    """test_2.tsv is the test split; train_all.tsv is shuffled (seed 42) into train 90% / dev 10%."""
    columns = ("premise", "hypothesis", "gold_label")

    def read(name: str) -> list[Example]:
        path = files.path(name)
        return [
            Example(_nli(row["premise"], row["hypothesis"]), gold(row["gold_label"]), id=f"{name}:{lineno}")
            for lineno, row in read_tsv_with_header(path, columns)
        ]

    train, _dev = split_train_dev(read("train_all.tsv"))
    return Splits(test=read("test_2.tsv"), fewshot=train, fewshot_source="train")


def load_janli(files: DatasetFiles) -> Splits:
    """Rows whose `split` is test form the test split; the others are shuffled into train 90% / dev 10%."""
    path = files.path("janli.tsv")
    test, rest = [], []
    for lineno, row in read_tsv_with_header(path, ("sentence_A_Ja", "sentence_B_Ja", "entailment_label_Ja", "split")):
        example = Example(_nli(row["sentence_A_Ja"], row["sentence_B_Ja"]), gold(row["entailment_label_Ja"]), id=str(lineno))
        (test if row["split"] == "test" else rest).append(example)
    if not test:
        raise EvalkitError(f"{path}: no row has split 'test'")
    train, _dev = split_train_dev(rest)
    return Splits(test=test, fewshot=train, fewshot_source="train")


def load_jsick(files: DatasetFiles) -> Splits:
    """test.tsv is the test split; train.tsv is shuffled into train 90% / dev 10%."""
    columns = ("sentence_A_Ja", "sentence_B_Ja", "entailment_label_Ja")

    def read(name: str) -> list[Example]:
        return [
            Example(_nli(row["sentence_A_Ja"], row["sentence_B_Ja"]), gold(row["entailment_label_Ja"]), id=f"{name}:{lineno}")
            for lineno, row in read_tsv_with_header(files.path(name), columns)
        ]

    train, _dev = split_train_dev(read("train.tsv"))
    return Splits(test=read("test.tsv"), fewshot=train, fewshot_source="train")


def load_commonsensemoralja(files: DatasetFiles) -> Splits:
    """The published train / val / test CSV files are llm-jp-eval's splits as they are."""

    def read(name: str) -> list[Example]:
        path = files.path(name)
        rows = read_csv_rows(path)
        if not rows or rows[0][1:3] != ["sent", "label"]:
            raise EvalkitError(f"{path}: expected a header ',sent,label', found {','.join(rows[0]) if rows else 'nothing'}")
        examples = []
        for index, row in enumerate(rows[1:], 2):
            if len(row) != 3:
                raise EvalkitError(f"{path}: row {index}: expected 3 comma-separated fields, found {len(row)}")
            examples.append(Example(f"文章：{row[1]}", gold(row[2]), id=row[0]))
        return examples

    return Splits(test=read("data_test.csv"), fewshot=read("data_train.csv"), fewshot_source="train")


def _mc4(question: str, choices: list[str], english: bool = False) -> str:
    body = ",".join(f"{letter}.{text}" for letter, text in zip("ABCD", choices))
    return f"Question: {question}\nChoices: {body}" if english else f"質問：{question}\n選択肢：{body}"


def _mc4_example(row: list[str], where: str, english: bool = False) -> Example:
    question, *choices, answer = row
    return Example(_mc4(question, choices, english), gold(answer), id=where, meta={"choices": [c.strip() for c in choices]})


_JMMLU_TRAIN_FROM_EACH = 16  # llm-jp-eval's train split: the first 16 of dev, then the first 16 of test


def _jmmlu_text(field: str) -> str:
    """llm-jp-eval reads the CSV files in text mode, so a line break inside a field is always a bare \\n."""
    return field.replace("\r\n", "\n").replace("\r", "\n")


def jmmlu_splits(subjects: list[list[Example]]) -> tuple[list[Example], list[Example]]:
    """(train, test) of llm-jp-eval 1.3.0 from each subject's rows, subjects in its order.

    One generator seeded 42 serves every step: each subject's rows are shuffled, the first half
    (rounded down) goes to dev and the rest to test; then dev is shuffled, then test. Train is the
    first 16 of dev followed by the first 16 of test, and those 16 leave test.
    """
    rng = random.Random(42)
    dev: list[Example] = []
    test: list[Example] = []
    for rows in subjects:
        rows = list(rows)
        rng.shuffle(rows)
        half = len(rows) // 2
        dev.extend(rows[:half])
        test.extend(rows[half:])
    rng.shuffle(dev)
    rng.shuffle(test)
    cut = _JMMLU_TRAIN_FROM_EACH
    return dev[:cut] + test[:cut], test[cut:]


def load_jmmlu(files: DatasetFiles) -> Splits:
    """llm-jp-eval 1.3.0's JMMLU splits (see `jmmlu_splits`); few-shots come from its train split.

    Every subject is read whatever `files.max_test` / `files.max_fewshot` say: the final shuffles
    span all subjects. Online every subject is fetched; a data folder may hold a subset (its notes
    say which are missing, and that the split and order then differ from llm-jp-eval's).
    """
    subjects = list(files.source.extra["subjects"])  # in llm-jp-eval's order (datasets.yaml)
    notes: tuple[str, ...] = ()
    if files.offline:
        present = [s for s in subjects if (files.folder / f"{s}.csv").is_file()]
        if not present:
            raise EvalkitError(f"jaster:jmmlu: no subject file (<subject>.csv, e.g. {subjects[0]}.csv) in {files.folder}")
        if len(present) < len(subjects):
            missing = [s for s in subjects if s not in present]
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            note = (f"{len(present)} of {len(subjects)} subjects in the data folder, so the split and order are not "
                    f"llm-jp-eval's; missing: {shown}")
            notes = (note,)
        subjects = present
    per_subject = []
    for subject in subjects:
        name = f"{subject}.csv"
        url = files.source.extra["file_url"].format(name=name)
        rows = read_csv_rows(files.path(name, url), width=6)
        per_subject.append([_mc4_example([_jmmlu_text(f) for f in row], f"{subject}:{i}") for i, row in enumerate(rows)])
    train, test = jmmlu_splits(per_subject)
    return Splits(test=test, fewshot=train, fewshot_source="train", notes=notes)


def load_mmlu_en(files: DatasetFiles) -> Splits:
    """Hendrycks' data.tar: data/test/<subject>_test.csv is the test split, data/dev/*_dev.csv the few-shot pool."""
    path = files.path("data.tar")
    test, dev = [], []
    try:
        with tarfile.open(path) as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".csv")), key=lambda m: m.name)
            for member in members:
                parts = member.name.split("/")
                if len(parts) < 3 or parts[-2] not in ("test", "dev"):
                    continue
                text = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                target = test if parts[-2] == "test" else dev
                for i, row in enumerate(csv.reader(io.StringIO(text))):
                    if len(row) != 6:
                        raise EvalkitError(f"{path}:{member.name}: row {i + 1}: expected 6 fields, found {len(row)}")
                    target.append(_mc4_example(row, f"{parts[-1]}:{i}", english=True))
    except tarfile.TarError as exc:
        raise EvalkitError(f"{path}: not a readable tar archive ({exc})") from None
    if not test:
        raise EvalkitError(f"{path}: holds no data/test/*_test.csv files")
    return Splits(test=test, fewshot=dev, fewshot_source="dev")


def _strip_question_prefix(question: str) -> str:
    return question.removeprefix("問題：").strip()


def load_mgsm(files: DatasetFiles) -> Splits:
    """MGSM Japanese: the 250 test problems, and the 8 published exemplars as the few-shot pool (their final numbers)."""
    if files.offline:
        path = files.path("mgsm_ja.tsv")
        test = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise EvalkitError(f"{path}:{lineno}: expected 2 tab-separated fields (question, answer), found {len(fields)}")
            test.append(Example(fields[0].strip(), gold(fields[1]), id=str(lineno)))
        shots_path = files.optional("mgsm_exemplars_ja.jsonl")
        shots = []
        if shots_path is not None:
            for i, row in enumerate(read_jsonl(shots_path)):
                if "q" not in row or "answer_number" not in row:
                    raise EvalkitError(f"{shots_path}: row {i + 1} lacks field(s) q / answer_number")
                shots.append(Example(_strip_question_prefix(row["q"]), gold(row["answer_number"]), id=str(i)))
        return Splits(test=test, fewshot=shots, fewshot_source="exemplars" if shots else "none")
    hub = files.source.extra["hub"]
    test_rows = load_hub_split(hub["path"], hub["name"], "test").rows
    train_rows = load_hub_split(hub["path"], hub["name"], hub["fewshot_split"]).rows
    test = [Example(r["question"].strip(), gold(r["answer_number"]), id=str(i)) for i, r in enumerate(test_rows)]
    shots = [Example(_strip_question_prefix(r["question"]), gold(r["answer_number"]), id=str(i))
             for i, r in enumerate(train_rows)]
    return Splits(test=test, fewshot=shots, fewshot_source="train")
