"""Run folders for the report, compare and CI-output tests: a frozen real CPU run and a synthetic
accelerator run (tests/run_factory.py), each written to a temporary folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from run_factory import synthetic_run, write_run

from bench.summary import build_summary

DATA = Path(__file__).parent / "data"


def cpu_run() -> dict[str, Any]:
    """The frozen run, its summary re-derived by today's rules (headline peaks from defensible cases only)."""
    run = json.loads((DATA / "cpu_sweep_run.json").read_text())
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
