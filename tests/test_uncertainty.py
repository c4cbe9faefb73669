"""GUM budget: each component against a hand computation, combination, expansion, applying to values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.analysis import uncertainty as unc


def noisy(n=50, median=1e-3, cv=0.02, seed=1):
    return list(np.random.default_rng(seed).normal(median, median * cv, n))


def test_type_a_of_median_matches_formula_or_bootstrap():
    samples = noisy()
    comp = unc.type_a_median(samples)
    s, n, med = np.std(samples, ddof=1), len(samples), np.median(samples)
    analytic = 1.2533 * s / math.sqrt(n) / med
    assert comp["type"] == "A" and comp["degrees_of_freedom"] == n - 1
    assert comp["relative_standard_uncertainty"] >= analytic * 0.999
    assert comp["relative_standard_uncertainty"] < 5 * analytic
    assert unc.type_a_median([1e-3]) is None


def test_more_samples_shrink_type_a():
    few = unc.type_a_median(noisy(n=10))["relative_standard_uncertainty"]
    many = unc.type_a_median(noisy(n=1000))["relative_standard_uncertainty"]
    assert many < few / 3


def test_resolution_is_rectangular_over_the_sample_interval():
    comp = unc.type_b_resolution(1e-6, 1e-3)
    assert comp["type"] == "B" and comp["relative_standard_uncertainty"] == pytest.approx(1e-6 / (math.sqrt(3) * 1e-3))


def test_clock_variation_component():
    comp = unc.type_b_clock({"min": 1800.0, "median": 1900.0, "max": 2000.0})
    assert comp["relative_standard_uncertainty"] == pytest.approx((200 / (2 * 1900)) / math.sqrt(3))
    assert unc.type_b_clock({"min": 1980.0, "median": 1980.0, "max": 1980.0})["relative_standard_uncertainty"] == 0
    assert unc.type_b_clock({"min": None, "median": None, "max": None}) is None


def test_repeats_component_mean_or_single():
    runs = [100.0, 102.0, 98.0, 101.0]
    s = np.std(runs, ddof=1) / np.mean(runs)
    assert unc.type_a_repeats(runs)["relative_standard_uncertainty"] == pytest.approx(s / 2)
    assert unc.type_a_repeats(runs, mean_reported=False)["relative_standard_uncertainty"] == pytest.approx(s)
    assert unc.type_a_repeats([100.0]) is None


def test_budget_combines_in_quadrature_and_expands_with_k():
    clock = {"min": 1900.0, "median": 1950.0, "max": 1980.0}
    result = unc.budget(noisy(), iterations=10, resolution_s=1e-6, clock_summary=clock, repeat_values=[1.0, 1.01, 0.99], k=2.0)
    json.dumps(result)
    rel = [c["relative_standard_uncertainty"] for c in result["components"]]
    assert [c["name"] for c in result["components"]] == ["repeatability (samples)", "timer resolution",
                                                          "clock variation", "reproducibility (repeated runs)"]
    assert result["combined_rel"] == pytest.approx(math.sqrt(sum(r * r for r in rel)))
    assert result["expanded_rel"] == pytest.approx(2 * result["combined_rel"]) and result["k"] == 2.0
    assert result["effective_dof"] > 1 and result["warnings"] == []
    assert unc.budget(noisy(), 10, 1e-6, clock, k=3.0)["expanded_rel"] == pytest.approx(
        1.5 * unc.budget(noisy(), 10, 1e-6, clock, k=2.0)["expanded_rel"])


def test_budget_warns_about_what_it_could_not_evaluate():
    result = unc.budget([1e-3], iterations=1, resolution_s=1e-6, repeat_values=[5.0])
    assert len(result["warnings"]) == 3
    assert [c["name"] for c in result["components"]] == ["timer resolution"]
    with pytest.raises(ValueError):
        unc.budget([], 1, 1e-6)


def test_wider_samples_and_clock_swings_give_larger_u():
    tight = unc.budget(noisy(cv=0.005), 10, 1e-6)["combined_rel"]
    loose = unc.budget(noisy(cv=0.05), 10, 1e-6)["combined_rel"]
    swing = unc.budget(noisy(cv=0.005), 10, 1e-6, {"min": 1000.0, "median": 1500.0, "max": 2000.0})["combined_rel"]
    assert tight < loose and tight < swing


def test_apply_to_absolute_value():
    rel = unc.budget(noisy(), 10, 1e-6, {"min": 1900.0, "median": 1950.0, "max": 1980.0})
    result = unc.apply(800.0, rel, "TFLOPS")
    assert result["value"] == 800.0 and result["unit"] == "TFLOPS" and result["k"] == 2.0
    assert result["u"] == pytest.approx(800.0 * rel["combined_rel"]) and result["U"] == pytest.approx(2 * result["u"])
    assert sum(c["standard_uncertainty"] ** 2 for c in result["components"]) == pytest.approx(result["u"] ** 2)


def test_for_measurement_reads_run_json_shape():
    measurement = {"timing": {"iterations": 5, "resolution_s": 1e-9, "samples_s": noisy(n=20)},
                   "throughput": {"value": 1.5, "unit": "TFLOPS"}}
    telemetry = {"observed": True, "clock_mhz": {"min": 2500.0, "median": 2600.0, "max": 2600.0}}
    with_clock = unc.for_measurement(measurement, telemetry)
    without = unc.for_measurement(measurement, {"observed": False, "clock_mhz": None})
    assert with_clock["unit"] == "TFLOPS" and with_clock["U"] > without["U"]
    assert any("no clock telemetry" in w for w in without["warnings"])


@pytest.mark.parametrize("kwargs", [{"k": -2.0}, {"k": float("nan")}, {"resolution_s": -1e-9},
                                    {"resolution_s": float("inf")}, {"samples_s": [1e-3, float("nan")]},
                                    {"samples_s": [1e-3, -1e-3, 1e-3]}])
def test_budget_refuses_inputs_that_would_give_a_negative_or_nan_u(kwargs):
    from bench.analysis import uncertainty

    arguments = {"samples_s": [1e-3, 1.1e-3, 0.9e-3], "iterations": 1, "resolution_s": 1e-9, **kwargs}
    with pytest.raises(ValueError):
        uncertainty.budget(**arguments)
