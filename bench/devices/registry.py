"""The one registry of device backends, and device selection from a `--device` string."""

from __future__ import annotations

import importlib.util
from typing import Mapping

import torch

from bench.devices.base import Backend
from bench.devices.cpu import CpuBackend
from bench.devices.cuda import CudaBackend
from bench.devices.mps import MpsBackend
from bench.devices.npu import NpuBackend
from bench.devices.rocm import RocmBackend
from bench.devices.xpu import XpuBackend
from bench.errors import DeviceUnavailable, UsageError

BACKENDS: dict[str, type[Backend]] = {
    "cuda": CudaBackend,
    "rocm": RocmBackend,
    "npu": NpuBackend,
    "xpu": XpuBackend,
    "mps": MpsBackend,
    "cpu": CpuBackend,
}
AUTO_ORDER = ("cuda", "rocm", "npu", "xpu", "mps", "cpu")  # accelerators first, CPU as the fallback


def _npu_installed() -> bool:
    return importlib.util.find_spec("torch_npu") is not None


def resolve_alias(kind: str) -> str:
    """torch spells AMD GPUs `cuda`: on a HIP build `cuda` means the rocm backend, and vice versa
    `rocm` is accepted for the same devices."""
    if kind == "cuda" and getattr(torch.version, "hip", None):
        return "rocm"
    return kind


def parse_device(spec: str) -> tuple[str, int | None]:
    """'cuda' -> ('cuda', None); 'cuda:1' -> ('cuda', 1); 'cuda:all' -> ('cuda', -1)."""
    kind, _, index = spec.strip().lower().partition(":")
    if not index:
        return kind, None
    if index == "all":
        return kind, -1
    if not index.isdigit():
        raise UsageError(f"bad device index in {spec!r}: use e.g. cuda:0, cuda:1 or cuda:all")
    return kind, int(index)


def present(backends: Mapping[str, type[Backend]] = BACKENDS) -> dict[str, int]:
    """{backend name: device count} for every backend with at least one device here."""
    counts = {}
    for name, backend in backends.items():
        if name == "npu" and backends is BACKENDS and not _npu_installed():
            continue
        count = backend.device_count()
        if count:
            counts[name] = count
    return counts


def describe_present(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} ({n} device{'s' if n > 1 else ''})" if name != "cpu" else "cpu"
                     for name, n in counts.items())


def select(spec: str, backends: Mapping[str, type[Backend]] = BACKENDS) -> list[Backend]:
    """Backends for a --device string. A list, because 'cuda:all' names every visible device."""
    kind, index = parse_device(spec)
    if kind == "auto":
        counts = present(backends)
        kind = next(name for name in AUTO_ORDER if name in counts)
    if backends is BACKENDS:
        kind = resolve_alias(kind)
    if kind not in backends:
        raise UsageError(f"unknown device {spec!r}; known kinds: auto, {', '.join(backends)} (with :N or :all)")
    backend = backends[kind]
    count = backend.device_count()
    if count == 0:
        raise DeviceUnavailable(f"no {kind} device here; available: {describe_present(present(backends))}")
    if index == -1:
        return [backend(i) for i in range(count)]
    if index is not None and index >= count:
        raise DeviceUnavailable(f"{kind}:{index} does not exist; this host has {kind}:0..{kind}:{count - 1}")
    return [backend(index if index is not None else (None if kind == "cpu" else 0))]
