"""AMD GPUs through amdsmi (the ROCm install's Python package, a ctypes wrapper over libamd_smi.so).

One session (amdsmi_init ... amdsmi_shut_down) per use. Key names and value types drift across
releases, so every read goes through first_key()/flag()/number():
  - asic info: `num_compute_units` (7.x) vs `num_of_compute_units` (6.x)           (m1)
  - clock info: `clk` (6.2+) vs `cur_clk` (6.0/6.1)                                  (m2)
  - gpu metrics `throttle_status`, `indep_throttle_status`, clk_locked: bool in 7.x (isBool), int in
    6.x, "N/A" on MI300; gfx942 reports residency accumulators instead (ppt/thermal/prochot)  (M7)
Install the wrapper that matches the host library: `pip install $ROCM_PATH/share/amd_smi` (the
PyPI `amdsmi` wheel is the same wrapper at one version, e.g. 7.0.2; its structs must match the
host's libamd_smi.so). The wrapper and library versions are recorded in the identity."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping

from bench.devices.vendors.common import (
    AuditRecord,
    SourceRecord,
    first_key,
    flag,
    load_module,
    number,
    occupancy_findings,
    processes_record,
    safe_call,
    text,
    unavailable,
)

NAME = "amdsmi"
INSTALL_HINT = "install the ROCm install's own wrapper: pip install $ROCM_PATH/share/amd_smi"
# gpu_metrics residency accumulators (gfx942 and later): which limiter held the clock since the last read.
POWER_RESIDENCY = ("ppt_residency_acc",)
THERMAL_RESIDENCY = ("socket_thm_residency_acc", "hbm_thm_residency_acc", "vr_thm_residency_acc")
PROCHOT_RESIDENCY = ("prochot_residency_acc",)
AT_RATED_CAP = "amd_ppt_at_rated_cap"
BELOW_RATED_CAP = "amd_ppt_below_rated_cap"


class AmdsmiUnavailable(RuntimeError):
    pass


@contextlib.contextmanager
def session(amdsmi: Any = None) -> Iterator[Any]:
    module, reason = load_module("amdsmi", amdsmi)
    if module is None:
        raise AmdsmiUnavailable(f"{reason} ({INSTALL_HINT})")
    reason = safe_call(module, "amdsmi_init")[1]
    if reason:
        raise AmdsmiUnavailable(reason)
    try:
        yield module
    finally:
        safe_call(module, "amdsmi_shut_down")


def handle(amdsmi: Any, device_info: Mapping[str, Any]) -> tuple[Any, str]:
    """The processor handle of the measured GPU: by PCI BDF when known, else by index."""
    handles, reason = safe_call(amdsmi, "amdsmi_get_processor_handles")
    if reason or not handles:
        raise AmdsmiUnavailable(f"device not found: {reason or 'amdsmi lists no GPUs'}")
    bdf = str((device_info.get("extra") or {}).get("pci_bus_id") or "").lower()
    if bdf:
        for candidate in handles:
            found, _ = safe_call(amdsmi, "amdsmi_get_gpu_device_bdf", candidate)
            if found and str(found).lower().endswith(bdf[-7:]):
                return candidate, "pci_bus_id"
    index = int(device_info.get("index") or 0)
    if index >= len(handles):
        raise AmdsmiUnavailable(f"device not found: index {index} but amdsmi lists {len(handles)} GPUs")
    return handles[index], "index"


@contextlib.contextmanager
def device(device_info: Mapping[str, Any], amdsmi: Any = None) -> Iterator[tuple[Any, Any, str]]:
    with session(amdsmi) as module:
        found, matched_by = handle(module, device_info)
        yield module, found, matched_by


def clock_mhz(info: Any) -> float | None:
    return number(first_key(info, "clk", "cur_clk"))


def _versions(src: SourceRecord, module: Any) -> None:
    src.put("amdsmi_python_version", text(getattr(module, "__version__", None)), "amdsmi has no __version__")
    lib, reason = safe_call(module, "amdsmi_get_lib_version")
    if isinstance(lib, Mapping):
        src.put("amdsmi_library_version", ".".join(str(lib[k]) for k in ("major", "minor", "release") if k in lib))
    else:
        src.put("amdsmi_library_version", None, reason)


def identity(device_info: Mapping[str, Any], amdsmi: Any = None) -> dict[str, Any]:
    try:
        with device(device_info, amdsmi) as (module, found, matched_by):
            src = SourceRecord(NAME)
            src.put("matched_by", matched_by)
            src.read("uuid", module, "amdsmi_get_gpu_device_uuid", found)
            src.read("pci_bus_id", module, "amdsmi_get_gpu_device_bdf", found)
            _dict_fields(src, module, "amdsmi_get_gpu_asic_info", found,
                         {"name": ("market_name",), "asic_serial": ("asic_serial",), "pci_vendor_id": ("vendor_id",),
                          "pci_device_id": ("device_id",), "pci_subsystem_vendor_id": ("subvendor_id",),
                          "pci_subsystem_id": ("subsystem_id",), "revision_id": ("rev_id",),
                          "compute_units": ("num_compute_units", "num_of_compute_units")})
            _dict_fields(src, module, "amdsmi_get_gpu_board_info", found,
                         {"product_serial": ("product_serial",), "fru_id": ("fru_id",), "model_number": ("model_number",),
                          "product_name": ("product_name",), "manufacturer": ("manufacturer_name",)})
            _dict_fields(src, module, "amdsmi_get_gpu_vbios_info", found,
                         {"vbios_version": ("version",), "vbios_part_number": ("part_number",),
                          "vbios_build_date": ("build_date",)})
            _dict_fields(src, module, "amdsmi_get_gpu_driver_info", found, {"driver_version": ("driver_version",)})
            _versions(src, module)
            return src.result
    except AmdsmiUnavailable as error:
        return unavailable(NAME, str(error))


def _dict_fields(src: SourceRecord, module: Any, function: str, found: Any, keys: Mapping[str, tuple[str, ...]]) -> None:
    info, reason = safe_call(module, function, found)
    info = info if isinstance(info, Mapping) else {}
    for field, names in keys.items():
        if reason:
            src.put(field, None, reason)
            continue
        raw = first_key(dict(info), *names)
        value = (None if number(raw) is None else raw) if isinstance(raw, int) and not isinstance(raw, bool) else text(raw)
        if isinstance(value, int) and field.startswith("pci_"):
            value = f"0x{value:04x}"
        present = any(n in info for n in names)
        src.put(field, value, "placeholder value" if present else f"{function} has none of {', '.join(names)}")


def _process_list(module: Any, found: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    """7.x returns dicts; 6.x returns process handles that amdsmi_get_gpu_process_info turns into dicts."""
    listed, reason = safe_call(module, "amdsmi_get_gpu_process_list", found)
    if reason:
        return None, reason
    out = []
    for entry in listed or []:
        if not isinstance(entry, Mapping):
            entry, reason = safe_call(module, "amdsmi_get_gpu_process_info", found, entry)
            if reason:
                return None, reason
            entry = entry if isinstance(entry, Mapping) else {}
        out.append({"pid": entry.get("pid"), "name": text(entry.get("name")), "memory_bytes": number(entry.get("mem"))})
    return out, None


def processes(device_info: Mapping[str, Any], amdsmi: Any = None, own_context: bool = False) -> dict[str, Any]:
    try:
        with device(device_info, amdsmi) as (module, found, _):
            listed, reason = _process_list(module, found)
    except AmdsmiUnavailable as error:
        listed, reason = None, str(error)
    return processes_record(NAME, listed, reason, own_context=own_context)


def audit(a: AuditRecord, device_info: Mapping[str, Any], amdsmi: Any = None, own_context: bool = False) -> None:
    try:
        with device(device_info, amdsmi) as (module, found, _):
            caps = a.read("device", "power_cap_info", module, "amdsmi_get_power_cap_info", found) or {}
            compute = a.read("device", "compute_partition", module, "amdsmi_get_gpu_compute_partition", found)
            memory = a.read("device", "memory_partition", module, "amdsmi_get_gpu_memory_partition", found)
            clocks = a.read("device", "gfx_clock_info", module, "amdsmi_get_clock_info", found,
                            module.AmdSmiClkType.GFX) if hasattr(module, "AmdSmiClkType") else None
            listed, reason = _process_list(module, found)
    except AmdsmiUnavailable as error:
        a.missing("device (amdsmi)", str(error))
        return
    cap, default = number(first_key(caps, "power_cap")), number(first_key(caps, "default_power_cap"))
    if cap and default and cap < default:  # same unit on both sides (uW on Linux bare metal)
        a.add("high", "power_capped", f"power cap {cap / default:.0%} of default", lowers=True)
    if text(compute) and text(compute).upper() != "SPX":
        a.add("high", "partition_mode", f"compute partition {compute}: a partition owns a fraction of the GPU", lowers=True)
    if text(memory) and text(memory).upper() != "NPS1":
        a.add("medium", "partition_mode", f"memory partition {memory} (NPS1 is the whole-chip default)", lowers=True)
    if isinstance(clocks, Mapping) and flag(clocks.get("clk_locked")):
        a.add("medium", "clocks_locked_low", "GFX clock is locked", lowers=True)
    occupancy_findings(a, processes_record(NAME, listed, reason, own_context=own_context), "this GPU")


# -- telemetry -------------------------------------------------------------------------------------
def throttle_reasons(metrics: Any, previous: Mapping[str, float] | None, cap_lowered: bool | None) -> tuple[list[str] | None, dict[str, float]]:
    """Reasons from one gpu_metrics read: residency accumulators that grew since `previous` (gfx942+),
    else the throttle_status flag. None when the payload says nothing. Returns (reasons, counters)."""
    counters = {k: number(metrics.get(k)) for k in POWER_RESIDENCY + THERMAL_RESIDENCY + PROCHOT_RESIDENCY} \
        if isinstance(metrics, Mapping) else {}
    counters = {k: v for k, v in counters.items() if v is not None}
    if counters and previous is not None:
        grew = {k for k, v in counters.items() if k in previous and v > previous[k]}
        reasons = []
        if grew & set(POWER_RESIDENCY):
            reasons.append("amd_ppt" if cap_lowered is None else BELOW_RATED_CAP if cap_lowered else AT_RATED_CAP)
        if grew & set(THERMAL_RESIDENCY):
            reasons.append("amd_thermal")
        if grew & set(PROCHOT_RESIDENCY):
            reasons.append("amd_prochot")
        return reasons, counters
    if counters:  # first read: a baseline for the next
        return [], counters
    status = flag(first_key(metrics, "throttle_status", "indep_throttle_status")) if isinstance(metrics, Mapping) else None
    if status is None:
        return None, {}
    return (["amd_throttle_status"] if status else []), {}


class AmdsmiSource:
    name = NAME

    def __init__(self, device_info: Mapping[str, Any], amdsmi: Any = None):
        self.device_info, self.amdsmi, self.handle = device_info, amdsmi, None
        self.gaps: dict[str, str] = {}
        self._stack: contextlib.ExitStack | None = None
        self._counters: dict[str, float] | None = None
        self.cap_lowered: bool | None = None

    def start(self) -> None:
        stack = contextlib.ExitStack()
        self.amdsmi, self.handle, _ = stack.enter_context(device(self.device_info, self.amdsmi))
        self._stack = stack
        self.gaps["energy_j"] = "not read from amdsmi; energy is integrated from power samples"
        caps, _ = safe_call(self.amdsmi, "amdsmi_get_power_cap_info", self.handle)
        cap, default = number(first_key(caps, "power_cap")), number(first_key(caps, "default_power_cap"))
        self.cap_lowered = None if not (cap and default) else cap < default

    def _get(self, metric: str, function: str, *args: Any) -> Any:
        if metric in self.gaps:
            return None
        value, reason = safe_call(self.amdsmi, function, *args)
        if reason:
            self.gaps[metric] = reason
        return value

    def read(self) -> dict[str, Any]:
        amd, h, out = self.amdsmi, self.handle, {}
        clk = self._get("clock_mhz", "amdsmi_get_clock_info", h, getattr(getattr(amd, "AmdSmiClkType", None), "GFX", 0))
        power = self._get("power_w", "amdsmi_get_power_info", h)
        temp_kind = getattr(getattr(amd, "AmdSmiTemperatureType", None), "HOTSPOT", 1)
        metric = getattr(getattr(amd, "AmdSmiTemperatureMetric", None), "CURRENT", 0)
        temp = self._get("temperature_c", "amdsmi_get_temp_metric", h, temp_kind, metric)
        activity = self._get("utilization_pct", "amdsmi_get_gpu_activity", h)
        metrics = self._get("throttle_reasons", "amdsmi_get_gpu_metrics_info", h)
        values = {
            "clock_mhz": clock_mhz(clk),
            "power_w": next((number(power[k]) for k in ("current_socket_power", "average_socket_power", "socket_power")
                             if isinstance(power, Mapping) and number(power.get(k)) is not None), None),
            "temperature_c": number(temp),
            "utilization_pct": number(first_key(activity, "gfx_activity")),
        }
        out.update({k: v for k, v in values.items() if v is not None})
        reasons, counters = throttle_reasons(metrics, self._counters, self.cap_lowered)
        if counters:
            self._counters = counters
        if reasons is not None:
            out["throttle_reasons"] = reasons
        elif metrics is not None and "throttle_reasons" not in self.gaps:
            self.gaps["throttle_reasons"] = "gpu_metrics has no throttle status or residency counters (N/A)"
        return out

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
