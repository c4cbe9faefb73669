"""GUM-style uncertainty budget per reported metric (test-lab.md §1.6; NIST TN 1297).

All components are relative standard uncertainties of the measured time per iteration; to first
order they are also those of the throughput (work / time), so one budget serves TFLOPS and GB/s.

Components:
- type A, samples: standard uncertainty of the median of n samples, the larger of 1.2533 s/sqrt(n)
  (asymptotic, normal parent) and the seeded bootstrap CI half-width / 1.96 (bench.analysis.stats).
- type B, timer resolution: a rectangular distribution of half-width one resolution step on each
  sample's total timed interval: u = resolution / (sqrt(3) * median sample time).
- type B, clock variation: the device clock seen during the window spans [min, max]; a rectangular
  distribution of half-width (max - min) / (2 * median): u = half-width / sqrt(3). Conservative:
  part of that variation is already in the samples.
- type A, repeats: independent runs of the same measurement (when the plan asks for them).

Combined u_c = sqrt(sum u_i^2); expanded U = k * u_c (k = 2 by default, ~95 % for a normal
distribution with enough degrees of freedom; the Welch-Satterthwaite effective degrees of freedom
are reported so a reader can check that assumption). Pure functions: recomputable from run.json.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from bench.analysis.stats import bootstrap_median_ci

MEDIAN_EFFICIENCY = 1.2533  # sqrt(pi/2): standard error of the median / standard error of the mean
SQRT3 = math.sqrt(3.0)


def _component(name: str, kind: str, relative: float, note: str, dof: float | None = None) -> dict[str, Any]:
    return {"name": name, "type": kind, "relative_standard_uncertainty": float(relative), "note": note,
            "degrees_of_freedom": dof}


def type_a_median(samples_s: Sequence[float]) -> dict[str, Any] | None:
    """Relative standard uncertainty of the median of the samples; None with fewer than 2 samples."""
    values = np.asarray(samples_s, dtype=np.float64)
    if values.size < 2:
        return None
    median = float(np.median(values))
    analytic = MEDIAN_EFFICIENCY * float(values.std(ddof=1)) / math.sqrt(values.size)
    low, high = bootstrap_median_ci(values)
    bootstrap = (high - low) / (2 * 1.96)
    chosen, how = (analytic, "1.2533*s/sqrt(n)") if analytic >= bootstrap else (bootstrap, "bootstrap CI half-width/1.96")
    return _component("repeatability (samples)", "A", chosen / median,
                      f"median of n={values.size} samples; {how} (larger of the two estimates)", values.size - 1)


def type_b_resolution(resolution_s: float, sample_time_s: float) -> dict[str, Any]:
    """Timer quantisation as a rectangular distribution over one sample's timed interval."""
    return _component("timer resolution", "B", resolution_s / (SQRT3 * sample_time_s),
                      f"rectangular, half-width {resolution_s:.3g} s on a {sample_time_s:.3g} s sample")


def type_b_clock(clock_summary: Mapping[str, float]) -> dict[str, Any] | None:
    """Clock variation seen during the window (telemetry clock_mhz min/median/max), rectangular."""
    low, mid, high = (clock_summary.get(k) for k in ("min", "median", "max"))
    if not low or not mid or not high or mid <= 0:
        return None
    half_width = (high - low) / (2 * mid)
    return _component("clock variation", "B", half_width / SQRT3,
                      f"rectangular over observed clock {low:g}-{high:g} MHz (median {mid:g}); throughput taken "
                      "as proportional to clock, which overstates it for memory-bound kernels")


def type_a_repeats(repeat_values: Sequence[float], mean_reported: bool = True) -> dict[str, Any] | None:
    """Run-to-run spread of independent repeats of the metric; None with fewer than 2 runs."""
    values = np.asarray(repeat_values, dtype=np.float64)
    if values.size < 2:
        return None
    relative = float(values.std(ddof=1)) / float(values.mean())
    if mean_reported:
        relative /= math.sqrt(values.size)
    what = "mean of the runs is reported" if mean_reported else "one run's value is reported"
    return _component("reproducibility (repeated runs)", "A", relative, f"{values.size} runs; {what}", values.size - 1)


