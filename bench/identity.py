"""Which physical unit was measured: serials, UUIDs, firmware and PCI ids, per source.

Every source answers in the same shape, so a report can say what was read and what was not:
    {"source": str, "available": bool, "reason": str | None, "fields": {...}, "missing": {field: reason}}
An unavailable source or field is recorded with its reason; nothing is left silently blank.

Vendor libraries (pynvml from nvidia-ml-py, amdsmi) are imported lazily and can be injected, so the
adapters are tested against fakes and a missing library is a recorded gap, not a crash.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping

NPU_SMI_TIMEOUT_S = 10.0
NOT_AVAILABLE_MARKERS = {"", "NA", "N/A", "NOT SUPPORT", "UNKNOWN"}  # npu-smi / amdsmi placeholders
AMDSMI_UNSUPPORTED = {0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}  # amdsmi fills unsupported numbers with these
RunCommand = Callable[[list[str], float], str]


# -- shared helpers (also used by bench.audit and bench.telemetry) ---------------------------------
def load_module(name: str, injected: Any = None) -> tuple[Any, str | None]:
    """The vendor module `name` (or the injected stand-in) and None, or None and why it is missing."""
    if injected is not None:
        return injected, None
    try:
        return importlib.import_module(name), None
    except Exception as error:  # ImportError, or OSError when the shared library cannot load
        return None, f"python module {name!r} not importable: {type(error).__name__}: {error}"


def safe_call(module: Any, function: str, *args: Any) -> tuple[Any, str | None]:
    """Call module.function(*args): (value, None) or (None, reason). Never raises.

    A missing function (an older nvidia-ml-py or amdsmi) and vendor errors such as
    NVMLError_NotSupported / NVMLError_NoPermission become reasons."""
    fn = getattr(module, function, None)
    if fn is None:
        return None, f"{function} not provided by this library version"
    try:
        return fn(*args), None
    except Exception as error:
        return None, f"{function}: {type(error).__name__}: {error}".rstrip(": ")


def text(value: Any) -> str | None:
    """Vendor strings as str: older pynvml returns bytes; placeholders such as 'NA' become None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).strip().strip("\x00")
    return None if value.upper() in NOT_AVAILABLE_MARKERS else value


