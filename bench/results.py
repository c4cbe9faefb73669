"""Run folders: results/<run-id>/run.json (+ measurements.csv), written atomically after every
measurement so an interrupt or a crash keeps everything measured so far."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from bench import __version__
from bench.errors import ResultsError

SCHEMA_VERSION = 1
# Bump when a change alters what a number means (timing rule, byte or FLOP counting, statistic).
METHOD_VERSION = "1.0"
RUN_FILE = "run.json"
CSV_FILE = "measurements.csv"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(device_label: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{device_label.replace(':', '')}-{secrets.token_hex(2)}"


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the accelbench source tree, when it runs from a git checkout."""
    source = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(cwd or source), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def tool_record() -> dict[str, Any]:
    return {"name": "accelbench", "version": __version__, "git_commit": git_commit()}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, allow_nan=True, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def measurement_rows(run: dict[str, Any]) -> pd.DataFrame:
    """One row per measurement: the flat view for spreadsheets and pandas."""
    rows = []
    for m in run.get("measurements", []):
        rows.append({
            "id": m["id"], "suite": m["suite"], "kernel": m["kernel"], "dtype": m["dtype"],
            **{f"shape_{k}": v for k, v in m["shape"].items()},
            "value": m["throughput"]["value"], "unit": m["throughput"]["unit"],
            "ci95_low": m["throughput"]["ci95"][0], "ci95_high": m["throughput"]["ci95"][1],
            "median_s": m["stats"]["median"], "cv": m["stats"]["cv"], "samples": m["stats"]["n"],
            "iterations": m["timing"]["iterations"], "flops": m["work"]["flops"], "bytes": m["work"]["bytes"],
            "check_passed": m["check"]["passed"], "status": m["status"], "warnings": "; ".join(m["warnings"]),
        })
    return pd.DataFrame(rows)


class RunWriter:
    """Owns one run folder. Every change is flushed to disk at once."""

    def __init__(self, run_dir: Path, run: dict[str, Any]):
        self.dir = Path(run_dir)
        self.run = run
        self.dir.mkdir(parents=True, exist_ok=True)
        self.flush()

    @property
    def path(self) -> Path:
        return self.dir / RUN_FILE

    def flush(self) -> None:
        write_json_atomic(self.path, self.run)

    def add_measurement(self, measurement: dict[str, Any]) -> None:
        self.run["measurements"].append(measurement)
        self.flush()

    def add_skip(self, skip: dict[str, Any]) -> None:
        self.run["skips"].append(skip)
        self.flush()

    def finish(self, status: str, **fields: Any) -> None:
        self.run.update(status=status, ended_at=utc_now(), **fields)
        self.flush()
        measurement_rows(self.run).to_csv(self.dir / CSV_FILE, index=False)


def load_run(path: str | Path) -> dict[str, Any]:
    """Read a run folder (or its run.json). Raises ResultsError with a one-line reason."""
    path = Path(path)
    file = path / RUN_FILE if path.is_dir() else path
    if not file.exists():
        raise ResultsError(f"{path}: no {RUN_FILE} here (is this a results folder?)")
    try:
        run = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{file}: unreadable ({exc})") from None
    version = run.get("schema_version") if isinstance(run, dict) else None
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{file}: schema_version {version!r}; this accelbench reads {SCHEMA_VERSION}")
    return run
