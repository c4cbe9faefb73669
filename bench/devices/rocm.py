"""AMD GPUs: torch exposes them as `cuda` devices when torch.version.hip is set."""

from __future__ import annotations

import os
from typing import Any

import torch

from bench.devices.accelerator import TorchAcceleratorBackend
from bench.devices.precision import HIP_TF32_ENV, enable_hip_tf32

# Infinity Cache (MALL) sits behind L2 on CDNA3/4 and must be exceeded for DRAM-sized streams.
# AMD Instinct MI300X / MI355X data sheets: 256 MB AMD Infinity Cache.
LAST_LEVEL_CACHE_BYTES = {"gfx942": 256 * 2**20, "gfx950": 256 * 2**20}
FP8_ARCHS = {"gfx942", "gfx950", "gfx1200", "gfx1201"}  # CDNA3/4 and RDNA4 have FP8 matrix cores
TF32_ARCHS = {"gfx942"}  # hipBLASLt TF32: MI300 series only (PyTorch test_linalg _hip_allow_tf32)


def gfx_arch(props: Any) -> str:
    return str(getattr(props, "gcnArchName", "unknown")).split(":")[0]


class RocmBackend(TorchAcceleratorBackend):
    name = "rocm"
    vendor = "AMD"
    module_name = "cuda"
    compute_unit_kind = "CU"
    visible_devices_var = "HIP_VISIBLE_DEVICES"

    @classmethod
    def device_count(cls) -> int:
        if not getattr(torch.version, "hip", None):
            return 0
        return super().device_count()

    def _architecture(self, props: Any) -> str | None:
        return gfx_arch(props)

    def _capability(self, props: Any) -> str | None:
        return gfx_arch(props)

    def _last_level_cache(self, props: Any) -> int | None:
        return LAST_LEVEL_CACHE_BYTES.get(gfx_arch(props)) or super()._last_level_cache(props)

    def _runtime_version(self) -> str | None:
        return f"HIP {torch.version.hip}"

    def activate(self) -> None:
        """Select the GPU; on MI300 also let hipBLASLt honour TF32 (PyTorch ignores allow_tf32 on ROCm
        unless HIPBLASLT_ALLOW_TF32=1; it reads the variable per matmul, so this precedes the first one)."""
        if gfx_arch(self.properties()) in TF32_ARCHS:
            enable_hip_tf32()
        super().activate()

    def fp8_dtype(self) -> torch.dtype:
        """gfx942 (MI300) uses the FNUZ variant of e4m3; later parts the OCP one."""
        return torch.float8_e4m3fnuz if gfx_arch(self.properties()) == "gfx942" else torch.float8_e4m3fn

    def unsupported_reason(self, dtype: str) -> str | None:
        arch = gfx_arch(self.properties())
        if dtype == "fp8_e4m3" and arch not in FP8_ARCHS:
            return f"{arch} has no FP8 matrix instructions"
        if dtype == "tf32" and arch not in TF32_ARCHS:
            return f"{arch}: TF32 matrix math is available only on gfx942 (MI300 series)"
        if dtype == "tf32" and os.environ.get(HIP_TF32_ENV, "1") != "1":
            return f"{HIP_TF32_ENV}={os.environ[HIP_TF32_ENV]}: hipBLASLt would run FP32 math, not TF32"
        return None