def number(value: Any) -> float | None:
    """A vendor number, or None for 'N/A' strings and amdsmi's all-ones 'unsupported' values."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if value in AMDSMI_UNSUPPORTED else float(value)
    try:
        return float(str(value).strip().split()[0])
    except (ValueError, IndexError):
        return None


class _Source:
    """Collects fields of one source; a failed read lands in `missing` with its reason."""

    def __init__(self, source: str):
        self.result: dict[str, Any] = {"source": source, "available": True, "reason": None, "fields": {}, "missing": {}}

    def put(self, field: str, value: Any, reason: str | None = None) -> None:
        if value is None:
            self.result["missing"][field] = reason or "not reported"
        else:
            self.result["fields"][field] = value

    def read(self, field: str, module: Any, function: str, *args: Any, convert: Callable[[Any], Any] = text) -> Any:
        raw, reason = safe_call(module, function, *args)
        value = convert(raw) if reason is None else None
        self.put(field, value, reason or ("placeholder value" if raw is not None else None))
        return value


def unavailable(source: str, reason: str) -> dict[str, Any]:
    return {"source": source, "available": False, "reason": reason, "fields": {}, "missing": {}}


# -- NVIDIA (NVML) ---------------------------------------------------------------------------------
NVML_INFOROM_OEM, NVML_INFOROM_ECC, NVML_INFOROM_POWER = 0, 1, 2


def nvml_handle(nvml: Any, device_info: Mapping[str, Any]) -> tuple[Any, str]:
    """The NVML handle of the measured GPU and how it was matched.

    CUDA and NVML order GPUs differently under CUDA_VISIBLE_DEVICES, so match by UUID or PCI bus id
    (from device_info["extra"]) when the backend recorded one; by index only as a last resort."""
    extra = device_info.get("extra") or {}
    if extra.get("uuid"):
        uuid = str(extra["uuid"])
        handle, reason = safe_call(nvml, "nvmlDeviceGetHandleByUUID", uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")
        if reason is None:
            return handle, "uuid"
    if extra.get("pci_bus_id"):
        handle, reason = safe_call(nvml, "nvmlDeviceGetHandleByPciBusId", str(extra["pci_bus_id"]))
        if reason is None:
            return handle, "pci_bus_id"
    index = int(device_info.get("index") or 0)
    handle, reason = safe_call(nvml, "nvmlDeviceGetHandleByIndex", index)
    if reason is not None:
        raise LookupError(reason)
    note = "index" if "CUDA_VISIBLE_DEVICES" not in os.environ else "index (CUDA_VISIBLE_DEVICES set: may differ from CUDA's order)"
    return handle, note


def nvml_session(nvml: Any) -> str | None:
    """nvmlInit; None when it worked, else the reason (no driver, library not found, ...)."""
    return safe_call(nvml, "nvmlInit")[1]


def nvml_identity(device_info: Mapping[str, Any], nvml: Any = None) -> dict[str, Any]:
    nvml, reason = load_module("pynvml", nvml)
    if nvml is None:
        return unavailable("nvml", reason + " (install the 'nvidia' extra: nvidia-ml-py)")
    reason = nvml_session(nvml)
    if reason:
        return unavailable("nvml", reason)
    try:
        handle, matched_by = nvml_handle(nvml, device_info)
    except LookupError as error:
        safe_call(nvml, "nvmlShutdown")
        return unavailable("nvml", f"device not found: {error}")
    src = _Source("nvml")
    src.put("matched_by", matched_by)
    src.read("name", nvml, "nvmlDeviceGetName", handle)
    src.read("serial", nvml, "nvmlDeviceGetSerial", handle)
    src.read("uuid", nvml, "nvmlDeviceGetUUID", handle)
    src.read("board_part_number", nvml, "nvmlDeviceGetBoardPartNumber", handle)
    src.read("vbios_version", nvml, "nvmlDeviceGetVbiosVersion", handle)
    src.read("inforom_image_version", nvml, "nvmlDeviceGetInforomImageVersion", handle)
    src.read("inforom_oem_version", nvml, "nvmlDeviceGetInforomVersion", handle, NVML_INFOROM_OEM)
    src.read("driver_version", nvml, "nvmlSystemGetDriverVersion")
    src.read("cuda_driver_version", nvml, "nvmlSystemGetCudaDriverVersion", convert=lambda v: v)
    _nvml_pci(src, nvml, handle)
    safe_call(nvml, "nvmlShutdown")
    return src.result


def _nvml_pci(src: _Source, nvml: Any, handle: Any) -> None:
    pci, reason = safe_call(nvml, "nvmlDeviceGetPciInfo", handle)
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


# -- AMD (amdsmi) ----------------------------------------------------------------------------------
def amdsmi_handle(amdsmi: Any, device_info: Mapping[str, Any]) -> tuple[Any, str]:
    """The amdsmi processor handle of the measured GPU: by PCI BDF when known, else by index."""
    handles, reason = safe_call(amdsmi, "amdsmi_get_processor_handles")
    if reason or not handles:
        raise LookupError(reason or "amdsmi lists no GPUs")
    bdf = str((device_info.get("extra") or {}).get("pci_bus_id") or "").lower()
    if bdf:
        for handle in handles:
            found, _ = safe_call(amdsmi, "amdsmi_get_gpu_device_bdf", handle)
            if found and str(found).lower().endswith(bdf[-7:]):
                return handle, "pci_bus_id"
    index = int(device_info.get("index") or 0)
    if index >= len(handles):
        raise LookupError(f"index {index} but amdsmi lists {len(handles)} GPUs")
    return handles[index], "index"


def amdsmi_identity(device_info: Mapping[str, Any], amdsmi: Any = None) -> dict[str, Any]:
    amdsmi, reason = load_module("amdsmi", amdsmi)
    if amdsmi is None:
        return unavailable("amdsmi", reason + " (install the 'amd' extra: amdsmi from the ROCm install)")
    reason = safe_call(amdsmi, "amdsmi_init")[1]
    if reason:
        return unavailable("amdsmi", reason)
    try:
        handle, matched_by = amdsmi_handle(amdsmi, device_info)
    except LookupError as error:
        safe_call(amdsmi, "amdsmi_shut_down")
        return unavailable("amdsmi", f"device not found: {error}")
    src = _Source("amdsmi")
    src.put("matched_by", matched_by)
    src.read("uuid", amdsmi, "amdsmi_get_gpu_device_uuid", handle)
    src.read("pci_bus_id", amdsmi, "amdsmi_get_gpu_device_bdf", handle)
    _amd_dict(src, amdsmi, "amdsmi_get_gpu_asic_info", handle,
              {"market_name": "name", "asic_serial": "asic_serial", "vendor_id": "pci_vendor_id",
               "device_id": "pci_device_id", "subvendor_id": "pci_subsystem_vendor_id",
               "subsystem_id": "pci_subsystem_id", "rev_id": "revision_id", "num_of_compute_units": "compute_units"})
    _amd_dict(src, amdsmi, "amdsmi_get_gpu_board_info", handle,
              {"product_serial": "product_serial", "fru_id": "fru_id", "model_number": "model_number",
               "product_name": "product_name", "manufacturer_name": "manufacturer"})
    _amd_dict(src, amdsmi, "amdsmi_get_gpu_vbios_info", handle,
              {"version": "vbios_version", "part_number": "vbios_part_number", "build_date": "vbios_build_date"})
    _amd_dict(src, amdsmi, "amdsmi_get_gpu_driver_info", handle, {"driver_version": "driver_version"})
    safe_call(amdsmi, "amdsmi_shut_down")
    return src.result


def _amd_dict(src: _Source, amdsmi: Any, function: str, handle: Any, keys: Mapping[str, str]) -> None:
    info, reason = safe_call(amdsmi, function, handle)
    info = info if isinstance(info, Mapping) else {}
    for key, field in keys.items():
        if reason:
            src.put(field, None, reason)
            continue
        raw = info.get(key)
        value = (None if number(raw) is None else raw) if isinstance(raw, int) else text(raw)
        if isinstance(value, int) and field.startswith("pci_"):
            value = f"0x{value:04x}"
        src.put(field, value, "placeholder value" if key in info else f"{function} has no {key!r}")


# -- Huawei Ascend (npu-smi) -----------------------------------------------------------------------
def parse_npu_smi_board(output: str) -> dict[str, str | None]:
    """`npu-smi info -t board -i N` ("Key : Value" lines) -> {key: value}; NA placeholders -> None."""
    fields: dict[str, str | None] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip(), text(value))
    return fields


NPU_SMI_FIELDS = {
    "Product Name": "product_name", "NPU Name": "name", "Chip Name": "chip_name", "Chip Version": "chip_version",
    "Model": "model", "Manufacturer": "manufacturer", "Serial Number": "serial",
    "Software Version": "driver_version", "Firmware Version": "firmware_version", "Compatibility": "compatibility",
    "Board ID": "board_id", "PCB ID": "pcb_id", "BOM ID": "bom_id", "PCIe Bus Info": "pci_bus_id",
    "PCI Vendor ID": "pci_vendor_id", "PCI Device ID": "pci_device_id",
    "Subsystem Vendor ID": "pci_subsystem_vendor_id", "Subsystem Device ID": "pci_subsystem_id",
    "Chip Count": "chip_count", "DDie ID": "die_id", "Die ID": "die_id",
}


def run_command(argv: list[str], timeout_s: float) -> str:
    """Run a read-only tool and return its stdout; raises OSError/SubprocessError/TimeoutExpired."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise subprocess.SubprocessError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


