"""How the contamination scan normalises and cuts text, and that its fast numpy path cuts exactly like the plain one."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest

from evalkit.contamination.coder import UNKNOWN, UnitCoder, fold_points, window_hashes
from evalkit.contamination.text import fold, is_japanese, normalize, tokenizer, units
from evalkit.errors import EvalkitError


@pytest.mark.parametrize("raw, expected", [
    ("The answer, is 42!", "the answer is 42"),
    ("Ｔｈｅ　ａｎｓｗｅｒ，ｉｓ　４２！", "the answer is 42"),  # full-width letters, digits, punctuation, ideographic space
    ("  many\t\tspaces\n\nand lines  ", "many spaces and lines"),
    ("「東京」は、日本の首都です。", "東京 は 日本の首都です"),
    ("ｶﾀｶﾅ と ｶﾞｷﾞ", "カタカナ と ガギ"),  # half-width katakana, voiced marks composed
    ("snake_case and CamelCase", "snake case and camelcase"),
    ("Straße", "strasse"),
    ("①②③ ㍿", "123 株式会社"),
    ("", ""),
    ("。、！？", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("The answer is 42.", ["the", "answer", "is", "42"]),
    ("東京は日本の首都", ["東", "京", "は", "日", "本", "の", "首", "都"]),
    ("GPT-4は2023年に", ["gpt", "4", "は", "2023", "年", "に"]),  # mixed: words and characters in one pass
    ("カタカナ・ひらがな ー", ["カ", "タ", "カ", "ナ", "ひ", "ら", "が", "な", "ー"]),  # the middle dot is punctuation
    ("a_b", ["a", "b"]),
    ("日本語。English!", ["日", "本", "語", "english"]),
    ("\ud800 lone surrogate", ["lone", "surrogate"]),
    ("", []),
])
def test_units_tokenizer(raw, expected):
    assert tokenizer("units").split(raw) == expected
    assert units(normalize(raw)) == units(fold(raw)) == expected  # normalising fully first changes nothing


@pytest.mark.parametrize("text, japanese", [
    ("これは日本語の文です", True),
    ("This is English.", False),
    ("GPT-4は強い", True),  # 3 CJK characters, 2 words
    ("def f(x): return x  # 日本", False),
    ("", False),
])
def test_is_japanese(text, japanese):
    assert is_japanese(tokenizer("units").split(text)) is japanese


def test_lm_eval_tokenizer_is_lm_evaluation_harness_normalisation():
    janitor = pytest.importorskip("lm_eval.decontamination.janitor")
    for text in ["Hello, World! It's 3.14 -- isn't it?", "Ｆｕｌｌ　ｗｉｄｔｈ", "naïve café", "a\tb\nc"]:
        assert tokenizer("lm-eval").split(text) == janitor.Janitor().normalize_string(text).split()


def test_unknown_tokenizer_is_one_clear_error():
    with pytest.raises(EvalkitError, match="unknown tokenizer 'spaces': units"):
        tokenizer("spaces")


def _random_text(rng: random.Random) -> str:
    """Text from the ranges where folding is tricky: Latin with accents and combining marks, Greek, full-width
    forms, kana with voiced marks (combining and half-width), Hangul syllables and jamo, compatibility symbols,
    ligatures, mathematical letters, lone surrogates, and the document separator itself."""
    pools = [range(0x20, 0x250), range(0x300, 0x370), range(0x370, 0x400), range(0x3000, 0x3100),
             range(0xFF00, 0xFFF0), range(0x1100, 0x1200), range(0xAC00, 0xAC40), range(0x2100, 0x2200),
             range(0x3300, 0x3400), range(0xFB00, 0xFB10), range(0x1D400, 0x1D480), range(0xD800, 0xD804),
             range(0x4E00, 0x4E40), range(0x0900, 0x0980), range(0, 1)]
    return "".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(0, 16)))


def test_fold_points_equal_nfkc_and_case_folding_on_hostile_text():
    rng = random.Random(20261130)
    for _ in range(5000):
        text = _random_text(rng)
        expected = np.frombuffer(fold(text).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        assert np.array_equal(fold_points(text), expected), repr(text)


def test_unit_coder_cuts_like_the_plain_tokenizer():
    rng = random.Random(7)
    documents = [_random_text(rng) for _ in range(400)]
    documents += ["The quick brown fox, Ｔｈｅ ＱＵＩＣＫ", "東京は日本の首都。ｶﾞｷﾞ", "", "\x00inside\x00", "word_word"]
    documents += ["".join(rng.choice(string.ascii_letters + " ,.") for _ in range(200)) for _ in range(50)]
    vocab: dict[str, int] = {}
    for text in documents[::2]:  # half the documents make the vocabulary: the others have unknown units
        for unit in tokenizer("units").split(text):
            vocab.setdefault(unit, len(vocab))
    ids, starts = UnitCoder(vocab).encode(documents)
    expected, expected_starts = [], []
    for text in documents:
        expected_starts.append(len(expected))
        expected += [vocab.get(u, UNKNOWN) for u in tokenizer("units").split(text.replace("\x00", " "))] + [UNKNOWN]
    assert ids.tolist() == expected
    assert starts.tolist() == expected_starts


def test_unit_coder_with_an_empty_vocabulary():
    ids, starts = UnitCoder({}).encode(["some words", "日本"])
    assert ids.tolist() == [UNKNOWN] * 6 and starts.tolist() == [0, 3]


def test_window_hashes_are_the_polynomial_hash_of_each_window():
    values = np.array([5, 0, 17, 3, 3, 999_999, 2, 0], dtype=np.int64)

    def plain(window):
        h = 0
        for v in window:
            h = (h * 1_000_003 + int(v) + 1) % (1 << 64)
        return h

    for n in (1, 3, 8):
        assert window_hashes(values, n).tolist() == [plain(values[i:i + n]) for i in range(len(values) - n + 1)]
    assert window_hashes(values, 9).tolist() == []
