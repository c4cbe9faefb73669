"""A run folder: the names of its files, the one reader of each and the one writer.

    <run>/run.json                 the run record (bench.record.schema.Run)
    <run>/measurements.csv         one row per measurement, for spreadsheets (derived; never read back)
    <run>/verdict.json             the verdict `bench check` stored (bench.record.schema.Verdict)
    <run>/signature.dsse.json      the DSSE envelope `bench sign` wrote (read by bench.evidence.signing)
    <run>/units/<label>/run.json   one unit of a multi-unit run, itself a run folder
    <run>/units/<label>/worker.log the worker's output

Every reader here turns a malformed file into one RecordError (exit code 2) with a one-line
message; every JSON file is written through bench.record.jsonfile.write_json (atomic, umask
honoured, never NaN). No torch, numpy or pandas here: `bench check` and `bench verify` use it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable, Mapping, cast

from bench.errors import RecordError
from bench.record.jsonfile import MiB, read_json, write_json, write_text_atomic
from bench.record.schema import SCHEMA_VERSION, Run, Verdict
from bench.record.validate import validate

RUN_FILE = "run.json"
CSV_FILE = "measurements.csv"
VERDICT_FILE = "verdict.json"
SIGNATURE_FILE = "signature.dsse.json"
UNITS_DIR = "units"
LOG_FILE = "worker.log"

MAX_RUN_BYTES = 256 * MiB
MAX_VERDICT_BYTES = 16 * MiB

# schema_version N -> a function turning a version-N record into version N+1. None exist yet:
# version 1 is the first (docs/schema/README.md). A version below 1 or missing here is refused.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def run_file(path: str | Path) -> Path:
    """run.json of a run folder, or `path` itself when it names a file."""
    path = Path(path)
    return path / RUN_FILE if path.is_dir() else path


def current_version(record: dict[str, Any], source: str) -> dict[str, Any]:
    """The record migrated to SCHEMA_VERSION; refuses a missing, future or unknown version."""
    version = record.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"{source}: schema_version is missing or not an integer")
    if version > SCHEMA_VERSION:
        raise RecordError(f"{source}: schema_version {version} is from a newer accelbench; "
                          f"this one reads up to {SCHEMA_VERSION}")
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise RecordError(f"{source}: schema_version {version} is older than any this accelbench migrates")
        record = MIGRATIONS[version](record)
        version += 1
    return record


def check_run(run: Any, source: str, *, strict: bool = False) -> Run:
    """Validate a decoded run record (version, then shape); returns it (migrated if it was older)."""
    if not isinstance(run, dict):
        raise RecordError(f"{source}: the top level is not a JSON object")
    run = current_version(run, source)
    validate(run, Run, source, strict=strict)
    return cast(Run, run)  # validated just above


def read_run(path: str | Path, *, strict: bool = False) -> Run:
    """THE reader of run.json: a run folder or the path of its run.json."""
    file = run_file(path)
    if not file.is_file():
        raise RecordError(f"{path}: no {RUN_FILE} here (is this a results folder written by `bench run`?)")
    return check_run(read_json(file, max_bytes=MAX_RUN_BYTES), str(file), strict=strict)


def read_verdict(folder: str | Path, *, strict: bool = False) -> Verdict | None:
    """RUN_DIR/verdict.json, or None when the folder has none."""
    file = Path(folder) / VERDICT_FILE
    if not file.exists():
        return None
    data = read_json(file, max_bytes=MAX_VERDICT_BYTES)
    validate(data, Verdict, str(file), strict=strict)
    return cast(Verdict, data)  # validated just above


def safe_label(label: str) -> str:
    """A unit label usable as one folder name inside units/ (never `..`, a path or hidden)."""
    if (not isinstance(label, str) or not label or len(label) > 128 or label.startswith(".")
            or any(c in label for c in "/\\\x00") or not label.isprintable()):
        shown = ascii(label)[:60]
        raise RecordError(f"unit label {shown} is not a plain folder name (letters, digits, - _ . ; no path)")
    return label


# --- measurements.csv ------------------------------------------------------------------------------

def measurement_row(m: Mapping[str, Any]) -> dict[str, Any]:
    throughput, stats = m["throughput"], m["stats"]
    return {
        "id": m["id"], "suite": m["suite"], "kernel": m["kernel"], "dtype": m["dtype"],
        **{f"shape_{k}": v for k, v in m["shape"].items()},
        "value": throughput["value"], "unit": throughput["unit"],
        "ci95_low": throughput["ci95"][0], "ci95_high": throughput["ci95"][1],
        "median_s": stats["median"], "cv": stats["cv"], "samples": stats["n"],
        "iterations": m["timing"]["iterations"], "flops": m["work"]["flops"], "bytes": m["work"]["bytes"],
        "check_passed": m["check"]["passed"], "status": m["status"], "warnings": "; ".join(m["warnings"]),
    }


def measurements_csv(run: Mapping[str, Any]) -> str:
    """One row per measurement; columns in order of first appearance (shapes differ by suite)."""
    rows = [measurement_row(m) for m in run.get("measurements", [])]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# --- the folder ------------------------------------------------------------------------------------

class RunFolder:
    """One run folder on disk. Owns its file names; reads and writes only through this module."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def csv_file(self) -> Path:
        return self.path / CSV_FILE

    @property
    def verdict_file(self) -> Path:
        return self.path / VERDICT_FILE

    @property
    def signature_file(self) -> Path:
        return self.path / SIGNATURE_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    @property
    def units_dir(self) -> Path:
        return self.path / UNITS_DIR

    def unit(self, label: str) -> RunFolder:
        return RunFolder(self.units_dir / safe_label(label))

    def has_run(self) -> bool:
        return self.run_file.is_file()

    def is_signed(self) -> bool:
        return self.signature_file.exists()

    def read_run(self, *, strict: bool = False) -> Run:
        return read_run(self.path, strict=strict)

    def read_verdict(self, *, strict: bool = False) -> Verdict | None:
        return read_verdict(self.path, strict=strict)

    def write_run(self, run: Mapping[str, Any]) -> Path:
        return write_json(self.run_file, run)

    def write_csv(self, run: Mapping[str, Any]) -> Path:
        return write_text_atomic(self.csv_file, measurements_csv(run))

    def write_verdict(self, verdict: Mapping[str, Any]) -> Path:
        return write_json(self.verdict_file, verdict)
