"""NVIDIA GPUs through torch.cuda (a CUDA build of torch; a HIP build is the rocm backend)."""

from __future__ import annotations

from typing import Any

import torch

from bench import identity
from bench.devices.accelerator import TorchAcceleratorBackend

# Tensor-core formats by compute capability (CUDA C Programming Guide, "Compute Capabilities").
MIN_CAPABILITY = {"tf32": (8, 0), "bf16": (8, 0), "fp8_e4m3": (8, 9), "int8": (7, 5)}


class CudaBackend(TorchAcceleratorBackend):
    name = "cuda"
    vendor = "NVIDIA"
    module_name = "cuda"
    compute_unit_kind = "SM"

    @classmethod
    def device_count(cls) -> int:
        if getattr(torch.version, "hip", None):
            return 0
        return super().device_count()

    def _architecture(self, props: Any) -> str | None:
        return f"sm_{props.major}{props.minor}"

    def _capability(self, props: Any) -> str | None:
        return f"{props.major}.{props.minor}"

    def _runtime_version(self) -> str | None:
        return f"CUDA {torch.version.cuda}"

    def _nvml_handle(self, props: Any) -> tuple[Any, Any] | None:
        """(pynvml, handle of this GPU), or None without the nvidia-ml-py extra or a working driver."""
        pynvml, reason = identity.load_module("pynvml")
        if reason or identity.nvml_session(pynvml):
            return None
        try:
            handle, _how = identity.nvml_handle(pynvml, {"index": self.index or 0, "extra": self._unit_ids(props)})
        except LookupError:
            return None
        return pynvml, handle

    def _driver_version(self, props: Any) -> str | None:
        found = self._nvml_handle(props)
        return identity.text(identity.safe_call(found[0], "nvmlSystemGetDriverVersion")[0]) if found else None

    def _max_clock_mhz(self, props: Any) -> float | None:
        """Maximum SM clock from NVML (torch no longer reports clock rates with CUDA 13)."""
        found = self._nvml_handle(props)
        if not found:
            return super()._max_clock_mhz(props)
        pynvml, handle = found
        mhz, _ = identity.safe_call(pynvml, "nvmlDeviceGetMaxClockInfo", handle, getattr(pynvml, "NVML_CLOCK_SM", 1))
        return float(mhz) if mhz else super()._max_clock_mhz(props)

    def unsupported_reason(self, dtype: str) -> str | None:
        needed = MIN_CAPABILITY.get(dtype)
        have = torch.cuda.get_device_capability(self.index or 0)
        if needed and have < needed:
            return f"{dtype} matmul needs compute capability {needed[0]}.{needed[1]}, device has {have[0]}.{have[1]}"
        return None
