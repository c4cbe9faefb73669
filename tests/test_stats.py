import math

import numpy as np
import pytest

from bench.analysis import stats


def test_summarize_known_values():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["n"] == 5
    assert s["median"] == 3.0 and s["mean"] == 3.0
    assert s["min"] == 1.0 and s["max"] == 5.0
    assert s["p10"] == pytest.approx(1.4) and s["p90"] == pytest.approx(4.6)
    assert s["iqr"] == pytest.approx(2.0)
    assert s["std"] == pytest.approx(math.sqrt(2.5))
    assert s["cv"] == pytest.approx(math.sqrt(2.5) / 3.0)
    assert s["ci95_low"] <= s["median"] <= s["ci95_high"]


def test_bootstrap_ci_is_reproducible_and_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    few = rng.normal(1.0, 0.05, 10)
    many = rng.normal(1.0, 0.05, 1000)
    assert stats.bootstrap_median_ci(few) == stats.bootstrap_median_ci(few)
    width = lambda x: np.subtract(*stats.bootstrap_median_ci(x)[::-1])
    assert width(many) < width(few)


def test_single_sample_and_empty():
    s = stats.summarize([2.0])
    assert s["ci95_low"] == s["ci95_high"] == 2.0 and s["std"] == 0.0
    with pytest.raises(ValueError):
        stats.summarize([])


def test_warnings_for_spread_few_samples_and_resolution():
    noisy = stats.summarize([1.0, 1.5, 0.7, 1.2])
    warnings = stats.sample_warnings(noisy, sample_total_s=1e-6, resolution_s=1e-7)
    assert any("high spread" in w for w in warnings)
    assert any("too few samples" in w for w in warnings)
    assert any("timer resolution" in w for w in warnings)
    steady = stats.summarize([1.0] * 10)
    assert stats.sample_warnings(steady, sample_total_s=0.01, resolution_s=1e-9) == []
