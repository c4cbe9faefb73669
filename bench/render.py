"""Plain-text renderings of a run for the terminal. Pure: they return strings; the CLI prints."""

from __future__ import annotations

import math
from typing import Any, Mapping


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: significant digits below 1000, thousands separators above; '-' for none/NaN/inf."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        if value == 0:
            return "0"
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)] if rows else [len(h) for h in headers]
    line = lambda cells: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary_text(run: Mapping[str, Any]) -> str:
    summary = run.get("summary") or {}
    device = run["device"]
    parts = [f"Device: {device['name']} ({device['backend']}, {device['vendor']})   run {run['run_id']}   status {run['status']}"]
    tpp = summary.get("effective_tpp") or {}
    rows = [[dtype, fmt(e["tops"]), str(e["bit_length"]), fmt(e["tpp"]), e["measurement_id"].split("/", 3)[-1]]
            for dtype, e in (tpp.get("by_dtype") or {}).items()]
    if rows:
        parts += ["", "GEMM peak per dtype (median of samples)",
                  table(["dtype", "TFLOPS/TOPS", "bits", "TPP", "best shape"], rows)]
    attention = summary.get("attention_peak") or {}
    if attention:
        parts += ["", "Attention (SDPA forward)",
                  table(["dtype", "TFLOPS", "case"],
                        [[d, fmt(e["value"]), e["measurement_id"].split("/", 3)[-1]] for d, e in attention.items()])]
    streams = summary.get("stream") or {}
    if streams:
        parts += ["", "Memory streams at DRAM-sized arrays (STREAM byte counting)",
                  table(["kernel", "GB/s", "array MiB", "x LLC"],
                        [[k, fmt(e["value"]), fmt((e.get("array_bytes") or 0) / 2**20), fmt(e.get("llc_multiple"))]
                         for k, e in streams.items()])]
    bandwidth = summary.get("effective_dram_bandwidth") or {}
    parts += ["",
              f"Effective TPP: {fmt(tpp.get('max'))} (from {tpp.get('dtype') or '-'}; a lower bound on the regulatory TPP)",
              f"Effective DRAM bandwidth: {fmt(bandwidth.get('value'))} GB/s (from {bandwidth.get('kernel') or '-'})"]
    skips = run.get("skips") or []
    failed = [m for m in run.get("measurements", []) if m["status"] != "ok"]
    if skips:
        parts.append(f"Skipped: {len(skips)} case(s), reasons in run.json")
    if failed:
        parts.append(f"FAILED correctness checks: {', '.join(m['id'] for m in failed)}")
    return "\n".join(parts)
