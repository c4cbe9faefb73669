"""Huawei Ascend NPUs through the `npu-smi` tool (read-only queries, parsed text).

npu-smi numbers cards by "NPU ID" and the chips on a card by "Chip ID" (a 910C card holds two
chips); the runtime (ACL, torch_npu) numbers chips by "Chip Logic ID". `npu-smi info -m` prints the
map; ASCEND_RT_VISIBLE_DEVICES renumbers torch's devices (torch index i is logic id visible[i]). So
the measured chip is found as: torch index -> logic id -> (NPU ID, Chip ID) -> `-i <npu> -c <chip>`.
npu-smi has no power-limit or clock-lock query that this harness reads: the audit and telemetry
say so once ("not implemented")."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, Mapping

from bench.devices.vendors.common import (
    TOOL_TIMEOUT_S,
    AuditRecord,
    RunCommand,
    SourceRecord,
    occupancy_findings,
    processes_record,
    run_command,
    text,
    unavailable,
)

NAME = "npu-smi"
VISIBLE_ENV = ("ASCEND_RT_VISIBLE_DEVICES", "ASCEND_VISIBLE_DEVICES")
FIELDS = {
    "Product Name": "product_name", "NPU Name": "name", "Chip Name": "chip_name", "Chip Version": "chip_version",
    "Model": "model", "Manufacturer": "manufacturer", "Serial Number": "serial",
    "Software Version": "driver_version", "Firmware Version": "firmware_version", "Compatibility": "compatibility",
    "Board ID": "board_id", "PCB ID": "pcb_id", "BOM ID": "bom_id", "PCIe Bus Info": "pci_bus_id",
    "PCI Vendor ID": "pci_vendor_id", "PCI Device ID": "pci_device_id",
    "Subsystem Vendor ID": "pci_subsystem_vendor_id", "Subsystem Device ID": "pci_subsystem_id",
    "Chip Count": "chip_count", "DDie ID": "die_id", "Die ID": "die_id",
}
NOT_IMPLEMENTED = ("npu-smi offers no power-limit, clock-lock or throttle query that this harness reads; "
                   "power limit, clocks and partition mode of the NPU were not audited")
TELEMETRY_NOT_IMPLEMENTED = "no NPU telemetry source is implemented (npu-smi): clocks, power and throttling not observed"


def parse_board(output: str) -> dict[str, str | None]:
    """`npu-smi info -t board ...` ("Key : Value" lines) -> {key: value}; NA placeholders -> None."""
    fields: dict[str, str | None] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip(), text(value))
    return fields


def parse_chip_map(output: str) -> list[dict[str, Any]]:
    """`npu-smi info -m` -> [{"npu", "chip", "logic" (None for the MCU), "name"}]."""
    rows = []
    for line in output.splitlines():
        match = re.match(r"^\s*(\d+)\s+(\d+)\s+(\d+|-)\s+(.*?)\s*$", line)
        if match:
            npu, chip, logic, name = match.groups()
            rows.append({"npu": int(npu), "chip": int(chip), "logic": None if logic == "-" else int(logic),
                         "name": name or None})
    return rows


def visible_logic_ids(environ: Mapping[str, str]) -> list[int] | None:
    for var in VISIBLE_ENV:
        value = environ.get(var)
        if value is not None and value.strip():
            ids = [part.strip() for part in value.split(",") if part.strip()]
            if all(i.isdigit() for i in ids):
                return [int(i) for i in ids]
    return None


def locate(index: int, chip_map: list[dict[str, Any]], environ: Mapping[str, str]) -> tuple[int, int, str]:
    """(npu id, chip id, how) of torch's device `index`; raises LookupError when the map lacks it."""
    visible = visible_logic_ids(environ)
    if visible is not None and index >= len(visible):
        raise LookupError(f"torch index {index} but ASCEND_RT_VISIBLE_DEVICES lists {len(visible)} devices")
    logic = visible[index] if visible is not None else index
    for row in chip_map:
        if row["logic"] == logic:
            how = f"logic id {logic}" + (" (via ASCEND_RT_VISIBLE_DEVICES)" if visible is not None else "")
            return row["npu"], row["chip"], how
    raise LookupError(f"no chip with logic id {logic} in `npu-smi info -m`")