def effective_dof(components: Sequence[Mapping[str, Any]], combined: float) -> float | None:
    """Welch-Satterthwaite; type B components count as infinite degrees of freedom."""
    terms: list[float] = [c["relative_standard_uncertainty"] ** 4 / c["degrees_of_freedom"]
             for c in components if c.get("degrees_of_freedom")]
    if combined <= 0 or not terms or sum(terms) == 0:
        return None
    return combined**4 / sum(terms)


def budget(samples_s: Sequence[float], iterations: int, resolution_s: float,
           clock_summary: Mapping[str, float] | None = None, repeat_values: Sequence[float] | None = None,
           k: float = 2.0, mean_of_repeats_reported: bool = True) -> dict[str, Any]:
    """Relative uncertainty budget of one metric.

    samples_s: per-iteration seconds, one per sample (run.json timing.samples_s); iterations: iterations
    per sample; resolution_s: the clock's resolution; clock_summary: telemetry clock_mhz summary of the
    window; repeat_values: the metric's value in independent repeated runs.
    Returns {"value_rel": 1.0, "median_s", "components": [...], "combined_rel", "expanded_rel", "k",
    "effective_dof", "warnings"}."""
    if len(samples_s) == 0:
        raise ValueError("no samples to budget")
    values = np.asarray(samples_s, dtype=np.float64)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("every sample time must be a finite number of seconds >= 0")
    median = float(np.median(values))
    if median <= 0 or iterations < 1:
        raise ValueError(f"non-positive median sample time {median!r} or iterations {iterations!r}")
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"coverage factor k must be a finite positive number, got {k!r}")
    if not (math.isfinite(resolution_s) and resolution_s >= 0):
        raise ValueError(f"timer resolution must be a finite number >= 0, got {resolution_s!r}")
    warnings: list[str] = []
    candidates: list[dict[str, Any] | None] = []
    repeat = type_a_median(samples_s)
    if repeat is None:
        warnings.append("single sample: repeatability (type A) could not be evaluated; U understates the uncertainty")
    candidates.append(repeat)
    candidates.append(type_b_resolution(resolution_s, median * iterations))
    if clock_summary:
        candidates.append(type_b_clock(clock_summary))
    else:
        warnings.append("no clock telemetry: clock variation during the window is not in the budget")
    if repeat_values is not None:
        reproducibility = type_a_repeats(repeat_values, mean_of_repeats_reported)
        if reproducibility is None:
            warnings.append("fewer than 2 repeated runs: reproducibility could not be evaluated")
        candidates.append(reproducibility)
    components = [c for c in candidates if c is not None]
    combined = math.sqrt(sum(c["relative_standard_uncertainty"] ** 2 for c in components))
    return {"value_rel": 1.0, "median_s": median, "components": components, "combined_rel": combined,
            "expanded_rel": k * combined, "k": k, "effective_dof": effective_dof(components, combined),
            "warnings": warnings}


def apply(value: float, relative_budget: Mapping[str, Any], unit: str | None = None) -> dict[str, Any]:
    """A relative budget applied to an absolute value: {"value", "u", "U", "k", "unit", "components", ...}."""
    magnitude = abs(value)
    components = [{**c, "standard_uncertainty": c["relative_standard_uncertainty"] * magnitude}
                  for c in relative_budget["components"]]
    return {"value": value, "u": relative_budget["combined_rel"] * magnitude,
            "U": relative_budget["expanded_rel"] * magnitude, "k": relative_budget["k"], "unit": unit,
            "relative_U": relative_budget["expanded_rel"], "effective_dof": relative_budget.get("effective_dof"),
            "components": components, "warnings": list(relative_budget.get("warnings", []))}


def for_measurement(measurement: Mapping[str, Any], telemetry_summary: Mapping[str, Any] | None = None,
                    repeat_values: Sequence[float] | None = None, k: float = 2.0) -> dict[str, Any]:
    """Budget of one run.json measurement, applied to its throughput value (throughput.value, unit)."""
    timing = measurement["timing"]
    clock = (telemetry_summary or {}).get("clock_mhz") if (telemetry_summary or {}).get("observed") else None
    relative = budget(timing["samples_s"], int(timing["iterations"]), float(timing["resolution_s"]), clock,
                      repeat_values, k)
    throughput = measurement["throughput"]
    return apply(float(throughput["value"]), relative, throughput.get("unit"))
