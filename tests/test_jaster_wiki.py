"""The wiki_* tasks' rules, each on a small invented KNP document: which sentences form the input, how
each annotation line is written, which documents are left out. tests/integration/test_jaster_wiki_real.py
checks the same rules against llm-jp-eval 1.3.0's own output on the real corpus."""

from __future__ import annotations

import json

import pytest

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster import wiki
from evalkit.tasks.jaster.catalog import catalog
from evalkit.tasks.jaster.sources import DatasetFiles


def knp(text: str) -> str:
    """KNP from a short form: a morpheme line is `surface reading pos [subpos]`; other lines stay as they are."""
    out = []
    for line in text.strip("\n").splitlines():
        line = line.strip(" ")  # ASCII spaces only: a surface may be a full-width space
        if line.startswith(("#", "*", "+")) or line == "EOS":
            out.append(line)
        else:
            surface, reading, pos, *subpos = line.split(" ")
            out.append(f"{surface} {reading} {surface} {pos} 0 {subpos[0] if subpos else '*'} 0 * 0 * 0 NIL")
    return "\n".join(out) + "\n"


def example(task: str, document: str) -> tuple[str, str] | None:
    parsed = wiki.parse_for(task, document)
    return wiki.convert(task, parsed) if parsed is not None else None


# A host sentence (括弧削除) with two parenthesised sentences split off it, then a plain sentence.
BRACKETS = knp("""
# S-ID:b1-01 括弧削除 KNP:5.0
* 1D
+ 1D <NE:LOCATION:北山村>
  北山 きたやま 名詞 地名
  村 むら 接尾辞 名詞性名詞接尾辞
  は は 助詞 副助詞
* -1D
+ -1D
  静かだ しずかだ 形容詞
  。 。 特殊 句点
EOS
# S-ID:b1-02 括弧始:（ 括弧終:） 括弧位置:3 KNP:5.0
* -1D
+ -1D
  きたやまむら きたやまむら 名詞 普通名詞
EOS
# S-ID:b1-03 括弧始:（ 括弧終:） 括弧位置:3 KNP:5.0
* -1D
+ -1D <NE:LOCATION:Kitayama>
  Kitayama Kitayama 名詞 地名
EOS
# S-ID:b1-04 KNP:5.0
* 1D
+ 1D
  川 かわ 名詞 普通名詞
  が が 助詞 格助詞
* -1D
+ -1D <rel type="ガ" target="川" sid="b1-04" id="0"/>
  流れる ながれる 動詞
  。 。 特殊 句点
EOS
""")

# Readings: alternatives, capitals, mixed case, a word read as a blank, a blank inside a phrase.
READINGS = knp("""
# S-ID:r1-01 KNP:5.0
* 1D
+ 1D
  二百 にひゃく/にひゃっ 名詞 数詞
  の の 助詞 接続助詞
* 2D
+ 2D
  XML XML 名詞 普通名詞
  　 　 特殊 空白
  NG 　 名詞 普通名詞
  と と 助詞 格助詞
* -1D
+ -1D
  Df Df 特殊 記号
  。 。 特殊 句点
EOS
""")

# Named entities: a blank inside one, an OPTIONAL one, and their order (host sentence first).
ENTITIES = knp("""
# S-ID:n1-01 KNP:5.0
* 2D
+ 2D <NE:ARTIFACT:Blue　Sky>
  Blue Blue 名詞 普通名詞
  　 　 特殊 空白
  Sky Sky 名詞 普通名詞
  を を 助詞 格助詞
* 2D
+ 2D <NE:OPTIONAL:昨日>
  昨日 きのう 名詞 時相名詞
* -1D
+ -1D <NE:PERSON:花子>
  花子 はなこ 名詞 人名
  だ だ 判定詞
  。 。 特殊 句点
EOS
""")
ONLY_OPTIONAL = knp("""
# S-ID:n2-01 KNP:5.0
* -1D
+ -1D <NE:OPTIONAL:昨日>
  昨日 きのう 名詞 時相名詞
  。 。 特殊 句点
EOS
""")