def parse_processes(output: str) -> list[dict[str, Any]]:
    """The process table of plain `npu-smi info`: rows '| npu chip | pid | name | memory MB |'."""
    found = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        ids, pid = cells[0].split(), cells[1]
        if len(ids) == 2 and all(i.isdigit() for i in ids) and pid.isdigit():
            memory = cells[3].split()[0] if cells[3] else ""
            found.append({"npu": int(ids[0]), "chip": int(ids[1]), "pid": int(pid), "name": text(cells[2]),
                          "memory_bytes": int(memory) * 2**20 if memory.isdigit() else None})
    return found


class NpuSmi:
    """The adapter; `run` and `environ` are injectable for tests."""

    def __init__(self, run: RunCommand | None = None, environ: Mapping[str, str] | None = None):
        self.run = run
        self.environ = os.environ if environ is None else environ

    def _runner(self) -> RunCommand | None:
        if self.run is not None:
            return self.run
        return run_command if shutil.which("npu-smi") else None

    def _query(self, argv: list[str]) -> tuple[str | None, str | None]:
        run = self._runner()
        if run is None:
            return None, "npu-smi not found on PATH"
        try:
            return run(argv, TOOL_TIMEOUT_S), None
        except Exception as error:
            return None, f"{' '.join(argv)}: {type(error).__name__}: {error}"

    def chip_of(self, device_info: Mapping[str, Any]) -> tuple[int, int, str]:
        """(npu, chip, how); falls back to (index, 0) when there is no map, and says so."""
        index = int(device_info.get("index") or 0)
        output, reason = self._query(["npu-smi", "info", "-m"])
        chip_map = parse_chip_map(output or "")
        if not chip_map:
            return index, 0, f"npu id = torch index, chip 0 (no chip map: {reason or 'npu-smi info -m printed no rows'})"
        try:
            return locate(index, chip_map, self.environ)
        except LookupError as error:
            return index, 0, f"npu id = torch index, chip 0 ({error})"

    def identity(self, device_info: Mapping[str, Any]) -> dict[str, Any]:
        if self._runner() is None:
            return unavailable(NAME, "npu-smi not found on PATH")
        npu, chip, how = self.chip_of(device_info)
        argv = ["npu-smi", "info", "-t", "board", "-i", str(npu), "-c", str(chip)]
        output, reason = self._query(argv)
        if output is None:
            return unavailable(NAME, reason or "no output")
        parsed = parse_board(output)
        if not parsed:
            return unavailable(NAME, f"{' '.join(argv)}: no 'Key : Value' lines in output")
        src = SourceRecord(NAME)
        src.put("board_query", " ".join(argv))
        src.put("matched_by", how)
        for key, field in FIELDS.items():
            if key in parsed and field not in src.result["fields"]:
                src.put(field, parsed[key], "NA (restricted: not root, or inside a container)")
        for field in ("serial", "firmware_version", "die_id"):
            if field not in src.result["fields"] and field not in src.result["missing"]:
                src.put(field, None, "not in this npu-smi version's board output")
        return src.result

    def processes(self, device_info: Mapping[str, Any], own_context: bool = False) -> dict[str, Any]:
        npu, chip, _ = self.chip_of(device_info)
        output, reason = self._query(["npu-smi", "info"])
        if output is None:
            return processes_record(NAME, None, reason)
        mine = [p for p in parse_processes(output) if (p["npu"], p["chip"]) == (npu, chip)]
        return processes_record(NAME, mine, own_context=own_context)

    def audit(self, a: AuditRecord, device_info: Mapping[str, Any], own_context: bool = False) -> None:
        a.missing("device (npu)", NOT_IMPLEMENTED)
        occupancy_findings(a, self.processes(device_info, own_context), "this NPU")
