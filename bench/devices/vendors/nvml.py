"""NVIDIA GPUs through NVML (the `nvidia-ml-py` package, module `pynvml`).

One session (nvmlInit ... nvmlShutdown) per use, opened by `session()`. Reads follow nvidia-ml-py
13.x: string getters return str (older releases bytes), GetEccMode/GetMigMode return
[current, pending], GetPciInfo's pciDeviceId is device << 16 | vendor, clock-event reasons are the
nvmlClocksEventReason* bits of nvml.h, GetComputeRunningProcesses returns objects with pid and
usedGpuMemory."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping

from bench.devices.vendors.common import (
    AuditRecord,
    SourceRecord,
    load_module,
    occupancy_findings,
    processes_record,
    safe_call,
    text,
    unavailable,
)

NAME = "nvml"
INSTALL_HINT = "install the 'nvidia' extra: pip install nvidia-ml-py"
CLOCK_GRAPHICS, CLOCK_SM = 0, 1
TEMPERATURE_GPU = 0
INFOROM_OEM = 0
REASON_APPLICATIONS_CLOCKS = 0x2
REASONS = {  # nvmlClocksEventReason* bits (formerly ClocksThrottleReason*), nvml.h
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}
# sw_power_cap is renamed by classify_power_reasons: at the rated (default) limit a sustained GEMM on
# Hopper is power-limited by design (that is the operating point), below it the limit was lowered.
AT_RATED_LIMIT = "sw_power_cap_at_rated_limit"
BELOW_RATED_LIMIT = "sw_power_cap_below_rated_limit"


class NvmlUnavailable(RuntimeError):
    """NVML cannot answer: module missing, no driver, or the GPU not found."""


@contextlib.contextmanager
def session(nvml: Any = None) -> Iterator[Any]:
    """nvmlInit on entry, nvmlShutdown on exit (NVML counts references); raises NvmlUnavailable."""
    module, reason = load_module("pynvml", nvml)
    if module is None:
        raise NvmlUnavailable(f"{reason} ({INSTALL_HINT})")
    reason = safe_call(module, "nvmlInit")[1]
    if reason:
        raise NvmlUnavailable(reason)
    try:
        yield module
    finally:
        safe_call(module, "nvmlShutdown")


def handle(nvml: Any, device_info: Mapping[str, Any]) -> tuple[Any, str]:
    """The NVML handle of the measured GPU and how it was matched.

    CUDA and NVML order GPUs differently under CUDA_VISIBLE_DEVICES, so match by UUID or PCI bus id
    (device_info["extra"]) when the backend recorded one; by index only as a last resort."""
    extra = device_info.get("extra") or {}
    if extra.get("uuid"):
        uuid = str(extra["uuid"])
        found, reason = safe_call(nvml, "nvmlDeviceGetHandleByUUID", uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")
        if reason is None:
            return found, "uuid"
    if extra.get("pci_bus_id"):
        found, reason = safe_call(nvml, "nvmlDeviceGetHandleByPciBusId", str(extra["pci_bus_id"]))
        if reason is None:
            return found, "pci_bus_id"
    index = int(device_info.get("index") or 0)
    found, reason = safe_call(nvml, "nvmlDeviceGetHandleByIndex", index)
    if reason is not None:
        raise NvmlUnavailable(f"device not found: {reason}")
    note = "index" if "CUDA_VISIBLE_DEVICES" not in os.environ else "index (CUDA_VISIBLE_DEVICES set: may differ from CUDA's order)"
    return found, note


@contextlib.contextmanager
def device(device_info: Mapping[str, Any], nvml: Any = None) -> Iterator[tuple[Any, Any, str]]:
    """(pynvml, handle, matched_by) of the measured GPU inside one NVML session."""
    with session(nvml) as module:
        found, matched_by = handle(module, device_info)
        yield module, found, matched_by


def decode_reasons(mask: int) -> list[str]:
    """NVML clock-event bitmask -> reason names; unknown bits are kept as unknown_0x..."""
    names = [name for bit, name in REASONS.items() if mask & bit]
    rest = mask & ~sum(REASONS)
    names += [f"unknown_0x{1 << i:x}" for i in range(64) if rest >> i & 1]
    return names


def classify_power_reasons(names: list[str], limit_mw: float | None, default_mw: float | None) -> list[str]:
    """Rename sw_power_cap by the power limit in force: at (or above) the rated default limit it is
    the normal operating point; below it the limit was lowered; unknown limits keep the raw name
    (counted as throttling, since a doubt is never a pass)."""
    if "sw_power_cap" not in names or not limit_mw or not default_mw:
        return list(names)
    renamed = AT_RATED_LIMIT if limit_mw >= default_mw else BELOW_RATED_LIMIT
    return [renamed if name == "sw_power_cap" else name for name in names]


# -- what the backend asks for ---------------------------------------------------------------------
def device_facts(device_info: Mapping[str, Any], nvml: Any = None) -> dict[str, Any]:
    """Driver version and max SM clock (torch no longer reports clock rates with CUDA 13), one session."""
    try:
        with device(device_info, nvml) as (module, found, _):
            driver, _ = safe_call(module, "nvmlSystemGetDriverVersion")
            mhz, _ = safe_call(module, "nvmlDeviceGetMaxClockInfo", found, getattr(module, "NVML_CLOCK_SM", CLOCK_SM))
            return {"driver_version": text(driver), "max_clock_mhz": float(mhz) if mhz else None}
    except NvmlUnavailable:
        return {}


def identity(device_info: Mapping[str, Any], nvml: Any = None) -> dict[str, Any]:
    try:
        with device(device_info, nvml) as (module, found, matched_by):
            src = SourceRecord(NAME)
            src.put("matched_by", matched_by)
            for field, function in (("name", "nvmlDeviceGetName"), ("serial", "nvmlDeviceGetSerial"),
                                    ("uuid", "nvmlDeviceGetUUID"), ("board_part_number", "nvmlDeviceGetBoardPartNumber"),
                                    ("vbios_version", "nvmlDeviceGetVbiosVersion"),
                                    ("inforom_image_version", "nvmlDeviceGetInforomImageVersion")):
                src.read(field, module, function, found)
            src.read("inforom_oem_version", module, "nvmlDeviceGetInforomVersion", found, INFOROM_OEM)
            src.read("driver_version", module, "nvmlSystemGetDriverVersion")
            src.read("cuda_driver_version", module, "nvmlSystemGetCudaDriverVersion", convert=lambda v: v)
            src.put("nvml_python_version", text(getattr(module, "__version__", None)), "pynvml has no __version__")
            _pci(src, module, found)
            return src.result
    except NvmlUnavailable as error:
        return unavailable(NAME, str(error))


def _pci(src: SourceRecord, nvml: Any, found: Any) -> None:
    pci, reason = safe_call(nvml, "nvmlDeviceGetPciInfo", found)
    if reason:
        for field in ("pci_bus_id", "pci_vendor_id", "pci_device_id", "pci_subsystem_id"):
            src.put(field, None, reason)
        return
    combined = getattr(pci, "pciDeviceId", None)  # 16-bit device id << 16 | 16-bit vendor id
    src.put("pci_bus_id", text(getattr(pci, "busId", None)))
    src.put("pci_vendor_id", None if combined is None else f"0x{combined & 0xFFFF:04x}")
    src.put("pci_device_id", None if combined is None else f"0x{combined >> 16:04x}")
    subsystem = getattr(pci, "pciSubSystemId", None)
    src.put("pci_subsystem_id", None if subsystem is None else f"0x{subsystem:08x}")


def _process_list(module: Any, found: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    listed, reason = safe_call(module, "nvmlDeviceGetComputeRunningProcesses", found)
    if reason:
        return None, reason
    out = []
    for entry in listed or []:
        pid = getattr(entry, "pid", None)
        name, _ = safe_call(module, "nvmlSystemGetProcessName", pid)
        out.append({"pid": pid, "name": text(name), "memory_bytes": getattr(entry, "usedGpuMemory", None)})
    return out, None


def processes(device_info: Mapping[str, Any], nvml: Any = None, own_context: bool = False) -> dict[str, Any]:
    """Other compute processes on the GPU (this process excluded)."""
    try:
        with device(device_info, nvml) as (module, found, _):
            listed, reason = _process_list(module, found)
    except NvmlUnavailable as error:
        listed, reason = None, str(error)
    return processes_record(NAME, listed, reason, own_context=own_context)


def audit(a: AuditRecord, device_info: Mapping[str, Any], nvml: Any = None, own_context: bool = False) -> None:
    try:
        with device(device_info, nvml) as (module, found, _):
            values = _audit_reads(a, module, found)
            listed, reason = _process_list(module, found)
    except NvmlUnavailable as error:
        a.missing("device (nvml)", str(error))
        return
    _audit_findings(a, values)
    occupancy_findings(a, processes_record(NAME, listed, reason, own_context=own_context), "this GPU")


def _audit_reads(a: AuditRecord, nvml: Any, h: Any) -> dict[str, Any]:
    s = "device"
    reads = {
        "ecc": ("ecc_mode_current_pending", "nvmlDeviceGetEccMode", ()),
        "mig": ("mig_mode_current_pending", "nvmlDeviceGetMigMode", ()),
        "persistence": ("persistence_mode", "nvmlDeviceGetPersistenceMode", ()),
        "compute_mode": ("compute_mode", "nvmlDeviceGetComputeMode", ()),
        "limit": ("power_limit_mw", "nvmlDeviceGetPowerManagementLimit", ()),
        "default": ("default_power_limit_mw", "nvmlDeviceGetPowerManagementDefaultLimit", ()),
        "enforced": ("enforced_power_limit_mw", "nvmlDeviceGetEnforcedPowerLimit", ()),
        "app": ("applications_clock_graphics_mhz", "nvmlDeviceGetApplicationsClock", (CLOCK_GRAPHICS,)),
        "default_app": ("default_applications_clock_graphics_mhz", "nvmlDeviceGetDefaultApplicationsClock", (CLOCK_GRAPHICS,)),
        "top": ("max_clock_graphics_mhz", "nvmlDeviceGetMaxClockInfo", (CLOCK_GRAPHICS,)),
        "auto_boost": ("auto_boost_enabled_default", "nvmlDeviceGetAutoBoostedClocksEnabled", ()),
        "reasons": ("clock_event_reasons", "nvmlDeviceGetCurrentClocksEventReasons", ()),
        "width": ("pcie_link_width", "nvmlDeviceGetCurrPcieLinkWidth", ()),
        "max_width": ("pcie_link_width_max", "nvmlDeviceGetMaxPcieLinkWidth", ()),
        "gen": ("pcie_link_generation", "nvmlDeviceGetCurrPcieLinkGeneration", ()),
        "max_gen": ("pcie_link_generation_max", "nvmlDeviceGetMaxPcieLinkGeneration", ()),
    }
    return {name: a.read(s, key, nvml, function, h, *args) for name, (key, function, args) in reads.items()}


def _audit_findings(a: AuditRecord, v: Mapping[str, Any]) -> None:
    limits = [x for x in (v["limit"], v["enforced"]) if x is not None]
    cap = min(limits) if limits else None
    if cap is not None and v["default"] and cap < v["default"]:
        a.add("high", "power_capped", f"power limit {cap / 1000:.0f} W below default {v['default'] / 1000:.0f} W", lowers=True)
    reference = v["default_app"] or v["top"]  # m5: the default applications clock, not the max, is "stock"
    locked = v["reasons"] is not None and bool(v["reasons"] & REASON_APPLICATIONS_CLOCKS)
    if v["app"] and reference and v["app"] < reference:
        which = "default applications clock" if v["default_app"] else "max clock"
        a.add("high", "clocks_locked_low", f"applications clock {v['app']} MHz below the {which} {reference} MHz", lowers=True)
    elif locked and not (v["app"] and reference and v["app"] >= reference):
        a.add("medium", "clocks_locked_low", "clocks held by an applications/locked clock setting "
              "(event reason ApplicationsClocksSetting)", lowers=True)
    mig, ecc = v["mig"], v["ecc"]
    if isinstance(mig, (list, tuple)) and mig and mig[0]:
        a.add("high", "mig_enabled", "MIG mode is enabled: a MIG instance owns a fraction of the GPU", lowers=True)
    if isinstance(ecc, (list, tuple)) and ecc and ecc[0] == 0:
        a.add("medium", "ecc_disabled", "ECC is disabled: inline-ECC parts gain bandwidth and memory", raises=True)
    if v["width"] and v["max_width"] and v["width"] < v["max_width"]:
        a.add("medium", "pcie_degraded", f"PCIe link x{v['width']} of x{v['max_width']}", lowers=True)
    if v["gen"] and v["max_gen"] and v["gen"] < v["max_gen"]:
        a.add("info", "pcie_degraded", f"PCIe link gen {v['gen']} of {v['max_gen']} (idle GPUs downshift; "
              "compare with the audit after the run)")
    if v["compute_mode"] not in (None, 0):
        a.add("info", "compute_mode", f"compute mode {v['compute_mode']} (0 is default)")


# -- telemetry -------------------------------------------------------------------------------------
class NvmlSource:
    """Live SM clock, power, energy counter, temperature, utilisation and classified clock-event reasons.

    The session opens in start() and closes in stop(); a metric whose read fails once is a gap."""

    name = NAME

    def __init__(self, device_info: Mapping[str, Any], nvml: Any = None):
        self.device_info, self.nvml, self.handle = device_info, nvml, None
        self.gaps: dict[str, str] = {}
        self._stack: contextlib.ExitStack | None = None
        self._reasons_fn = "nvmlDeviceGetCurrentClocksEventReasons"
        self.limit_mw: float | None = None
        self.default_limit_mw: float | None = None

    def start(self) -> None:
        stack = contextlib.ExitStack()
        self.nvml, self.handle, _ = stack.enter_context(device(self.device_info, self.nvml))
        self._stack = stack
        if not hasattr(self.nvml, self._reasons_fn):
            self._reasons_fn = "nvmlDeviceGetCurrentClocksThrottleReasons"  # nvidia-ml-py before 12.535
        limits = [safe_call(self.nvml, f, self.handle)[0] for f in
                  ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit")]
        limits = [float(x) for x in limits if isinstance(x, (int, float)) and not isinstance(x, bool)]
        self.limit_mw = min(limits) if limits else None
        default, _ = safe_call(self.nvml, "nvmlDeviceGetPowerManagementDefaultLimit", self.handle)
        self.default_limit_mw = float(default) if isinstance(default, (int, float)) else None
        if self.limit_mw is None or self.default_limit_mw is None:
            self.gaps["power_limit"] = ("enforced or default power limit unreadable: sw_power_cap cannot be told "
                                        "from a lowered limit and counts as throttling")

    def _get(self, metric: str, function: str, *args: Any) -> Any:
        if metric in self.gaps:
            return None
        value, reason = safe_call(self.nvml, function, *args)
        if reason:
            self.gaps[metric] = reason
        return value

    def read(self) -> dict[str, Any]:
        h, out = self.handle, {}
        for metric, function, args, scale in (
            ("clock_mhz", "nvmlDeviceGetClockInfo", (h, CLOCK_SM), 1.0),
            ("power_w", "nvmlDeviceGetPowerUsage", (h,), 1e-3),  # mW
            ("energy_j", "nvmlDeviceGetTotalEnergyConsumption", (h,), 1e-3),  # mJ since driver load
            ("temperature_c", "nvmlDeviceGetTemperature", (h, TEMPERATURE_GPU), 1.0),
        ):
            value = self._get(metric, function, *args)
            if value is not None:
                out[metric] = float(value) * scale
        util = self._get("utilization_pct", "nvmlDeviceGetUtilizationRates", h)
        if util is not None:
            out["utilization_pct"] = float(getattr(util, "gpu", util))
        mask = self._get("throttle_reasons", self._reasons_fn, h)
        if mask is not None:
            out["throttle_reasons"] = classify_power_reasons(decode_reasons(int(mask)), self.limit_mw, self.default_limit_mw)
        return out

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
