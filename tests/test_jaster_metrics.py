"""Jaster metrics and the two readings of a reply (strict, lenient), table-driven, malformed replies included."""

from __future__ import annotations

import pytest

from evalkit.tasks.jaster.catalog import catalog
from evalkit.tasks.jaster.extract import format_ok, lenient_answer
from evalkit.tasks.jaster.metrics import (
    bleu,
    char_f1,
    correlation,
    exact_match,
    exact_match_figure,
    normalize,
    parse_float,
    set_f1,
    strict_prediction,
)
from evalkit.records import SampleRecord
from evalkit.tasks.jaster.scorer import JasterScorer, ScoringRule
from evalkit.types import Sample


@pytest.mark.parametrize("reply, expected", [
    ("entailment", "entailment"),
    ("  entailment \n\n理由：前提から言える。", "entailment"),  # only the first paragraph
    ("entailment\n理由", "entailment\n理由"),  # a single newline does not end it
    ("\n\nentailment", ""),  # an empty first paragraph
    ("", ""),
    ("   \t ", ""),
    (None, ""),
    ("ｅｎｔａｉｌｍｅｎｔ", "entailment"),  # NFKC: full-width letters
    ("４２", "42"),
    ("（Ａ）", "(A)"),
])
def test_strict_prediction_is_the_nfkc_first_paragraph(reply, expected):
    assert strict_prediction(reply) == expected


@pytest.mark.parametrize("prediction, gold, expected", [
    ("entailment", "entailment", 1.0), ("Entailment", "entailment", 0.0), ("", "entailment", 0.0), ("", "", 1.0),
])
def test_exact_match(prediction, gold, expected):
    assert exact_match(prediction, gold) == expected


@pytest.mark.parametrize("prediction, gold, expected", [
    ("2", "2", 1.0), ("2.0", "2", 1.0), ("2.50", "2.5", 1.0), ("-3", "-3.0", 1.0), ("3", "2", 0.0),
    ("", "2", 0.0), ("   ", "2", 0.0), ("答えは2", "2", 0.0), ("1,000", "1000", 0.0), ("nan", "2", 0.0),
])
def test_exact_match_figure_compares_numbers(prediction, gold, expected):
    assert exact_match_figure(prediction, gold) == expected


# Expected values cross-checked against fuzzywuzzy 0.18 token_sort_ratio with python-Levenshtein,
# which llm-jp-eval's char_f1 uses (20,000 random pairs agreed).
@pytest.mark.parametrize("prediction, gold, expected", [
    ("東芝", "東芝", 1.0),
    ("答えは東芝です。", "東芝", 0.44),
    ("小笠原諸島を除く日本", "小笠原諸島", 0.67),
    ("", "東芝", 0.0),
    ("  ", "東芝", 0.0),
    ("", "", 1.0),
    ("!!!", "東芝", 0.0),  # punctuation only: nothing left to compare
    ("東京、大阪", "大阪 東京", 1.0),  # token sort: the order of comma-separated answers does not matter
    ("ABC Def", "def abc", 1.0),  # lower-cased
    ("1,000円", "1000円", 0.73),
    ("café", "cafe", 0.86),  # fuzzywuzzy drops the Latin-1 range
    ("qwzx", "東芝", 0.0),  # garbage
])
def test_char_f1_is_fuzzywuzzy_token_sort_ratio(prediction, gold, expected):
    assert char_f1(prediction, gold) == pytest.approx(expected)


def test_char_f1_sees_full_width_text_after_normalisation():
    assert char_f1(normalize("ｶﾀｶﾅ"), normalize("カタカナ")) == 1.0


@pytest.mark.parametrize("prediction, gold, expected", [
    ("a -> b\nc -> d", "a -> b\nc -> d", 1.0),
    ("c -> d\na -> b", "a -> b\nc -> d", 1.0),  # a set: order does not matter
    ("a -> b", "a -> b\nc -> d", 2 / 3),
    ("a -> b\na -> b", "a -> b", 1.0),  # repeated predicted lines count once
    ("a -> b", "a -> b\na -> b", 2 / 3),  # llm-jp-eval counts repeated gold lines in recall
    ("x", "a -> b", 0.0),
    ("", "a -> b", 0.0),
    ("  a -> b  \n", "a -> b", 2 / 3),  # the empty last line is a (wrong) item
])
def test_set_f1_over_lines(prediction, gold, expected):
    assert set_f1(prediction, gold) == pytest.approx(expected)


