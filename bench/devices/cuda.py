"""NVIDIA GPUs through torch.cuda (a CUDA build of torch; a HIP build is the rocm backend)."""

from __future__ import annotations

from typing import Any

import torch

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

    def _driver_version(self, props: Any) -> str | None:
        try:
            import pynvml  # optional extra: nvidia-ml-py
            pynvml.nvmlInit()
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else str(version)
        except Exception:  # any NVML failure just means the driver version is not known
            return None

    def unsupported_reason(self, dtype: str) -> str | None:
        needed = MIN_CAPABILITY.get(dtype)
        have = torch.cuda.get_device_capability(self.index or 0)
        if needed and have < needed:
            return f"{dtype} matmul needs compute capability {needed[0]}.{needed[1]}, device has {have[0]}.{have[1]}"
        return None
