"""One adapter per vendor library, each owning its session handling and its identity, audit,
telemetry and process-list reads:

    nvml      NVIDIA GPUs (nvidia-ml-py)          cuda backend
    amdsmi    AMD GPUs (ROCm's amdsmi wrapper)     rocm backend
    npu_smi   Huawei Ascend (the npu-smi tool)     npu backend
    procfs    the host CPU (/proc, /sys)           every run (the host), and the cpu backend

Reached through the backend: `Backend.vendor_adapter()`, or `for_backend(name)` for a recorded
device block. bench.devices.identity, bench.devices.audit and bench.devices.telemetry only dispatch here."""

from __future__ import annotations

import sys
from typing import Any, Mapping

from bench.devices.vendors import amdsmi, npu_smi, nvml, procfs
from bench.devices.vendors.common import AuditRecord, RunCommand, unavailable


def _torch_initialized(module_name: str) -> bool:
    """Whether this process has initialised the device runtime (so holds a context on the unit)."""
    torch = sys.modules.get("torch")
    check = getattr(getattr(torch, module_name, None), "is_initialized", None)
    try:
        return bool(check()) if check else False
    except Exception:
        return False


class Adapter:
    """What every vendor adapter answers. The base is the 'not implemented' adapter: one visible
    reason per vendor instead of a gap per measurement."""

    library = "none"
    torch_module = ""

    def __init__(self, backend: str):
        self.backend = backend
        self.reason = (f"no vendor library adapter is implemented for {backend}: unit identity, power limit, "
                       "clocks, throttling and other processes were not read")

    def identity(self, device_info: Mapping[str, Any]) -> dict[str, Any] | None:
        return unavailable(self.backend, self.reason)

    def audit(self, a: AuditRecord, device_info: Mapping[str, Any]) -> None:
        a.missing(f"device ({self.backend})", self.reason)

    def telemetry_source(self, device_info: Mapping[str, Any]) -> Any:
        return None

    def telemetry_gap(self) -> str | None:
        return self.reason

    def processes(self, device_info: Mapping[str, Any]) -> dict[str, Any]:
        return {"source": self.library, "available": False, "reason": self.reason, "others": []}

    def own_context(self) -> bool:
        return _torch_initialized(self.torch_module) if self.torch_module else False


class NvmlAdapter(Adapter):
    library, torch_module = "nvml", "cuda"

    def __init__(self, backend: str = "cuda", module: Any = None):
        super().__init__(backend)
        self.module = module

    def identity(self, device_info):
        return nvml.identity(device_info, self.module)

    def audit(self, a, device_info):
        nvml.audit(a, device_info, self.module, own_context=self.own_context())

    def telemetry_source(self, device_info):
        return nvml.NvmlSource(device_info, self.module)

    def telemetry_gap(self):
        return None

    def processes(self, device_info):
        return nvml.processes(device_info, self.module, own_context=self.own_context())


class AmdsmiAdapter(Adapter):
    library, torch_module = "amdsmi", "cuda"

    def __init__(self, backend: str = "rocm", module: Any = None):
        super().__init__(backend)
        self.module = module

    def identity(self, device_info):
        return amdsmi.identity(device_info, self.module)

    def audit(self, a, device_info):
        amdsmi.audit(a, device_info, self.module, own_context=self.own_context())

    def telemetry_source(self, device_info):
        return amdsmi.AmdsmiSource(device_info, self.module)

    def telemetry_gap(self):
        return None

    def processes(self, device_info):
        return amdsmi.processes(device_info, self.module, own_context=self.own_context())


class NpuSmiAdapter(Adapter):
    library, torch_module = "npu-smi", "npu"

    def __init__(self, backend: str = "npu", run: RunCommand | None = None, environ: Mapping[str, str] | None = None):
        super().__init__(backend)
        self.tool = npu_smi.NpuSmi(run, environ)

    def identity(self, device_info):
        return self.tool.identity(device_info)

    def audit(self, a, device_info):
        self.tool.audit(a, device_info, own_context=self.own_context())

    def telemetry_gap(self):
        return npu_smi.TELEMETRY_NOT_IMPLEMENTED

    def processes(self, device_info):
        return self.tool.processes(device_info, own_context=self.own_context())


class HostAdapter(Adapter):
    """The cpu backend: the host itself is the unit (procfs covers it for every run)."""

    library = "procfs"

    def identity(self, device_info):
        return None  # the host CPU identity is recorded for every run

    def audit(self, a, device_info):
        pass

    def telemetry_gap(self):
        return None

    def processes(self, device_info):
        return {"source": "procfs", "available": False, "reason": "the host is shared by design; see occupancy.host",
                "others": []}


def for_backend(backend: str, *, nvml_module: Any = None, amdsmi_module: Any = None, run: RunCommand | None = None,
                environ: Mapping[str, str] | None = None) -> Adapter:
    """The adapter for a backend name (fakes injectable for tests)."""
    if backend == "cuda":
        return NvmlAdapter(backend, nvml_module)
    if backend == "rocm":
        return AmdsmiAdapter(backend, amdsmi_module)
    if backend == "npu":
        return NpuSmiAdapter(backend, run, environ)
    if backend == "cpu":
        return HostAdapter(backend)
    return Adapter(backend)


__all__ = ["Adapter", "AuditRecord", "for_backend", "amdsmi", "npu_smi", "nvml", "procfs"]
