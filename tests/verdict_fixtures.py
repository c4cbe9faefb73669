"""Small builders of synthetic run dicts (run.json schema 1) for verdict tests."""

from __future__ import annotations

from typing import Any

from bench.analysis import metrics


def _complete(record: dict[str, Any]) -> dict[str, Any]:
    """The keys every stored measurement has (bench.record.schema.Measurement) that verdicts do not read."""
    filler = {"shape": {}, "params": {}, "work": {"flops": 0, "bytes": 0},
              "timing": {"iterations": 1, "clock": "fake", "resolution_s": 1e-9, "stop_reason": "fixed",
                         "warmup": {}, "policy": {}, "samples_s": [1.0]},
              "stats": {k: 1.0 for k in ("mean", "median", "std", "cv", "min", "max", "p10", "p90", "iqr",
                                         "ci95_low", "ci95_high")} | {"n": 1},
              "check": {"passed": True, "max_error": 0.0, "tolerance": 0.0, "detail": ""}, "warnings": []}
    return {**filler, **record}


def gemm_measurement(dtype: str, tops: float, half_width: float, **extra: Any) -> dict[str, Any]:
    mid = f"gemm/{dtype}/m=8192,n=8192,k=8192"
    record = {"id": mid, "suite": "gemm", "kernel": "matmul", "dtype": dtype, "status": "ok",
              "throughput": {"value": tops, "unit": "TFLOPS", "statistic": "median",
                             "ci95": [tops - half_width, tops + half_width], "best": tops + half_width}}
    record.update(extra)
    return _complete(record)


def stream_measurement(gbps: float, half_width: float, **extra: Any) -> dict[str, Any]:
    record = {"id": "stream/triad", "suite": "stream", "kernel": "triad", "dtype": "fp32", "status": "ok",
              "throughput": {"value": gbps, "unit": "GB/s", "statistic": "median",
                             "ci95": [gbps - half_width, gbps + half_width], "best": gbps + half_width}}
    record.update(extra)
    return _complete(record)


def make_run(device_name: str, gemm: dict[str, tuple[float, float]] | None = None,
             bandwidth: tuple[float, float] | None = None, backend: str = "cuda", **device: Any) -> dict[str, Any]:
    """A complete run: gemm maps dtype -> (median TOPS, CI half-width); bandwidth is (GB/s, half-width)."""
    measurements = [gemm_measurement(d, v, h) for d, (v, h) in (gemm or {}).items()]
    if bandwidth:
        measurements.append(stream_measurement(*bandwidth))
    return with_summary({
        "schema_version": 1, "method_version": "1.0", "status": "complete", "run_id": "test", "started_at": None,
        "device": {"backend": backend, "vendor": device.pop("vendor", "NVIDIA"), "name": device_name, **device},
        "measurements": measurements, "skips": [],
    })


def with_summary(run: dict[str, Any]) -> dict[str, Any]:
    """Recompute `summary` from the measurements, as bench/analysis/summary.py does."""
    by_dtype = {}
    for m in run["measurements"]:
        if m["suite"] == "gemm":
            tops = m["throughput"]["value"]
            by_dtype[m["dtype"]] = {"tops": tops, "bit_length": metrics.bit_length(m["dtype"]),
                                    "tpp": metrics.tpp(tops, m["dtype"]), "measurement_id": m["id"],
                                    "ci95_tops": m["throughput"]["ci95"]}
    best, dtype = metrics.max_tpp({d: e["tops"] for d, e in by_dtype.items()}) if by_dtype else (0.0, None)
    streams = [m for m in run["measurements"] if m["suite"] == "stream"]
    run["summary"] = {
        "effective_tpp": {"max": best, "dtype": dtype, "by_dtype": by_dtype},
        "effective_dram_bandwidth": ({"value": streams[0]["throughput"]["value"], "kernel": "triad",
                                      "measurement_id": streams[0]["id"]} if streams else
                                     {"value": None, "kernel": None, "measurement_id": None}),
        "gemm_peak": {m["dtype"]: {"value": m["throughput"]["value"], "unit": m["throughput"]["unit"],
                                   "ci95": m["throughput"]["ci95"], "measurement_id": m["id"]}
                      for m in run["measurements"] if m["suite"] == "gemm"},
        "attention_peak": {}, "stream": {}, "uncertainty": {},
        "counts": {"measurements": len(run["measurements"]), "skips": len(run["skips"]), "failed_checks": 0},
    }
    return run
