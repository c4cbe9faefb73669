"""Live telemetry while each measurement runs: clocks, power, energy, temperature, utilisation and
throttle / clock-event reasons, sampled by a background thread and summarised per window.

    with TelemetrySampler(default_sources(device_info), interval_s=0.1) as sampler:
        with sampler.window("gemm/bf16/m=4096,..."):
            ...measure...
        summary = sampler.summary("gemm/bf16/m=4096,...")

The sampler never makes a measurement fail: a source that cannot start, a read that raises and a
metric nobody reports all end up in the summary's "not_observed" list with the reason.
Units: MHz, W, J, degrees C, percent.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from typing import Any, Iterator, Mapping, Protocol

from bench.devices import vendors
from bench.devices.vendors.amdsmi import AT_RATED_CAP, BELOW_RATED_CAP, AmdsmiSource
from bench.devices.vendors.nvml import AT_RATED_LIMIT, BELOW_RATED_LIMIT, NvmlSource
from bench.devices.vendors.nvml import decode_reasons as decode_nvml_reasons
from bench.devices.vendors.procfs import CpuSource

METRICS = ("clock_mhz", "power_w", "temperature_c", "utilization_pct")
# Reasons that mean the clock was pulled below what the configuration allows. A power limiter at the
# rated (default) limit is the normal operating point of a sustained GEMM and is reported, not
# counted (sw_power_cap_at_rated_limit, amd_ppt_at_rated_cap); under a lowered limit it counts,
# and so does a power-cap reason whose limit could not be read. gpu_idle,
# applications_clocks_setting (a configuration, reported by the audit), sync_boost and display
# clocks are reported but do not flag the measurement.
THROTTLING = {"sw_power_cap", BELOW_RATED_LIMIT, "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
              "hw_power_brake_slowdown", "amd_throttle_status", "amd_ppt", BELOW_RATED_CAP, "amd_thermal", "amd_prochot"}
AT_OPERATING_POINT = {AT_RATED_LIMIT, AT_RATED_CAP}

__all__ = ["AmdsmiSource", "CpuSource", "NvmlSource", "TelemetrySampler", "decode_nvml_reasons", "default_sources",
           "summarize_samples", "throughput_per_watt", "window_warnings"]


class Source(Protocol):
    """A telemetry source. start() may raise (recorded as not observed); read() returns any subset of
    clock_mhz, power_w, energy_j (a cumulative counter), temperature_c, utilization_pct,
    throttle_reasons; `gaps` maps metric -> why it is not read."""

    name: str
    gaps: dict[str, str]

    def start(self) -> None: ...

    def read(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


def default_sources(device_info: Mapping[str, Any], *, nvml: Any = None, amdsmi: Any = None) -> list[Source]:
    """The device's own source first (its clock, power and reasons head the summary), then the host CPU."""
    backend = str(device_info.get("backend", "cpu"))
    adapter = vendors.for_backend(backend, nvml_module=nvml, amdsmi_module=amdsmi)
    device = adapter.telemetry_source(device_info)
    return ([device] if device is not None else []) + [CpuSource()]


def not_implemented_reason(backend: str | None) -> str | None:
    """Why an accelerator has no telemetry source at all (NPU, XPU, MPS), or None."""
    if backend in (None, "cpu"):
        return None
    return vendors.for_backend(backend).telemetry_gap()