def npu_identity(device_info: Mapping[str, Any], run: RunCommand | None = None) -> dict[str, Any]:
    if run is None:
        if shutil.which("npu-smi") is None:
            return unavailable("npu-smi", "npu-smi not found on PATH")
        run = run_command
    index = int(device_info.get("index") or 0)
    argv = ["npu-smi", "info", "-t", "board", "-i", str(index)]
    try:
        output = run(argv, NPU_SMI_TIMEOUT_S)
    except Exception as error:
        return unavailable("npu-smi", f"{' '.join(argv)}: {type(error).__name__}: {error}")
    parsed = parse_npu_smi_board(output)
    if not parsed:
        return unavailable("npu-smi", f"{' '.join(argv)}: no 'Key : Value' lines in output")
    src = _Source("npu-smi")
    src.put("board_query", " ".join(argv))
    for key, field in NPU_SMI_FIELDS.items():
        if key in parsed and field not in src.result["fields"]:
            src.put(field, parsed[key], "NA (restricted: not root, or inside a container)")
    for field in ("serial", "firmware_version", "die_id"):
        if field not in src.result["fields"] and field not in src.result["missing"]:
            src.put(field, None, "not in this npu-smi version's board output")
    return src.result


# -- CPU -------------------------------------------------------------------------------------------
def parse_cpuinfo(content: str) -> dict[str, Any]:
    """/proc/cpuinfo -> model, vendor, microcode, flags, logical and physical core counts (x86 and Arm)."""
    blocks = [b for b in content.strip().split("\n\n") if b.strip()]
    entries = [dict((k.strip(), v.strip()) for k, _, v in (l.partition(":") for l in b.splitlines())) for b in blocks]
    first = entries[0] if entries else {}
    cores = {(e.get("physical id"), e.get("core id")) for e in entries if "core id" in e}
    arm_model = " ".join(filter(None, (first.get("CPU implementer"), first.get("CPU part")))) or None
    flags = first.get("flags") or first.get("Features")
    return {
        "model": first.get("model name") or first.get("Hardware") or arm_model,
        "vendor": first.get("vendor_id") or first.get("CPU implementer"),
        "family_model_stepping": "/".join(first[k] for k in ("cpu family", "model", "stepping") if k in first) or None,
        "microcode": first.get("microcode"),
        "logical_cpus": sum(1 for e in entries if "processor" in e) or None,
        "physical_cores": len(cores) or None,
        "sockets": len({e.get("physical id") for e in entries if "physical id" in e}) or None,
        "flags": sorted(flags.split()) if flags else None,
        "hypervisor": None if flags is None else "hypervisor" in flags.split(),
    }


