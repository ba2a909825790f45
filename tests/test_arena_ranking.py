"""Bradley–Terry ratings: the same as Chatbot Arena's logistic regression, the known order recovered, honest intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from evalkit.arena.ranking import fit, rank, win_matrix

TRUE = {"alpha": 1250.0, "beta": 1120.0, "gamma": 1000.0, "delta": 930.0, "epsilon": 700.0}


def battles_from(strengths: dict[str, float], n: int, seed: int, tie_rate: float = 0.1) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    models = list(strengths)
    out = []
    for _ in range(n):
        a, b = rng.choice(len(models), 2, replace=False)
        p = 1 / (1 + 10 ** ((strengths[models[b]] - strengths[models[a]]) / 400))
        roll = rng.uniform()
        winner = "tie" if roll < tie_rate else ("model_a" if rng.uniform() < p else "model_b")
        out.append((models[a], models[b], winner))
    return out


def chatbot_arena_mle(models: list[str], battles: list[tuple[str, str, str]]) -> np.ndarray:
    """Chatbot Arena's compute_mle_elo, written out: every battle twice, a tie once as a win and once as a
    loss; a logistic regression without intercept on +-log(10) columns; rating = 400 x coefficient + 1000."""
    index = {m: i for i, m in enumerate(models)}
    rows, labels = [], []
    for copy in range(2):
        for a, b, winner in battles:
            x = np.zeros(len(models))
            x[index[a]], x[index[b]] = math.log(10), -math.log(10)
            rows.append(x)
            labels.append(1 if winner == "model_a" or (winner.startswith("tie") and copy == 0) else 0)
    model = LogisticRegression(fit_intercept=False, C=1e12, tol=1e-8, max_iter=10_000)  # C this large: no penalty
    model.fit(np.array(rows), np.array(labels))
    return 400 * model.coef_[0] + 1000


def test_ratings_are_chatbot_arenas_logistic_regression():
    battles = battles_from(TRUE, 4000, seed=1)
    models = list(TRUE)
    ours = rank(models, battles, rounds=0).ratings
    theirs = chatbot_arena_mle(models, battles)
    assert ours == pytest.approx(theirs - theirs.mean() + 1000, abs=0.05)


def test_the_known_order_is_recovered_and_the_gaps_are_about_right():
    # Ties drawn at random, whatever the strengths, would pull every rating towards the mean: none here.
    ranking = rank(list(TRUE), battles_from(TRUE, 20_000, seed=2, tie_rate=0.0), rounds=200)
    assert [ranking.models[i] for i in ranking.order()] == list(TRUE)
    truth = np.array(list(TRUE.values()))
    assert ranking.ratings == pytest.approx(truth - truth.mean() + 1000, abs=25)
    assert all(lo <= r <= hi for lo, r, hi in zip(ranking.ci_low, ranking.ratings, ranking.ci_high))


def test_intervals_shrink_with_more_votes():
    widths = [np.mean(r.ci_high - r.ci_low) for r in
              (rank(list(TRUE), battles_from(TRUE, n, seed=3), rounds=300) for n in (300, 3000))]
    assert widths[1] < widths[0] / 2.5  # about 1/sqrt(10) of it


def test_a_tie_is_half_a_win_for_each_and_both_bad_is_a_tie():
    wins = win_matrix(["a", "b"], [("a", "b", "tie"), ("a", "b", "tie (bothbad)"), ("b", "a", "model_a")])
    assert wins[0, 1] == 1.0 and wins[1, 0] == 2.0
    with pytest.raises(ValueError, match="unknown winner"):
        win_matrix(["a", "b"], [("a", "b", "draw")])


def test_a_model_that_never_lost_stays_finite_and_first():
    battles = [("a", "b", "model_a")] * 30 + [("b", "c", "model_a")] * 20 + [("c", "b", "model_a")] * 10
    ranking = rank(["a", "b", "c"], battles, rounds=100)
    assert np.isfinite(ranking.ratings).all() and ranking.order()[0] == 0


def test_stacked_fits_equal_single_fits():
    rng = np.random.default_rng(4)
    stack = rng.integers(1, 20, size=(5, 4, 4)).astype(float)
    for w in stack:
        np.fill_diagonal(w, 0)
    together = fit(stack)
    assert together == pytest.approx(np.array([fit(w) for w in stack]), abs=1e-9)
