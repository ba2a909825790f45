"""How fast does the arena rank? 100,000 battles among 50 models, 1,000 bootstrap rounds, against Chatbot Arena's way.

```
python bench/arena_rank.py [--battles 100000] [--models 50] [--rounds 1000] [--out bench/results/arena_rank.md]
```

Battles are drawn from known strengths (Elo 700-1300, 10% ties). Timed in this process, best of
three: evalkit's `rank` (maximum likelihood by Newton's method on the aggregated counts, all bootstrap
rounds fitted together), and for scale, Chatbot Arena's own method, one scikit-learn logistic
regression on the battles, for the point estimate and for 20 bootstrap rounds (its 1,000 would take
fifty times that). The issue's target: under 10 s.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def battles_from(strengths: np.ndarray, n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    k = len(strengths)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    p = 1 / (1 + 10 ** ((strengths[b] - strengths[a]) / 400))
    roll, coin = rng.uniform(size=n), rng.uniform(size=n)
    winner = np.where(roll < 0.1, "tie", np.where(coin < p, "model_a", "model_b"))
    return [(f"m{x:02d}", f"m{y:02d}", w) for x, y, w in zip(a, b, winner)]


def chatbot_arena(models: list[str], battles: list[tuple[str, str, str]]) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    index = {m: i for i, m in enumerate(models)}
    n = len(battles)
    x = np.zeros((2 * n, len(models)))
    y = np.zeros(2 * n)
    for row, (a, b, winner) in enumerate(battles):
        for copy in (0, 1):
            x[row + copy * n, index[a]], x[row + copy * n, index[b]] = math.log(10), -math.log(10)
            y[row + copy * n] = winner == "model_a" or (winner == "tie" and copy == 0)
    model = LogisticRegression(fit_intercept=False, C=1e12, tol=1e-6, max_iter=1000)
    model.fit(x, y)
    return 400 * model.coef_[0] + 1000


def best(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "arena_rank.md")
    args = parser.parse_args()
    from evalkit.arena.ranking import rank

    strengths = np.linspace(1300, 700, args.models)
    models = [f"m{i:02d}" for i in range(args.models)]
    battles = battles_from(strengths, args.battles, seed=0)
    ours_s, ranking = best(lambda: rank(models, battles, rounds=args.rounds))
    point_s, _ = best(lambda: rank(models, battles, rounds=0))
    theirs_s, theirs = best(lambda: chatbot_arena(models, battles), repeat=1)
    boot_s, _ = best(lambda: [chatbot_arena(models, [battles[i] for i in np.random.default_rng(r).integers(
        0, len(battles), len(battles))]) for r in range(20)], repeat=1)
    positions = np.argsort(np.argsort(-ranking.ratings))  # 0 = first; the true order is m00, m01, ...
    spearman = 1 - 6 * float(((positions - np.arange(len(models))) ** 2).sum()) / (len(models) * (len(models) ** 2 - 1))
    within = float(np.mean(np.abs(positions - np.arange(len(models))) <= 1))
    diff = float(np.abs(ranking.ratings - (theirs - theirs.mean() + 1000)).max())
    width = float(np.mean(ranking.ci_high - ranking.ci_low))
    lines = [
        "# Arena ranking: speed", "",
        f"`python bench/arena_rank.py` on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}: {args.battles:,} battles among {args.models} models (true Elo "
        f"1300 … 700, 10% ties), {args.rounds:,} bootstrap rounds.", "",
        "| | wall s |", "|---|---:|",
        f"| evalkit `rank`, ratings and {args.rounds:,} bootstrap rounds (best of 3) | {ours_s:.2f} |",
        f"| evalkit `rank`, ratings only | {point_s:.3f} |",
        f"| Chatbot Arena's logistic regression (scikit-learn), ratings only | {theirs_s:.2f} |",
        f"| Chatbot Arena's way, 20 bootstrap rounds | {boot_s:.2f} (≈ {boot_s * args.rounds / 20:.0f} s for "
        f"{args.rounds:,}) |", "",
        f"Largest difference between the two rating sets: {diff:.3f} Elo points. Against the true order (models "
        f"{600 / (len(models) - 1):.0f} points apart): Spearman {spearman:.4f}, {within:.0%} of the models within one place "
        f"of their true rank; mean 95% interval width {width:.1f} points.",
        "Target: under 10 s.", "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