@pytest.mark.parametrize("text, expected", [
    ("3.2", 3.2), ("4", 4.0), ("答えは2.4です。", 2.4), ("", -2.0), ("abc", -2.0), ("2.5から3.0", -2.0), ("-1", 1.0),
])
def test_parse_float_keeps_digits_and_dots_as_llm_jp_eval(text, expected):
    assert parse_float(text) == expected


@pytest.mark.parametrize("method, predictions, references, expected", [
    ("pearson", [1, 2, 3], [1, 2, 3], pytest.approx(1.0)),
    ("pearson", [3, 2, 1], [1, 2, 3], pytest.approx(-1.0)),
    ("pearson", [2, 2, 2], [1, 2, 3], 0.0),  # constant predictions: undefined, scored 0
    ("pearson", [1], [1], None),
    ("spearman", [1, 10, 100], [1, 2, 3], 1.0),
    ("spearman", [-2.0, -2.0, 3.0], [0.0, 1.0, 5.0], pytest.approx(0.866, abs=1e-3)),
])
def test_correlations(method, predictions, references, expected):
    assert correlation(method, predictions, references) == expected


def test_correlations_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    predictions = [0.5, 2.0, 2.0, 4.8, -2.0, 3.3, 3.3, 1.0]
    references = [0.0, 2.4, 2.4, 5.0, 1.2, 3.0, 4.4, 1.0]
    assert correlation("pearson", predictions, references) == pytest.approx(stats.pearsonr(references, predictions)[0])
    assert correlation("spearman", predictions, references) == pytest.approx(stats.spearmanr(references, predictions)[0])


@pytest.mark.parametrize("prediction, gold, expected", [
    ("I am a student.", "I am a student.", 1.0), ("", "", 1.0), ("", "I am a student.", 0.0), ("   ", "x", 0.0),
])
def test_bleu_en_is_sentence_bleu_on_a_0_to_1_scale(prediction, gold, expected):
    assert bleu(prediction, gold, "en") == pytest.approx(expected)


def test_bleu_ja_tokenises_with_mecab():
    pytest.importorskip("MeCab")
    assert bleu("私は学生です。", "私は学生です。", "ja") == pytest.approx(1.0)
    assert 0.0 < bleu("私は先生です。", "私は学生です。", "ja") < 1.0


def test_rouge2_on_mecab_words():
    pytest.importorskip("MeCab")
    pytest.importorskip("rouge_score")
    from evalkit.tasks.jaster.metrics import rouge2

    assert rouge2("今日は晴れです。", "今日は晴れです。") == pytest.approx(1.0)
    assert rouge2("", "今日は晴れです。") == 0.0


# --- the two readings, per answer format -------------------------------------------------------------

CHOICES = {"choices": ["掲示板", "パソコン", "マザーボード", "ハードディスク", "まな板"]}


