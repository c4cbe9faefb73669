"""Derived numbers of a run, computed only from stored raw samples and work counts.

`derive_measurement` and `build_summary` are pure: `bench verify` calls them again on a stored
run and compares, so whatever is stored must be reproducible from the samples.

Headline peaks (effective TPP, effective DRAM bandwidth) come only from measurements a lab can
defend: a case whose warm-up did not stabilise, or whose relative expanded uncertainty is above
a ceiling (DEFAULT_MAX_RELATIVE_U), does not set them. A max over noisy medians is biased upward
and would stop being a lower bound. Excluded cases are listed in `excluded_from_peaks`."""

from __future__ import annotations

from typing import Any, Mapping

from bench.analysis import antidetect, metrics, stats


def throughput_block(work: Mapping[str, int], summary: Mapping[str, float], unit: str) -> dict[str, Any]:
    """Rate from the median per-iteration time, with its 95% CI and the best (fastest) sample."""
    amount = work[metrics.work_key(unit)]
    value = metrics.rate(amount, summary["median"], unit)
    low, high = metrics.throughput_interval(value, (summary["ci95_low"], summary["ci95_high"]), summary["median"])
    return {"value": value, "unit": unit, "statistic": "median", "ci95": [low, high],
            "best": metrics.rate(amount, summary["min"], unit)}


def derive_measurement(samples_s: list[float], work: Mapping[str, int], unit: str) -> dict[str, Any]:
    """{'stats': ..., 'throughput': ...} of one measurement from its raw per-iteration samples."""
    summary = stats.summarize(samples_s)
    return {"stats": summary, "throughput": throughput_block(work, summary, unit)}


DEFAULT_MAX_RELATIVE_U = 0.25  # U (k = 2) / value above which a case cannot set a headline peak


def relative_uncertainty(measurement: Mapping[str, Any]) -> float | None:
    """Relative expanded uncertainty of a measurement: its budget's relative_U, else the larger
    half-width of its 95 % interval over the value. None when neither is recorded."""
    budget = measurement.get("uncertainty")
    if isinstance(budget, Mapping) and isinstance(budget.get("relative_U"), (int, float)):
        return float(budget["relative_U"])
    throughput = measurement.get("throughput") or {}
    value, ci = throughput.get("value"), throughput.get("ci95")
    if not isinstance(value, (int, float)) or value <= 0 or not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return None
    if not all(isinstance(x, (int, float)) for x in ci):
        return None
    return metrics.expanded_from_interval(value, ci) / value


def indefensible(measurement: Mapping[str, Any], max_relative_u: float = DEFAULT_MAX_RELATIVE_U) -> str | None:
    """Why a measurement may not set a headline peak, or None when it may."""
    warmup = (measurement.get("timing") or {}).get("warmup")
    if isinstance(warmup, Mapping) and warmup.get("stable") is False:
        return "warm-up did not stabilise"
    relative = relative_uncertainty(measurement)
    if relative is not None and not relative <= max_relative_u:
        return f"relative U {relative:.1%} above the {max_relative_u:.0%} ceiling"
    return None


def defensible_split(measurements: list[Mapping[str, Any]], max_relative_u: float = DEFAULT_MAX_RELATIVE_U
                     ) -> tuple[list[Mapping[str, Any]], list[dict[str, Any]]]:
    """(measurements that may set a peak, [{measurement_id, reason}] of those that may not)."""
    kept, excluded = [], []
    for m in measurements:
        reason = indefensible(m, max_relative_u)
        if reason:
            excluded.append({"measurement_id": m.get("id"), "reason": reason})
        else:
            kept.append(m)
    return kept, excluded


def _usable(run: Mapping[str, Any], suite: str) -> list[Mapping[str, Any]]:
    return [m for m in run.get("measurements", []) if m["suite"] == suite and m["status"] == "ok"]