# Predicates and arguments: two predicates in one phrase, a dependent widening an argument, an exophoric
# argument and one inside the predicate's phrase (both left out), a copula, cases out of order, ガ２,
# an argument in another sentence, symbols only.
PREDICATES = knp("""
# S-ID:p1-01 KNP:5.0
* 2D
+ 1D
  赤色 あかいろ 名詞 普通名詞
+ 4D
  車両 しゃりょう 名詞 普通名詞
  を を 助詞 格助詞
* 2D
+ 4D
  市 し 名詞 普通名詞
  が が 助詞 格助詞
* -1D
+ 4D <rel type="ヲ" target="車両" sid="p1-01" id="1"/><rel type="ガ" target="市" sid="p1-01" id="2"/>
  運転 うんてん 名詞 サ変名詞
+ -1D <rel type="ヲ" target="車両" sid="p1-01" id="1"/><rel type="ニ" target="不特定:人"/><rel type="ガ" target="運転" sid="p1-01" id="3"/><rel type="ガ" target="市" sid="p1-01" id="2"/>
  開始 かいし 名詞 サ変名詞
  である である 判定詞
  。 。 特殊 句点
EOS
# S-ID:p1-02 KNP:5.0
* 3D
+ 3D
  兄 あに 名詞 普通名詞
  と と 助詞 格助詞
* 3D
+ 3D
  駅 えき 名詞 普通名詞
  から から 助詞 格助詞
* 3D
+ 3D
  象 ぞう 名詞 普通名詞
  は は 助詞 副助詞
* -1D
+ -1D <rel type="カラ" target="駅" sid="p1-02" id="1"/><rel type="ガ２" target="象" sid="p1-02" id="2"/><rel type="ト" target="兄" sid="p1-02" id="0"/><rel type="ガ" target="市" sid="p1-01" id="2"/>
  歩く あるく 動詞
  。 。 特殊 句点
EOS
# S-ID:p1-03 KNP:5.0
* 3D
+ 3D
  ＃ ＃ 特殊 記号
  、 、 特殊 読点
* 2D
+ 2D <rel type="ガ" target="鳥" sid="p1-03" id="2"/>
  ◎ ◎ 特殊 記号
  で で 判定詞
* 3D
+ 3D
  鳥 とり 名詞 普通名詞
  が が 助詞 格助詞
* -1D
+ -1D <rel type="ヲ" target="＃" sid="p1-03" id="0"/>
  「 「 特殊 括弧始
  使う つかう 動詞
  」 」 特殊 括弧終
  。 。 特殊 句点
EOS
""")

# A second nominative written with a half-width digit, as rhoknp also reads it.
HALF_WIDTH_CASE = knp("""
# S-ID:p2-01 KNP:5.0
* 1D
+ 1D
  象 ぞう 名詞 普通名詞
  は は 助詞 副助詞
* -1D
+ -1D <rel type="ガ2" target="象" sid="p2-01" id="0"/>
  大きい おおきい 形容詞
EOS
""")

# Coreference: a mention widened by its dependents, a copula trimmed off, and a link through a bracket
# sentence (NCS = 北大陸学 only there), which does not count.
COREFERENCE = knp("""
# S-ID:c1-01 括弧削除 KNP:5.0
* 2D
+ 1D
  北 きた 名詞 普通名詞
+ 2D
  大陸 たいりく 名詞 普通名詞
+ 4D
  学 がく 接尾辞 名詞性名詞接尾辞
  　 　 特殊 空白
  は は 助詞 副助詞
  、 、 特殊 読点
* 2D
+ 4D <rel type="=" target="大陸" sid="c1-01" id="1"/>
  大陸 たいりく 名詞 普通名詞
  の の 助詞 接続助詞
* -1D
+ -1D <rel type="=構" target="学" sid="c1-01" id="2"/>
  分野 ぶんや 名詞 普通名詞
  である である 判定詞
  。 。 特殊 句点
EOS
# S-ID:c1-02 括弧始:（ 括弧終:） 括弧位置:4 KNP:5.0
* -1D
+ -1D <rel type="=" target="学" sid="c1-01" id="2"/>
  NCS NCS 名詞 普通名詞
EOS
# S-ID:c1-03 KNP:5.0
* 1D
+ 1D <rel type="=" target="NCS" sid="c1-02" id="0"/>
  NCS NCS 名詞 普通名詞
  は は 助詞 副助詞
* -1D
+ -1D
  広い ひろい 形容詞
  。 。 特殊 句点
EOS
""")

