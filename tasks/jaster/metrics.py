"""Jaster's metrics, as llm-jp-eval defines them; per-sample ones take (prediction, gold), already NFKC-normalised.

Dataset-level metrics (pearson, spearman) take every sample's prediction and reference at once;
the scorer's `aggregate` hook calls them per dataset when the summary is made.
BLEU and ROUGE-2 are reported on 0-1 (sacrebleu's 0-100 divided by 100) so that MT and SUM average
with the other categories.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
from rapidfuzz import fuzz

from evalkit.errors import EvalkitError

DATASET_LEVEL = ("pearson", "spearman")


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def first_paragraph(reply: str) -> str:
    """llm-jp-eval scores what comes before the first blank line."""
    return reply.split("\n\n")[0]


def strict_prediction(reply: str | None) -> str:
    """llm-jp-eval's reading of a reply: the first paragraph, NFKC-normalised, stripped."""
    return normalize(first_paragraph(reply or "")).strip()


def exact_match(prediction: str, gold: str) -> float:
    return float(prediction == gold)


def exact_match_figure(prediction: str, gold: str) -> float:
    """Numeric equality of the two texts read as numbers ('2.0' == '2'); anything unparseable scores 0."""
    try:
        return float(float(prediction) == float(gold))
    except ValueError:
        return 0.0


