"""NVIDIA GPUs through torch.cuda (a CUDA build of torch; a HIP build is the rocm backend)."""

from __future__ import annotations

from typing import Any

import torch

from bench.devices.accelerator import TorchAcceleratorBackend
from bench.devices.vendors import nvml

# Tensor-core formats by compute capability (CUDA C Programming Guide, "Compute Capabilities").
MIN_CAPABILITY = {"tf32": (8, 0), "bf16": (8, 0), "fp8_e4m3": (8, 9), "int8": (7, 5)}


class CudaBackend(TorchAcceleratorBackend):
    name = "cuda"
    vendor = "NVIDIA"
    module_name = "cuda"
    compute_unit_kind = "SM"
    visible_devices_var = "CUDA_VISIBLE_DEVICES"
    accepts_uuid = True  # CUDA_VISIBLE_DEVICES takes GPU-<uuid> (CUDA C Programming Guide, env variables)
    _facts: dict[str, Any] | None = None

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

    def _nvml_facts(self, props: Any) -> dict[str, Any]:
        """Driver version and max SM clock from NVML, one session for both (read once per info())."""
        if self._facts is None:
            self._facts = nvml.device_facts({"index": self.index or 0, "extra": self._unit_ids(props)})
        return self._facts

    def _driver_version(self, props: Any) -> str | None:
        return self._nvml_facts(props).get("driver_version")

    def _max_clock_mhz(self, props: Any) -> float | None:
        """Maximum SM clock from NVML (torch no longer reports clock rates with CUDA 13)."""
        return self._nvml_facts(props).get("max_clock_mhz") or super()._max_clock_mhz(props)

    def unsupported_reason(self, dtype: str) -> str | None:
        needed = MIN_CAPABILITY.get(dtype)
        props = self.properties()  # what torch.cuda.get_device_capability reads, through the backend's module
        have = (props.major, props.minor)
        if needed and have < needed:
            return f"{dtype} matmul needs compute capability {needed[0]}.{needed[1]}, device has {have[0]}.{have[1]}"
        return None