class TelemetrySampler:
    """Background sampler with named windows. Context manager; safe to use when every source fails."""

    def __init__(self, sources: list[Source], interval_s: float = 0.1, device_backend: str | None = None):
        self.sources, self.interval_s, self.device_backend = list(sources), interval_s, device_backend
        self.not_implemented: str | None = None
        self.active: list[Source] = []
        self.failed: list[dict[str, str]] = []
        self.read_errors: dict[str, str] = {}
        self.samples: list[tuple[float, str, dict[str, Any]]] = []
        self.windows: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> "TelemetrySampler":
        for source in self.sources:
            try:
                source.start()
                self.active.append(source)
            except Exception as error:
                self.failed.append({"what": source.name, "reason": f"{type(error).__name__}: {error}"})
        self.not_implemented = not_implemented_reason(self.device_backend)
        accelerator = self.device_backend not in (None, "cpu")
        if accelerator and not self.not_implemented and all(s.name == "cpu" for s in self.active):
            self.failed.append({"what": f"{self.device_backend} accelerator telemetry",
                                "reason": "no accelerator telemetry source started: clocks, power and throttle "
                                          "reasons of the device were not observed"})
        if self.active:
            self._thread = threading.Thread(target=self._run, name="telemetry-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, 5 * self.interval_s))
        for source in self.active:
            with contextlib.suppress(Exception):
                source.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_now()

    def sample_now(self) -> None:
        """Read every active source once (also called at window edges so short windows get samples)."""
        now = time.perf_counter()
        for source in self.active:
            try:
                values = source.read()
            except Exception as error:
                self.read_errors.setdefault(source.name, f"{type(error).__name__}: {error}")
                continue
            if values:
                with self._lock:
                    self.samples.append((now, source.name, values))

    @contextlib.contextmanager
    def window(self, window_id: str) -> Iterator[None]:
        """Mark one measured window. Never raises on its own account."""
        with contextlib.suppress(Exception):
            self.sample_now()
        start = time.perf_counter()
        self.windows[window_id] = (start, None)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # before the end is taken, so the window keeps this sample
                self.sample_now()
            self.windows[window_id] = (start, time.perf_counter())

    # -- results -----------------------------------------------------------------------------------
    def window_samples(self, window_id: str) -> list[dict[str, Any]]:
        """Raw samples of a window, time relative to its start (s), for storing next to the summary."""
        start, end = self.windows.get(window_id, (0.0, 0.0))
        end = time.perf_counter() if end is None else end
        with self._lock:
            chosen = [(t, s, v) for t, s, v in self.samples if start - self.interval_s <= t <= end + 1e-9]
        return [{"t_s": round(t - start, 6), "source": s, **v} for t, s, v in chosen]

    def summary(self, window_id: str) -> dict[str, Any]:
        """Per-window summary: min/median/max per metric, energy, reasons seen, throttled flag."""
        if window_id not in self.windows:
            return empty_summary([{"what": "window", "reason": f"no window named {window_id!r} was recorded"}])
        start, end = self.windows[window_id]
        end = time.perf_counter() if end is None else end
        samples = self.window_samples(window_id)
        if self.not_implemented:
            summary = empty_summary([{"what": f"{self.device_backend} telemetry", "reason": self.not_implemented}])
            summary.update(not_implemented=self.not_implemented, duration_s=end - start)
            return summary
        primary = self.sources[0].name if self.sources else None
        return summarize_samples(samples, end - start, [s.name for s in self.active], self._not_observed(), primary)

    def _not_observed(self) -> list[dict[str, str]]:
        gaps = list(self.failed)
        gaps += [{"what": f"{name} read", "reason": reason} for name, reason in self.read_errors.items()]
        gaps += [{"what": f"{s.name}.{metric}", "reason": reason} for s in self.active for metric, reason in s.gaps.items()]
        return gaps


def empty_summary(not_observed: list[dict[str, str]]) -> dict[str, Any]:
    return {"observed": False, "sources": [], "not_observed": not_observed, "samples": 0, "duration_s": None,
            "clock_mhz": None, "power_w": None, "energy_j": None, "energy_method": None, "temperature_c": None,
            "utilization_pct": None, "throttle_reasons": [], "throttled": False, "at_power_limit": False, "by_source": {}}


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _energy(samples: list[dict[str, Any]], duration_s: float) -> tuple[float | None, str | None]:
    counters = [s["energy_j"] for s in samples if "energy_j" in s]
    if len(counters) >= 2 and counters[-1] >= counters[0]:
        return counters[-1] - counters[0], "counter"
    power = [(s["t_s"], s["power_w"]) for s in samples if "power_w" in s]
    if len(power) >= 2:
        return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(power, power[1:])), "power_integral"
    if len(power) == 1 and duration_s > 0:
        return power[0][1] * duration_s, "single_power_sample"
    return None, None


def summarize_samples(samples: list[dict[str, Any]], duration_s: float, source_order: list[str],
                      not_observed: list[dict[str, str]], primary: str | None = None) -> dict[str, Any]:
    """Pure: raw window samples -> summary.

    The top-level metrics come from `primary` (the measured device's own source, default the first
    in source_order) only, so a host CPU clock or RAPL energy never stands in for a GPU's;
    every source's own figures are under "by_source"."""
    primary = primary or (source_order[0] if source_order else None)
    by_source: dict[str, dict[str, Any]] = {}
    for name in source_order:
        mine = [s for s in samples if s["source"] == name]
        if not mine:
            continue
        energy, method = _energy(mine, duration_s)
        reasons = sorted({r for s in mine for r in s.get("throttle_reasons", [])})
        by_source[name] = {"samples": len(mine), **{m: _spread([s[m] for s in mine if m in s]) for m in METRICS},
                           "energy_j": energy, "energy_method": method, "throttle_reasons": reasons}
    head = by_source.get(primary)
    if head is None:
        reason = f"no samples from {primary} in this window" if primary else "no telemetry source is available"
        summary = empty_summary(not_observed + [{"what": "samples", "reason": reason}])
        summary.update(sources=list(by_source), by_source=by_source, duration_s=duration_s)
        return summary
    summary = empty_summary(list(not_observed))
    summary.update(observed=True, sources=list(by_source), samples=head["samples"], duration_s=duration_s,
                   by_source=by_source, energy_method=head["energy_method"], throttle_reasons=head["throttle_reasons"])
    for metric in METRICS + ("energy_j",):
        summary[metric] = head[metric]
        if head[metric] is None:
            summary["not_observed"].append({"what": metric, "reason": f"{primary} reported no {metric} in this window"})
    summary["throttled"] = bool(THROTTLING & set(head["throttle_reasons"]))
    summary["at_power_limit"] = bool(AT_OPERATING_POINT & set(head["throttle_reasons"]))
    return summary


def window_warnings(summary: Mapping[str, Any]) -> list[str]:
    """Warnings to attach to the measurement (the harness appends them to measurement["warnings"])."""
    if summary.get("not_implemented"):
        return []  # said once per run (audit "unavailable"), not once per measurement
    if not summary.get("observed"):
        return ["telemetry not observed during this measurement"]
    if summary.get("throttled"):
        seen = ", ".join(r for r in summary["throttle_reasons"] if r in THROTTLING)
        return [f"measured while throttled: {seen}"]
    return []


def throughput_per_watt(throughput: float, unit: str, summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Throughput per watt of mean power (energy / duration when energy is known, else median power).

    Returns {"value", "unit": "<unit>/W", "power_w", "power_basis"} or None when power is unknown."""
    duration, energy = summary.get("duration_s"), summary.get("energy_j")
    if energy and duration and energy > 0:
        power, basis = energy / duration, f"mean power from energy ({summary.get('energy_method')})"
    elif summary.get("power_w"):
        power, basis = summary["power_w"]["median"], "median sampled power"
    else:
        return None
    if not power or power <= 0:
        return None
    return {"value": throughput / power, "unit": f"{unit}/W", "power_w": power, "power_basis": basis}
