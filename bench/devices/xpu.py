"""Intel GPUs through torch.xpu."""

from __future__ import annotations

from typing import Any

from bench.devices.accelerator import TorchAcceleratorBackend


class XpuBackend(TorchAcceleratorBackend):
    name = "xpu"
    vendor = "Intel"
    module_name = "xpu"
    compute_unit_kind = "Xe core"
    visible_devices_var = "ZE_AFFINITY_MASK"  # Level Zero's device selection

    def _architecture(self, props: Any) -> str | None:
        return getattr(props, "platform_name", None)

    def _compute_units(self, props: Any) -> int | None:
        return getattr(props, "gpu_subslice_count", None) or getattr(props, "max_compute_units", None)

    def unsupported_reason(self, dtype: str) -> str | None:
        if dtype == "fp8_e4m3":
            return "torch._scaled_mm is not implemented for XPU in this harness"
        return None
