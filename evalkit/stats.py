"""Paired comparison of two runs on the samples they share: the change, its confidence interval, a p-value, the flips.

A summary row's value is a weighted mean of per-sample scores: every sample weighs the same in a
plain row, and in a grouped row (a Jaster category, AVG) every genre weighs the same, however many
samples it has. The comparison keeps those weights (`strata`), so its delta is the change of the
number the table shows:

- p-value: McNemar's exact test (the two-sided binomial test on the discordant pairs) for 0/1
  scores in one stratum; otherwise a paired sign-flip permutation test of the weighted mean
  difference, exact when the pairs are few.
- confidence interval: a percentile bootstrap of the weighted mean difference, resampling pairs
  within each stratum.
- `holm` adjusts the p-values of many rows (every genre of a task) for being tested together.

Everything is seeded: the same runs give the same numbers. Both tests are written here in numpy
rather than called from scipy.stats, whose import alone takes 1.5 s of a 2 s budget for
`evalkit compare`; tests/test_stats.py checks them against scipy and statsmodels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

import numpy as np

RESAMPLES = 4999  # permutation test: p-values resolved to 2e-4, far below any alpha a gate uses
BOOTSTRAP = 2000  # percentile interval (Efron and Tibshirani: 1,000 or more)
CONFIDENCE = 0.95
SEED = 20261130


@dataclass(frozen=True)
class PairedResult:
    """How the candidate's scores differ from the baseline's on the same samples."""

    n: int  # shared samples with a score in both runs
    baseline: float  # the weighted mean of each run's scores
    candidate: float
    delta: float  # candidate - baseline
    ci_low: float
    ci_high: float
    p_value: float
    method: str  # "mcnemar-exact" | "sign-flip permutation" | "no change"
    improved: int  # samples whose score rose
    regressed: int  # samples whose score fell


def _strata(strata: Sequence[Hashable] | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, each sample's index into labels); one stratum for everything when there are none."""
    if strata is None:
        return np.array([""]), np.zeros(n, dtype=np.intp)
    return np.unique(np.asarray(strata).astype(str), return_inverse=True)


def weights_of(strata: Sequence[Hashable] | None, n: int,
               stratum_weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Each sample's weight: its stratum's weight (default: all strata alike) shared by the stratum's
    samples; the summary's mean of means. Without strata, every sample weighs the same."""
    labels, inverse = _strata(strata, n)
    return _weights(labels, inverse, stratum_weights)


def _weights(labels: np.ndarray, inverse: np.ndarray, stratum_weights: Mapping[str, float] | None) -> np.ndarray:
    counts = np.bincount(inverse, minlength=len(labels))
    if stratum_weights is None:
        share = np.full(len(labels), 1.0 / len(labels))
    else:
        share = np.array([stratum_weights[label] for label in labels], dtype=float)
        share = share / share.sum()
    return share[inverse] / counts[inverse]


def paired_test(baseline: Sequence[float], candidate: Sequence[float], strata: Sequence[Hashable] | None = None,
                stratum_weights: Mapping[str, float] | None = None, seed: int = SEED) -> PairedResult | None:
    """The paired comparison of two runs' scores on the same samples (in the same order); None without samples."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("baseline and candidate need one score per shared sample, in the same order")
    n = len(a)
    if n == 0:
        return None
    labels, inverse = _strata(strata, n)
    w = _weights(labels, inverse, stratum_weights)
    diff = b - a
    delta = float(w @ diff)
    improved, regressed = int((diff > 0).sum()), int((diff < 0).sum())
    if improved == regressed == 0:
        return PairedResult(n, float(w @ a), float(w @ b), 0.0, 0.0, 0.0, 1.0, "no change", 0, 0)
    rng = np.random.default_rng(seed)
    low, high = _bootstrap_interval(diff, w, inverse, len(labels), rng)
    binary = np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all()
    if binary and len(labels) == 1:
        p, method = mcnemar_exact(improved, regressed), "mcnemar-exact"
    else:
        p, method = _sign_flip_p(a, b, w, rng), "sign-flip permutation"
    return PairedResult(n, float(w @ a), float(w @ b), delta, low, high, p, method, improved, regressed)


def mcnemar_exact(improved: int, regressed: int) -> float:
    """McNemar's exact test: under no change, each discordant pair is a fair coin (two-sided binomial)."""
    n, k = improved + regressed, min(improved, regressed)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1))  # exact integers: no underflow for large n
    return min(1.0, 2 * tail / 2**n)


def _sign_flip_p(a: np.ndarray, b: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> float:
    """Two-sided p of the weighted mean difference when each pair's two scores may be swapped: every
    swap when there are few pairs, else RESAMPLES random ones (p counted as scipy's permutation_test
    counts it)."""
    moved = a != b  # a pair with equal scores contributes nothing, swapped or not
    effect = (w * (b - a))[moved]
    m = len(effect)
    if m < 2:
        return 1.0  # one pair swapped gives the same size of change: nothing to tell apart
    observed = effect.sum()
    gamma = abs(np.finfo(float).eps * 100 * observed)  # ties within rounding count as ties
    if 2**m <= RESAMPLES:
        signs = 1 - 2 * ((np.arange(2**m)[:, None] >> np.arange(m)) & 1)
        null, extra = signs @ effect, 0
    else:
        sizes, counts = np.unique(np.abs(effect), return_counts=True)
        if len(sizes) * 4 <= m:
            # Pairs with the same |effect| (one size per stratum for 0/1 scores) are interchangeable: the
            # sum of c random signs is 2 Binomial(c, 1/2) - c, one draw per distinct size.
            null = (2 * rng.binomial(counts, 0.5, size=(RESAMPLES, len(sizes))) - counts) @ sizes
        else:
            null = np.concatenate([(rng.integers(0, 2, size=(min(1000, RESAMPLES - start), m), dtype=np.int8) * 2 - 1)
                                   @ effect for start in range(0, RESAMPLES, 1000)])
        extra = 1  # the observed arrangement is one of the possible ones
    less = ((null <= observed + gamma).sum() + extra) / (len(null) + extra)
    greater = ((null >= observed - gamma).sum() + extra) / (len(null) + extra)
    return float(min(1.0, 2 * min(less, greater)))


def _bootstrap_interval(diff: np.ndarray, w: np.ndarray, inverse: np.ndarray, strata: int,
                        rng: np.random.Generator) -> tuple[float, float]:
    """Percentile interval of the weighted mean difference, pairs resampled within each stratum
    (whose share of the weight stays what it is)."""
    groups = [np.flatnonzero(inverse == g) for g in range(strata)] if strata > 1 else [np.arange(len(diff))]
    total = np.zeros(BOOTSTRAP)
    for members in groups:
        values, share = diff[members], w[members].sum()
        distinct, counts = np.unique(values, return_counts=True)
        if len(distinct) == 1:
            total += distinct[0] * share  # every resample has the same mean
            continue
        # A resample is how many times each distinct value is drawn: a multinomial draw, one number
        # per distinct value (three for 0/1 scores) instead of one per pair.
        drawn = rng.multinomial(len(values), counts / len(values), size=BOOTSTRAP)
        total += (drawn @ distinct) / len(values) * share
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(total, [tail, 1 - tail])
    return float(low), float(high)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of p-values tested together (None stays None)."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[i] = running
    return adjusted
