"""How far a run's numbers can be trusted, in a few lines: the health block that `bench run` prints
after its tables and that `bench report` puts at the top of the page.

Pure and lean (no torch, matplotlib, pandas or rich): it reads a stored run dict and returns text.
Three parts, each a line or a handful of lines:
  - measurement warnings grouped by kind (high spread, unstable warm-up, throttling, ...), each
    counted and the worst few named;
  - audit findings (power limit, locked clocks, MIG, ECC, other processes, host load: whatever
    bench/devices/audit.py found before or during the run);
  - skips grouped by reason, one line per reason with the dtypes or kernels it hit.
Also `shape_label`: a measurement's shape as people write it, `384×256×320 (search)`."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping

TOP_NAMED = 3  # how many measurements each warning line names
NOISY_HEADLINE_CV = 0.10  # a headline figure on a measurement spread wider than this is a problem, not a note
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
SHOWN_SEVERITIES = ("high", "medium", "low")  # info findings stay in the report's full list
HINTS = {
    "high spread": "host busy or clocks moving? results are noisy",
    "warm-up did not stabilise": "clocks or caches still settling when sampling began",
    "measured while throttled": "the device slowed itself: power, thermal or clock limit",
    "too few samples": "the time budget ran out before enough samples",
    "samples near timer resolution": "each sample is too short to time well",
    "telemetry not observed during this measurement": "no clock, power or temperature readings",
}
SUFFIX_LABELS = {"search_trial": "search", "variant": None, "input_distribution": None}


@dataclasses.dataclass(frozen=True)
class HealthLine:
    """One line of the health block. `level`: "ok", "warn" or "bad" (the report colours by it)."""

    level: str
    text: str


# --- shapes ----------------------------------------------------------------------------------

def shape_label(measurement_or_id: Mapping[str, Any] | str) -> str:
    """`384×256×320 (search)` for a GEMM, `elements=2097152 (dram)` for a stream, from a
    measurement dict or its id ("suite/kernel/dtype/k=v,k=v,...")."""
    if isinstance(measurement_or_id, str):
        parts = measurement_or_id.split("/", 3)
        pairs = [p.split("=", 1) for p in (parts[3] if len(parts) > 3 else "").split(",") if "=" in p]
        fields = {k: v for k, v in pairs}
    else:
        params = measurement_or_id.get("params") or {}
        fields = {**{k: v for k, v in params.items() if k in _ID_PARAMS}, **(measurement_or_id.get("shape") or {})}
        if isinstance(params.get("array_bytes"), (int, float)) and "elements" in fields:
            fields.pop("elements")
            fields = {"array": _size(params["array_bytes"]), **fields}
    return _label(fields)


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return str(nbytes)


_ID_PARAMS = {"search_trial", "variant", "input_distribution", "role", "causal", "llc_multiple"}


def _label(fields: Mapping[str, Any]) -> str:
    dims = [str(fields[k]) for k in ("m", "n", "k") if k in fields]
    tags = []
    if "search_trial" in fields:
        tags.append("search")
    if fields.get("variant"):
        tags.append(str(fields["variant"]))
    if fields.get("input_distribution") not in (None, "normal"):
        tags.append(f"{fields['input_distribution']} inputs")
    if "seq_len" in fields:  # attention: batch, heads, sequence, head size
        core = (f"batch {fields.get('batch', '?')}, {fields.get('heads', '?')} heads, seq {fields['seq_len']}, "
                f"head dim {fields.get('head_dim', '?')}")
        if "causal" in fields:
            tags.append("causal" if str(fields["causal"]).lower() == "true" else "non-causal")
        rest = {}
    elif len(dims) == 3:
        core = "×".join(dims)
        rest = {k: v for k, v in fields.items() if k not in ("m", "n", "k", "search_trial", "variant",
                                                              "input_distribution", "seed")}
    else:
        core = ", ".join(str(v) if k == "array" else f"{k}={v}" for k, v in fields.items()
                         if k not in ("search_trial", "variant", "input_distribution", "seed", "role", "llc_multiple"))
        rest = {k: v for k, v in fields.items() if k == "role"}
    tags += [str(v) if k == "role" else f"{k}={v}" for k, v in rest.items()]
    return core + (f" ({', '.join(tags)})" if tags else "")


# --- the block -------------------------------------------------------------------------------

def _kind(warning: str) -> str:
    """The kind of a warning: its text before the first colon, without trailing numbers."""
    head = warning.split(":", 1)[0].strip()
    return re.sub(r"\s+within\s+[\d.]+\s*s$", "", head)


def _cv(measurement: Mapping[str, Any]) -> float:
    value = (measurement.get("stats") or {}).get("cv")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _name(m: Mapping[str, Any]) -> str:
    return f"{m.get('suite', '?')} {m.get('dtype') if m.get('suite') != 'stream' else m.get('kernel')} {shape_label(m)}"


def _named(measurements: list[Mapping[str, Any]], kind: str) -> str:
    chosen = sorted(measurements, key=_cv, reverse=True) if kind == "high spread" else measurements
    names = []
    for m in chosen[:TOP_NAMED]:
        name = _name(m)
        names.append(f"{name} (CV {_cv(m):.0%})" if kind == "high spread" else name)
    more = len(measurements) - len(names)
    return ("worst: " if kind == "high spread" else "") + ", ".join(names) + (f" and {more} more" if more > 0 else "")


def warning_lines(measurements: list[Mapping[str, Any]]) -> list[HealthLine]:
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for m in measurements:
        for kind in dict.fromkeys(_kind(str(w)) for w in m.get("warnings") or []):
            if not kind.startswith("wrong result"):  # failed checks have their own line
                by_kind[kind].append(m)
    total = len(measurements)
    lines = []
    for kind, hit in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        hint = HINTS.get(kind)
        lines.append(HealthLine("warn", f"{len(hit)} of {total} measurements: {kind}"
                                        + (f" ({hint})" if hint else "") + f"; {_named(hit, kind)}"))
    failed = [m for m in measurements if m.get("status") not in (None, "ok")]
    if failed:
        lines.append(HealthLine("bad", f"{len(failed)} wrong result(s), never counted: "
                                       + ", ".join(str(m.get("id")) for m in failed[:TOP_NAMED])
                                       + (f" and {len(failed) - TOP_NAMED} more" if len(failed) > TOP_NAMED else "")))
    return lines


def audit_lines(audit: Mapping[str, Any] | None) -> list[HealthLine]:
    findings = [f for f in (audit or {}).get("findings") or [] if isinstance(f, Mapping)]
    shown = [f for f in findings if f.get("severity") in SHOWN_SEVERITIES]
    lines = []
    for f in sorted(shown, key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 9)):
        effect = ("lowers results" if f.get("lowers_results") else "") or ("raises results" if f.get("raises_results") else "")
        level = "bad" if f.get("severity") == "high" else "warn"
        lines.append(HealthLine(level, f"audit ({f.get('severity')}): {f.get('message')}" + (f" — {effect}" if effect else "")))
    return lines


def _skip_reason(reason: str) -> str:
    """A skip's reason without its per-case numbers, so like skips group together."""
    head = reason.split(":", 1)[0].strip()
    return head if len(head) >= 8 else re.sub(r"[\d.]+", "#", reason)[:80]


