"""Re-derive every stored number of a run from its raw samples, and say what differs.

One place for it, so `bench verify`, `bench report` and anything else that trusts a run.json
use the same checks: per-measurement stats and throughput (bench.analysis.stats, bench.analysis.metrics), the
`summary` (bench.analysis.summary.build_summary) and a stored `verdict` (bench.rules.verdict.check_run).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable

from bench.analysis import metrics
from bench.analysis.summary import build_summary, derive_measurement
from bench.analysis.uncertainty import for_measurement
from bench.devices.telemetry import throughput_per_watt
from bench.errors import RecordError
from bench.record.folder import VERDICT_FILE, read_verdict
from bench.rules.verdict import Verdict, check_run

REL_TOL = 1e-9  # stored JSON floats round-trip exactly; this only absorbs summation order


@dataclasses.dataclass
class Recomputation:
    findings: list[str] = dataclasses.field(default_factory=list)  # each names what differs
    notes: list[str] = dataclasses.field(default_factory=list)  # parts that could not be recomputed
    measurements_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def _same(stored: Any, fresh: Any) -> bool:
    if isinstance(stored, bool) or isinstance(fresh, bool):
        return stored == fresh
    if isinstance(stored, (int, float)) and isinstance(fresh, (int, float)):
        if math.isnan(stored) and math.isnan(fresh):
            return True
        return math.isclose(stored, fresh, rel_tol=REL_TOL, abs_tol=0.0) or stored == fresh
    return stored == fresh


def diff(stored: Any, fresh: Any, path: str) -> list[str]:
    """Human-readable differences between a stored and a recomputed JSON value, by dotted path."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        out = []
        for key in sorted(set(stored) | set(fresh), key=str):
            where = f"{path}.{key}"
            if key not in fresh:
                out.append(f"{where}: stored but not recomputed ({stored[key]!r})")
            elif key not in stored:
                out.append(f"{where}: missing (recomputed {fresh[key]!r})")
            else:
                out.extend(diff(stored[key], fresh[key], where))
        return out
    if isinstance(stored, (list, tuple)) and isinstance(fresh, (list, tuple)):
        if len(stored) != len(fresh):
            return [f"{path}: stored {len(stored)} items, recomputed {len(fresh)}"]
        return [line for i, (a, b) in enumerate(zip(stored, fresh)) for line in diff(a, b, f"{path}[{i}]")]
    if _same(stored, fresh):
        return []
    return [f"{path}: stored {stored!r}, recomputed {fresh!r}"]


