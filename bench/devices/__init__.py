"""Device backends: one file per kind, one registry (registry.py)."""

from bench.devices.base import Backend, DeviceInfo
from bench.devices.registry import BACKENDS, present, select

__all__ = ["Backend", "DeviceInfo", "BACKENDS", "present", "select"]
