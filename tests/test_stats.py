"""The paired statistics of `evalkit compare`, checked against scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from evalkit.stats import holm, mcnemar_exact, paired_test, weights_of


def flips(improved: int, regressed: int, same_right: int = 50, same_wrong: int = 20) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([0] * improved + [1] * regressed + [1] * same_right + [0] * same_wrong, dtype=float)
    b = np.array([1] * improved + [0] * regressed + [1] * same_right + [0] * same_wrong, dtype=float)
    return a, b


@pytest.mark.parametrize("improved, regressed", [(0, 30), (30, 0), (5, 5), (3, 12), (1, 0), (40, 25), (0, 1),
                                                 (900, 1000), (0, 1500)])
def test_mcnemar_is_statsmodels_exact_mcnemar(improved, regressed):
    a, b = flips(improved, regressed)
    table = [[((a == 1) & (b == 1)).sum(), ((a == 1) & (b == 0)).sum()],
             [((a == 0) & (b == 1)).sum(), ((a == 0) & (b == 0)).sum()]]
    expected = mcnemar(table, exact=True).pvalue
    assert mcnemar_exact(improved, regressed) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    result = paired_test(a, b)
    assert result.method == "mcnemar-exact" and result.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert mcnemar_exact(improved, regressed) == pytest.approx(stats.binomtest(improved, improved + regressed).pvalue)
    assert (result.improved, result.regressed, result.n) == (improved, regressed, len(a))
    assert result.delta == pytest.approx((improved - regressed) / len(a))


def test_a_planted_regression_of_30_in_400_is_significant():
    a, b = flips(0, 30, same_right=250, same_wrong=120)
    result = paired_test(a, b)
    assert result.n == 400 and result.delta == pytest.approx(-0.075) and result.p_value < 1e-8
    assert result.ci_high < 0 < -result.ci_low


def test_continuous_scores_use_scipys_exact_permutation_test_when_the_pairs_are_few():
    rng = np.random.default_rng(3)
    a = rng.uniform(1, 10, 12).round(1)
    b = a + rng.normal(0.8, 1.0, 12)
    b[:3] = a[:3]  # unchanged pairs do not change the exact distribution
    ours = paired_test(a, b)
    theirs = stats.permutation_test((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), vectorized=True,
                                    permutation_type="samples", n_resamples=9999)
    assert ours.method == "sign-flip permutation" and ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_continuous_scores_with_many_pairs_agree_with_scipy_within_monte_carlo_error():
    rng = np.random.default_rng(11)
    a = rng.uniform(0, 1, 600)
    b = np.clip(a + rng.normal(0.01, 0.2, 600), 0, 1)
    ours = paired_test(a, b)
    theirs = stats.permutation_test((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), vectorized=True,
                                    permutation_type="samples", n_resamples=9999, rng=1)
    assert abs(ours.p_value - theirs.pvalue) < 0.02


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_interval_is_scipys_paired_percentile_bootstrap(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, 300).astype(float)
    b = np.where(rng.uniform(size=300) < 0.15, 1 - a, a)
    ours = paired_test(a, b)
    theirs = stats.bootstrap((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                             method="percentile", n_resamples=9999, rng=seed).confidence_interval
    assert ours.ci_low == pytest.approx(theirs.low, abs=0.006) and ours.ci_high == pytest.approx(theirs.high, abs=0.006)


def test_strata_weigh_the_same_whatever_their_size():
    # a category of two datasets: 4 samples that all regress, 100 that do not move
    a = np.array([1.0] * 4 + [0.5] * 100)
    b = np.array([0.0] * 4 + [0.5] * 100)
    strata = ["small"] * 4 + ["large"] * 100
    result = paired_test(a, b, strata)
    assert result.delta == pytest.approx(-0.5)  # the mean of the datasets' changes (-1 and 0), not -4/104
    assert result.baseline == pytest.approx(0.75) and result.candidate == pytest.approx(0.25)
    assert result.method == "sign-flip permutation" and result.p_value == pytest.approx(2 / 16)  # 4 flips, exact
    assert result.ci_low == pytest.approx(-0.5) and result.ci_high == pytest.approx(-0.5)
    assert weights_of(strata, 104).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("a, b", [([], []), ([1.0], [1.0]), ([0.2, 0.7], [0.2, 0.7])])
def test_nothing_to_compare_or_nothing_changed(a, b):
    result = paired_test(a, b)
    if not a:
        assert result is None
    else:
        assert (result.delta, result.p_value, result.method, result.improved, result.regressed) == (0.0, 1.0, "no change", 0, 0)


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError):
        paired_test([1.0, 0.0], [1.0])


def test_the_same_runs_give_the_same_numbers():
    rng = np.random.default_rng(5)
    a, b = rng.uniform(size=200), rng.uniform(size=200)
    assert paired_test(a, b) == paired_test(a, b)


@pytest.mark.parametrize("p", [[0.01, 0.04, 0.03, 0.5], [0.001], [0.2, 0.2, 0.2], [0.049, 0.0001, 0.9, 0.02, 0.03]])
def test_holm_is_statsmodels_holm(p):
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))


def test_holm_keeps_rows_without_a_test():
    assert holm([None, 0.01, None, 0.04]) == [None, pytest.approx(0.02), None, pytest.approx(0.04)]


def test_strata_can_weigh_differently_as_a_grouped_average_does():
    # AVG over two categories, one of them a single dataset, the other two datasets: 1/2, 1/4, 1/4
    strata = ["A/x"] * 10 + ["B/y"] * 10 + ["B/z"] * 20
    a = np.array([1.0] * 10 + [1.0] * 10 + [0.0] * 20)
    b = np.array([0.0] * 10 + [1.0] * 10 + [1.0] * 20)
    result = paired_test(a, b, strata, {"A/x": 0.5, "B/y": 0.25, "B/z": 0.25})
    assert result.baseline == pytest.approx(0.75) and result.candidate == pytest.approx(0.5)
    assert result.delta == pytest.approx(-0.5 + 0.25)


def test_a_single_changed_pair_proves_nothing():
    result = paired_test([0.5, 0.2, 0.9], [0.5, 0.2, 0.1], ["x", "y", "z"])
    assert result.regressed == 1 and result.p_value == 1.0
