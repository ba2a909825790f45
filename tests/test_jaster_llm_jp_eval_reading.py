"""Strict scores are llm-jp-eval's on the same replies: first paragraph ('\\n\\n'), NFKC, strip (the reading of
llm-jp-eval's later releases; 1.3.0 does not strip), then the dataset's metric as llm-jp-eval computes it.

char_f1 is fuzzywuzzy's token_sort_ratio / 100 (with python-Levenshtein, as llm-jp-eval installs it); where
fuzzywuzzy is installed (the dev extra) it is also checked against fuzzywuzzy itself on random texts.
"""

from __future__ import annotations

import random

import pytest

from evalkit.tasks.jaster.catalog import AnswerFormat
from evalkit.tasks.jaster.metrics import char_f1
from evalkit.tasks.jaster.scorer import JasterScorer, ScoringRule
from evalkit.types import Sample

KINDS = {"exact_match": "label", "exact_match_figure": "number", "char_f1": "text", "set_f1": "lines"}

CASES = [
    # metric, gold, reply, strict
    ("exact_match", "entailment", "entailment", 1.0),
    ("exact_match", "entailment", "  entailment \n", 1.0),                    # stripped
    ("exact_match", "entailment", "entailment\r\n", 1.0),
    ("exact_match", "entailment", "entailment\r\n\r\nbecause", 0.0),           # CRLF is no paragraph break
    ("exact_match", "entailment", "entailment\n\nbecause the premise says so", 1.0),  # second paragraph dropped
    ("exact_match", "entailment", "\n\nentailment", 0.0),                      # the first paragraph is empty
    ("exact_match", "entailment", "ｅｎｔａｉｌｍｅｎｔ", 1.0),                  # full-width, NFKC
    ("exact_match", "entailment", "答えはentailmentです。", 0.0),               # wrapped in a sentence
    ("exact_match", "entailment", "Entailment", 0.0),                          # case matters
    ("exact_match", "entailment", "", 0.0),
    ("exact_match", "１", "1", 1.0),                                            # the gold is NFKC-normalised too
    ("exact_match", "12", "12.0", 0.0),                                        # mawps in llm-jp-eval 1.3.0: text equality
    ("exact_match", "12", "１２", 1.0),
    ("exact_match", "12", " 12\n\n12.0", 1.0),
    ("exact_match_figure", "12", "12.0", 1.0),                                 # numbers compared: -T metrics=mawps=exact_match_figure
    ("exact_match_figure", "12", "twelve", 0.0),
    ("char_f1", "東京タワー", "東京タワー", 1.0),
    ("char_f1", "東京タワー", "東京タワー\n\n東京にある電波塔です。", 1.0),
    ("char_f1", "東京タワー", "東京", 0.57),                                   # 2*2/(2+5) = 0.571 -> 57
    ("char_f1", "東京_タワー", "東京タワー", 0.91),                              # '_' is a word character: kept
    ("char_f1", "東京・タワー", "東京タワー", 0.55),                             # "・" is not: a space, and the tokens are sorted
    ("char_f1", "タワー 東京", "東京 タワー", 1.0),                              # tokens are sorted
    ("char_f1", "ABC", "abc", 1.0),                                            # lower-cased
    ("char_f1", "東京", "é東京", 1.0),                                          # U+0080-U+00FF dropped
    ("char_f1", "東京", "", 0.0),
    ("char_f1", "・", "", 1.0),                                                # both empty after processing: equal
    ("set_f1", "a b\nc d", "a b\nc d", 1.0),
    ("set_f1", "a b\nc d", "c d\na b\n\ne f", 1.0),                            # order free, second paragraph dropped
    ("set_f1", "a b\nc d", "a b\na b", 2 / 3),                                 # the predicted lines are a set
    ("set_f1", "a b\nc d", " a b \nx", 0.5),
    ("set_f1", "a b\nc d", "", 0.0),
]


def strict(metric: str, gold: str, reply: str) -> float | None:
    rule = ScoringRule(metric, AnswerFormat(KINDS[metric], labels=("entailment",) if metric == "exact_match" else ()))
    sample = Sample(id="s", turns=("q",), target=gold, genre="X/x", metadata={"dataset": "x", "rule": rule})
    return JasterScorer().score([(sample, [reply])])[0].metrics["strict"]


@pytest.mark.parametrize("metric, gold, reply, expected", CASES)
def test_strict_score_is_llm_jp_evals_reading(metric, gold, reply, expected):
    assert strict(metric, gold, reply) == pytest.approx(expected)


def test_char_f1_is_fuzzywuzzys_token_sort_ratio_on_random_texts():
    fuzz = pytest.importorskip("fuzzywuzzy.fuzz")
    rng = random.Random(7)
    alphabet = list("東京都大阪のはをアイウ_-・,.abcABC123１２３éÄßİ（）「」 \t\n\u3000")
    for _ in range(5000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert char_f1(a, b) == fuzz.token_sort_ratio(a, b) / 100, (a, b)
