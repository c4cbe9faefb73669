"""Which physical unit was measured: serials, UUIDs, firmware and PCI ids, per source.

Every source answers in the same shape, so a report can say what was read and what was not:
    {"source": str, "available": bool, "reason": str | None, "fields": {...}, "missing": {field: reason}}
The reads live in the vendor adapters (bench/devices/vendors/); this module picks the adapter of
the measured backend, adds the host CPU, and lists the gaps. Never raises.
"""

from __future__ import annotations

from typing import Any, Mapping

from bench.devices import vendors
from bench.devices.vendors import amdsmi as _amdsmi
from bench.devices.vendors import npu_smi as _npu_smi
from bench.devices.vendors import nvml as _nvml
from bench.devices.vendors import procfs
from bench.devices.vendors.common import (  # noqa: F401 (re-exported for callers of the old names)
    RunCommand,
    load_module,
    number,
    run_command,
    safe_call,
    text,
    unavailable,
)

parse_cpuinfo = procfs.parse_cpuinfo
parse_npu_smi_board = _npu_smi.parse_board
cpu_identity = procfs.identity


def nvml_identity(device_info: Mapping[str, Any], nvml: Any = None) -> dict[str, Any]:
    return _nvml.identity(device_info, nvml)


def amdsmi_identity(device_info: Mapping[str, Any], amdsmi: Any = None) -> dict[str, Any]:
    return _amdsmi.identity(device_info, amdsmi)


def npu_identity(device_info: Mapping[str, Any], run: RunCommand | None = None,
                 environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    return _npu_smi.NpuSmi(run, environ).identity(device_info)


def collect_identity(device_info: Mapping[str, Any], *, nvml: Any = None, amdsmi: Any = None,
                     run: RunCommand | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Identity of the measured device plus the host CPU, for run.json["identity"].

    device_info: DeviceInfo.to_dict() (uses "backend", "index", "extra": {"uuid", "pci_bus_id"}).
    Returns {"backend", "sources": [source dicts], "gaps": [{"source", "reason"}]}; never raises."""
    backend = str(device_info.get("backend", "cpu"))
    adapter = vendors.for_backend(backend, nvml_module=nvml, amdsmi_module=amdsmi, run=run, environ=environ)
    sources = [procfs.identity()]
    device_source = adapter.identity(device_info)
    if device_source is not None:
        sources.append(device_source)
    gaps = [{"source": s["source"], "reason": s["reason"]} for s in sources if not s["available"]]
    gaps += [{"source": s["source"], "field": f, "reason": r} for s in sources for f, r in s["missing"].items()]
    return {"backend": backend, "sources": sources, "gaps": gaps}
