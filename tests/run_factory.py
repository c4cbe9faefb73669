"""Run folders for signing and fleet tests: a real CPU run from the harness, and synthetic run.json
files whose stats, throughput and summary are derived the way the harness derives them
(bench.analysis.stats, bench.analysis.metrics, bench.analysis.summary.build_summary), so recomputation has something true to check."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

from bench.analysis import metrics, stats
from bench.analysis.summary import build_summary
from bench.cli import main


def _measurement(mid: str, suite: str, kernel: str, dtype: str, work: dict[str, int], base_s: float,
                 seed: int, noise: float = 0.01) -> dict[str, Any]:
    """Samples base_s * (1 + noise * U[0, 1)) from a generator seeded with `seed`."""
    rng = random.Random(seed)
    samples = [base_s * (1.0 + noise * rng.random()) for _ in range(12)]
    summary = stats.summarize(samples)
    if suite == "stream":
        unit, rate, amount = "GB/s", metrics.gb_per_second, work["bytes"]
    else:
        unit, rate, amount = ("TOPS" if dtype.startswith("int") else "TFLOPS"), metrics.tera_per_second, work["flops"]
    value = rate(amount, summary["median"])
    low, high = metrics.throughput_interval(value, (summary["ci95_low"], summary["ci95_high"]), summary["median"])
    return {
        "id": mid, "suite": suite, "kernel": kernel, "dtype": dtype, "shape": {}, "params": {}, "work": work,
        "timing": {"iterations": 1, "clock": "fake", "resolution_s": 1e-9, "stop_reason": "fixed",
                   "warmup": {}, "policy": {}, "samples_s": samples},
        "stats": summary,
        "throughput": {"value": value, "unit": unit, "statistic": "median", "ci95": [low, high],
                       "best": rate(amount, summary["min"])},
        "check": {"passed": True, "max_error": 0.0, "tolerance": 1e-2, "detail": ""},
        "warnings": [], "status": "ok",
    }


def synthetic_run(run_id: str = "20261122T010203Z-test-0001", *, speed: float = 1.0, serial: str | None = None,
                  backend: str = "cuda", device_name: str = "NVIDIA H100 80GB HBM3", hostname: str = "node01",
                  index: int = 0, verdict: str | None = None, seed: int = 0, noise: float = 0.01) -> dict[str, Any]:
    """A complete run dict. `speed` scales every throughput (1.1 = 10% faster unit); `seed` picks
    another draw of the samples (0: the fixed default draw) and `noise` their relative spread."""
    n = 4096
    measurements = [
        _measurement("gemm/bf16/m=4096,n=4096,k=4096", "gemm", "matmul", "bf16",
                     {"flops": metrics.gemm_flops(n, n, n), "bytes": 0}, 2.0e-4 / speed, seed=100 * seed + 1, noise=noise),
        _measurement("gemm/fp32/m=4096,n=4096,k=4096", "gemm", "matmul", "fp32",
                     {"flops": metrics.gemm_flops(n, n, n), "bytes": 0}, 2.5e-3 / speed, seed=100 * seed + 2, noise=noise),
        _measurement("stream/fp32/triad", "stream", "triad", "fp32",
                     {"flops": 0, "bytes": 3 * 4 * 2**28}, 1.2e-3 / speed, seed=100 * seed + 3, noise=noise),
    ]
    measurements[2]["params"] = {"role": "dram", "array_bytes": 4 * 2**28, "llc_multiple": 16}
    identity = None
    if serial is not None:
        identity = {"backend": backend, "sources": [
            {"source": "cpu", "available": True, "reason": None, "fields": {"model": "host cpu"}, "missing": {}},
            {"source": "nvml", "available": True, "reason": None,
             "fields": {"serial": serial, "uuid": f"GPU-{serial}-uuid"}, "missing": {}}], "gaps": []}
    run = {
        "schema_version": 1, "method_version": "1.0",
        "tool": {"name": "accelbench", "version": "0.1.0", "git_commit": None},
        "run_id": run_id, "status": "complete",
        "started_at": "2026-11-22T01:02:03Z", "ended_at": "2026-11-22T01:05:03Z",
        "command": ["bench", "run"],
        "host": {"hostname": hostname, "os": "Linux", "python": "3.11", "machine": "x86_64", "logical_cpus": 2},
        "device": {"backend": backend, "torch_device": f"{backend}:{index}", "vendor": "test", "name": device_name,
                   "index": index, "extra": {}},
        "identity": identity,
        "conventions": metrics.CONVENTIONS, "measurements": measurements, "skips": [],
    }
    run["summary"] = build_summary(run)
    if verdict:
        run["verdict"] = stored_verdict(verdict)
    return run


def stored_verdict(outcome: str) -> dict[str, Any]:
    """run["verdict"] in the shape bench.rules.verdict.Verdict.to_dict() writes, with one criterion."""
    criterion = {"check": "classification", "id": "tpp", "description": "TPP against the profile limit",
                 "metric": "tpp", "unit": None, "limit": 4800.0, "declared": None, "derived": None,
                 "measured": None, "U": None, "acceptance_limit": None, "outcome": outcome, "note": ""}
    return {"verdict": outcome, "exit_code": 0 if outcome == "pass" else 1, "profile": {}, "rule": "guarded",
            "declared": {}, "detected": {}, "uncertainty_source": "", "checks": [], "statement": "",
            "notes": [], "criteria": [criterion], "parameters": {"profile": None, "declared": None, "rule": None}}


def write_run(folder: Path, run: dict[str, Any]) -> Path:
    """run.json plus a measurements.csv, as the results writer lays a folder out."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    rows = ["id,suite,dtype,median_s,value,unit"]
    for m in run["measurements"]:
        rows.append(f"{m['id']},{m['suite']},{m['dtype']},{m['stats']['median']!r},"
                    f"{m['throughput']['value']!r},{m['throughput']['unit']}")
    (folder / "measurements.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def real_cpu_run(out: Path) -> Path:
    """A real quick CPU run through `bench run`. A harness that fails fails the test using it: no
    silent fallback to synthetic data."""
    code = main(["run", "--device", "cpu", "--suite", "quick", "--out", str(out)])
    assert code == 0, f"bench run exited {code} (1: a kernel's result failed its check)"
    assert (out / "run.json").is_file(), f"bench run left no run.json in {out}"
    return out


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
