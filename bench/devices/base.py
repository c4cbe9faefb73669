"""The device backend interface. Everything device-specific (timers, synchronisation, dtype
support, cache sizes) lives behind it; suites only talk to a Backend."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable

import torch

from bench.devices import vendors
from bench.devices.timing import Clock


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """What a device says about itself. Sizes in bytes; None when the backend cannot tell."""

    backend: str  # registry name: cpu, cuda, rocm, npu, xpu, mps
    torch_device: str  # e.g. "cuda:0"
    vendor: str
    name: str
    index: int | None = None
    memory_bytes: int | None = None
    compute_units: int | None = None
    compute_unit_kind: str | None = None  # "SM", "CU", "AI core", "core", "EU"
    architecture: str | None = None  # e.g. "sm_90", "gfx942", "x86_64 avx512"
    capability: str | None = None
    max_clock_mhz: float | None = None
    l2_cache_bytes: int | None = None
    last_level_cache_bytes: int | None = None
    driver_version: str | None = None
    runtime_version: str | None = None  # CUDA / HIP / CANN / oneAPI runtime
    torch_version: str = torch.__version__
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Dtype names used across configs and results, mapped to what they mean for a matmul.
GEMM_DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8_e4m3", "int8")


class Backend(abc.ABC):
    """One device, chosen by the registry. Subclasses are one small file each."""

    name: str = ""  # registry name
    vendor: str = ""

    def __init__(self, index: int | None = None):
        self.index = index
        self._info: DeviceInfo | None = None
        self.auto_fallback_reason: str | None = None  # set by registry.select when --device auto fell back

    def vendor_adapter(self) -> Any:
        """The adapter of this device's vendor library (NVML, amdsmi, npu-smi, procfs)."""
        return vendors.for_backend(self.name)

    def cached_info(self) -> DeviceInfo:
        """info(), read once: vendor queries (NVML, sysfs) stay out of the per-measurement path."""
        if self._info is None:
            self._info = self.info()
        return self._info

    # -- presence ---------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def device_count(cls) -> int:
        """How many devices of this kind this process can see (0 when absent)."""

    @classmethod
    def is_available(cls) -> bool:
        return cls.device_count() > 0

    # -- description ------------------------------------------------------
    @property
    @abc.abstractmethod
    def torch_device(self) -> torch.device: ...

    @abc.abstractmethod
    def info(self) -> DeviceInfo: ...

    # -- execution --------------------------------------------------------
    def activate(self) -> None:
        """Make this unit the process's current device before measuring (no-op where there is one)."""

    def visible_devices_env(self, environ: Any = None) -> dict[str, str]:
        """Environment for a worker process that should see only this unit (empty: nothing to set)."""
        return {}

    @abc.abstractmethod
    def synchronize(self) -> None: ...

    @abc.abstractmethod
    def clock(self) -> Clock:
        """The timer for this device: device events on accelerators, perf_counter_ns on the CPU."""

    def free_memory_bytes(self) -> int | None:
        return None

    def empty_cache(self) -> None:
        """Return cached allocator memory after a measurement (no-op on the CPU)."""

    def flush_cache(self) -> Callable[[], None]:
        """A callable that evicts the last-level cache by writing a buffer twice its size.

        Used once before each sample (of `iterations` back-to-back calls), outside the timed region:
        only the sample's first call starts cold; the later calls may find their inputs in cache,
        which favours cache-sized shapes slightly (docs/measurement.md, "Cache flush")."""
        self.activate()
        llc = self.cached_info().last_level_cache_bytes or 64 * 2**20
        buffer = torch.empty(2 * llc // 4, dtype=torch.float32, device=self.torch_device)

        def flush() -> None:
            buffer.fill_(1.0)

        return flush

    # -- capabilities -----------------------------------------------------
    def fp8_dtype(self) -> torch.dtype:
        """The torch dtype of this device's fp8 e4m3 inputs: the OCP variant (float8_e4m3fn) unless the
        hardware uses another encoding (ROCm gfx942: float8_e4m3fnuz)."""
        return torch.float8_e4m3fn

    def unsupported_reason(self, dtype: str) -> str | None:
        """None when a dense matmul in `dtype` can run here; otherwise why not (recorded as a skip)."""
        return None
