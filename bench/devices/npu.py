"""Huawei Ascend NPUs through torch_npu, imported only when this backend is asked for."""

from __future__ import annotations

import importlib
from typing import Any

import torch

from bench.devices.accelerator import TorchAcceleratorBackend


def load_torch_npu() -> bool:
    """Import torch_npu, which registers torch.npu. False when it is not installed or fails."""
    try:
        importlib.import_module("torch_npu")
    except Exception:  # a broken CANN install raises all sorts; absent is the answer either way
        return False
    return hasattr(torch, "npu")


class NpuBackend(TorchAcceleratorBackend):
    name = "npu"
    vendor = "Huawei"
    module_name = "npu"
    compute_unit_kind = "AI core"
    visible_devices_var = "ASCEND_RT_VISIBLE_DEVICES"  # logic ids, as npu-smi info -m lists them

    @classmethod
    def device_count(cls) -> int:
        if not hasattr(torch, "npu") and not load_torch_npu():
            return 0
        return super().device_count()

    def _compute_units(self, props: Any) -> int | None:
        return getattr(props, "cube_core_num", None) or super()._compute_units(props)

    def _last_level_cache(self, props: Any) -> int | None:
        return getattr(props, "L2_cache_size", None) or None

    def _runtime_version(self) -> str | None:
        version = getattr(importlib.import_module("torch_npu"), "__version__", None)
        return f"torch_npu {version}" if version else None

    def unsupported_reason(self, dtype: str) -> str | None:
        if dtype == "fp64":
            return "Ascend cube units have no FP64 matrix path"
        if dtype == "tf32":
            return "Ascend has no TF32 format (its HF32 is not TF32)"
        if dtype == "fp8_e4m3" and not self._has_fp8():
            return (f"{self._soc_name() or 'this Ascend SoC'} has no FP8 cube path (Ascend 950-class parts have one); "
                    "torch._scaled_mm would fail, possibly asynchronously")
        if dtype == "int8":
            return ("int8 matmul goes through torch._int_mm, which torch_npu does not implement "
                    "(npu_quant_matmul is not measured by this harness)")
        return None

    def _soc_name(self) -> str | None:
        try:
            return str(self.module().get_device_name(self.index or 0))
        except Exception:
            return getattr(self.properties(), "name", None)

    def _has_fp8(self) -> bool:
        return "950" in (self._soc_name() or "")
