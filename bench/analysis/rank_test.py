"""Mann-Whitney U test (Wilcoxon rank-sum) on two sets of samples, numpy only.

`compare` uses it to tell a real shift of a measurement's samples from run-to-run noise: it needs
no normal distribution and is insensitive to the few slow outliers timing samples always have.
Exact p-values (the U distribution counted by dynamic programming) when both sets are small and
free of ties; otherwise the normal approximation with tie and continuity corrections, as in
Mann & Whitney (1947) and scipy.stats.mannwhitneyu (method 'asymptotic')."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import numpy as np

EXACT_MAX_SIZE = 50  # each side; the counting table grows as m*n*(m*n)


@dataclasses.dataclass(frozen=True)
class RankTest:
    """U of the first sample, and one-sided p-values: `p_less` for "x tends to be smaller than y",
    `p_greater` for "x tends to be larger"."""

    u: float
    p_less: float
    p_greater: float
    method: str  # "exact" | "asymptotic"

    @property
    def p_two_sided(self) -> float:
        return min(1.0, 2.0 * min(self.p_less, self.p_greater))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


@functools.lru_cache(maxsize=64)
def _u_distribution(m: int, n: int) -> tuple[float, ...]:
    """P(U = u) for u = 0..m*n under the null hypothesis, for samples of sizes m and n.

    counts(i, j)[u] = counts(i-1, j)[u-j] + counts(i, j-1)[u]: the largest of the i+j values is
    either an x (beating all j y's) or a y (beating none)."""
    previous = [np.ones(1) for _ in range(n + 1)]  # i = 0: U is 0 whatever j
    for i in range(1, m + 1):
        current = [np.ones(1)]  # j = 0: U is 0
        for j in range(1, n + 1):
            counts = np.zeros(i * j + 1)
            counts[j:j + len(previous[j])] += previous[j]
            counts[:len(current[j - 1])] += current[j - 1]
            current.append(counts)
        previous = current
    total = previous[n]
    return tuple(total / total.sum())


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> RankTest:
    """Mann-Whitney U test of x against y (both need at least one finite value)."""
    xs = np.asarray([v for v in x if math.isfinite(v)], dtype=float)
    ys = np.asarray([v for v in y if math.isfinite(v)], dtype=float)
    m, n = len(xs), len(ys)
    if m == 0 or n == 0:
        raise ValueError("the Mann-Whitney test needs at least one finite value on each side")
    ranks = _ranks(np.concatenate([xs, ys]))
    u = float(ranks[:m].sum() - m * (m + 1) / 2.0)
    has_ties = len(np.unique(np.concatenate([xs, ys]))) < m + n
    if not has_ties and m <= EXACT_MAX_SIZE and n <= EXACT_MAX_SIZE:
        probabilities = np.asarray(_u_distribution(m, n))
        k = int(round(u))
        return RankTest(u, float(min(1.0, probabilities[:k + 1].sum())),
                        float(min(1.0, probabilities[k:].sum())), "exact")
    return _asymptotic(u, m, n, ranks)


def _asymptotic(u: float, m: int, n: int, ranks: np.ndarray) -> RankTest:
    mean = m * n / 2.0
    _, tie_counts = np.unique(ranks, return_counts=True)
    total = m + n
    tie_term = float((tie_counts ** 3 - tie_counts).sum()) / (total * (total - 1))
    variance = m * n / 12.0 * ((total + 1) - tie_term)
    if variance <= 0:  # every value equal: no evidence either way
        return RankTest(u, 1.0, 1.0, "asymptotic")
    sd = math.sqrt(variance)
    p_less = _normal_cdf((u - mean + 0.5) / sd)
    p_greater = _normal_sf((u - mean - 0.5) / sd)
    return RankTest(u, min(1.0, p_less), min(1.0, p_greater), "asymptotic")


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))
