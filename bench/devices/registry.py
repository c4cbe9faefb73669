"""The one registry of device backends, and device selection from a `--device` string."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Callable, Mapping

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


# Signs of accelerator hardware that need no vendor library: device nodes and tools on PATH.
HARDWARE_SIGNS = {
    "NVIDIA GPU": (("nvidiactl", "nvidia0"), ("nvidia-smi",)),
    "AMD GPU": (("kfd",), ("amd-smi", "rocm-smi")),
    "Ascend NPU": (("davinci0", "davinci_manager"), ("npu-smi",)),
}
TORCH_WHEELS = {"NVIDIA GPU": ("CUDA", "https://download.pytorch.org/whl/cu128"),
                "AMD GPU": ("ROCm", "https://download.pytorch.org/whl/rocm6.4")}


def hardware_signs(dev: Path = Path("/dev"), which: Callable[[str], str | None] = shutil.which) -> dict[str, list[str]]:
    """{kind: [evidence]} for accelerator hardware seen on this machine, whatever torch can use."""
    found = {}
    for kind, (nodes, tools) in HARDWARE_SIGNS.items():
        evidence = [str(dev / n) for n in nodes if (dev / n).exists()] + [f"{t} on PATH" for t in tools if which(t)]
        if evidence:
            found[kind] = evidence
    return found


def torch_build(version: object = None) -> str:
    """'CUDA 12.8', 'ROCm 6.4.1' or 'CPU-only': what this torch was built for."""
    version = version or torch.version
    if getattr(version, "hip", None):
        return f"ROCm {version.hip}"
    if getattr(version, "cuda", None):
        return f"CUDA {version.cuda}"
    return "CPU-only"


def fallback_reason(signs: Mapping[str, list[str]], build: str, torch_version: str = torch.__version__,
                    npu_installed: bool | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """Why `--device auto` chose the CPU, in one line, with the fix where there is one."""
    npu_installed = _npu_installed() if npu_installed is None else npu_installed
    for kind, (runtime, index_url) in TORCH_WHEELS.items():
        if kind in signs and build == "CPU-only":
            return (f"no {runtime} device: torch {torch_version} was built without {runtime}, but this machine has an "
                    f"{kind} ({', '.join(signs[kind])}); install a {runtime} build of torch: "
                    f"pip install torch --index-url {index_url}")
    if "Ascend NPU" in signs and not npu_installed:
        return (f"no NPU device: this machine has an Ascend NPU ({', '.join(signs['Ascend NPU'])}) but torch_npu is "
                "not installed; install the torch_npu release that matches torch and CANN")
    if build != "CPU-only":
        hidden = [f"{v}={environ[v]!r}" for v in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES") if v in environ]
        seen = f"; this machine has {', '.join(signs)}" if signs else ""
        return (f"no GPU visible: torch {torch_version} ({build}) found no device"
                + (f" ({', '.join(hidden)})" if hidden else " (driver not loaded, or no permission on the device nodes)")
                + seen)
    return f"no accelerator: torch {torch_version} is a CPU-only build and no GPU or NPU was found on this machine"


def select(spec: str, backends: Mapping[str, type[Backend]] = BACKENDS) -> list[Backend]:
    """Backends for a --device string. A list, because 'cuda:all' names every visible device."""
    kind, index = parse_device(spec)
    auto = kind == "auto"
    if auto:
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
    chosen = backend(index if index is not None else (None if kind == "cpu" else 0))
    if auto and kind == "cpu":
        chosen.auto_fallback_reason = fallback_reason(hardware_signs(), torch_build())
    return [chosen]
