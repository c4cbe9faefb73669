"""The one strict JSON reader and the one atomic writer of accelbench (stdlib only).

Reading refuses, each as one typed one-line error naming the file: a file over a size bound, binary
(NUL bytes) or non-UTF-8 content, malformed JSON, nesting deeper than MAX_DEPTH, duplicate keys in
an object (two parsers must never read different numbers from the same signed bytes), the
non-standard literals NaN / Infinity / -Infinity, numbers another parser would read differently
(1e999, which Python reads as infinity, and integers of more than MAX_INT_DIGITS digits), and (with
`want_object`) a top-level value that is not an object. Messages never quote the offending content.

Writing goes to a temporary file in the target folder, is fsynced, then renamed over the target,
so a reader sees the old file or the new one, never half of one; the file gets the permissions the
umask gives any new file (0644 under the usual 022), not mkstemp's 0600. NaN and Infinity are
never written: they raise the error instead.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from bench.errors import BenchError, RecordError

MiB = 1024 * 1024
MAX_BYTES = 256 * MiB  # a multi-unit node record of eight long sweeps stays well below this
MAX_DEPTH = 64  # run.json nests about 9 deep
MAX_INT_DIGITS = 20  # no count, size, byte total or nanosecond time of a run comes near 10^20


def _no_duplicates(make_error: Callable[[str], BenchError]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                shown = key if len(key) <= 40 else key[:40] + "..."
                raise make_error(f"duplicate key {ascii(shown)} in one object")
            out[key] = value
        return out
    return hook


def _refuse_constant(make_error: Callable[[str], BenchError]) -> Callable[[str], Any]:
    def hook(name: str) -> Any:
        raise make_error(f"non-finite number {name} (JSON has no NaN or Infinity)")
    return hook


def _finite_float(make_error: Callable[[str], BenchError]) -> Callable[[str], float]:
    def hook(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise make_error("number out of range (it overflows to infinity)")
        return value
    return hook


def _bounded_int(make_error: Callable[[str], BenchError]) -> Callable[[str], int]:
    def hook(text: str) -> int:
        if len(text.lstrip("-")) > MAX_INT_DIGITS:
            raise make_error(f"integer of more than {MAX_INT_DIGITS} digits")
        return int(text)
    return hook


def depth_of(value: Any, limit: int) -> int:
    """Nesting depth of lists/objects, counting stops once it exceeds `limit` (iterative)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def decode_text(data: bytes, make_error: Callable[[str], BenchError]) -> str:
    """Bytes -> str, refusing binary and non-UTF-8 content."""
    if b"\x00" in data:
        raise make_error("binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise make_error(f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def parse_json(data: bytes | str, source: str, *, want_object: bool = True, max_bytes: int = MAX_BYTES,
               max_depth: int = MAX_DEPTH, error: type[BenchError] = RecordError) -> Any:
    """Decode JSON text strictly (see the module docstring)."""
    def make_error(problem: str) -> BenchError:
        return error(f"{source}: {problem}")

    size = len(data)
    if size > max_bytes:
        raise make_error(f"{size} bytes, more than the {max_bytes} this reader accepts")
    text = data if isinstance(data, str) else decode_text(data, make_error)
    if "\x00" in text:
        raise make_error("binary content (NUL characters), not a text file")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates(make_error),
                           parse_constant=_refuse_constant(make_error), parse_float=_finite_float(make_error),
                           parse_int=_bounded_int(make_error))
    except RecursionError:
        raise make_error(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise make_error(f"malformed JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    if depth_of(value, max_depth) > max_depth:
        raise make_error(f"nested deeper than {max_depth} levels")
    if want_object and not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else "a single value"
        raise make_error(f"the top level is {kind}, not a JSON object")
    return value


def read_bounded(path: Path, source: str, max_bytes: int, error: type[BenchError] = RecordError) -> bytes:
    """The bytes of a file, refusing one larger than max_bytes without reading all of it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{source}: no such file") from None
    except IsADirectoryError:
        raise error(f"{source}: is a folder, not a file") from None
    except OSError as exc:
        raise error(f"{source}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > max_bytes:
        raise error(f"{source}: larger than the {max_bytes} bytes this reader accepts")
    return data


def read_json(path: str | Path, *, want_object: bool = True, max_bytes: int = MAX_BYTES,
              max_depth: int = MAX_DEPTH, error: type[BenchError] = RecordError) -> Any:
    path = Path(path)
    data = read_bounded(path, str(path), max_bytes, error)
    return parse_json(data, str(path), want_object=want_object, max_bytes=max_bytes, max_depth=max_depth,
                      error=error)


# --- writing --------------------------------------------------------------------------------------

def current_umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(data: Any, indent: int | None = 1, **options: Any) -> str:
    """JSON text of `data`; ValueError on NaN/Infinity, TypeError on a value JSON cannot hold."""
    return json.dumps(data, indent=indent, allow_nan=False, default=_json_default, **options)


def _first_non_finite(value: Any, path: str = "") -> str:
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where or "top level"
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return ""


def write_text_atomic(path: str | Path, text: str, mode: int | None = None) -> Path:
    """Write text to `path` through a fsynced temporary file and a rename. `mode` (e.g. 0o600 for a
    key) overrides the umask-derived permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any, indent: int | None = 1, **options: Any) -> Path:
    """The one atomic JSON writer (see the module docstring)."""
    try:
        text = dumps(data, indent=indent, **options)
    except ValueError as exc:
        where = _first_non_finite(data)
        if not where:
            raise RecordError(f"{path}: cannot write as JSON ({exc})") from None
        raise RecordError(f"{path}: refusing to write a non-finite number (NaN or Infinity) at {where}") from None
    except TypeError as exc:
        raise RecordError(f"{path}: cannot write as JSON ({exc})") from None
    return write_text_atomic(path, text + "\n")
