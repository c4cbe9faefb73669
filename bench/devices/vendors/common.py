"""What every vendor adapter shares: lazy, injectable imports, calls that never raise, and one
record shape per source.

A source answers {"source", "available", "reason", "fields", "missing"}; a read that fails lands in
"missing" with its reason, so nothing is left silently blank. An adapter is tested against fakes by
injecting the module (pynvml, amdsmi) or the command runner (npu-smi)."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
from typing import Any, Callable

NOT_AVAILABLE_MARKERS = {"", "NA", "N/A", "NOT SUPPORT", "UNKNOWN", "-"}  # npu-smi / amdsmi placeholders
AMDSMI_UNSUPPORTED = {0xFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}  # amdsmi fills unsupported numbers with these
RunCommand = Callable[[list[str], float], str]
TOOL_TIMEOUT_S = 10.0


def load_module(name: str, injected: Any = None) -> tuple[Any, str | None]:
    """The vendor module `name` (or the injected stand-in) and None, or None and why it is missing.

    The PyPI amdsmi wheel prints to stdout and raises KeyError when the host has no libamd_smi.so;
    its stdout is swallowed here so `--json` output stays a JSON document."""
    if injected is not None:
        return injected, None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module(name), None
    except Exception as error:  # ImportError, OSError or KeyError when the shared library cannot load
        return None, f"python module {name!r} not importable: {type(error).__name__}: {error}"


def safe_call(module: Any, function: str, *args: Any) -> tuple[Any, str | None]:
    """module.function(*args) as (value, None) or (None, reason). Never raises.

    A missing function (an older library) and vendor errors such as NVMLError_NotSupported become reasons."""
    fn = getattr(module, function, None)
    if fn is None:
        return None, f"{function} not provided by this library version"
    try:
        return fn(*args), None
    except Exception as error:
        return None, f"{function}: {type(error).__name__}: {error}".rstrip(": ")


def text(value: Any) -> str | None:
    """Vendor strings as str: older pynvml returns bytes; placeholders such as 'NA' become None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).strip().strip("\x00")
    return None if value.upper() in NOT_AVAILABLE_MARKERS else value


def number(value: Any) -> float | None:
    """A vendor number, or None for 'N/A' strings, bools and amdsmi's all-ones 'unsupported' values."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if value in AMDSMI_UNSUPPORTED else float(value)
    try:
        return float(str(value).strip().split()[0])
    except (ValueError, IndexError):
        return None


def flag(value: Any) -> bool | None:
    """A vendor yes/no: amdsmi 7 returns bools, 6.x ints, unsupported values 'N/A' or all-ones."""
    if isinstance(value, bool):
        return value
    found = number(value)
    return None if found is None else found != 0


def first_key(mapping: Any, *keys: str) -> Any:
    """The value of the first key present (vendor key names drift across versions)."""
    if not isinstance(mapping, dict):
        return None
    return next((mapping[k] for k in keys if k in mapping), None)


class SourceRecord:
    """Collects the fields of one source; a failed read lands in `missing` with its reason."""

    def __init__(self, source: str):
        self.result: dict[str, Any] = {"source": source, "available": True, "reason": None, "fields": {}, "missing": {}}

    def put(self, field: str, value: Any, reason: str | None = None) -> None:
        if value is None:
            self.result["missing"][field] = reason or "not reported"
        else:
            self.result["fields"][field] = value

    def read(self, field: str, module: Any, function: str, *args: Any, convert: Callable[[Any], Any] = text) -> Any:
        raw, reason = safe_call(module, function, *args)
        value = convert(raw) if reason is None else None
        self.put(field, value, reason or ("placeholder value" if raw is not None else None))
        return value


def unavailable(source: str, reason: str) -> dict[str, Any]:
    return {"source": source, "available": False, "reason": reason, "fields": {}, "missing": {}}


def run_command(argv: list[str], timeout_s: float = TOOL_TIMEOUT_S) -> str:
    """Run a read-only tool and return its stdout; raises OSError/SubprocessError/TimeoutExpired."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise subprocess.SubprocessError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


def processes_record(source: str, listed: list[dict[str, Any]] | None, reason: str | None = None,
                     own_pid: int | None = None, own_context: bool = False,
                     pid_visible: Callable[[int], bool] | None = None) -> dict[str, Any]:
    """Other compute processes on a unit, from a vendor list of {"pid", "name", "memory_bytes"}.

    Vendor tools report PIDs in the host's namespace; inside a container this process may appear
    under a PID this namespace cannot see. When this process holds a context (own_context) and none
    of the listed PIDs is ours, one such invisible PID is taken to be this process, and the record says so."""
    if listed is None:
        return {"source": source, "available": False, "reason": reason or "process list not readable", "others": []}
    own_pid = os.getpid() if own_pid is None else own_pid
    visible = pid_visible or (lambda pid: os.path.exists(f"/proc/{pid}"))
    others = [p for p in listed if p.get("pid") != own_pid]
    note = None
    if own_context and len(others) == len(listed):
        hidden = [p for p in others if p.get("pid") is not None and not visible(int(p["pid"]))]
        if hidden:
            others.remove(hidden[0])
            note = (f"PID {hidden[0]['pid']} is not visible in this PID namespace; taken to be this process "
                    "(vendor tools report host PIDs inside containers)")
    return {"source": source, "available": True, "reason": None, "listed": len(listed), "others": others, "note": note}


# -- the configuration audit's record, filled by bench.devices.audit and by each adapter's audit() ---------
def finding(severity: str, code: str, message: str, lowers: bool = False, raises: bool = False) -> dict[str, Any]:
    return {"severity": severity, "code": code, "message": message, "lowers_results": lowers, "raises_results": raises}


class AuditRecord:
    """settings by section, findings, and what could not be read (with why)."""

    def __init__(self) -> None:
        self.settings: dict[str, dict[str, Any]] = {}
        self.findings: list[dict[str, Any]] = []
        self.unavailable: list[dict[str, str]] = []

    def section(self, name: str) -> dict[str, Any]:
        return self.settings.setdefault(name, {})

    def missing(self, what: str, reason: str) -> None:
        self.unavailable.append({"what": what, "reason": reason})

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.findings.append(finding(*args, **kwargs))

    def read(self, section: str, key: str, module: Any, function: str, *args: Any) -> Any:
        value, reason = safe_call(module, function, *args)
        if reason:
            self.missing(f"{section}.{key}", reason)
            return None
        self.section(section)[key] = value
        return value

    def result(self) -> dict[str, Any]:
        for section, values in self.settings.items():  # nothing silently blank
            for key in [k for k, v in values.items() if v is None]:
                del values[key]
                self.missing(f"{section}.{key}", "read, but the source reported no value")
        return {"settings": self.settings, "findings": self.findings, "unavailable": self.unavailable}


def occupancy_findings(a: AuditRecord, record: dict[str, Any], unit: str) -> None:
    """Record a unit's process list in the audit; other compute processes make results doubtful."""
    a.section("occupancy")["device_processes"] = record
    if not record.get("available"):
        a.missing("occupancy.device_processes", record.get("reason") or "process list not readable")
        return
    others = record.get("others") or []
    if others:
        names = ", ".join(f"{p.get('pid')} ({p.get('name') or '?'})" for p in others[:5])
        a.add("high", "device_shared", f"{len(others)} other compute process(es) on {unit}: {names}; the unit is "
              "not ours alone, so a low result may reflect the other work", lowers=True)
