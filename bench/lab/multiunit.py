"""Runs with more than one unit: every device of a node (one worker process each), CPU stand-ins
for a manifest's units, or the ranks of a torchrun / srun launch.

Folder layout (the top-level run.json stays schema_version 1):

    <run>/run.json               node record: run_id, status, plan, config, host, command, and
                                 `units`: one full unit record each (the unit's own run.json plus
                                 unit, run_dir, status, stand_in, label_note, exit_code / error)
    <run>/units/<label>/run.json that unit's complete single-device run.json (bench check, report)
    <run>/units/<label>/worker.log   the worker's output (subprocess workers)

bench.lab.fleet reads `units`; bench.evidence.signing signs every file under <run>; a unit that failed is a
record with status "failed", its exit code and last output lines, and never stops the others.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bench.analysis import metrics
from bench.analysis.summary import build_summary
from bench.errors import RecordError
from bench.measure.results import tool_record, utc_now
from bench.record.folder import UNITS_DIR, RunFolder
from bench.record.schema import METHOD_VERSION, SCHEMA_VERSION

STAND_IN_SOURCE = "plan (stand-in)"


@dataclasses.dataclass
class UnitSpec:
    """One unit to measure: its label (folder name), device string and stand-in facts."""

    label: str
    device: str
    stand_in: bool = False
    label_note: str | None = None
    assigned_serial: str | None = None  # from the plan's manifest, for a stand-in only
    visible: str | None = None  # what the worker's *_VISIBLE_DEVICES names (a UUID or an index)

    @property
    def run_dir(self) -> str:
        return f"{UNITS_DIR}/{self.label}"


def stand_in_note(index: int, kind: str = "process") -> str:
    return (f"CPU stand-in: {kind} {index} simulates an accelerator unit on this host's CPU; "
            "its numbers and identity are not an accelerator's")


def unit_block(spec: UnitSpec, parent_run_id: str) -> dict[str, Any]:
    """run["unit"] in a unit's own run.json."""
    return {"label": spec.label, "parent_run_id": parent_run_id, "stand_in": spec.stand_in,
            "label_note": spec.label_note, "assigned_serial": spec.assigned_serial}


def mark_unit(run: dict[str, Any], spec: UnitSpec, parent_run_id: str) -> None:
    """Write the unit block into a unit's run dict; a stand-in gets device.extra.stand_in and, when
    the plan assigned one, a labelled identity source carrying the manifest serial."""
    run["unit"] = unit_block(spec, parent_run_id)
    if not spec.stand_in:
        return
    run["device"].setdefault("extra", {})["stand_in"] = True
    if spec.assigned_serial:
        identity = run.setdefault("identity", {"sources": [], "gaps": []})
        identity.setdefault("sources", []).append({
            "source": STAND_IN_SOURCE, "available": True, "fields": {"serial": spec.assigned_serial},
            "missing": {}, "reason": None,
            "note": "serial assigned by the test plan's manifest to a CPU stand-in; not read from hardware"})


def unit_record(spec: UnitSpec, run: dict[str, Any] | None, exit_code: int | None,
                tail: list[str], error: str | None = None) -> dict[str, Any]:
    """The entry in the top-level `units` list: the unit's full run plus how its worker ended."""
    ok = run is not None and run.get("status") == "complete" and exit_code in (0, 1, 3, None) and not error
    base = dict(run) if run is not None else {
        "device": {"backend": spec.device.split(":")[0], "name": None, "torch_device": spec.device},
        "measurements": [], "skips": []}
    record = {**base, "unit": spec.label, "run_dir": spec.run_dir, "device_spec": spec.device,
              "status": "complete" if ok else "failed", "stand_in": spec.stand_in, "label_note": spec.label_note,
              "exit_code": exit_code}
    if not ok:
        record["error"] = error or (f"worker exited with code {exit_code}" if run is None
                                    else f"unit run ended with status {run.get('status')!r}")
        record["output_tail"] = tail
    return record


def read_unit(run_dir: Path) -> dict[str, Any] | None:
    """A unit's run.json, or None when its worker left none (or an unreadable one): a failed unit."""
    folder = RunFolder(run_dir)
    if not folder.has_run():
        return None
    try:
        return dict(folder.read_run())
    except RecordError:
        return None


def write_unit(run_dir: Path, run: dict[str, Any]) -> None:
    """(Re)write a unit's run.json and measurements.csv (rank 0 does this for remote ranks)."""
    folder = RunFolder(run_dir)
    folder.write_run(run)
    folder.write_csv(run)


def node_run(run_id: str, command: list[str], config: dict[str, Any], plan: dict[str, Any] | None,
             mode: str, host: dict[str, Any]) -> dict[str, Any]:
    """The top-level record of a multi-unit run, before units arrive."""
    return {"schema_version": SCHEMA_VERSION, "method_version": METHOD_VERSION, "tool": tool_record(),
            "run_id": run_id, "kind": "multi-unit", "mode": mode, "status": "running",
            "started_at": utc_now(), "ended_at": None, "command": command, "host": host,
            "plan": plan, "config": config, "conventions": metrics.CONVENTIONS,
            "measurements": [], "skips": [], "units": []}


def finish_node(path: Path, node: dict[str, Any], units: list[dict[str, Any]], problems: list[str] = ()) -> dict[str, Any]:
    node["units"] = units
    node["status"] = "complete" if units and all(u["status"] == "complete" for u in units) else "incomplete"
    node["ended_at"] = utc_now()
    if problems:
        node["problems"] = list(problems)
    node["summary"] = build_summary(node)
    RunFolder(path).write_run(node)
    return node


def unit_runs(run: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, run dict) of each unit of a multi-unit run, each readable by single-device code
    (bench.rules.verdict.check_run); failed units are left out. Empty for a single-device run."""
    out = []
    for unit in run.get("units") or []:
        if unit.get("status") == "failed":
            continue
        out.append((str(unit.get("unit")), {**{k: v for k, v in run.items() if k != "units"}, **unit,
                                            "schema_version": run.get("schema_version", SCHEMA_VERSION)}))
    return out