def _peaks(measurements: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    best: dict[str, Mapping[str, Any]] = {}
    for m in measurements:
        if m["dtype"] not in best or m["throughput"]["value"] > best[m["dtype"]]["throughput"]["value"]:
            best[m["dtype"]] = m
    return {dtype: {"value": m["throughput"]["value"], "unit": m["throughput"]["unit"], "ci95": m["throughput"]["ci95"],
                    "measurement_id": m["id"]} for dtype, m in best.items()}


def effective_tpp(gemm_peaks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    by_dtype = {}
    for dtype, peak in gemm_peaks.items():
        by_dtype[dtype] = {"tops": peak["value"], "bit_length": metrics.bit_length(dtype),
                           "tpp": metrics.tpp(peak["value"], dtype), "measurement_id": peak["measurement_id"],
                           "ci95_tops": peak["ci95"]}
    best, best_dtype = metrics.max_tpp({d: entry["tops"] for d, entry in by_dtype.items()})
    return {"max": best if best_dtype else None, "dtype": best_dtype, "by_dtype": by_dtype}


def stream_peaks(measurements: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Best DRAM-sized result per stream kernel (sweep points below 4x LLC do not count)."""
    dram = [m for m in measurements if m["params"].get("role") == "dram"]
    out: dict[str, dict[str, Any]] = {}
    for m in dram:
        current = out.get(m["kernel"])
        if current is None or m["throughput"]["value"] > current["value"]:
            out[m["kernel"]] = {"value": m["throughput"]["value"], "ci95": m["throughput"]["ci95"],
                                "measurement_id": m["id"], "array_bytes": m["params"].get("array_bytes"),
                                "llc_multiple": m["params"].get("llc_multiple")}
    return out


def effective_dram_bandwidth(streams: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    if not streams:
        return {"value": None, "kernel": None, "measurement_id": None}
    kernel = max(streams, key=lambda name: streams[name]["value"])
    return {"value": streams[kernel]["value"], "kernel": kernel, "measurement_id": streams[kernel]["measurement_id"],
            "ci95": streams[kernel]["ci95"]}


def _uncertainty_of(run: Mapping[str, Any], measurement_id: str | None, scale: float = 1.0) -> dict[str, Any] | None:
    for m in run.get("measurements", []):
        if m["id"] == measurement_id and m.get("uncertainty"):
            block = m["uncertainty"]
            return {"value": block["value"] * scale, "U": block["U"] * scale, "k": block["k"],
                    "relative_U": block.get("relative_U"), "measurement_id": measurement_id,
                    "source": "uncertainty budget of the measurement that sets the value"}
    return None


def interconnect_peaks(measurements: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Highest bus bandwidth per collective (nccl-tests busbw = algbw x factor), from throughput (algbw)."""
    out: dict[str, dict[str, Any]] = {}
    for m in measurements:
        op, n = m["params"].get("op", m["kernel"]), m["params"].get("world_size")
        if not n:
            continue
        busbw = metrics.bus_bandwidth(m["throughput"]["value"], op, n)
        if op not in out or busbw > out[op]["busbw"]:
            out[op] = {"busbw": busbw, "algbw": m["throughput"]["value"], "unit": "GB/s", "world_size": n,
                       "factor": metrics.bus_bandwidth_factor(op, n), "backend": m["params"].get("backend"),
                       "message_bytes": m["work"]["bytes"], "measurement_id": m["id"]}
    return out


def _normal_inputs(measurements: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Only normal-distribution inputs count toward peaks: zeros/ones show data-dependent clocks, not capability
    at representative data (bench/analysis/antidetect.py). Perturbed variants use normal data and do count."""
    return [m for m in measurements if m["params"].get("input_distribution", "normal") == "normal"]


def build_summary(run: Mapping[str, Any], max_relative_u: float = DEFAULT_MAX_RELATIVE_U) -> dict[str, Any]:
    gemm_cases, gemm_excluded = defensible_split(_normal_inputs(_usable(run, "gemm")), max_relative_u)
    stream_cases, stream_excluded = defensible_split(
        [m for m in _usable(run, "stream") if m["params"].get("role") == "dram"], max_relative_u)
    gemm = _peaks(_normal_inputs(_usable(run, "gemm")))  # every case, for the tables
    tpp = effective_tpp(_peaks(gemm_cases))  # defensible cases only, for the headline
    streams = stream_peaks(_usable(run, "stream"))
    bandwidth = effective_dram_bandwidth(stream_peaks(stream_cases))
    excluded = gemm_excluded + stream_excluded
    uncertainty = {}
    if tpp["dtype"]:
        block = _uncertainty_of(run, tpp["by_dtype"][tpp["dtype"]]["measurement_id"], metrics.bit_length(tpp["dtype"]))
        if block:
            uncertainty["tpp"] = block
    if bandwidth["measurement_id"]:
        block = _uncertainty_of(run, bandwidth["measurement_id"])
        if block:
            uncertainty["dram_bandwidth_gbps"] = block
    interconnect = interconnect_peaks(_usable(run, "interconnect"))
    extra: dict[str, Any] = {"interconnect": interconnect} if interconnect else {}  # absent for runs without collectives
    if excluded:  # absent when every case may set a peak, so earlier runs still re-derive
        extra["excluded_from_peaks"] = excluded
    return {
        **extra,
        "effective_tpp": tpp,
        "gemm_peak": gemm,
        "attention_peak": _peaks(_usable(run, "attention")),
        "stream": streams,
        "effective_dram_bandwidth": bandwidth,
        "uncertainty": uncertainty,
        **antidetect.summary_block(run),  # {"anti_detection": ...} when the run has patterns or variants
        "counts": {"measurements": len(run.get("measurements", [])), "skips": len(run.get("skips", [])),
                   "failed_checks": sum(1 for m in run.get("measurements", []) if m["status"] != "ok")},
    }