@pytest.mark.parametrize("dataset, reply, valid, lenient", [
    ("jnli", "entailment", True, "entailment"),
    ("jnli", "ｎｅｕｔｒａｌ", True, "neutral"),
    ("jnli", "Entailment", False, "entailment"),
    ("jnli", "答えはcontradictionです。", False, "contradiction"),
    ("jnli", "前提と仮説は矛盾します。", False, "contradiction"),  # a Japanese label name
    ("jnli", "entailment.\n\nneutral", False, "entailment"),  # 'entailment.' is not a label
    ("jnli", "", False, ""),
    ("jnli", "   ", False, ""),
    ("jnli", "xqzt 12 !!", False, ""),
    ("janli", "the relation is non-entailment", False, "non-entailment"),  # not 'entailment' inside it
    ("jsem", "YES", False, "yes"),
    ("jcommonsenseqa", "2", True, "2"),
    ("jcommonsenseqa", "２", True, "2"),
    ("jcommonsenseqa", "答えは2です", False, "2"),
    ("jcommonsenseqa", "(3)", False, "3"),
    ("jcommonsenseqa", "マザーボードです。", False, "2"),  # the choice named by its text
    ("jcommonsenseqa", "10", False, ""),  # not a 1 or a 0
    ("jmmlu", "B", True, "B"),
    ("jmmlu", "(C)", False, "C"),
    ("jmmlu", "正解: D", False, "D"),
    ("commonsensemoralja", "答えは1です。", False, "1"),
    ("mawps", "43", True, "43"),
    ("mawps", "43.0", True, "43.0"),
    ("mawps", "答えは43です", False, "43"),
    ("mawps", "27 + 16 = 43 個", False, "43"),
    ("mawps", "1,000", False, "1000"),
    ("mawps", "", False, ""),
    ("mawps", "inf", False, ""),
    ("jsts", "3.2", True, "3.2"),
    ("jsts", "3.2点", False, "3.2"),
    ("jsts", "7", False, ""),  # off the 0-5 scale
    ("jsts", "答えは4.0です。", False, "4.0"),
    ("niilc", "富士山", True, "富士山"),
    ("niilc", "答えは「富士山」です。", False, "富士山"),
    ("niilc", "この問題の答えは富士山です。", False, "富士山"),
    ("niilc", "万人が認める答えはない", True, "万人が認める答えはない"),  # a cue inside a bare answer
    ("niilc", "\n\n富士山", False, "富士山"),
    ("niilc", "", False, ""),
    ("wiki_reading", "たろうがほんをよんだ。", True, "たろうがほんをよんだ。"),
    ("wiki_reading", "太郎が本を読んだ。", False, "太郎が本を読んだ。"),  # kanji: not a reading
    ("wiki_ner", "太郎（人名）\n東京（地名）", True, "太郎(人名)\n東京(地名)"),
    ("wiki_ner", "太郎（人名）\n東京", False, "太郎(人名)\n東京"),
    ("wiki_ner", "答えは太郎（人名）です。", False, "太郎(人名)"),
    ("wiki_dependency", "太郎が -> 読んだ。", True, "太郎が -> 読んだ。"),
    ("wiki_dependency", "答えは太郎が -> 読んだ。です。", False, "太郎が -> 読んだ。"),
])
def test_strict_validity_and_lenient_reading(dataset, reply, valid, lenient):
    answer = catalog().datasets[dataset].answer
    meta = CHOICES if dataset == "jcommonsenseqa" else {}
    assert format_ok(answer, strict_prediction(reply)) is valid
    assert lenient_answer(answer, reply, meta) == lenient


def sample(dataset: str, target: str, **meta) -> Sample:
    """A sample as the jaster task loads it: it carries its dataset's scoring rule."""
    spec = catalog().datasets[dataset]
    return Sample(id=f"{dataset}-0", turns=("q",), target=target, genre=f"X/{dataset}",
                  metadata={"dataset": dataset, "rule": ScoringRule(spec.metric, spec.answer), **meta})


def record(dataset: str, score) -> SampleRecord:
    return SampleRecord(task="jaster", sample_id=f"{dataset}-0", genre=f"X/{dataset}", outputs=["r"],
                        scores=dict(score.metrics), details=dict(score.details))


@pytest.mark.parametrize("reply, strict, lenient, valid", [
    ("entailment", 1.0, 1.0, True),
    ("答えはentailmentです。", 0.0, 1.0, False),
    ("neutral", 0.0, 0.0, True),
    ("", 0.0, 0.0, False),
])
def test_scorer_reports_strict_and_lenient_under_stable_names(reply, strict, lenient, valid):
    score = JasterScorer().score([(sample("jnli", "entailment"), [reply])])[0]
    assert score.metrics == {"strict": strict, "lenient": lenient}
    assert (score.value, score.format_ok) == (strict, valid)
    assert score.details["metric"] == "exact_match"


def test_jsts_is_scored_over_the_dataset_by_aggregate():
    scorer = JasterScorer()
    golds, replies = ["0.0", "2.4", "5.0"], ["0.5", "答えは2です", "4.8"]
    scores = scorer.score([(sample("jsts", g), [r]) for g, r in zip(golds, replies)])
    assert all(s.metrics == {"strict": None, "lenient": None} for s in scores)
    records = [record("jsts", s) for s in scores]
    result = scorer.aggregate(records)
    assert result["strict"] == pytest.approx(correlation("pearson", [0.5, 2.0, 4.8], [0.0, 2.4, 5.0]))
    assert result["lenient"] == pytest.approx(result["strict"])
    mixed = records + [record("jnli", scorer.score([(sample("jnli", "entailment"), ["entailment"])])[0])]
    assert scorer.aggregate(mixed) == {}  # a category row averages its datasets instead
