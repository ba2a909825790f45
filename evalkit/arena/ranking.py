"""Bradley–Terry ratings from pairwise battles, as Chatbot Arena publishes them: maximum likelihood on an Elo scale, bootstrap intervals.

Chatbot Arena fits a logistic regression without intercept on the battles, a tie counted as half a
win for each side (its `compute_mle_elo` duplicates the battles and scores a tie once as a win and
once as a loss); "both bad" is a tie too. We fit the same likelihood by Newton's method on the
aggregated win counts, which is what makes a thousand bootstrap rounds of 100,000 battles take
seconds: a battle table collapses to one count per (pair, outcome), a bootstrap round is one
multinomial draw over those counts, and all rounds are solved together.

Scale: rating = 1000 + 400 / ln(10) x strength, so a 400-point gap means 10:1 odds; ratings are
centred on a mean of 1000 (Chatbot Arena instead anchors one reference model; say which if you
compare with their numbers). A tiny ridge (RIDGE) keeps a model that never lost finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

SCALE = 400 / np.log(10)
CENTRE = 1000.0
RIDGE = 1e-6  # per unit of strength^2: invisible unless a model never lost (then its rating stays finite)
OUTCOMES = ("model_a", "model_b", "tie", "tie (bothbad)")


@dataclass(frozen=True)
class Ranking:
    models: tuple[str, ...]
    ratings: np.ndarray  # Elo scale, one per model
    ci_low: np.ndarray
    ci_high: np.ndarray
    battles: np.ndarray  # battles[i, j]: battles between models i and j
    wins: np.ndarray  # wins[i, j]: i beat j, a tie counting half
    rounds: int

    def order(self) -> list[int]:
        return sorted(range(len(self.models)), key=lambda i: -self.ratings[i])

    def win_rate(self) -> np.ndarray:
        """win_rate[i, j]: the share of i's battles with j that i won (ties half); NaN without battles."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.battles > 0, self.wins / self.battles, np.nan)


def win_matrix(models: Sequence[str], battles: Sequence[tuple[str, str, str]]) -> np.ndarray:
    """wins[i, j]: how often i beat j, a tie (or both bad) half a win for each."""
    index = {m: i for i, m in enumerate(models)}
    wins = np.zeros((len(models), len(models)))
    for model_a, model_b, winner in battles:
        a, b = index[model_a], index[model_b]
        if winner == "model_a":
            wins[a, b] += 1
        elif winner == "model_b":
            wins[b, a] += 1
        elif winner in ("tie", "tie (bothbad)"):
            wins[a, b] += 0.5
            wins[b, a] += 0.5
        else:
            raise ValueError(f"unknown winner {winner!r} (expected one of {', '.join(OUTCOMES)})")
    return wins


def fit(wins: np.ndarray, iterations: int = 100, tolerance: float = 1e-10) -> np.ndarray:
    """Maximum-likelihood strengths (natural log-odds scale, mean 0) for one win matrix or a stack of them
    (shape (..., K, K)): Newton's method on sum_ij wins_ij log sigmoid(s_i - s_j)."""
    wins = np.asarray(wins, dtype=float)
    k = wins.shape[-1]
    games = wins + np.swapaxes(wins, -1, -2)
    strength = np.zeros(wins.shape[:-1])
    for _ in range(iterations):
        diff = strength[..., :, None] - strength[..., None, :]
        p = 1.0 / (1.0 + np.exp(-diff))
        gradient = (wins - games * p).sum(axis=-1) - RIDGE * strength
        curvature = games * p * (1 - p)
        hessian = curvature - np.eye(k) * (curvature.sum(axis=-1)[..., None] + RIDGE)
        # Strength is defined up to a common shift: pin the mean to 0 with a rank-one term.
        step = np.linalg.solve(hessian - 1.0 / k, gradient[..., None])[..., 0]
        strength = strength - step
        strength = strength - strength.mean(axis=-1, keepdims=True)
        if np.abs(step).max() < tolerance:
            break
    return strength


def rank(models: Sequence[str], battles: Sequence[tuple[str, str, str]], rounds: int = 1000,
         seed: int = 0, confidence: float = 0.95) -> Ranking:
    """Ratings with percentile bootstrap intervals (battles resampled with replacement, `rounds` times)."""
    models = tuple(models)
    wins = win_matrix(models, battles)
    ratings = CENTRE + SCALE * fit(wins)
    low = high = ratings
    if rounds and battles:
        samples = _bootstrap(models, battles, rounds, seed)
        tail = (1 - confidence) / 2
        low, high = np.quantile(samples, [tail, 1 - tail], axis=0)
    return Ranking(models, ratings, low, high, wins + wins.T, wins, rounds)


def _bootstrap(models: Sequence[str], battles: Sequence[tuple[str, str, str]], rounds: int, seed: int) -> np.ndarray:
    """Ratings of `rounds` resamples of the battles. A resample only changes how often each kind of
    battle (pair and outcome) occurs: one multinomial draw over the kinds, then all rounds fitted at once."""
    index = {m: i for i, m in enumerate(models)}
    kinds: dict[tuple[int, int, str], int] = {}
    for model_a, model_b, winner in battles:
        key = (index[model_a], index[model_b], "tie" if winner.startswith("tie") else winner)
        kinds[key] = kinds.get(key, 0) + 1
    keys = list(kinds)
    counts = np.array([kinds[k] for k in keys], dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(battles), counts / counts.sum(), size=rounds)  # (rounds, kinds)
    k = len(models)
    wins = np.zeros((rounds, k, k))
    for column, (a, b, winner) in enumerate(keys):
        if winner == "model_a":
            wins[:, a, b] += draws[:, column]
        elif winner == "model_b":
            wins[:, b, a] += draws[:, column]
        else:
            wins[:, a, b] += draws[:, column] / 2
            wins[:, b, a] += draws[:, column] / 2
    out = np.empty((rounds, k))
    for start in range(0, rounds, 250):  # bounded memory: K x K per round
        out[start:start + 250] = CENTRE + SCALE * fit(wins[start:start + 250])
    return out
