"""Shared code for torch accelerator modules (torch.cuda, torch.xpu, torch.npu, torch.mps).

Each concrete backend file only says which module it uses and what its vendor quirks are."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import torch

from bench.devices.base import Backend, DeviceInfo
from bench.devices.timing import Clock, EventClock


class StreamEvent:
    """A timing event recorded on the current stream of one device, whatever device is current.

    torch.cuda/npu/xpu.Event.record() with no stream records on the current stream of the *current*
    device; an event on idle device 0 around kernels on device N measures host launch time only."""

    def __init__(self, module: Any, device: torch.device):
        with module.device(device):
            self.event = module.Event(enable_timing=True)
        self.stream = module.current_stream(device)

    def record(self) -> None:
        self.event.record(self.stream)

    def elapsed_time(self, other: "StreamEvent") -> float:
        return self.event.elapsed_time(other.event)

    def synchronize(self) -> None:
        self.event.synchronize()


class TorchAcceleratorBackend(Backend):
    module_name = ""  # attribute of torch: "cuda", "xpu", "npu", "mps"
    compute_unit_kind = "unit"
    visible_devices_var = ""  # the runtime's visible-devices variable, e.g. CUDA_VISIBLE_DEVICES

    @classmethod
    def module(cls) -> Any:
        return getattr(torch, cls.module_name)

    @classmethod
    def device_count(cls) -> int:
        try:
            module = cls.module()
            return int(module.device_count()) if module is not None and module.is_available() else 0
        except (RuntimeError, AssertionError, AttributeError):
            return 0

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.module_name, self.index or 0)

    def activate(self) -> None:
        """Make this unit the current device of the process (set_device), so default streams,
        events, cuBLAS handles and allocations land on it. Called before every measurement."""
        self.module().set_device(self.torch_device)

    @contextlib.contextmanager
    def device_context(self) -> Iterator[None]:
        with self.module().device(self.torch_device):
            yield

    def synchronize(self) -> None:
        self.module().synchronize(self.torch_device)

    def _make_event(self) -> StreamEvent:
        return StreamEvent(self.module(), self.torch_device)

    def clock(self) -> Clock:
        self.activate()
        return EventClock(self._make_event, self.synchronize)

    def visible_devices_env(self, environ: Any = None) -> dict[str, str]:
        """The environment that makes a worker process see only this unit (as its device 0).

        By UUID where the runtime accepts one (CUDA), else by this process's index mapped through
        any visible-devices list it inherited. A worker given this sees the unit as index 0."""
        environ = os.environ if environ is None else environ
        if not self.visible_devices_var:
            return {}
        uuid = self.cached_info().extra.get("uuid") if self.accepts_uuid else None
        if uuid:
            return {self.visible_devices_var: uuid if str(uuid).startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"}
        return {self.visible_devices_var: inherited_entry(environ.get(self.visible_devices_var), self.index or 0)}

    accepts_uuid = False

    def free_memory_bytes(self) -> int | None:
        try:
            free, _total = self.module().mem_get_info(self.torch_device)
            return int(free)
        except (RuntimeError, AttributeError):
            return None

    def empty_cache(self) -> None:
        with self.device_context():
            self.module().empty_cache()

    def properties(self) -> Any:
        return self.module().get_device_properties(self.index or 0)

    def info(self) -> DeviceInfo:
        props = self.properties()
        return DeviceInfo(
            backend=self.name, torch_device=str(self.torch_device), vendor=self.vendor,
            name=getattr(props, "name", self.name), index=self.index or 0,
            memory_bytes=getattr(props, "total_memory", None),
            compute_units=self._compute_units(props), compute_unit_kind=self.compute_unit_kind,
            architecture=self._architecture(props), capability=self._capability(props),
            max_clock_mhz=self._max_clock_mhz(props),
            l2_cache_bytes=getattr(props, "L2_cache_size", None) or None,
            last_level_cache_bytes=self._last_level_cache(props),
            driver_version=self._driver_version(props), runtime_version=self._runtime_version(),
            extra=self._unit_ids(props),
        )

    @staticmethod
    def _unit_ids(props: Any) -> dict[str, Any]:
        """UUID and PCI address, so vendor tools (NVML, amdsmi) find this exact unit even when
        CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES reorder devices."""
        ids: dict[str, Any] = {}
        if getattr(props, "uuid", None) is not None:
            ids["uuid"] = str(props.uuid)
        bus = getattr(props, "pci_bus_id", None)
        if bus is not None:
            domain, device = getattr(props, "pci_domain_id", 0) or 0, getattr(props, "pci_device_id", 0) or 0
            ids["pci_bus_id"] = f"{domain:08X}:{bus:02X}:{device:02X}.0"
        return ids

    # Hooks with generic defaults; backends override what their torch module exposes.
    def _compute_units(self, props: Any) -> int | None:
        return getattr(props, "multi_processor_count", None) or getattr(props, "max_compute_units", None)

    def _architecture(self, props: Any) -> str | None:
        return None

    def _capability(self, props: Any) -> str | None:
        return None

    def _max_clock_mhz(self, props: Any) -> float | None:
        khz = getattr(props, "clock_rate", None)
        return khz / 1000.0 if khz else None

    def _last_level_cache(self, props: Any) -> int | None:
        return getattr(props, "L2_cache_size", None) or None

    def _driver_version(self, props: Any) -> str | None:
        return getattr(props, "driver_version", None)

    def _runtime_version(self) -> str | None:
        return None


def inherited_entry(parent: str | None, index: int) -> str:
    """This process's device `index` as an entry of the visible-devices list a child should get:
    the parent's own list entry when one is set ('4,5,6,7' and index 1 -> '5'), else the index."""
    entries = [e.strip() for e in (parent or "").split(",") if e.strip()]
    return entries[index] if index < len(entries) else str(index)
