"""Compare runs: every measurement they share, side by side, with the ratio and whether the
difference is significant given both runs' spreads.

Significance: the difference is significant when |b - a| > sqrt(U_a² + U_b²), with U the expanded
uncertainty (k = 2) of each measurement (its uncertainty budget, else the half-width of its 95 % CI
of the median). All compared quantities are rates: higher is better, a drop is a regression."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from bench.errors import UsageError
from bench.verdict import read_run

SOFTWARE_KEYS = ("torch", "cuda", "hip", "cudnn", "numpy", "python")
COLUMNS = ["id", "unit", "a", "b", "ratio", "change_pct", "U_a", "U_b", "significant", "regression"]


@dataclasses.dataclass
class Comparison:
    """Run B against baseline run A: the table (a pandas DataFrame) and the warnings."""

    a: str
    b: str
    table: pd.DataFrame
    warnings: list[str]

    def regressions(self, pct: float) -> pd.DataFrame:
        """Significant drops larger than pct percent."""
        return self.table[self.table["regression"] & (-self.table["change_pct"] > pct)]

    def to_dict(self) -> dict[str, Any]:
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict(orient="records")
        return {"baseline": self.a, "run": self.b, "warnings": self.warnings, "rows": rows}


def _U(entry: Mapping[str, Any]) -> float:
    """Expanded uncertainty (k = 2) of a measurement's rate, in its own unit."""
    block = entry.get("uncertainty") or {}
    if block.get("U") is not None:
        return float(block["U"])
    low, high = (entry.get("throughput") or {}).get("ci95") or (math.nan, math.nan)
    return (high - low) / 2


def _values(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """id -> {value, unit, U} for each passing measurement and the two headline metrics."""
    out = {m["id"]: {"value": m["throughput"]["value"], "unit": m["throughput"]["unit"], "U": _U(m)}
           for m in run.get("measurements", []) if m.get("status") == "ok"}
    summary = run.get("summary") or {}
    budget = summary.get("uncertainty") or {}
    tpp = (summary.get("effective_tpp") or {}).get("max")
    if tpp:
        out["summary/effective_tpp"] = {"value": tpp, "unit": "TPP", "U": (budget.get("tpp") or {}).get("U", math.nan)}
    bandwidth = (summary.get("effective_dram_bandwidth") or {}).get("value")
    if bandwidth:
        out["summary/effective_dram_bandwidth"] = {"value": bandwidth, "unit": "GB/s",
                                                   "U": (budget.get("dram_bandwidth_gbps") or {}).get("U", math.nan)}
    return out


def run_warnings(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Why the two runs may not be comparable: device, software or method differences."""
    warnings = []
    da, db = a.get("device") or {}, b.get("device") or {}
    for key in ("name", "backend", "compute_units", "memory_bytes"):
        if da.get(key) != db.get(key):
            warnings.append(f"device {key} differs: {da.get(key)!r} vs {db.get(key)!r}")
    sa, sb = a.get("software") or {}, b.get("software") or {}
    for key in SOFTWARE_KEYS:
        if sa.get(key) != sb.get(key):
            warnings.append(f"software {key} differs: {sa.get(key)!r} vs {sb.get(key)!r}")
    for key in ("method_version", "schema_version"):
        if a.get(key) != b.get(key):
            warnings.append(f"{key} differs: {a.get(key)!r} vs {b.get(key)!r} (results may not be comparable)")
    if (a.get("config") or {}).get("name") != (b.get("config") or {}).get("name"):
        warnings.append(f"suite differs: {(a.get('config') or {}).get('name')!r} vs {(b.get('config') or {}).get('name')!r}")
    for label, run in (("A", a), ("B", b)):
        if run.get("status") != "complete":
            warnings.append(f"run {label} ({run.get('run_id')}) is {run.get('status')!r}")
    return warnings


def compare_runs(a: Mapping[str, Any], b: Mapping[str, Any]) -> Comparison:
    """Run b against baseline a (run dicts)."""
    va, vb = _values(a), _values(b)
    common = [key for key in va if key in vb and va[key]["unit"] == vb[key]["unit"]]
    frame = pd.DataFrame({
        "id": common, "unit": [va[k]["unit"] for k in common],
        "a": [va[k]["value"] for k in common], "b": [vb[k]["value"] for k in common],
        "U_a": [va[k]["U"] for k in common], "U_b": [vb[k]["U"] for k in common]}, columns=["id", "unit", "a", "b", "U_a", "U_b"])
    frame["ratio"] = frame["b"] / frame["a"]
    frame["change_pct"] = (frame["ratio"] - 1.0) * 100.0
    combined = (frame["U_a"].fillna(0.0) ** 2 + frame["U_b"].fillna(0.0) ** 2) ** 0.5
    frame["significant"] = (frame["b"] - frame["a"]).abs() > combined
    frame["regression"] = frame["significant"] & (frame["b"] < frame["a"])
    warnings = run_warnings(a, b)
    only = sorted(set(va) ^ set(vb))
    if only:
        warnings.append(f"{len(only)} measurement(s) in only one of the runs are left out")
    if not common:
        warnings.append("the runs share no measurement")
    return Comparison(str(a.get("run_id")), str(b.get("run_id")), frame[COLUMNS].reset_index(drop=True), warnings)


def compare_paths(paths: list[str | Path]) -> list[Comparison]:
    """Each run after the first against the first (the baseline)."""
    if len(paths) < 2:
        raise UsageError("compare needs at least two run folders (the first is the baseline)")
    runs = [read_run(p) for p in paths]
    return [compare_runs(runs[0], other) for other in runs[1:]]


def render_text(comparison: Comparison) -> str:
    """The table for a terminal: values, ratio, change and a marker for significant changes."""
    frame = comparison.table
    num = lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else (f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}")
    shown = pd.DataFrame({
        "measurement": frame["id"], "unit": frame["unit"], "A": frame["a"].map(num), "B": frame["b"].map(num),
        "B/A": frame["ratio"].map(lambda r: f"{r:.3f}"), "change": frame["change_pct"].map(lambda c: f"{c:+.1f}%"),
        "±U A": frame["U_a"].map(num), "±U B": frame["U_b"].map(num),
        "significant": [("REGRESSION" if r else "faster") if s else "no" for s, r in zip(frame["significant"], frame["regression"])]})
    lines = [f"A (baseline): {comparison.a}", f"B:            {comparison.b}", ""]
    lines.append(shown.to_string(index=False) if len(shown) else "(no common measurements)")
    significant = int(frame["significant"].sum())
    lines += ["", f"{len(frame)} common measurement(s); {significant} significant change(s), "
                  f"{int(frame['regression'].sum())} significant regression(s)"]
    lines += [f"warning: {w}" for w in comparison.warnings]
    return "\n".join(lines)
