"""The host CPU through torch's CPU kernels (oneDNN / MKL / OpenBLAS)."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from bench.devices.base import Backend, DeviceInfo
from bench.devices.timing import Clock, PerfCounterClock
from bench.devices.vendors import procfs

SYS_CPU = Path("/sys/devices/system/cpu")


def _size_bytes(text: str) -> int:
    text = text.strip().upper()
    for suffix, factor in (("K", 2**10), ("M", 2**20), ("G", 2**30)):
        if text.endswith(suffix):
            return int(text[:-1]) * factor
    return int(text)


def cache_levels(sys_cpu: Path = SYS_CPU) -> dict[int, int]:
    """Total bytes per data/unified cache level across distinct cache instances."""
    totals: dict[int, int] = {}
    seen: set[tuple[int, str]] = set()
    for index in sorted(sys_cpu.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = int((index / "level").read_text())
            shared = (index / "shared_cpu_list").read_text().strip()
            size = _size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if (level, shared) not in seen:
            seen.add((level, shared))
            totals[level] = totals.get(level, 0) + size
    return totals


def isa_flags(flags: list[str] | None = None) -> list[str]:
    flags = procfs.cpuinfo().get("flags") or [] if flags is None else flags
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni",
              "amx_bf16", "amx_int8", "amx_tile", "amx_fp16")
    return [flag for flag in wanted if flag in flags]


LIBRARY_PATTERNS = (  # (label, regex on torch's parallel_info) for the libraries CPU kernels run on
    ("OpenMP", r"OpenMP (\d+)"),
    ("MKL", r"Math Kernel Library Version ([\d.]+)"),
    ("oneDNN", r"MKL-DNN (v[\d.]+)"),
    ("OpenBLAS", r"OpenBLAS ([\d.]+)"),
)


def _parallel_backend() -> str | None:
    """The threading and math libraries torch's CPU kernels use, e.g. 'OpenMP 201511, MKL 2024.2, oneDNN v3.12.0'."""
    text = torch.__config__.parallel_info()
    found = [f"{label} {match.group(1)}" for label, pattern in LIBRARY_PATTERNS
             if (match := re.search(pattern, text))]
    return ", ".join(found) or None


def max_clock_mhz(sys_cpu: Path = SYS_CPU) -> tuple[float | None, str]:
    """(MHz, where it came from); see procfs.max_clock_mhz."""
    return procfs.max_clock_mhz(sys_cpu)


class CpuBackend(Backend):
    name = "cpu"

    @classmethod
    def device_count(cls) -> int:
        return 1

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cpu")

    def info(self) -> DeviceInfo:
        caches = cache_levels()
        cpuinfo = procfs.cpuinfo()
        flags = isa_flags(cpuinfo.get("flags") or [])
        vendor_id = cpuinfo.get("vendor") or platform.processor() or "unknown"
        vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(vendor_id, vendor_id)
        mhz, clock_source = max_clock_mhz()
        return DeviceInfo(
            backend="cpu", torch_device="cpu", vendor=vendor,
            name=cpuinfo.get("model") or platform.processor() or platform.machine(),
            memory_bytes=procfs.meminfo_bytes("MemTotal"),
            compute_units=os.cpu_count(), compute_unit_kind="logical CPU",
            architecture=" ".join([platform.machine()] + flags),
            max_clock_mhz=mhz,
            l2_cache_bytes=caches.get(2),
            last_level_cache_bytes=caches[max(caches)] if caches else None,
            runtime_version=_parallel_backend(),
            # cpu_family and clock_source make a CPU verdict depend only on what the run recorded
            extra={"torch_threads": torch.get_num_threads(), "isa_flags": flags, "cache_levels_bytes": caches,
                   "cpu_family": cpuinfo.get("cpu_family"), "clock_source": clock_source},
        )

    def synchronize(self) -> None:
        """CPU ops have completed when they return."""

    def clock(self) -> Clock:
        return PerfCounterClock()

    def free_memory_bytes(self) -> int | None:
        return procfs.meminfo_bytes("MemAvailable")

    def unsupported_reason(self, dtype: str) -> str | None:
        if dtype == "tf32":
            return "TF32 is a tensor-core format; torch has no TF32 matmul path on this CPU"
        return None
