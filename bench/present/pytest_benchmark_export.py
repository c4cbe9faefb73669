"""accelbench runs in pytest-benchmark's saved-JSON format, so `pytest-benchmark compare` and its
history tooling read them. One benchmark per measurement: the stats are of the per-iteration
seconds (`timing.samples_s`), computed by pytest-benchmark's own `Stats` class so that the
figures match what the plugin would have written; `extra_info` carries the throughput."""

from __future__ import annotations

import platform
from typing import Any, Mapping

FILENAME = "pytest-benchmark.json"


def benchmark_stats(samples_s: list[float], iterations: int) -> dict[str, Any]:
    """pytest-benchmark `stats` block (seconds per iteration) from raw per-iteration samples."""
    from pytest_benchmark.stats import Stats  # optional library: imported when an export is made

    stats = Stats()
    for sample in samples_s:
        stats.update(sample)
    out = stats.as_dict()
    out["data"] = list(samples_s)
    out["iterations"] = int(iterations)
    return out


def _benchmark(m: Mapping[str, Any]) -> dict[str, Any]:
    name = m["id"].split("/", 1)[1]
    timing = m["timing"]
    policy = timing.get("policy") or {}
    return {
        "group": m["suite"],
        "name": name,
        "fullname": f"accelbench::{m['id']}",
        "params": {**m.get("shape", {}), "dtype": m["dtype"], "kernel": m["kernel"]},
        "param": m["id"].split("/", 3)[-1],
        "extra_info": {"throughput": m["throughput"]["value"], "unit": m["throughput"]["unit"],
                       "ci95": m["throughput"].get("ci95"), "status": m["status"], "work": m.get("work"),
                       "clock": timing.get("clock")},
        "options": {"disable_gc": False, "timer": timing.get("clock", "perf_counter"),
                    "min_rounds": policy.get("samples"), "max_time": policy.get("max_measure_s"),
                    "min_time": policy.get("min_sample_s"), "warmup": True},
        "stats": benchmark_stats(timing["samples_s"], timing.get("iterations", 1)),
    }


def machine_info(run: Mapping[str, Any]) -> dict[str, Any]:
    host, device = run.get("host") or {}, run.get("device") or {}
    return {
        "node": host.get("hostname"), "processor": host.get("machine") or platform.machine(),
        "machine": host.get("machine"), "python_implementation": platform.python_implementation(),
        "python_version": host.get("python"), "system": (host.get("os") or "").split("-")[0],
        "release": host.get("os"), "cpu": {"brand_raw": device.get("name") if device.get("backend") == "cpu" else None,
                                          "count": host.get("logical_cpus")},
        "accelbench": {"run_id": run.get("run_id"), "device": device.get("name"), "backend": device.get("backend"),
                       "method_version": run.get("method_version"), "software": run.get("software")},
    }


def available() -> bool:
    """Whether pytest-benchmark (whose Stats class makes the figures) is installed."""
    try:
        import pytest_benchmark.stats  # noqa: F401
    except ImportError:
        return False
    return True


def _plugin_version() -> str:
    from pytest_benchmark import __version__

    return __version__


def to_pytest_benchmark(run: Mapping[str, Any]) -> dict[str, Any]:
    """The whole run as one pytest-benchmark JSON document (`benchmarks` sorted as measured)."""
    tool = run.get("tool") or {}
    return {
        "machine_info": machine_info(run),
        "commit_info": {"id": tool.get("git_commit"), "dirty": None, "project": "accelbench",
                        "branch": None, "time": run.get("started_at")},
        "benchmarks": [_benchmark(m) for m in run.get("measurements", []) if m.get("timing", {}).get("samples_s")],
        "datetime": run.get("ended_at") or run.get("started_at"),
        "version": _plugin_version(),
    }
