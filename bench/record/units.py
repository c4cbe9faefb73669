"""Who a measured unit is: the units of a run record and the identity that names each one.

Lives with the record because signing (the statement names its units), fleet (the lot table) and
reports all need it, and none of them should import another to get it."""

from __future__ import annotations

import dataclasses
from typing import Any

SERIAL_FIELDS = ("serial", "serial_number", "board_serial", "product_serial", "asic_serial")
UUID_FIELDS = ("uuid", "gpu_uuid", "unique_id")


@dataclasses.dataclass(frozen=True)
class UnitSummary:
    """Who a measured unit is. `unit_id` is the serial, else the UUID, else a 'no serial' label."""

    unit_id: str
    serial: str | None
    uuid: str | None
    device_name: str | None
    backend: str | None
    host: str | None
    index: int | None
    stand_in: bool  # a CPU process standing in for an accelerator unit

    @property
    def identified(self) -> bool:
        return bool(self.serial or self.uuid)


def _identity_value(identity: dict[str, Any] | None, names: tuple[str, ...]) -> str | None:
    if not isinstance(identity, dict):
        return None
    for name in names:
        if identity.get(name):
            return str(identity[name])
    sources = [s for s in identity.get("sources") or [] if isinstance(s, dict)]
    # The accelerator's own source before the host CPU's, so a host id never names the unit.
    for source in sorted(sources, key=lambda s: s.get("source") == "cpu"):
        fields = source.get("fields") or {}
        for name in names:
            if fields.get(name):
                return str(fields[name])
    return None


def unit_summary(part: dict[str, Any], run: dict[str, Any], position: int) -> UnitSummary:
    device = part.get("device") or {}
    identity = part.get("identity")
    serial = _identity_value(identity, SERIAL_FIELDS)
    uuid = _identity_value(identity, UUID_FIELDS)
    host = ((part.get("host") or run.get("host")) or {}).get("hostname")
    index = device.get("index")
    index = position if index is None else index
    name = device.get("name")
    unit_id = serial or uuid or f"{name or 'unknown device'} @ {host or 'unknown host'} #{index} (no serial)"
    stand_in = device.get("backend") == "cpu" or bool((device.get("extra") or {}).get("stand_in"))
    return UnitSummary(unit_id, serial, uuid, name, device.get("backend"), host, index, stand_in)


def unit_parts(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-unit blocks of a run: `run["units"]` when present, else the run itself as one unit."""
    units = run.get("units")
    return list(units) if units else [run]


def unit_summaries(run: dict[str, Any]) -> list[UnitSummary]:
    return [unit_summary(part, run, i) for i, part in enumerate(unit_parts(run))]
