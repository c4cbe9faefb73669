"""Apple GPUs through Metal Performance Shaders (torch.mps): one device, unified memory."""

from __future__ import annotations

import platform
from typing import Any

import torch

from bench.devices.base import Backend, DeviceInfo
from bench.devices.timing import Clock, EventClock


class MpsBackend(Backend):
    name = "mps"
    vendor = "Apple"

    @classmethod
    def device_count(cls) -> int:
        return 1 if torch.backends.mps.is_available() else 0

    @property
    def torch_device(self) -> torch.device:
        return torch.device("mps")

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            backend="mps", torch_device="mps", vendor="Apple", name=platform.processor() or "Apple GPU",
            index=0, memory_bytes=torch.mps.recommended_max_memory(), runtime_version=f"macOS {platform.mac_ver()[0]}",
        )

    def synchronize(self) -> None:
        torch.mps.synchronize()

    def _make_event(self) -> Any:
        return torch.mps.event.Event(enable_timing=True)

    def clock(self) -> Clock:
        return EventClock(self._make_event, self.synchronize)

    def empty_cache(self) -> None:
        torch.mps.empty_cache()

    def unsupported_reason(self, dtype: str) -> str | None:
        if dtype == "fp64":
            return "MPS has no float64"
        if dtype in ("tf32", "fp8_e4m3", "int8"):
            return f"MPS has no {dtype} matmul"
        return None