MAIN_TEXT = "北山村は静かだ。川が流れる。"
RESTORED_TEXT = "北山村（きたやまむら）は静かだ。Kitayama川が流れる。"  # first bracket sentence back in, the second plain

CASES = [
    # task, document, (input, output) or None where the document is left out
    # -- bracket sentences: out of reading, dependency and coreference; put back (the first one) for NER and PAS
    ("wiki_reading", BRACKETS, (MAIN_TEXT, "きたやまむらはしずかだ。かわがながれる。")),
    ("wiki_dependency", BRACKETS, (MAIN_TEXT, "北山村は -> 静かだ。\n川が -> 流れる。")),
    ("wiki_ner", BRACKETS, (RESTORED_TEXT, "北山村（地名） Kitayama（地名）")),
    ("wiki_pas", BRACKETS, (RESTORED_TEXT, "流れる ガ：川")),
    ("wiki_coreference", BRACKETS, None),  # no coreference at all
    # -- readings: first alternative, capitals spelt out, mixed case kept, a blank reading of a word dropped
    ("wiki_reading", READINGS, ("二百のXML　NGとDf。", "にひゃくのえっくすえむえる　とDf。")),
    # -- whitespace inside units is kept
    ("wiki_dependency", READINGS, ("二百のXML　NGとDf。", "二百の -> XML　NGと\nXML　NGと -> Df。")),
    # -- named entities: space-separated, document order, blanks kept, OPTIONAL ones left out
    ("wiki_ner", ENTITIES, ("Blue　Skyを昨日花子だ。", "Blue　Sky（固有物名） 花子（人名）")),
    ("wiki_ner", ONLY_OPTIONAL, None),
    ("wiki_ner", READINGS, None),
    # -- predicates: the whole phrase, copula kept; cases in llm-jp-eval's order, ガ２ as ガ; arguments widened
    #    and trimmed, exophora and same-phrase arguments left out; symbols only: the untrimmed text; no de-duplication
    ("wiki_pas", PREDICATES, (
        "赤色車両を市が運転開始である。兄と駅から象は歩く。＃、◎で鳥が「使う」。",
        "\n".join(["運転開始である ガ：市 ヲ：赤色車両", "運転開始である ガ：市 ヲ：赤色車両",
                   "歩く ガ：市 ト：兄 カラ：駅 ガ：象", "◎で ガ：鳥", "使う ヲ：＃、"]),
    )),
    ("wiki_pas", HALF_WIDTH_CASE, ("象は大きい", "大きい ガ：象")),
    ("wiki_pas", READINGS, None),
    # -- coreference: one entity a line in order of first mention; mentions widened and trimmed (copula too);
    #    the link through the bracket sentence does not count
    ("wiki_coreference", COREFERENCE, ("北大陸学　は、大陸の分野である。NCSは広い。", "北大陸 大陸\n北大陸学 分野")),
]


@pytest.mark.parametrize("task, document, expected", CASES)
def test_a_document_becomes_llm_jp_evals_example(task, document, expected):
    assert example(task, document) == expected


@pytest.mark.parametrize("task", list(wiki.CONVERTERS))
def test_skipping_before_the_parse_and_parsing_fewer_relations_change_nothing(task):
    for document in (BRACKETS, READINGS, ENTITIES, ONLY_OPTIONAL, PREDICATES, HALF_WIDTH_CASE, COREFERENCE):
        full = wiki.without_bracket_sentences(document) if task == "wiki_coreference" else document
        assert example(task, document) == wiki.convert(task, wiki.parse_knp(full, "all"))