def skip_lines(skips: Iterable[Mapping[str, Any]]) -> list[HealthLine]:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for s in skips:
        what = s.get("kernel") if s.get("suite") == "stream" else s.get("dtype")
        groups[_skip_reason(str(s.get("reason", "?")))][f"{s.get('suite', '?')} {what}"] += 1
    lines = []
    for reason, where in sorted(groups.items(), key=lambda item: -sum(item[1].values())):
        detail = ", ".join(f"{w} ×{n}" if n > 1 else w for w, n in where.most_common(6))
        more = len(where) - 6
        lines.append(HealthLine("warn", f"{sum(where.values())} skipped: {reason} ({detail}"
                                        + (f", +{more} more" if more > 0 else "") + ")"))
    return lines


def headline_lines(run: Mapping[str, Any], measurements: list[Mapping[str, Any]]) -> list[HealthLine]:
    """A headline figure (effective TPP, DRAM bandwidth) resting on a measurement that carries a warning."""
    summary = run.get("summary") or {}
    tpp = summary.get("effective_tpp") or {}
    setters = (("effective TPP", ((tpp.get("by_dtype") or {}).get(tpp.get("dtype")) or {}).get("measurement_id")),
               ("effective DRAM bandwidth", (summary.get("effective_dram_bandwidth") or {}).get("measurement_id")))
    by_id = {m.get("id"): m for m in measurements}
    lines = []
    for title, mid in setters:
        m = by_id.get(mid)
        kinds = list(dict.fromkeys(_kind(str(w)) for w in (m or {}).get("warnings") or []))
        if m and kinds:
            relative_u = ((m.get("uncertainty") or {}).get("relative_U"))
            u_text = f", U = {relative_u:.0%} of the value" if isinstance(relative_u, (int, float)) else ""
            noisy = "high spread" in kinds and _cv(m) > NOISY_HEADLINE_CV
            level = "bad" if noisy or "measured while throttled" in kinds else "warn"
            lines.append(HealthLine(level, f"{title} rests on {_name(m)}, flagged: {'; '.join(kinds)} "
                                           f"(CV {_cv(m):.0%}{u_text}); measure again on a quiet host"))
    return lines


def health_lines(run: Mapping[str, Any]) -> list[HealthLine]:
    """The health block of one unit's run; a single "ok" line when nothing needs saying."""
    measurements = [m for m in run.get("measurements") or [] if isinstance(m, Mapping)]
    lines = (headline_lines(run, measurements) + warning_lines(measurements) + audit_lines(run.get("audit"))
             + skip_lines(run.get("skips") or []))
    if not lines:
        lines.append(HealthLine("ok", f"all {len(measurements)} measurements stable; no audit finding; nothing skipped"))
    return lines


def health_text(run: Mapping[str, Any]) -> str:
    """The block as the console prints it after the tables of `bench run`."""
    marks = {"ok": "ok  ", "warn": "!   ", "bad": "!!  "}
    return "\n".join(["", "Health"] + [f"  {marks[line.level]}{line.text}" for line in health_lines(run)])
