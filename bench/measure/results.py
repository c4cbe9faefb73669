"""Writing a run as it is measured: results/<run-id>/run.json (+ measurements.csv), rewritten atomically
after every measurement so an interrupt or a crash keeps everything measured so far. File names,
the reader and the writer themselves live in bench.record.folder; the names re-exported here are
kept for the modules that import them from bench.measure.results."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
from pathlib import Path
from typing import Any

from bench import __version__
from bench.record.folder import CSV_FILE, RUN_FILE, RunFolder
from bench.record.folder import read_run as load_run
from bench.record.jsonfile import write_json as write_json_atomic
from bench.record.schema import METHOD_VERSION, SCHEMA_VERSION

__all__ = ["CSV_FILE", "METHOD_VERSION", "RUN_FILE", "SCHEMA_VERSION", "RunWriter", "load_run", "new_run_id",
           "tool_record", "utc_now", "write_json_atomic"]


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(device_label: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{device_label.replace(':', '')}-{secrets.token_hex(2)}"


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the accelbench source tree, when it runs from a git checkout."""
    source = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(cwd or source), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def tool_record() -> dict[str, Any]:
    return {"name": "accelbench", "version": __version__, "git_commit": git_commit()}


class RunWriter:
    """Owns one run folder. Every change is flushed to disk at once."""

    def __init__(self, run_dir: Path, run: dict[str, Any]):
        self.dir = Path(run_dir)
        self.folder = RunFolder(self.dir)
        self.run = run
        self.dir.mkdir(parents=True, exist_ok=True)
        self.flush()

    @property
    def path(self) -> Path:
        return self.folder.run_file

    def flush(self) -> None:
        self.folder.write_run(self.run)

    def add_measurement(self, measurement: dict[str, Any]) -> None:
        self.run["measurements"].append(measurement)
        self.flush()

    def add_skip(self, skip: dict[str, Any]) -> None:
        self.run["skips"].append(skip)
        self.flush()

    def finish(self, status: str, **fields: Any) -> None:
        self.run.update(status=status, ended_at=utc_now(), **fields)
        self.flush()
        self.folder.write_csv(self.run)
