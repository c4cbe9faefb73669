"""Device backends: one file per kind (cpu.py, cuda.py, rocm.py, npu.py, xpu.py, mps.py), one registry
(registry.py: BACKENDS, present, select), and vendors/ (one adapter per vendor library).

The package names below resolve on first use (PEP 562), so importing `bench.devices.vendors` (as
bench.devices.telemetry does, and through it the data-only commands) does not pull torch in; `from
bench.devices import select` still works for callers."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"Backend": "base", "DeviceInfo": "base", "BACKENDS": "registry", "present": "registry",
            "select": "registry"}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench.devices' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bench.devices.{_EXPORTS[name]}"), name)