def cpu_identity(cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, Any]:
    src = _Source("cpu")
    try:
        parsed = parse_cpuinfo(Path(cpuinfo_path).read_text())
    except OSError as error:
        parsed = parse_cpuinfo("")
        src.result["reason"] = f"{cpuinfo_path} unreadable: {error}"
    parsed["model"] = parsed["model"] or platform.processor() or None
    parsed["architecture"] = platform.machine() or None
    parsed["os_logical_cpus"] = os.cpu_count()
    for field, value in parsed.items():
        src.put(field, value, src.result["reason"] or f"not in {cpuinfo_path} on this platform")
    return src.result


# -- dispatch --------------------------------------------------------------------------------------
def collect_identity(device_info: Mapping[str, Any], *, nvml: Any = None, amdsmi: Any = None,
                     run: RunCommand | None = None) -> dict[str, Any]:
    """Identity of the measured device plus the host CPU, for run.json["identity"].

    device_info: DeviceInfo.to_dict() (uses "backend", "index", "extra": {"uuid", "pci_bus_id"}).
    Returns {"backend", "sources": [source dicts], "gaps": [{"source", "reason"}]}; never raises."""
    backend = str(device_info.get("backend", "cpu"))
    sources = [cpu_identity()]
    if backend == "cuda":
        sources.append(nvml_identity(device_info, nvml))
    elif backend == "rocm":
        sources.append(amdsmi_identity(device_info, amdsmi))
    elif backend == "npu":
        sources.append(npu_identity(device_info, run))
    elif backend in ("xpu", "mps"):
        sources.append(unavailable(backend, f"no unit-identity source implemented for {backend}; "
                                            "only the framework's device name is recorded"))
    gaps = [{"source": s["source"], "reason": s["reason"]} for s in sources if not s["available"]]
    gaps += [{"source": s["source"], "field": f, "reason": r} for s in sources for f, r in s["missing"].items()]
    return {"backend": backend, "sources": sources, "gaps": gaps}
