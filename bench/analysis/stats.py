"""Statistics of a measurement's raw samples. Pure functions: recomputable from stored JSON."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240917  # fixed so a stored run's CI can be recomputed exactly
HIGH_SPREAD_CV = 0.05  # a coefficient of variation above 5% hides a real 5% difference
MIN_SAMPLES = 5  # fewer samples give a meaningless 95% CI of the median
RESOLUTION_MULTIPLE = 100  # a sample under 100x the timer resolution carries >=1% quantisation error


def bootstrap_median_ci(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the median (seeded, so reproducible)."""
    if len(samples) < 2:
        value = float(samples[0]) if len(samples) else float("nan")
        return value, value
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(samples), size=(BOOTSTRAP_RESAMPLES, len(samples)))
    medians = np.median(samples[picks], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [tail, 1.0 - tail])
    return float(low), float(high)


def summarize(samples: list[float] | np.ndarray) -> dict[str, float]:
    """Median, mean, min, max, p10, p90, IQR, CV and the bootstrap 95% CI of the median."""
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    p10, p25, p50, p75, p90 = np.percentile(values, [10, 25, 50, 75, 90])
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    ci_low, ci_high = bootstrap_median_ci(values)
    return {
        "n": int(values.size),
        "median": float(p50),
        "mean": mean,
        "min": float(values.min()),
        "max": float(values.max()),
        "p10": float(p10),
        "p90": float(p90),
        "iqr": float(p75 - p25),
        "std": std,
        "cv": std / mean if mean > 0 else float("nan"),
        "ci95_low": ci_low,
        "ci95_high": ci_high,
    }


def relative_ci_half_width(stats: dict[str, float]) -> float:
    return (stats["ci95_high"] - stats["ci95_low"]) / (2.0 * stats["median"])


def sample_warnings(stats: dict[str, float], sample_total_s: float, resolution_s: float) -> list[str]:
    """Stability warnings attached to the measurement, not just printed."""
    warnings = []
    if stats["cv"] > HIGH_SPREAD_CV:
        warnings.append(f"high spread: coefficient of variation {stats['cv']:.1%} > {HIGH_SPREAD_CV:.0%}")
    if stats["n"] < MIN_SAMPLES:
        warnings.append(f"too few samples: {stats['n']} < {MIN_SAMPLES}")
    if sample_total_s < RESOLUTION_MULTIPLE * resolution_s:
        warnings.append(
            f"samples near timer resolution: {sample_total_s:.3g} s per sample < {RESOLUTION_MULTIPLE}x {resolution_s:.3g} s"
        )
    return warnings