@pytest.mark.parametrize("reading, surface, expected", [
    ("にひゃく/にひゃっ", "二百", "にひゃく"),
    ("しゅちょう/すちょう/あかみとり", "朱鳥", "しゅちょう"),
    ("JVC", "JVC", "じぇーぶいしー"),
    ("QWYZ", "QWYZ", "きゅーだぶりゅーわいぜっと"),
    ("BSh", "BSh", "BSh"),
    ("AT&T", "AT&T", "AT&T"),
    ("　", "NG", ""),
    ("　", "　", "　"),
    ("。", "。", "。"),
])
def test_morpheme_readings(reading, surface, expected):
    sentence = knp(f"# S-ID:m-01 KNP:5.0\n* -1D\n+ -1D\n{surface} {reading} 名詞\nEOS")
    (morpheme,) = wiki.parse_knp(sentence, "none").morphemes
    assert wiki.morpheme_reading(morpheme) == expected


def test_a_host_without_its_bracket_sentence_keeps_its_text():
    document = knp("""
# S-ID:h-01 括弧削除 KNP:5.0
* -1D
+ -1D <NE:PERSON:花子>
  花子 はなこ 名詞 人名
  。 。 特殊 句点
EOS
# S-ID:h-02 KNP:5.0
* -1D
+ -1D
  雨 あめ 名詞 普通名詞
  。 。 特殊 句点
EOS
""")
    assert example("wiki_ner", document) == ("花子。雨。", "花子（人名）")


def test_without_bracket_sentences_drops_whole_sentences_only():
    stripped = wiki.without_bracket_sentences(BRACKETS)
    assert "b1-02" not in stripped and "b1-03" not in stripped and "b1-01" in stripped and "b1-04" in stripped
    # a morpheme whose subpos is 括弧始 does not make its sentence a bracket sentence
    assert wiki.without_bracket_sentences(PREDICATES) == PREDICATES


def test_the_loader_keeps_document_order_skips_empty_documents_and_takes_shots_from_dev(tmp_path):
    folder = tmp_path / "jaster/wiki"
    folder.mkdir(parents=True)
    rows = {"test": [("t1", READINGS), ("t2", ENTITIES), ("t3", ONLY_OPTIONAL), ("t4", BRACKETS)],
            "dev": [("d1", ENTITIES), ("d2", READINGS), ("d3", BRACKETS)]}
    for split, documents in rows.items():
        (folder / f"wac_v1.1.2_{split}.jsonl").write_text(
            "".join(json.dumps({"doc_id": i, "knp": k}, ensure_ascii=False) + "\n" for i, k in documents),
            encoding="utf-8")
    files = DatasetFiles("wiki_ner", catalog().datasets["wiki_ner"].source, tmp_path)
    splits = wiki.load_wiki("wiki_ner")(files)
    assert [ex.id for ex in splits.test] == ["t2", "t4"]
    assert [ex.id for ex in splits.fewshot] == ["d1", "d3"] and splits.fewshot_source == "dev"
    assert splits.test[1].input == RESTORED_TEXT


def test_a_malformed_document_is_named(tmp_path):
    folder = tmp_path / "jaster/wiki"
    folder.mkdir(parents=True)
    broken = "# S-ID:x-01 KNP:5.0\n* -1D\n+ -1D\nnot a morpheme line\nEOS\n"
    for split in ("test", "dev"):
        (folder / f"wac_v1.1.2_{split}.jsonl").write_text(json.dumps({"doc_id": "x1", "knp": broken}) + "\n",
                                                            encoding="utf-8")
    files = DatasetFiles("wiki_reading", catalog().datasets["wiki_reading"].source, tmp_path)
    with pytest.raises(EvalkitError, match="document x1 is not readable KNP"):
        wiki.load_wiki("wiki_reading")(files)