# llm-jp-eval's char_f1 is fuzzywuzzy's token_sort_ratio(prediction, gold) / 100, with
# python-Levenshtein installed. That function, step by step: drop the characters U+0080-U+00FF
# (force_ascii), turn every non-word character into a space (`\W`, so `_` stays), lower-case,
# strip, sort the space-separated tokens; then equal texts score 100, an empty one 0, else the
# Levenshtein ratio (indel distance; rapidfuzz's fuzz.ratio computes the same) rounded to an integer.
_LATIN1 = {code: None for code in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")


def _sorted_tokens(text: str) -> str:
    cleaned = _NON_WORD.sub(" ", text.translate(_LATIN1)).lower().strip()
    return " ".join(sorted(cleaned.split()))


def char_f1(prediction: str, gold: str) -> float:
    """fuzzywuzzy's token_sort_ratio / 100, as llm-jp-eval scores char_f1 (see above).

    For Japanese without spaces this is the character-level similarity 2*matches / (len(a) + len(b)).
    """
    a, b = _sorted_tokens(prediction), _sorted_tokens(gold)
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return int(round(fuzz.ratio(a, b))) / 100.0


def set_f1(prediction: str, gold: str) -> float:
    """F1 of the prediction's set of lines against the gold lines (llm-jp-eval's definition, duplicates and all)."""
    gold_lines = [line.strip() for line in gold.split("\n")]
    predicted = list({line.strip() for line in prediction.split("\n")})
    hits = sum(1 for line in predicted if line in gold_lines)
    precision, recall = hits / len(predicted), hits / len(gold_lines)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def parse_float(text: str) -> float:
    """llm-jp-eval's number reading for JSTS: keep digits and dots, else -2.0 (outside the 0-5 scale)."""
    cleaned = re.sub(r"[^0-9.]", "", str(text))
    try:
        return float(cleaned)
    except ValueError:
        return -2.0


def _average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (scipy.stats.rankdata's 'average')."""
    data = np.asarray(values, dtype=float)
    order = np.argsort(data, kind="mergesort")
    ranks = np.empty(len(data))
    sorted_values = data[order]
    start = 0
    for end in range(1, len(data) + 1):
        if end == len(data) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks


def correlation(method: str, predictions: Sequence[float], references: Sequence[float]) -> float | None:
    """Pearson's r, or Spearman's rho (Pearson's r of average ranks), as scipy.stats computes them; 0.0 when
    undefined (constant predictions), as llm-jp-eval scores it; None with fewer than two pairs.

    numpy rather than scipy: importing scipy.stats costs seconds, more than scoring all of Jaster.
    """
    if len(predictions) < 2:
        return None
    x, y = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if method == "spearman":
        x, y = _average_ranks(x), _average_ranks(y)
    elif method != "pearson":
        raise ValueError(f"unknown correlation {method!r}")
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if denominator == 0.0:
        return 0.0
    return max(-1.0, min(1.0, float(np.dot(x, y)) / denominator))


MECAB_INSTALL = "pip install 'evalkit[jaster-mecab]'"


def _mecab_error(needs: str, modules: Sequence[str], exc: Exception) -> EvalkitError:
    """One line: what needs MeCab, which module is missing (or how it failed) and the one install command.
    Not the underlying message: sacrebleu's says `pip install sacrebleu[ja]`, which is not how evalkit gets it."""
    import importlib

    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    cause = f"no module {', '.join(missing)}" if missing else f"installed, but it failed to start: {type(exc).__name__}"
    return EvalkitError(f"{needs} ({cause}): {MECAB_INSTALL}")


@lru_cache(maxsize=2)
def _bleu(language: str):
    from sacrebleu.metrics import BLEU

    try:
        return BLEU(trg_lang=language, effective_order=True) if language == "ja" else BLEU(effective_order=True)
    except Exception as exc:  # sacrebleu raises when MeCab is missing
        raise _mecab_error("bleu_ja needs MeCab", ("MeCab", "ipadic"), exc) from None


def bleu(prediction: str, gold: str, language: str) -> float:
    """Sentence BLEU (sacrebleu, effective order) / 100; an empty side scores 1 only when both are empty."""
    if not prediction.strip() or not gold.strip():
        return float(prediction.strip() == gold.strip())
    return _bleu(language).corpus_score([prediction.strip()], [[gold.strip()]]).score / 100.0


class _MecabTokens:
    """rouge_score wants an object with tokenize(); MeCab (through sacrebleu) splits Japanese into words."""

    def __init__(self) -> None:
        from sacrebleu.tokenizers.tokenizer_ja_mecab import TokenizerJaMecab

        self._mecab = TokenizerJaMecab()

    def tokenize(self, text: str) -> list[str]:
        return self._mecab(text).split()


@lru_cache(maxsize=1)
def _rouge2_scorer():
    try:
        from rouge_score import rouge_scorer

        return rouge_scorer.RougeScorer(["rouge2"], tokenizer=_MecabTokens())
    except Exception as exc:  # rouge-score missing, or sacrebleu failing to load MeCab
        raise _mecab_error("rouge2 on Japanese needs rouge-score and MeCab", ("rouge_score", "MeCab", "ipadic"),
                           exc) from None


def rouge2(prediction: str, gold: str) -> float:
    if not prediction.strip() or not gold.strip():
        return 0.0
    return _rouge2_scorer().score(gold, prediction)["rouge2"].fmeasure


# --- optional model-based metrics (the jaster-heavy extra); chosen with -T metrics=DATASET=METRIC -------


@lru_cache(maxsize=1)
def _comet_model():
    try:
        from comet import download_model, load_from_checkpoint
    except ImportError:
        raise EvalkitError("comet_wmt22 needs COMET: pip install 'evalkit[jaster-heavy]'") from None
    return load_from_checkpoint(download_model("Unbabel/wmt22-comet-da"))


def comet_wmt22(prediction: str, gold: str, source: str) -> float:
    """COMET (wmt22-comet-da) of one translation, given its source sentence."""
    output = _comet_model().predict([{"src": source, "mt": prediction, "ref": gold}], batch_size=1, gpus=0, progress_bar=False)
    return float(output.scores[0])


def bert_score_f1(prediction: str, gold: str, language: str) -> float:
    try:
        from bert_score import score
    except ImportError:
        raise EvalkitError("bert_score needs BERTScore: pip install 'evalkit[jaster-heavy]'") from None
    if not prediction.strip() or not gold.strip():
        return 0.0
    _precision, _recall, f1 = score([prediction], [gold], lang=language, verbose=False)
    return float(f1[0])


HEAVY = ("comet_wmt22", "bert_score")

PER_SAMPLE: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "exact_match_figure": exact_match_figure,
    "char_f1": char_f1,
    "set_f1": set_f1,
    "bleu_ja": lambda p, g: bleu(p, g, "ja"),
    "bleu_en": lambda p, g: bleu(p, g, "en"),
    "rouge2": rouge2,
}


def check_available(metric: str) -> None:
    """Fail before a run starts when a metric cannot be computed here."""
    if metric in DATASET_LEVEL:
        return
    if metric in HEAVY:
        module = "comet" if metric == "comet_wmt22" else "bert_score"
        try:
            __import__(module)
        except ImportError:
            raise EvalkitError(f"{metric} needs the {module} package: pip install 'evalkit[jaster-heavy]'") from None
        return
    if metric not in PER_SAMPLE:
        if metric == "code_exec":
            raise EvalkitError("code_exec (MBPP) needs a sandboxed code runner, which evalkit's Jaster does not provide yet")
        raise EvalkitError(f"metric {metric!r} is not implemented (known: {', '.join([*PER_SAMPLE, *DATASET_LEVEL, *HEAVY])})")
    if metric == "bleu_ja":
        _bleu("ja")
    if metric == "rouge2":
        _rouge2_scorer()
