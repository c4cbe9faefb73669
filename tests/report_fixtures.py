"""Run folders for the report, compare and CI-output tests: a frozen real CPU run and a synthetic
accelerator run (tests/run_factory.py), each written to a temporary folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from run_factory import synthetic_run, write_run

from bench.analysis.summary import build_summary

DATA = Path(__file__).parent / "data"


def cpu_run() -> dict[str, Any]:
    return json.loads((DATA / "cpu_sweep_run.json").read_text())


def cpu_run_rederived() -> dict[str, Any]:
    """The frozen run with its summary re-derived by today's rules (headline peaks from defensible cases
    only), so that it compares like for like with `slower()`, which rebuilds its summary too."""
    run = cpu_run()
    run["summary"] = build_summary(run)
    return run


def accelerator_run() -> dict[str, Any]:
    return synthetic_run()


def write(folder: Path, run: dict[str, Any]) -> Path:
    return write_run(folder, run)


def slower(run: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same run with every sample `factor` times longer (throughput / factor), summary rebuilt."""
    out = copy.deepcopy(run)
    out["run_id"] = run["run_id"] + "-slower"
    for m in out["measurements"]:
        m["timing"]["samples_s"] = [s * factor for s in m["timing"]["samples_s"]]
        for key in ("median", "mean", "min", "max", "p10", "p90", "ci95_low", "ci95_high"):
            if key in m["stats"]:
                m["stats"][key] *= factor
        t = m["throughput"]
        t["value"] /= factor
        t["best"] /= factor
        t["ci95"] = [t["ci95"][0] / factor, t["ci95"][1] / factor]
        if m.get("uncertainty"):
            m["uncertainty"]["value"] /= factor
            m["uncertainty"]["U"] /= factor
    out["summary"] = build_summary(out)
    return out


def cpu_lot_run() -> dict[str, Any]:
    """A real two-unit lot: `bench run --plan examples/plan-cpu-two-units.yaml` (tests/data/README.md)."""
    return json.loads((DATA / "cpu_lot_run.json").read_text())


def with_telemetry(run: dict[str, Any], power_limit_w: float = 700.0) -> dict[str, Any]:
    """The run with an accelerator's telemetry window on every measurement (clock sagging, power
    and temperature rising), per-watt figures derived from it, and the audit's power limit."""
    from bench.devices.telemetry import throughput_per_watt

    out = copy.deepcopy(run)
    for i, m in enumerate(out["measurements"]):
        power = 420.0 + 60.0 * i
        window = {"observed": True, "sources": ["nvml"], "samples": 20, "duration_s": 1.5 + 0.5 * i,
                  "clock_mhz": {"min": 1755.0 - 40 * i, "median": 1780.0 - 40 * i, "max": 1980.0},
                  "power_w": {"min": power - 30, "median": power, "max": power + 25},
                  "temperature_c": {"min": 48.0 + 3 * i, "median": 50.0 + 3 * i, "max": 52.0 + 3 * i},
                  "utilization_pct": None, "energy_j": None, "energy_method": None, "throttle_reasons": [],
                  "throttled": False, "not_observed": []}
        m["telemetry"] = window
        m["throughput"]["per_watt"] = throughput_per_watt(m["throughput"]["value"], m["throughput"]["unit"], window)
    settings = {"device": {"power_limit_mw": power_limit_w * 1000, "enforced_power_limit_mw": power_limit_w * 1000,
                           "default_power_limit_mw": 700000}}
    out["audit"] = {"before": {"settings": settings, "findings": [], "unavailable": []},
                    "findings": [{"severity": "high", "code": "power_capped", "message": f"power limit {power_limit_w:.0f} W "
                                  "below default 700 W", "lowers_results": True, "raises_results": False}]
                    if power_limit_w < 700 else []}
    return out
