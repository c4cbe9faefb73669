"""Evidence helpers every reader of a results folder shares, with no dependency beyond the standard
library (so `bench check` runs without cryptography): strict JSON, file digests, paths that stay inside
a folder, and whether a stored verdict.json belongs to the run.json beside it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping

from bench.errors import ResultsError

SIGNATURE_FILE = "signature.dsse.json"
MAX_JSON_BYTES = 256 << 20  # a run.json of a long run is tens of MB; anything far larger is not ours


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:60]!r}")
        out[key] = value
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"integer {text[:24]}… has more than 20 digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_strict(data: bytes | str) -> Any:
    """JSON as a signature covers it: UTF-8 only, no duplicate keys, no NaN/Infinity, bounded depth.

    Two parsers must never read different numbers from the same signed bytes, so every
    ambiguity is refused (ValueError with a short reason)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(data, object_pairs_hook=_unique_keys, parse_float=_finite_float, parse_int=_bounded_int,
                          parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file read with `loads_strict`; ResultsError naming the file on any problem."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ResultsError(f"{path}: {size} bytes is too large for {what}")
        return loads_strict(path.read_bytes())
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ResultsError(f"{path}: {what} is {exc}" if str(exc).startswith("not ") else
                           f"{path}: {what} rejected: {exc}") from None


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
    """A stored verdict.json: strict JSON, an object with a verdict string, schema_version 1 when given."""
    stored = read_json_file(path, "verdict.json")
    if not isinstance(stored, dict):
        raise ResultsError(f"{path}: verdict.json is a JSON {type(stored).__name__}, not an object")
    version = stored.get("schema_version", VERDICT_SCHEMA_VERSION)
    if version != VERDICT_SCHEMA_VERSION or isinstance(version, bool):
        raise ResultsError(f"{path}: verdict.json schema_version {str(version)[:20]!r}; this accelbench reads "
                           f"{VERDICT_SCHEMA_VERSION}")
    if not isinstance(stored.get("verdict"), str):
        raise ResultsError(f"{path}: verdict.json has no verdict string")
    return stored


RUN_FIELD_TYPES = {"run_id": (str,), "status": (str,), "device": (dict,), "measurements": (list,), "skips": (list,),
                   "summary": (dict,), "units": (list,), "identity": (dict,), "host": (dict,), "verdict": (dict,)}


def check_run_shape(run: dict[str, Any], where: str) -> None:
    """The top-level fields every reader of a run relies on have the right JSON type (null allowed);
    measurements and units are lists of objects. ResultsError names the first field that does not."""
    for record, label in [(run, where)] + [(u, f"{where} units[{i}]") for i, u in enumerate(_list(run, "units"))]:
        if not isinstance(record, dict):
            raise ResultsError(f"{label}: not a JSON object")
        for key, kinds in RUN_FIELD_TYPES.items():
            value = record.get(key)
            if value is not None and not isinstance(value, kinds):
                raise ResultsError(f"{label}: {key!r} is a JSON {_json_type(value)}, expected "
                                   f"{' or '.join(_json_type(k()) for k in kinds)}")
        for i, measurement in enumerate(_list(record, "measurements")):
            if not isinstance(measurement, dict):
                raise ResultsError(f"{label}: measurements[{i}] is a JSON {_json_type(measurement)}, not an object")


def _list(record: Any, key: str) -> list[Any]:
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, list) else []


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)
