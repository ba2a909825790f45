"""Jaster loaders on tiny invented files in each dataset's original format: splits, input layout, gold outputs, errors."""

from __future__ import annotations

import random
import urllib.error
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster import sources
from evalkit.tasks.jaster.catalog import catalog
from evalkit.tasks.jaster.datasets import LOADERS, load_original
from evalkit.tasks.jaster.sources import DatasetFiles
from tests.fixtures_jaster import (
    jsem_problems,
    jsem_xml,
    make_jaster_data,
    pair,
    write,
    write_jnli,
    write_jsquad,
    write_online_only,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_online_only(make_jaster_data(tmp_path_factory.mktemp("jaster")))


def load(name: str, data_dir: Path, **hints):
    files = DatasetFiles(name, catalog().datasets[name].source, data_dir, **hints)
    return LOADERS[name](files), files


def shuffled(items: list, seed: int = 42) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


# dataset, test size, first test input, its gold output, few-shot pool size, where few-shots come from
CASES = [
    ("jamp", 6, f"前提：{pair(0)[0]}\n仮説：{pair(0)[1]}", "entailment", 9, "train"),
    ("janli", 6, f"前提：{pair(0)[0]}\n仮説：{pair(0)[1]}", "entailment", 9, "train"),
    ("jnli", 6, f"前提：{pair(0)[0]}\n仮説：{pair(0)[1]}", "entailment", 9, "train"),
    ("jsick", 6, f"前提：{pair(0)[0]}\n仮説：{pair(0)[1]}", "entailment", 9, "train"),
    ("jemhopqa", 5, "質問：太郎の出身地は？", "町0", 9, "train"),
    ("niilc", 5, "質問：日本で一番高い山は？", "富士山", 9, "train"),
    ("jsquad", 6, "文章：町 [SEP] 人々はそれぞれの町に住む。\n質問：太郎が住む町は？", "町0", 9, "train"),
    ("jcommonsenseqa", 6, "質問：0番目の質問で正しいものは？\n選択肢：0.りんご0,1.みかん0,2.ぶどう0,3.もも0,4.なし0", "0", 9, "train"),
    ("commonsensemoralja", 6, "文章：太郎は友達を0回助けた", "0", 6, "train"),
    ("mgsm", 5, "鉛筆が1本と1本あります。全部で何本？", "2", 8, "exemplars"),
    ("jsts", 6, f"文1：{pair(0)[0]}\n文2：{pair(0)[1]}", "0.0", 9, "train"),
    ("jcola-in-domain", 6, "太郎が0回走った。", "0", 9, "train"),
    ("wiki_reading", 2, "太郎が本を読んだ。彼は喜んだ。", "たろうがほんをよんだ。かれはよろこんだ。", 4, "dev"),
    # wiki_ner and wiki_pas keep the reading sentence; its host lacks 括弧削除, so it follows as plain text
    # (tests/test_jaster_wiki.py has the bracketed case)
    ("wiki_ner", 2, "太郎が本を読んだ。たろう彼は喜んだ。", "太郎（人名）", 4, "dev"),
    ("wiki_dependency", 2, "太郎が本を読んだ。彼は喜んだ。", "太郎が -> 読んだ。\n本を -> 読んだ。\n彼は -> 喜んだ。", 4, "dev"),
    ("wiki_pas", 2, "太郎が本を読んだ。たろう彼は喜んだ。", "読んだ ガ：太郎 ヲ：本\n喜んだ ガ：彼", 4, "dev"),
    ("wiki_coreference", 2, "太郎が本を読んだ。彼は喜んだ。", "太郎 彼", 4, "dev"),
    ("aio", 4, "質問：日本で0番目に長い川は？", "川0", 7, "train"),
    ("kuci", 4, "文脈：雨が0日降ったので\n選択肢：0.傘をさした,1.泳いだ,2.寝た,3.走った", "0", 4, "train"),
    ("mbpp", 4, "0を足す関数を書け。\n### テストケース:\nassert add0(1) == 1", "def add0(x):\n    return x + 0", 4, "train"),
    ("xlsum_ja", 4, "記事0の本文。長い文章が続く。", "要約0です。", 4, "train"),
    ("mmlu_en", 4, "Question: What is 0+0?\nChoices: A.0,B.0,C.0,D.0", "A", 5, "dev"),
]


@pytest.mark.parametrize("name, n_test, first_input, first_output, n_pool, pool_source", CASES)
def test_loader_reads_the_original_format(data, name, n_test, first_input, first_output, n_pool, pool_source):
    splits, files = load(name, data)
    assert len(splits.test) == n_test
    assert (splits.test[0].input, splits.test[0].output) == (first_input, first_output)
    assert (len(splits.fewshot), splits.fewshot_source) == (n_pool, pool_source)
    assert files.read and all(len(sha) == 64 for sha in files.read.values())  # every file read is fingerprinted


def test_train_files_are_shuffled_with_seed_42_into_train_90_dev_10(data):
    splits, _ = load("jamp", data)
    train_inputs = [f"前提：{pair(100 + i)[0]}\n仮説：{pair(100 + i)[1]}" for i in range(10)]
    assert [ex.input for ex in splits.fewshot] == shuffled(train_inputs)[:9]


def test_jsem_drops_unusable_answers_joins_premises_and_splits_80_10_10(data):
    splits, _ = load("jsem", data)
    kept = [p for p in jsem_problems() if p["answer"] not in ("", "unacceptable", "weakacceptable", "infelicitous")]
    order = shuffled(kept)
    assert len(kept) == 30 and [ex.output for ex in splits.test] == [p["answer"] for p in order[27:]]
    assert splits.test[0].input == f"前提：{''.join(order[27]['premises'])}\n仮説：{order[27]['hypothesis']}"
    assert len(splits.fewshot) == 24


def test_jsem_reads_the_published_xml_files_too(tmp_path):
    problems = jsem_problems()
    for name in catalog().datasets["jsem"].source.extra["xml_files"]:
        write(tmp_path / f"jaster/jsem/{name}.xml", jsem_xml(problems if name == "Adjectives" else []))
    from_xml, _ = load("jsem", tmp_path)
    assert len(from_xml.test) == 3 and from_xml.test[0].input.startswith("前提：ジョンは本を")


def test_niilc_joins_answers_and_drops_questions_without_one(data):
    splits, _ = load("niilc", data)
    outputs = [ex.output for ex in splits.test]
    assert "香川県,愛媛県" in outputs and "-" not in outputs


def test_jnli_without_its_train_file_lends_the_last_test_rows_as_few_shots(tmp_path):
    write_jnli(tmp_path, with_train=False, n_valid=40)
    splits, _ = load("jnli", tmp_path)
    assert (len(splits.test), len(splits.fewshot)) == (8, 32)
    assert splits.fewshot_source == "last 32 test rows" and "not scored" in splits.notes[0]
    write_jsquad(tmp_path, with_train=False)  # 6 questions cannot lend 32
    with pytest.raises(EvalkitError, match="too small to lend 32"):
        load("jsquad", tmp_path)


def test_jcola_out_of_domain_keeps_32_shots_then_halves_dev_and_test(data):
    splits, _ = load("jcola-out-of-domain", data)
    assert (len(splits.fewshot), len(splits.test)) == (32, 4)


def test_mawps_tests_on_the_second_half_and_reads_numbers_from_worked_examples(data):
    splits, _ = load("mawps", data)
    assert len(splits.test) == 5 and splits.test[0].input.startswith("問題：りんごが")
    assert [ex.output for ex in splits.fewshot] == ["2", "4", "6", "8"] * 2


def test_jmmlu_halves_each_subject_and_reads_quoted_fields_and_byte_order_marks(data):
    splits, _ = load("jmmlu", data)
    # 24 -> 12/12 and 18 -> 9/9 dev/test; train takes 16 of dev and 16 of test (tests/test_jaster_jmmlu.py)
    assert (len(splits.test), len(splits.fewshot), splits.fewshot_source) == (5, 32, "train")
    assert all(not ex.input.startswith("\ufeff") for ex in splits.test)
    assert any("D.選択肢" in ex.input and ", 長い" in ex.input for ex in splits.test)
    assert "2 of 53 subjects" in splits.notes[0]


@pytest.mark.parametrize("name, n_test, first_output", [
    ("chabsa", 1, f"売上{shuffled(list(range(10)))[9]} positive"),  # documents split 80/10/10 after a seed-42 shuffle
    ("alt-e-to-j", 4, "これは5の1番目の文です。"), ("alt-j-to-e", 4, "This is sentence 1 of 5."),
    ("wikicorpus-e-to-j", 1, None), ("wikicorpus-j-to-e", 1, None),
])
def test_archive_loaders(data, name, n_test, first_output):
    splits, _ = load(name, data)
    assert len(splits.test) == n_test and splits.fewshot
    if first_output is not None:
        assert splits.test[0].output == first_output


def test_wiki_loader_stops_reading_documents_at_the_hint(data):
    splits, _ = load("wiki_reading", data, max_test=1, max_fewshot=2)
    assert (len(splits.test), len(splits.fewshot)) == (1, 2)


# --- errors name the file and what is wrong --------------------------------------------------------


@pytest.mark.parametrize("name, relative, content, message", [
    ("jamp", "jaster/jamp/test_2.tsv", "num\tpremise\thypothesis\tgold_label\n1\tonly two\n", r"test_2.tsv:2: expected 4 tab-separated fields, found 2"),
    ("jamp", "jaster/jamp/test_2.tsv", "num\tpremise\n1\tx\n", r"test_2.tsv: header lacks column\(s\) hypothesis, gold_label"),
    ("jnli", "jaster/jnli/valid-v1.1.json", '{"sentence1": "a"\n', r"valid-v1.1.json:1: not valid JSON"),
    ("jnli", "jaster/jnli/valid-v1.1.json", '{"sentence1": "a", "label": "neutral"}\n', r"valid-v1.1.json: line 1: lacks field\(s\) sentence2"),
    ("jnli", "jaster/jnli/valid-v1.1.json", '{"sentence1": "a", "sentence2": "b", "label": "maybe"}\n', r"has label 'maybe', expected one of entailment, contradiction, neutral"),
    ("niilc", "jaster/niilc/NIILC-ECQA2015_test.xml", "<questions><question>", r"NIILC-ECQA2015_test.xml: not well-formed XML"),
    ("jsquad", "jaster/jsquad/valid-v1.1.json", "[1, 2]", r"valid-v1.1.json: expected SQuAD JSON"),
    ("commonsensemoralja", "jaster/commonsensemoralja/data_test.csv", "id,text\n0,x\n", r"data_test.csv: expected a header ',sent,label'"),
    ("jmmlu", "jaster/jmmlu/anatomy.csv", "q,a,b\n", r"anatomy.csv: row 1: expected 6 comma-separated fields, found 3"),
    ("mawps", "jaster/mawps/shot_example.json", '[{"shot_example": "no delimiter"}]', r"shot_example.json: item 0 is not"),
    ("wiki_ner", "jaster/wiki/wac_v1.1.2_test.jsonl", '{"doc_id": "d1"}\n', r"wac_v1.1.2_test.jsonl:1: expected an object with doc_id and knp"),
])
def test_malformed_files_name_the_file_and_the_problem(tmp_path, name, relative, content, message):
    make_jaster_data(tmp_path)
    write(tmp_path / relative, content)
    with pytest.raises(EvalkitError, match=message):
        load_original(name, tmp_path, num_fewshot=0, limit=None)


def test_a_missing_file_names_it_and_where_it_is_published(tmp_path):
    make_jaster_data(tmp_path)
    (tmp_path / "jaster/jsick/train.tsv").unlink()
    with pytest.raises(EvalkitError, match=r"jaster:jsick: missing data file .*jaster/jsick/train.tsv; it is published at https://"):
        load_original("jsick", tmp_path, num_fewshot=4, limit=None)


def test_more_shots_than_the_pool_holds_is_a_clear_error(data):
    with pytest.raises(EvalkitError, match=r"jaster:mgsm: --num-fewshot 9 exceeds the 8 examples of its few-shot pool"):
        load_original("mgsm", data, num_fewshot=9, limit=None)


# --- without a data folder: the published files, downloaded once ------------------------------------


def test_without_a_data_folder_files_are_downloaded_once_into_the_cache(data, tmp_path, monkeypatch):
    fetched = []

    def fake_fetch(url: str, dest: Path) -> None:
        fetched.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((data / "jaster/jamp" / dest.name).read_bytes())

    monkeypatch.setattr(sources, "fetch_url", fake_fetch)
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "cache"))
    first = load_original("jamp", None, num_fewshot=4, limit=None)
    again = load_original("jamp", None, num_fewshot=4, limit=None)
    assert sorted(u.rsplit("/", 1)[1] for u in fetched) == ["test_2.tsv", "train_all.tsv"]  # the second load used the cache
    assert first.test == again.test and first.info["source"] == "published files (downloaded)"
    assert (tmp_path / "cache/jaster/jamp/test_2.tsv").is_file()


def test_offline_without_a_data_folder_says_what_failed_and_how_to_fix_it(tmp_path, monkeypatch):
    def offline(url: str, dest: Path) -> None:
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(sources, "fetch_url", offline)
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(EvalkitError, match=r"jaster:aio: could not download https://\S+aio_01_dev.jsonl \(Temporary failure"
                                           r" in name resolution\); offline, pass --data-dir with jaster/aio/aio_01_dev.jsonl in it"):
        load_original("aio", None, num_fewshot=4, limit=None)
