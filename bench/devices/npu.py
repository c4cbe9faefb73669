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
        return None
