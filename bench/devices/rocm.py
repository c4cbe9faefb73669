"""AMD GPUs: torch exposes them as `cuda` devices when torch.version.hip is set."""

from __future__ import annotations

from typing import Any

import torch

from bench.devices.accelerator import TorchAcceleratorBackend

# Infinity Cache (MALL) sits behind L2 on CDNA3/4 and must be exceeded for DRAM-sized streams.
# AMD Instinct MI300X / MI355X data sheets: 256 MB AMD Infinity Cache.
LAST_LEVEL_CACHE_BYTES = {"gfx942": 256 * 2**20, "gfx950": 256 * 2**20}
FP8_ARCHS = {"gfx942", "gfx950", "gfx1200", "gfx1201"}  # CDNA3/4 and RDNA4 have FP8 matrix cores


def gfx_arch(props: Any) -> str:
    return str(getattr(props, "gcnArchName", "unknown")).split(":")[0]


class RocmBackend(TorchAcceleratorBackend):
    name = "rocm"
    vendor = "AMD"
    module_name = "cuda"
    compute_unit_kind = "CU"

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

    def fp8_dtype(self) -> torch.dtype:
        """gfx942 (MI300) uses the FNUZ variant of e4m3; later parts the OCP one."""
        return torch.float8_e4m3fnuz if gfx_arch(self.properties()) == "gfx942" else torch.float8_e4m3fn

    def unsupported_reason(self, dtype: str) -> str | None:
        arch = gfx_arch(self.properties())
        if dtype == "fp8_e4m3" and arch not in FP8_ARCHS:
            return f"{arch} has no FP8 matrix instructions"
        if dtype == "tf32" and arch != "gfx942":
            return f"{arch}: TF32 matrix math is available only on gfx942 (MI300 series)"
        return None
