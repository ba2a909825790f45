"""The contamination scan on invented items and corpora: planted copies of every kind are found, a clean corpus
flags nothing, every reader and engine gives the same verdicts, and lm-evaluation-harness agrees."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from evalkit.contamination.check import CheckSettings, check
from evalkit.contamination.corpus import batches, shards
from evalkit.contamination.index import Segment
from evalkit.contamination.report import items
from evalkit.errors import EvalkitError

JA_ITEMS = {
    "ja-1": ("山田さんは毎朝六時に起きて、近所の公園を三十分ほど散歩してから朝ごはんを食べます。山田さんは何時に起きますか。",
             "山田さんは毎朝六時に起きて公園を散歩してから朝ごはんを食べるので、答えは六時です。"),
    "ja-2": ("前提：赤い帽子をかぶった子供が川のそばで大きな犬と一緒に走り回っている。\n仮説：子供が犬と遊んでいる。", "entailment"),
    "ja-3": ("図書館は月曜日が休館日で、火曜日から日曜日までは午前九時から午後八時まで開いています。水曜日の閉館時刻は何時ですか。",
             "午後八時"),
    "ja-4": ("次の文章を読んで質問に答えてください。北海道の冬は長く、十一月の終わりから三月の半ばまで雪が積もることが多い。",
             "北海道の冬は十一月の終わりから三月の半ばまで続き、その間ほとんど毎日雪が積もっている。"),
}
EN_ITEMS = {
    "en-1": ("A baker makes twelve loaves of rye bread every morning and sells three quarters of them before noon; "
             "how many loaves are left for the afternoon customers?",
             "The baker sells three quarters of twelve loaves, which is nine loaves, so three loaves are left for the "
             "afternoon customers of the small bakery."),
    "en-2": ("The committee postponed the vote on the new harbour bridge because two engineers raised doubts about "
             "the strength of the northern foundation pillars.", "postponed"),
    "en-3": ("Write a short poem about a lighthouse keeper who counts the passing ships every night and writes "
             "their names in a worn leather notebook.", ""),
}
FILLER = ("river", "window", "orange", "quietly", "station", "garden", "paper", "seven", "under", "music", "travel",
          "yellow", "market", "slowly", "mountain", "letter", "winter", "coffee", "bright", "table", "forest", "cloud")
JA_FILLER = ("今日は天気が良いので洗濯物がよく乾きます。", "駅前の商店街には新しいパン屋ができました。",
             "会議の資料は明日の朝までに準備しておきます。", "夏休みには家族で海へ行く予定です。",
             "この道をまっすぐ進むと郵便局があります。", "週末は友達と映画を見に行きました。")


def segments() -> list[Segment]:
    out = []
    for task, table in (("ja_task", JA_ITEMS), ("en_task", EN_ITEMS)):
        for sample_id, (question, answer) in table.items():
            out.append(Segment(task, sample_id, "g", "input", question))
            if answer:
                out.append(Segment(task, sample_id, "g", "answer", answer))
    return out


def filler(rng: random.Random, words: int = 40) -> str:
    english = " ".join(rng.choice(FILLER) for _ in range(words))
    return english.capitalize() + ". " + "".join(rng.choice(JA_FILLER) for _ in range(3))


def write_corpus(path: Path, planted: list[str], documents: int = 60, seed: int = 1) -> Path:
    rng = random.Random(seed)
    rows = [filler(rng) for _ in range(documents)]
    for k, text in enumerate(planted):
        at = 3 + 7 * k
        rows[at] = rows[at] + " " + text + " " + filler(rng, 10)
    path.write_text("".join(json.dumps({"text": r}, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def scan(corpora, tmp_path: Path | None = None, **settings):
    settings.setdefault("workers", 1)
    config = CheckSettings(tasks=["ja_task", "en_task"], corpora=[str(c) for c in corpora], **settings)
    _, found, about = check(config, segments(), tmp_path)
    return {key: item["parts"] for key, item in items(found, config.threshold).items() if item["parts"]}, found, about


def test_planted_copies_of_every_kind_are_found_and_nothing_else(tmp_path):
    planted = [
        JA_ITEMS["ja-1"][0],  # verbatim
        "前提 ： 赤い帽子を かぶった 子供が川の そばで大きな犬と一緒に走り回っている 。 仮説 ： 子供が犬と遊んでいる",  # spacing, punctuation
        "ＴＨＥ ＣＯＭＭＩＴＴＥＥ postponed the vote — on the new harbour bridge; because two engineers raised doubts "
        "about the strength of the northern foundation pillars",  # width, case, punctuation
        "blog post: " + JA_ITEMS["ja-4"][1] + " thanks for reading",  # the answer alone, in another context
        "by the way the baker sells three quarters of twelve loaves, which is nine loaves, so three loaves are left "
        "for the afternoon customers of the small bakery. see you",  # an English answer alone
        EN_ITEMS["en-3"][0][30:],  # a partial copy from the middle of a word: 17 of 24 words
        JA_ITEMS["ja-3"][0][10:45],  # a partial copy: 35 of 58 characters
    ]
    found, verdicts, about = scan([write_corpus(tmp_path / "c.jsonl", planted)])
    assert found == {
        ("ja_task", "ja-1"): ["input"],  # its answer shares 13 characters with its question: under n
        ("ja_task", "ja-2"): ["input"],
        ("ja_task", "ja-3"): ["input"],
        ("ja_task", "ja-4"): ["answer"],
        ("en_task", "en-1"): ["answer"],
        ("en_task", "en-2"): ["input"],
        ("en_task", "en-3"): ["input"],
    }
    by_key = {(v.sample_id, v.part): v for v in verdicts}
    verbatim = by_key["ja-1", "input"]
    assert verbatim.matched == verbatim.grams and verbatim.longest == len(tokenize(JA_ITEMS["ja-1"][0]))
    partial = by_key["en-3", "input"]
    assert 0 < partial.matched < partial.grams and partial.longest == 17
    assert partial.first.startswith(str(tmp_path / "c.jsonl") + ":") and partial.first_ngram.startswith("keeper who")
    assert about["documents"] == 60


def tokenize(text: str) -> list[str]:
    from evalkit.contamination.text import tokenizer

    return tokenizer("units").split(text)


def test_a_corpus_with_nothing_planted_flags_nothing(tmp_path):
    found, verdicts, _ = scan([write_corpus(tmp_path / "clean.jsonl", [], documents=300)])
    assert found == {}
    assert all(v.matched == 0 and v.first is None for v in verdicts)


def test_segments_shorter_than_n_are_not_checkable_and_never_flagged(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", ["postponed", "entailment 午後八時"])
    found, verdicts, _ = scan([corpus])
    short = {(v.sample_id, v.part): v.grams for v in verdicts if v.part == "answer" and v.grams == 0}
    assert short == {("ja-2", "answer"): 0, ("ja-3", "answer"): 0, ("en-2", "answer"): 0}
    assert found == {}


def test_threshold_asks_for_a_share_of_the_ngrams(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", [EN_ITEMS["en-3"][0][30:]])  # 5 of its 12 13-grams
    assert ("en_task", "en-3") in scan([corpus])[0]
    assert ("en_task", "en-3") in scan([corpus], threshold=5 / 12)[0]
    assert scan([corpus], threshold=0.42)[0] == {}


def test_ngram_sizes_can_be_set_per_language(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", [JA_ITEMS["ja-3"][0][10:25]])  # 15 characters
    assert scan([corpus])[0] == {}  # shorter than the default 20
    assert ("ja_task", "ja-3") in scan([corpus], ngram_ja=12)[0]
    with pytest.raises(EvalkitError, match="threshold"):
        scan([corpus], threshold=1.5)


def test_mecab_words_find_the_japanese_copies(tmp_path):
    pytest.importorskip("MeCab")
    corpus = write_corpus(tmp_path / "c.jsonl", [JA_ITEMS["ja-1"][0], JA_ITEMS["ja-4"][1]])
    found, _, _ = scan([corpus], tokenizer="mecab")
    assert set(found) == {("ja_task", "ja-1"), ("ja_task", "ja-4")}


# --- readers, shards, engines --------------------------------------------------------------------


def _planted_rows() -> list[str]:
    rng = random.Random(3)
    rows = [filler(rng) for _ in range(40)]
    rows[5] += " " + JA_ITEMS["ja-1"][0]
    rows[31] += " " + EN_ITEMS["en-2"][0]
    return rows


EXPECTED = {("ja_task", "ja-1"): ["input"], ("en_task", "en-2"): ["input"]}


def test_every_reader_gives_the_same_verdicts(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _planted_rows()
    lines = "".join(json.dumps({"text": r}, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    (tmp_path / "plain.jsonl").write_bytes(lines)
    (tmp_path / "text.txt").write_text("\n".join(r.replace("\n", " ") for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "gz.jsonl.gz").write_bytes(gzip.compress(lines))
    (tmp_path / "zst.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines))
    (tmp_path / "other.jsonl").write_bytes(b"".join(json.dumps({"content": r}).encode() + b"\n" for r in rows))
    pq.write_table(pa.table({"text": rows, "id": list(range(len(rows)))}), tmp_path / "rows.parquet", row_group_size=7)
    folder = tmp_path / "folder"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(lines[: lines.index(b"\n", len(lines) // 2) + 1])
    (folder / "deep" / "b.jsonl.gz").write_bytes(gzip.compress(lines[lines.index(b"\n", len(lines) // 2) + 1:]))
    (folder / "notes.pdf").write_bytes(b"%PDF not a corpus")
    for corpus in ["plain.jsonl", "text.txt", "gz.jsonl.gz", "zst.jsonl.zst", "rows.parquet", "folder", "f*/**/*.jsonl*"]:
        found, _, about = scan([tmp_path / corpus] if "*" not in corpus else [f"{tmp_path}/{corpus}"])
        assert found == EXPECTED, corpus
        assert about["documents"] == len(rows), corpus
    found, _, _ = scan([tmp_path / "other.jsonl"], text_field="content")
    assert found == EXPECTED


def test_parquet_hits_say_which_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": _planted_rows()}), tmp_path / "rows.parquet", row_group_size=4)
    _, verdicts, _ = scan([tmp_path / "rows.parquet"])
    assert {v.first for v in verdicts if v.first} == {f"{tmp_path / 'rows.parquet'}#row5", f"{tmp_path / 'rows.parquet'}#row31"}


def test_a_local_dataset_folder_reads_as_a_hub_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "my_corpus"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": r}, ensure_ascii=False) + "\n"
                                                for r in _planted_rows()), encoding="utf-8")
    found, verdicts, _ = scan([f"hf:{folder}:train"])
    assert found == EXPECTED
    assert {v.first for v in verdicts if v.first} == {f"hf:{folder}:train#row5", f"hf:{folder}:train#row31"}


def test_byte_range_shards_cover_every_line_once(tmp_path):
    rows = _planted_rows() * 5
    corpus = tmp_path / "big.jsonl"
    corpus.write_text("".join(json.dumps({"text": r}, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for shard_bytes in (1, 97, 1000, 4096, 10**9):
        pieces = shards([str(corpus)], shard_bytes=shard_bytes)
        texts = [t for piece in pieces for batch, _ in batches(piece, chars=300) for t in batch]
        assert texts == rows, shard_bytes
        assert sum(p.size for p in pieces) == corpus.stat().st_size
    single, _, _ = scan([corpus])
    split_up, verdicts, about = scan([corpus], shard_bytes=1000, workers=2)
    assert split_up == single == EXPECTED and about["shards"] > 10
    first = {v.sample_id: v.first for v in verdicts if v.first}
    assert first["en-2"] == f"{corpus}:{_offset_of_line(corpus, 31)}"  # the first place in the corpus, whatever finished first


def _offset_of_line(path: Path, line: int) -> int:
    return sum(len(raw) for raw in path.read_bytes().splitlines(keepends=True)[:line])


def test_the_same_shard_function_runs_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("dask.distributed")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": r}, ensure_ascii=False) + "\n" for r in _planted_rows() * 3),
                      encoding="utf-8")
    local, local_verdicts, _ = scan([corpus], shard_bytes=2000)
    on_dask, dask_verdicts, about = scan([corpus], shard_bytes=2000, engine="dask", workers=2)
    assert on_dask == local == EXPECTED and about["shards"] > 3
    assert dask_verdicts == local_verdicts


@pytest.mark.parametrize("content, message", [
    ('{"text": "fine"}\n{"text": broken}\n', r"c\.jsonl: the line at byte 17 is not JSON"),
    ('{"text": "fine"}\n{"body": "x"}\n', r"c\.jsonl: the line at byte 17 has no 'text' field \(--text-field\)"),
    ('{"text": "fine"}\n[1, 2]\n', r"c\.jsonl: the line at byte 17 has no 'text' field"),
])
def test_bad_corpus_lines_are_named(tmp_path, content, message):
    (tmp_path / "c.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(EvalkitError, match=message):
        scan([tmp_path / "c.jsonl"])


def test_paths_without_a_corpus_are_one_clear_error(tmp_path):
    with pytest.raises(EvalkitError, match="does not exist"):
        shards([str(tmp_path / "missing.jsonl")])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(EvalkitError, match=r"no \.jsonl, \.txt or \.parquet file"):
        shards([str(tmp_path / "empty")])


# --- agreement with lm-evaluation-harness ----------------------------------------------------------


def test_verdicts_agree_with_lm_evaluation_harness_13_gram_decontamination(tmp_path, monkeypatch):
    """lm-eval's `get_train_overlap` reads the training set's 13-grams from sorted zstd files, as its
    clean_training_data scripts write them (Janitor.normalize_string, word_ngrams); evalkit with
    tokenizer lm-eval and n=13 must flag the same items."""
    zstandard = pytest.importorskip("zstandard")
    decontaminate = pytest.importorskip("lm_eval.decontamination.decontaminate")
    from lm_eval.decontamination.janitor import Janitor, word_ngrams

    rng = random.Random(11)
    words = [f"{w}{i}" for i in range(40) for w in ("alpha", "Beta", "gamma's", "delta-x", "eps.")]

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n)) + rng.choice([".", "!", "?", ","])

    questions = [sentence(rng.randint(8, 40)) for _ in range(60)]
    documents = [sentence(rng.randint(20, 200)) for _ in range(300)]
    for k in range(0, 60, 3):  # a third of the items, whole or in part, with other punctuation and case
        q = questions[k].split()
        start = rng.randint(0, max(0, len(q) - 13))
        piece = " ".join(q[start:start + rng.randint(10, 20)])
        if k % 2:
            piece = piece.upper().replace(".", ";")
        documents[rng.randrange(len(documents))] += " " + piece

    janitor = Janitor()
    lines = sorted(f"{gram} {i}" for i, doc in enumerate(documents) for gram in word_ngrams(janitor.normalize_string(doc), 13))
    ngrams = tmp_path / "ngrams"
    ngrams.mkdir()
    (ngrams / "info.json").write_text(json.dumps({"ngram_size": 13}))
    (ngrams / "ngrams_0.bkt.txt.sorted.zst").write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))
    monkeypatch.chdir(tmp_path)  # it keeps its lookups under ./data
    (tmp_path / "data").mkdir()
    theirs = decontaminate.get_train_overlap({("bench", "test"): questions}, str(ngrams), 1000)["bench"]

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    config = CheckSettings(tasks=["bench"], corpora=[str(corpus)], tokenizer="lm-eval", ngram=13, workers=1)
    _, found, _ = check(config, [Segment("bench", str(i), "g", "input", q) for i, q in enumerate(questions)])
    ours = {int(v.sample_id) for v in found if v.matched}
    assert len(theirs) >= 10 and ours == theirs
    assert any(v.grams == 0 for v in found)  # items under 13 words: lm-eval cannot flag them either


def test_an_unknown_engine_is_one_clear_error(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", [])
    with pytest.raises(EvalkitError, match="--engine threads: processes, dask, or a Dask scheduler address"):
        scan([corpus], engine="threads")
