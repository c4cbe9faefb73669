"""Evidence helpers every reader of a results folder shares, with no dependency beyond the standard
library (so `bench check` runs without cryptography): strict JSON (bench.record's reader, plus numbers
in range), file digests, paths that stay inside a folder, and whether a stored verdict.json belongs
to the run.json beside it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

from bench.errors import ResultsError
from bench.record.folder import (
    SIGNATURE_FILE,  # noqa: F401 -- one name for the envelope file
    read_verdict,
)
from bench.record.jsonfile import parse_json, read_json

MAX_JSON_BYTES = 256 << 20  # a run.json of a long run is tens of MB; anything far larger is not ours


def loads_strict(data: bytes | str, source: str = "JSON") -> Any:
    """JSON as a signature covers it, through bench.record's one strict reader (UTF-8 only, no duplicate
    keys, no NaN/Infinity or out-of-range numbers, bounded depth). ResultsError naming `source`."""
    return parse_json(data, source, want_object=False, error=ResultsError)


def read_json_file(path: Path) -> Any:
    """A JSON file read with `loads_strict`'s rules; ResultsError naming the file on any problem."""
    return read_json(path, want_object=False, max_bytes=MAX_JSON_BYTES, error=ResultsError)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_relative_path(name: str) -> bool:
    """A path that stays inside its folder: relative, no '..', no empty or odd parts."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    parts = name.split("/")
    return all(part not in ("", ".", "..") for part in parts)



# --- stored verdicts ---------------------------------------------------------------------

def judged_block(run_dir: str | Path) -> dict[str, Any]:
    """What a verdict names about the run it judged: run id and SHA-256 of the run.json bytes."""
    path = Path(run_dir) / "run.json"
    try:
        run_id = loads_strict(path.read_bytes()).get("run_id")
    except (OSError, ValueError, AttributeError):
        run_id = None
    return {"run_id": run_id, "run_json_sha256": sha256_file(path)}


def stale_verdict(run_dir: str | Path, stored: Mapping[str, Any]) -> str | None:
    """Why a stored verdict.json does not belong to RUN_DIR/run.json as it is now, or None when it does.

    A verdict names the run id and digest of the run.json it judged (`judged`); one without them, or
    with another run's, cannot be trusted for this run (verify, fleet and report all call this)."""
    judged = stored.get("judged") if isinstance(stored, Mapping) else None
    if not isinstance(judged, Mapping) or not isinstance(judged.get("run_json_sha256"), str):
        return "verdict.json does not name the run.json it judged (no judged.run_json_sha256); run `bench check` again"
    try:
        now = judged_block(run_dir)
    except OSError:
        return "verdict.json has no run.json beside it"
    if judged.get("run_id") != now["run_id"]:
        return (f"verdict.json judged run {str(judged.get('run_id'))[:60]!r}, this folder holds "
                f"{str(now['run_id'])[:60]!r}")
    if judged["run_json_sha256"] != now["run_json_sha256"]:
        return "verdict.json is stale: run.json changed after it was judged (digest differs); run `bench check` again"
    return None


VERDICT_SCHEMA_VERSION = 1


def read_verdict_file(path: Path) -> dict[str, Any]:
    """A stored verdict.json through bench.record's reader (numbers in range), schema_version 1 when given."""
    stored = read_verdict(path.parent)
    if stored is None:
        raise ResultsError(f"{path}: no such file")
    version = stored.get("schema_version", VERDICT_SCHEMA_VERSION)
    if version != VERDICT_SCHEMA_VERSION or isinstance(version, bool):
        raise ResultsError(f"{path}: verdict.json schema_version {str(version)[:20]!r}; this accelbench reads "
                           f"{VERDICT_SCHEMA_VERSION}")
    return dict(stored)