def iter_measurements(run: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(label prefix, measurement) for a single-unit run and for each unit of a multi-unit run."""
    for index, measurement in enumerate(run.get("measurements") or []):
        yield f"measurement {measurement.get('id', index)}", measurement
    for u, unit in enumerate(run.get("units") or []):
        for index, measurement in enumerate(unit.get("measurements") or []):
            yield f"unit {u} measurement {measurement.get('id', index)}", measurement


def _derive(measurement: dict[str, Any], samples: list[float]) -> tuple[dict[str, float], dict[str, Any]]:
    """(stats, throughput) exactly as the harness derives them (bench.analysis.summary.derive_measurement)."""
    unit = (measurement.get("throughput") or {}).get("unit") or metrics.fallback_unit(measurement.get("suite"))
    derived = derive_measurement(samples, measurement.get("work") or {}, unit)
    return derived["stats"], derived["throughput"]


def _check_extras(label: str, measurement: dict[str, Any]) -> list[str]:
    """Energy efficiency and the uncertainty budget, from the stored telemetry window and samples."""
    findings = []
    throughput, window = measurement.get("throughput") or {}, measurement.get("telemetry")
    if "per_watt" in throughput and window is not None:
        fresh = throughput_per_watt(throughput["value"], throughput.get("unit"), window)
        findings += diff(throughput["per_watt"], fresh, f"{label}: throughput.per_watt")
    if measurement.get("uncertainty") is not None:
        bare = {k: v for k, v in measurement.items() if k != "uncertainty"}
        findings += diff(measurement["uncertainty"], for_measurement(bare, window), f"{label}: uncertainty")
    return findings


def check_measurement(label: str, measurement: dict[str, Any]) -> list[str]:
    """Differences between a measurement's stored stats / throughput / uncertainty and its raw samples."""
    samples = (measurement.get("timing") or {}).get("samples_s")
    if not samples:
        return [f"{label}: no raw samples (timing.samples_s) to recompute from"]
    try:
        fresh_stats, fresh_tp = _derive(measurement, samples)
    except (ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        return [f"{label}: cannot be recomputed ({type(exc).__name__}: {exc})"]
    findings = diff(measurement.get("stats"), fresh_stats, f"{label}: stats")
    stored_tp = measurement.get("throughput")
    if stored_tp is not None:
        fresh_tp = {key: value for key, value in fresh_tp.items() if key != "per_watt"}
        stored_core = {key: value for key, value in stored_tp.items() if key != "per_watt"}
        findings.extend(diff(stored_core, fresh_tp, f"{label}: throughput"))
    try:
        findings.extend(_check_extras(label, measurement))
    except (ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        findings.append(f"{label}: uncertainty or energy not recomputable ({type(exc).__name__}: {exc})")
    return findings


def check_summary(run: dict[str, Any], result: Recomputation) -> None:
    if "summary" not in run:
        return
    try:
        fresh = build_summary(run)
    except Exception as exc:  # a malformed run must become a finding, not a traceback
        result.findings.append(f"summary: cannot be recomputed ({type(exc).__name__}: {exc})")
        return
    result.findings.extend(diff(run["summary"], fresh, "summary"))


def _criteria_outcomes(verdict: dict[str, Any]) -> dict[str, Any]:
    """{"check/id": outcome} of a verdict's criteria (bench.record.schema.Criterion rows)."""
    rows = [row for row in verdict.get("criteria") or [] if isinstance(row, dict)]
    return {f"{row.get('check')}/{row.get('id')}": row.get("outcome") for row in rows}


def verdict_parameters(stored: dict[str, Any]) -> dict[str, Any]:
    """The check_run arguments a stored verdict was made with: explicit `parameters`, else read back
    from Verdict.to_dict() (profile id, rule, and the declared spec when it was given by name)."""
    if isinstance(stored.get("parameters"), dict):
        return dict(stored["parameters"])
    params: dict[str, Any] = {}
    profile = stored.get("profile")
    if isinstance(profile, dict) and profile.get("id"):
        params["profile"] = profile["id"]
    elif isinstance(profile, str):
        params["profile"] = profile
    if stored.get("rule"):
        params["rule"] = stored["rule"]
    how = str((stored.get("declared") or {}).get("how") or "")
    if how.startswith("--declared "):
        params["declared"] = how[len("--declared "):]
    return params


def check_verdict(run: dict[str, Any], result: Recomputation) -> None:
    stored = run.get("verdict")
    if not stored:
        return
    try:
        fresh = _rerun_verdict(run, stored).to_dict()
    except Exception as exc:  # a malformed run must become a finding, not a traceback
        result.findings.append(f"verdict: cannot be recomputed ({type(exc).__name__}: {exc})")
        return
    if stored.get("verdict") != fresh.get("verdict"):
        result.findings.append(f"verdict: stored {stored.get('verdict')!r}, recomputed {fresh.get('verdict')!r}")
    mine, theirs = _criteria_outcomes(stored), _criteria_outcomes(fresh)
    for name in sorted(set(mine) | set(theirs)):
        if mine.get(name) != theirs.get(name):
            result.findings.append(f"verdict criterion {name}: stored {mine.get(name)!r}, recomputed {theirs.get(name)!r}")


def _rerun_verdict(run: dict[str, Any], stored: dict[str, Any]) -> Verdict:
    """bench.rules.verdict.check_run with the parameters the stored verdict records."""
    run_without_verdict = {k: v for k, v in run.items() if k != "verdict"}
    return check_run(run_without_verdict, **verdict_parameters(stored))


def with_stored_verdict(run: dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """The run dict with `verdict` filled from RUN_DIR/verdict.json when run.json has none."""
    if run.get("verdict"):
        return run
    try:
        stored = read_verdict(run_dir)
    except RecordError:
        return {**run, "verdict": {"verdict": f"unreadable {VERDICT_FILE}"}}
    return run if stored is None else {**run, "verdict": dict(stored)}


def recompute_run(run: dict[str, Any]) -> Recomputation:
    """Recompute stats, throughput, summary and verdict of a run dict; list every difference."""
    result = Recomputation()
    for label, measurement in iter_measurements(run):
        result.findings.extend(check_measurement(label, measurement))
        result.measurements_checked += 1
    check_summary(run, result)
    check_verdict(run, result)
    for number, unit in enumerate(run.get("units") or []):  # multi-unit runs: each unit's own summary and verdict
        if isinstance(unit, dict):
            _check_unit(unit.get("unit") or number, unit, result)
    return result


def _check_unit(label: Any, unit: dict[str, Any], result: Recomputation) -> None:
    inner = Recomputation()
    check_summary(unit, inner)
    check_verdict(unit, inner)
    result.findings.extend(f"unit {label}: {finding}" for finding in inner.findings)
    result.notes.extend(f"unit {label}: {note}" for note in inner.notes)


def recompute(run: dict[str, Any]) -> list[str]:
    """The findings of `recompute_run` alone: an empty list means every stored number re-derives."""
    return recompute_run(run).findings


def run_labels(run: dict[str, Any]) -> list[str]:
    """Labels every report must show: CPU runs, CPU stand-ins for accelerator units (each by its
    unit label and serial), unfinished runs."""
    labels = []
    for part in [run] + [unit for unit in run.get("units") or [] if isinstance(unit, dict)]:
        device = part.get("device") or {}
        if (device.get("extra") or {}).get("stand_in") or part.get("stand_in"):
            labels.append(f"CPU stand-in {_unit_name(part)}: a CPU process standing in for an accelerator unit; "
                          "its numbers and identity are not an accelerator's")
        elif device.get("backend") == "cpu":
            labels.append(f"CPU run: {device.get('name') or 'the host CPU'} measured as a CPU, not an accelerator")
    if run.get("status") not in (None, "complete"):
        labels.append(f"run status {run.get('status')!r}: not a complete run")
    return labels


def _unit_name(part: dict[str, Any]) -> str:
    """`unit-a (SIM-0001)`: the unit's label and the serial its identity block carries."""
    serial = next((str(s["fields"]["serial"]) for s in (part.get("identity") or {}).get("sources") or []
                   if isinstance(s, dict) and isinstance(s.get("fields"), dict) and s["fields"].get("serial")), None)
    label = part.get("unit")
    if label and serial:
        return f"{label} ({serial})"
    return str(label or serial or (part.get("device") or {}).get("name") or "?")
