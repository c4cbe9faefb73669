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
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol

from bench.identity import (
    amdsmi_handle,
    load_module,
    number,
    nvml_handle,
    nvml_session,
    safe_call,
)

METRICS = ("clock_mhz", "power_w", "temperature_c", "utilization_pct")
NVML_CLOCK_SM = 1
NVML_TEMPERATURE_GPU = 0
NVML_REASONS = {  # nvmlClocksEventReason* bits (formerly ClocksThrottleReason*), from nvml.h
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}
# Reasons that mean the clock was pulled below what the configuration allows. gpu_idle,
# applications_clocks_setting (a configuration, reported by the audit), sync_boost and display
# clocks are reported but do not flag the measurement.
THROTTLING = {"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown",
              "amd_throttle_status"}


def decode_nvml_reasons(mask: int) -> list[str]:
    """NVML clock-event bitmask -> reason names; unknown bits are kept as unknown_0x..."""
    names = [name for bit, name in NVML_REASONS.items() if mask & bit]
    rest = mask & ~sum(NVML_REASONS)
    names += [f"unknown_0x{1 << i:x}" for i in range(64) if rest >> i & 1]
    return names


class Source(Protocol):
    """A telemetry source. start() may raise (recorded as not observed); read() returns any subset of
    clock_mhz, power_w, energy_j (a cumulative counter), temperature_c, utilization_pct,
    throttle_reasons; `gaps` maps metric -> why it is not read."""

    name: str
    gaps: dict[str, str]

    def start(self) -> None: ...

    def read(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


class _VendorSource:
    """Shared bookkeeping: a metric whose read fails once is recorded in gaps and not retried."""

    name = "vendor"

    def __init__(self) -> None:
        self.gaps: dict[str, str] = {}

    def _get(self, out: dict[str, Any], metric: str, module: Any, function: str, *args: Any) -> Any:
        if metric in self.gaps:
            return None
        value, reason = safe_call(module, function, *args)
        if reason:
            self.gaps[metric] = reason
            return None
        return value

    def stop(self) -> None:
        pass


class NvmlSource(_VendorSource):
    name = "nvml"

    def __init__(self, device_info: Mapping[str, Any], nvml: Any = None):
        super().__init__()
        self.device_info, self.nvml, self.handle = device_info, nvml, None

    def start(self) -> None:
        self.nvml, reason = load_module("pynvml", self.nvml)
        reason = reason or nvml_session(self.nvml)
        if reason:
            raise RuntimeError(reason)
        self.handle, _ = nvml_handle(self.nvml, self.device_info)
        if not hasattr(self.nvml, "nvmlDeviceGetCurrentClocksEventReasons"):
            self._reasons_fn = "nvmlDeviceGetCurrentClocksThrottleReasons"  # nvidia-ml-py before 12.535

    _reasons_fn = "nvmlDeviceGetCurrentClocksEventReasons"

    def read(self) -> dict[str, Any]:
        nv, h, out = self.nvml, self.handle, {}
        for metric, function, args, scale in (
            ("clock_mhz", "nvmlDeviceGetClockInfo", (h, NVML_CLOCK_SM), 1.0),
            ("power_w", "nvmlDeviceGetPowerUsage", (h,), 1e-3),  # mW
            ("energy_j", "nvmlDeviceGetTotalEnergyConsumption", (h,), 1e-3),  # mJ since driver load
            ("temperature_c", "nvmlDeviceGetTemperature", (h, NVML_TEMPERATURE_GPU), 1.0),
        ):
            value = self._get(out, metric, nv, function, *args)
            if value is not None:
                out[metric] = float(value) * scale
        util = self._get(out, "utilization_pct", nv, "nvmlDeviceGetUtilizationRates", h)
        if util is not None:
            out["utilization_pct"] = float(getattr(util, "gpu", util))
        mask = self._get(out, "throttle_reasons", nv, self._reasons_fn, h)
        if mask is not None:
            out["throttle_reasons"] = decode_nvml_reasons(int(mask))
        return out

    def stop(self) -> None:
        safe_call(self.nvml, "nvmlShutdown")


class AmdsmiSource(_VendorSource):
    name = "amdsmi"

    def __init__(self, device_info: Mapping[str, Any], amdsmi: Any = None):
        super().__init__()
        self.device_info, self.amdsmi, self.handle = device_info, amdsmi, None

    def start(self) -> None:
        self.amdsmi, reason = load_module("amdsmi", self.amdsmi)
        reason = reason or safe_call(self.amdsmi, "amdsmi_init")[1]
        if reason:
            raise RuntimeError(reason)
        self.handle, _ = amdsmi_handle(self.amdsmi, self.device_info)
        self.gaps["energy_j"] = "not read from amdsmi; energy is integrated from power samples"

    def read(self) -> dict[str, Any]:
        amd, h, out = self.amdsmi, self.handle, {}
        clk = self._get(out, "clock_mhz", amd, "amdsmi_get_clock_info", h, getattr(getattr(amd, "AmdSmiClkType", None), "GFX", 0))
        power = self._get(out, "power_w", amd, "amdsmi_get_power_info", h)
        temp_kind = getattr(getattr(amd, "AmdSmiTemperatureType", None), "HOTSPOT", 1)
        metric = getattr(getattr(amd, "AmdSmiTemperatureMetric", None), "CURRENT", 0)
        temp = self._get(out, "temperature_c", amd, "amdsmi_get_temp_metric", h, temp_kind, metric)
        activity = self._get(out, "utilization_pct", amd, "amdsmi_get_gpu_activity", h)
        metrics = self._get(out, "throttle_reasons", amd, "amdsmi_get_gpu_metrics_info", h)
        values = {
            "clock_mhz": number((clk or {}).get("clk")) if isinstance(clk, Mapping) else None,
            "power_w": _first_number(power, ("current_socket_power", "average_socket_power", "socket_power")),
            "temperature_c": number(temp),
            "utilization_pct": number((activity or {}).get("gfx_activity")) if isinstance(activity, Mapping) else None,
        }
        out.update({k: v for k, v in values.items() if v is not None})
        status = number(metrics.get("throttle_status")) if isinstance(metrics, Mapping) else None
        if status is not None:
            out["throttle_reasons"] = ["amd_throttle_status"] if status else []
        return out

    def stop(self) -> None:
        safe_call(self.amdsmi, "amdsmi_shut_down")


def _first_number(info: Any, keys: tuple[str, ...]) -> float | None:
    if not isinstance(info, Mapping):
        return None
    return next((number(info[k]) for k in keys if k in info and number(info[k]) is not None), None)


class CpuSource(_VendorSource):
    """Host CPU frequency (cpufreq, else /proc/cpuinfo) and package energy (RAPL, often root-only)."""

    name = "cpu"

    def __init__(self, sys_root: str = "/sys", cpuinfo: str = "/proc/cpuinfo"):
        super().__init__()
        self.sys_root, self.cpuinfo = Path(sys_root), Path(cpuinfo)
        self.freq_files: list[Path] = []
        self.rapl_files: list[Path] = []

    def start(self) -> None:
        self.freq_files = sorted((self.sys_root / "devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))
        if not self.freq_files and not self.cpuinfo.exists():
            raise RuntimeError("neither cpufreq nor /proc/cpuinfo is readable")
        if not self.freq_files:
            self.gaps["clock_mhz (live)"] = ("no cpufreq scaling_cur_freq; clock read from /proc/cpuinfo 'cpu MHz', "
                                             "which in VMs is often the nominal value, not the live one")
        self.rapl_files = sorted((self.sys_root / "class/powercap").glob("intel-rapl:[0-9]*/energy_uj"))
        if not self.rapl_files:
            self.gaps["energy_j"] = f"no RAPL package domains under {self.sys_root}/class/powercap"
        self.gaps.setdefault("power_w", "CPU power is not sampled; energy comes from RAPL where readable")
        self.gaps["temperature_c"] = "CPU temperature is not sampled"
        self.gaps["utilization_pct"] = "CPU utilisation is not sampled"
        self.gaps["throttle_reasons"] = "the CPU exposes no throttle reasons here"

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        mhz = self._frequencies_mhz()
        if mhz:
            out["clock_mhz"] = statistics.fmean(mhz)
        if "energy_j" not in self.gaps:
            try:
                out["energy_j"] = sum(int(p.read_text()) for p in self.rapl_files) * 1e-6  # uJ
            except (OSError, ValueError) as error:
                self.gaps["energy_j"] = f"RAPL energy_uj unreadable: {type(error).__name__}: {error}"
        return out

    def _frequencies_mhz(self) -> list[float]:
        if self.freq_files:
            return [int(p.read_text()) / 1000 for p in self.freq_files]
        content = self.cpuinfo.read_text()
        return [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", content, re.M)]


def default_sources(device_info: Mapping[str, Any], *, nvml: Any = None, amdsmi: Any = None) -> list[Source]:
    """The device's own source first (its clock, power and reasons head the summary), then the host CPU."""
    backend = device_info.get("backend", "cpu")
    device: list[Source] = []
    if backend == "cuda":
        device = [NvmlSource(device_info, nvml)]
    elif backend == "rocm":
        device = [AmdsmiSource(device_info, amdsmi)]
    return device + [CpuSource()]


class TelemetrySampler:
    """Background sampler with named windows. Context manager; safe to use when every source fails."""

    def __init__(self, sources: list[Source], interval_s: float = 0.1, device_backend: str | None = None):
        self.sources, self.interval_s, self.device_backend = list(sources), interval_s, device_backend
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
        if self.device_backend not in (None, "cpu") and all(s.name == "cpu" for s in self.active):
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
            end = time.perf_counter()
            with contextlib.suppress(Exception):
                self.sample_now()
            self.windows[window_id] = (start, end)

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
            "utilization_pct": None, "throttle_reasons": [], "throttled": False, "by_source": {}}


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
    return summary


def window_warnings(summary: Mapping[str, Any]) -> list[str]:
    """Warnings to attach to the measurement (the harness appends them to measurement["warnings"])."""
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
