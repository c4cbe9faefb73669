"""Fleet / shipment-lot aggregation: many run folders -> one table per unit plus lot statistics.

A lot is OK only when every unit is
- signed, and verified with a public key the user gave (`bench verify` semantics: signature, every
  file digest, every number re-derived from the raw samples); `allow_unsigned` accepts unsigned or
  unauthenticated units whose numbers still re-derive, and the report says so first;
- judged: it has a verdict that passes (stored in run.json or a verdict.json that names this run.json,
  or computed under `profile`), and that verdict re-derives from the unit's samples;
- identified by a serial or UUID, and, with a manifest, the one expected.
A unit that contradicts its evidence or fails makes the lot NOT OK (exit 1); one that cannot be
decided (no verdict, inconclusive, unsigned, no serial) makes it UNDECIDED (exit 3).

Each unit's serial comes from its identity block (`identity.sources[*].fields.serial`, else
`uuid`). Spread is judged only with at least three units: deviation from the lot median of each
metric, shown with a robust z-score (median absolute deviation); a unit is an outlier when its
deviation exceeds the tolerance (5 % by default, the procurement convention) by more than the
unit's own expanded uncertainty U, in either direction: low may be a limited part, high a
relabelled one.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from bench.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    BenchError,
    ConfigError,
    ResultsError,
    UsageError,
)
from bench.evidence.recompute import VERDICT_FILE
from bench.evidence.signing import verify_run
from bench.record.folder import read_run
from bench.record.units import (  # noqa: F401  (re-exported: "who is this unit" lives with the record)
    SERIAL_FIELDS,
    UUID_FIELDS,
    UnitSummary,
    unit_parts,
    unit_summaries,
)
from bench.record.units import (
    unit_summary as _unit_summary,
)
from bench.record.verdict_file import read_verdict_file, stale_verdict
from bench.render import Table, terminal_width, to_text
from bench.rules.profiles import load_profile
from bench.rules.verdict import check_run, measured_values
from bench.yamlfile import read_yaml

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 40, 40
DEFAULT_SPREAD = 0.05
MIN_UNITS_FOR_SPREAD = 3
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution x 1.4826 = its standard deviation
PASSING_VERDICTS = {"pass", "conditional pass"}
FAILING_VERDICTS = {"fail", "conditional fail"}
RESULT_OK, RESULT_NOT_OK, RESULT_UNDECIDED = "OK", "NOT OK", "UNDECIDED"
UNSIGNED_BANNER = ("UNSIGNED EVIDENCE ACCEPTED (--allow-unsigned): units without an authenticated signature "
                   "count when their numbers re-derive; their integrity and origin are not checked")


# --- manifest ------------------------------------------------------------------------------

@dataclasses.dataclass
class LotManifest:
    """Expected units of a shipment lot: serials or UUIDs, optionally the device model."""

    path: str
    expected: list[str]
    device_name: str | None = None
    lot: str | None = None
    spread: float | None = None


def load_manifest(path: str | Path) -> LotManifest:
    """Read a lot manifest YAML: a list of serials, or {lot, device, spread, units: [...]}.

    Each unit is a string or a mapping with `serial` or `uuid`."""
    path = Path(path)
    data = read_yaml(path, "manifest", mapping=False)  # a bare list of serials is a manifest too
    if isinstance(data, dict) and "units" not in data and isinstance(data.get("manifest"), (dict, list)):
        data = data["manifest"]  # a test plan (bench/lab/plan.py): its manifest block
    if isinstance(data, list):
        data = {"units": data}
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        raise ConfigError(f"manifest {path}: key 'units' must be a list of serials or UUIDs")
    version = data.get("schema_version", 1)
    if version != 1 or isinstance(version, bool):
        raise ConfigError(f"manifest {path}: schema_version {_SHORT.repr(version)}; this accelbench reads 1")
    expected = []
    for i, entry in enumerate(data["units"]):
        if isinstance(entry, (str, int)) and not isinstance(entry, bool):
            expected.append(str(entry))
        elif isinstance(entry, dict) and isinstance(entry.get("serial") or entry.get("uuid"), (str, int)):
            expected.append(str(entry.get("serial") or entry.get("uuid")))
        else:
            raise ConfigError(f"manifest {path}: units[{i}] needs a serial or uuid, got {_SHORT.repr(entry)}")
    spread = data.get("spread")
    if spread is not None and (isinstance(spread, bool) or not isinstance(spread, (int, float)) or not 0 < spread < 1):
        raise ConfigError(f"manifest {path}: key 'spread' must be a fraction between 0 and 1, got {_SHORT.repr(spread)}")
    for key in ("device", "lot"):
        if data.get(key) is not None and not isinstance(data[key], (str, int)):
            raise ConfigError(f"manifest {path}: key {key!r} must be a string, got {_SHORT.repr(data[key])}")
    device, lot = (None if data.get(k) is None else str(data[k]) for k in ("device", "lot"))
    return LotManifest(str(path), expected, device, lot, spread)


# --- aggregation ---------------------------------------------------------------------------

@dataclasses.dataclass
class FleetReport:
    """Lot table, lot statistics and every problem found. `result` is OK, NOT OK or UNDECIDED."""

    units: Any  # pandas.DataFrame, one row per measured unit
    lot_stats: Any  # pandas.DataFrame indexed by metric: min, median, max, n, robust spread
    spread: float
    metrics: list[str]
    outliers: list[str] = dataclasses.field(default_factory=list)  # "unit: metric +7.1% from lot median"
    failing: list[str] = dataclasses.field(default_factory=list)  # verdict fail / conditional fail
    evidence: list[str] = dataclasses.field(default_factory=list)  # signature invalid, numbers do not re-derive
    undecided: list[str] = dataclasses.field(default_factory=list)  # no verdict, inconclusive, unsigned, no serial
    missing: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    duplicates: list[str] = dataclasses.field(default_factory=list)
    unidentified: list[str] = dataclasses.field(default_factory=list)
    device_mismatch: list[str] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)
    spread_note: str | None = None  # "too few units to judge spread" below three units
    allow_unsigned: bool = False
    manifest: LotManifest | None = None

    @property
    def not_ok(self) -> bool:
        return bool(self.outliers or self.failing or self.evidence or self.missing or self.unexpected
                    or self.duplicates or self.device_mismatch)

    @property
    def result(self) -> str:
        if self.not_ok:
            return RESULT_NOT_OK
        return RESULT_UNDECIDED if self.undecided or self.unidentified else RESULT_OK

    @property
    def ok(self) -> bool:
        return self.result == RESULT_OK

    @property
    def exit_code(self) -> int:
        return {RESULT_OK: EXIT_OK, RESULT_NOT_OK: EXIT_CHECK_FAILED, RESULT_UNDECIDED: EXIT_INCONCLUSIVE}[self.result]

    def to_dict(self) -> dict[str, Any]:
        units = self.units.astype(object).where(self.units.notna(), None).to_dict(orient="records")
        stats = self.lot_stats.astype(object).where(self.lot_stats.notna(), None)
        return {
            "ok": self.ok, "result": self.result, "allow_unsigned": self.allow_unsigned,
            "spread": self.spread, "spread_note": self.spread_note,
            "units": units,
            "lot_stats": {metric: stats.loc[metric].to_dict() for metric in stats.index},
            "outliers": self.outliers, "failing": self.failing, "evidence": self.evidence,
            "undecided": self.undecided, "missing": self.missing,
            "unexpected": self.unexpected, "duplicates": self.duplicates,
            "unidentified": self.unidentified, "device_mismatch": self.device_mismatch,
            "labels": self.labels,
            "manifest": dataclasses.asdict(self.manifest) if self.manifest else None,
        }


def _summary_metrics(summary: dict[str, Any]) -> dict[str, float | None]:
    tpp = (summary.get("effective_tpp") or {})
    values: dict[str, float | None] = {
        "effective_tpp": tpp.get("max"),
        "dram_bandwidth_gbs": (summary.get("effective_dram_bandwidth") or {}).get("value"),
    }
    for dtype, entry in sorted((tpp.get("by_dtype") or {}).items()):
        values[f"tops_{dtype}"] = (entry or {}).get("tops") if isinstance(entry, dict) else None
    return values


def _uncertainties(unit_run: dict[str, Any]) -> dict[str, float]:
    """Each metric's expanded uncertainty U (k = 2), as bench.rules.verdict reads it; absent when unknown."""
    try:
        measured = measured_values(unit_run)
    except (BenchError, KeyError, TypeError, ValueError, AttributeError):
        return {}  # no usable U: the unit's verdict and evidence say why
    names = {"tpp": "effective_tpp", "dram_bandwidth_gbps": "dram_bandwidth_gbs"}
    out = {}
    for key, m in measured.items():
        name = names.get(key) or (f"tops_{m.dtype}" if key.startswith("gemm:") else None)
        if name and math.isfinite(m.U) and m.U >= 0:
            out[name] = m.U
    return out


def _unit_run(part: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    return run if part is run else {**{k: v for k, v in run.items() if k != "units"}, **part}


def _computed_verdict(unit_run: dict[str, Any], profile: str) -> str:
    """check_run under `profile` for a unit without a stored verdict; an error becomes the label."""
    try:
        return check_run(unit_run, profile=profile).verdict
    except BenchError as exc:
        return f"inconclusive ({exc})"


def _stored_verdict(part: dict[str, Any], run: dict[str, Any], run_dir: Path) -> tuple[str | None, str | None]:
    """(verdict, problem): the unit's stored verdict, from run.json or a verdict.json naming this run.json."""
    embedded = part.get("verdict") if isinstance(part, dict) else None
    if embedded:
        value = embedded.get("verdict") if isinstance(embedded, dict) else None
        return (value, None) if isinstance(value, str) else (None, "run.json verdict has no verdict string")
    path = run_dir / VERDICT_FILE
    if part is not run or not path.is_file():
        return None, None
    try:
        stored = read_verdict_file(path)
    except BenchError as exc:
        return None, str(exc)
    stale = stale_verdict(run_dir, stored)
    return (None, stale) if stale else (stored["verdict"], None)


def _evidence(verification: Any, allow_unsigned: bool) -> tuple[str, str | None, str | None]:
    """(evidence label, failing problem, undecided problem) of one run folder's verification."""
    if verification.findings or verification.recompute_findings:
        first = (verification.findings + verification.recompute_findings)[0]
        more = len(verification.findings) + len(verification.recompute_findings) - 1
        return verification.status, first[:200] + (f" (+{more} more)" if more else ""), None
    if verification.ok:
        return "verified", None, None
    if allow_unsigned:
        return ("unsigned (accepted)" if not verification.signed else "signer not authenticated (accepted)"), None, None
    if not verification.signed:
        return "unsigned", None, "unsigned (sign it, or pass --allow-unsigned)"
    return "signer not authenticated", None, "signer not authenticated (pass --pubkey with the lab's public key)"


def _unit_rows(run_dir: Path, run: dict[str, Any], verification: Any, profile: str | None,
               allow_unsigned: bool) -> list[dict[str, Any]]:
    evidence, broken, unproven = _evidence(verification, allow_unsigned)
    rows = []
    for i, part in enumerate(unit_parts(run)):
        if not isinstance(part, dict):
            raise ResultsError(f"{run_dir}/run.json: units[{i}] is not an object")
        unit = _unit_summary(part, run, i)
        unit_run = _unit_run(part, run)
        verdict, problem = _stored_verdict(part, run, run_dir)
        source = "stored" if verdict else None
        if not verdict and profile and not problem:
            verdict, source = _computed_verdict(unit_run, profile), f"computed ({profile})"
        row = {
            "unit": unit.unit_id, "serial": unit.serial, "uuid": unit.uuid, "device": unit.device_name,
            "host": unit.host, "run_id": run.get("run_id"), "unit_index": i, "run_dir": str(run_dir),
            "verdict": verdict, "verdict_source": source, "verdict_problem": problem,
            "signature": verification.status, "evidence": evidence, "evidence_problem": broken,
            "evidence_missing": unproven, "stand_in": unit.stand_in, "identified": unit.identified,
        }
        summary = part.get("summary") or (run.get("summary") if part is run else {}) or {}
        row.update(_summary_metrics(summary if isinstance(summary, dict) else {}))
        row.update({f"U_{name}": value for name, value in _uncertainties(unit_run).items()})
        rows.append(row)
    return rows


def _read_run(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a folder")
    return dict(read_run(run_dir))


def aggregate(run_dirs: Iterable[str | Path], manifest: LotManifest | None = None,
              spread: float | None = None, public_keys: list[str | Path] | None = None,
              allow_unsigned: bool = False, profile: str | None = None) -> FleetReport:
    """Aggregate run folders into a lot report. `spread` is a fraction (0.05 = 5%).

    Each folder is verified as `bench verify` does, with `public_keys` (none given: no unit is
    authenticated, so the lot is at best UNDECIDED unless `allow_unsigned`). A unit's verdict is the
    stored one; with `profile`, a unit without one is judged by bench.rules.verdict.check_run."""
    import pandas as pd  # optional: only the lot table needs it

    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise UsageError("no run folders given")
    if profile:
        load_profile(profile)  # an unknown profile is a usage error even when every unit has a stored verdict
    spread = spread if spread is not None else (manifest.spread if manifest and manifest.spread else DEFAULT_SPREAD)
    if not (isinstance(spread, (int, float)) and 0 < spread < 1):
        raise UsageError(f"spread must be a fraction between 0 and 1, got {spread}")
    rows = []
    for run_dir in run_dirs:
        run = _read_run(run_dir)
        rows.extend(_unit_rows(run_dir, run, verify_run(run_dir, public_keys or None), profile, allow_unsigned))
    units = pd.DataFrame(rows)
    metric_names = [c for c in units.columns if c in ("effective_tpp", "dram_bandwidth_gbs") or c.startswith("tops_")]
    for name in metric_names + [c for c in units.columns if c.startswith("U_")]:
        units[name] = pd.to_numeric(units[name], errors="coerce").astype(float)
    lot_stats = pd.DataFrame({
        "min": units[metric_names].min(), "median": units[metric_names].median(),
        "max": units[metric_names].max(), "n": units[metric_names].count(),
    }).reindex(metric_names)
    report = FleetReport(units=units, lot_stats=lot_stats, spread=spread, metrics=metric_names, manifest=manifest,
                         allow_unsigned=allow_unsigned)
    _flag_deviations(report)
    _flag_units(report)
    if manifest:
        _reconcile(report, manifest)
    return report


def _flag_deviations(report: FleetReport) -> None:
    """Deviation from the lot median, a robust z-score (MAD), and outliers beyond tolerance + U."""
    units = report.units
    outlier = [False] * len(units)
    mads = {}
    for metric in report.metrics:
        values = units[metric]
        median = report.lot_stats.loc[metric, "median"]
        column = f"dev_{metric}"
        if not median or math.isnan(median) or values.count() < MIN_UNITS_FOR_SPREAD:
            units[column] = float("nan")
            units[f"z_{metric}"] = float("nan")
            mads[metric] = float("nan")
            continue
        mad = float((values - median).abs().median())
        mads[metric] = mad / median
        units[column] = (values - median) / median
        units[f"z_{metric}"] = (values - median) / (MAD_TO_SIGMA * mad) if mad > 0 else float("nan")
        own_u = units.get(f"U_{metric}")
        for i, value in enumerate(values):
            if math.isnan(value):
                continue
            u = own_u.iloc[i] if own_u is not None and not math.isnan(own_u.iloc[i]) else 0.0
            beyond = abs(value - median) - u  # the unit's deviation at the favourable end of its uncertainty
            if beyond > report.spread * median:
                outlier[i] = True
                report.outliers.append(
                    f"{units.loc[i, 'unit']}: {metric_label(metric)} {units.loc[i, column]:+.1%} from the lot median "
                    f"(beyond ±{report.spread:.0%} by more than its own U = {u:.4g})")
    units["outlier"] = outlier
    report.lot_stats["robust_spread"] = [mads.get(m, float("nan")) for m in report.metrics]
    if len(units) < MIN_UNITS_FOR_SPREAD:
        report.spread_note = (f"too few units to judge spread ({len(units)} measured; spread is judged from "
                              f"{MIN_UNITS_FOR_SPREAD} units on)")


def _flag_units(report: FleetReport) -> None:
    units = report.units
    for _, row in units.iterrows():
        unit, verdict = row["unit"], row["verdict"]
        if isinstance(row["evidence_problem"], str):
            report.evidence.append(f"{unit}: evidence does not hold: {row['evidence_problem']}")
        if isinstance(row["evidence_missing"], str):
            report.undecided.append(f"{unit}: {row['evidence_missing']}")
        if isinstance(verdict, str) and verdict in FAILING_VERDICTS:
            report.failing.append(f"{unit}: verdict {verdict}")
        elif isinstance(verdict, str) and verdict not in PASSING_VERDICTS:
            report.undecided.append(f"{unit}: verdict {verdict[:200]}")
        elif not isinstance(verdict, str):
            problem = row["verdict_problem"]
            report.undecided.append(f"{unit}: no verdict" + (f" ({problem})" if isinstance(problem, str) else
                                                             " (run `bench check`, or pass --profile)"))
        if not row["identified"]:
            report.unidentified.append(f"{unit}: no serial or UUID recorded")
    counts = Counter(units.loc[units["identified"], "unit"])
    report.duplicates = [f"{unit}: measured {n} times" for unit, n in sorted(counts.items()) if n > 1]
    same_run = Counter(zip(units["run_id"], units["unit_index"]))
    report.duplicates += [f"run {run_id} unit {index}: given {n} times (counted once per folder)"
                          for (run_id, index), n in sorted(same_run.items(), key=str) if n > 1 and run_id]
    if units["stand_in"].any():
        n = int(units["stand_in"].sum())
        report.labels.append(f"CPU stand-in: {n} unit(s) are CPU processes standing in for accelerators")
    unverified = units.loc[units["evidence"] != "verified", "evidence"]
    if len(unverified):
        report.labels.append(f"{len(unverified)} unit(s) not signed-and-verified: " + ", ".join(sorted(set(unverified))))


def _reconcile(report: FleetReport, manifest: LotManifest) -> None:
    units = report.units
    expected = list(dict.fromkeys(manifest.expected))
    manifest_repeats = [s for s, n in Counter(manifest.expected).items() if n > 1]
    report.duplicates.extend(f"{s}: listed {Counter(manifest.expected)[s]} times in manifest" for s in manifest_repeats)
    measured_keys = set()
    for _, row in units.iterrows():
        keys = {k for k in (row["serial"], row["uuid"]) if isinstance(k, str)}
        measured_keys |= keys
        if row["identified"] and not keys & set(expected):
            report.unexpected.append(f"{row['unit']}: not in manifest {Path(manifest.path).name}")
        if manifest.device_name and row["device"] and manifest.device_name.lower() not in str(row["device"]).lower():
            report.device_mismatch.append(f"{row['unit']}: device {row['device']!r}, manifest expects {manifest.device_name!r}")
    report.missing = [s for s in expected if s not in measured_keys]
    units["in_manifest"] = [bool({k for k in (r["serial"], r["uuid"]) if isinstance(k, str)} & set(expected))
                            for _, r in units.iterrows()]


# --- rendering -----------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def metric_label(metric: str) -> str:
    """A column heading a reader understands: 'Effective TPP', 'DRAM bandwidth (GB/s)', 'bf16 TOPS'."""
    if metric == "effective_tpp":
        return "Effective TPP"
    if metric == "dram_bandwidth_gbs":
        return "DRAM bandwidth (GB/s)"
    if metric.startswith("tops_"):
        return f"{metric[5:]} TOPS"
    return metric


def _unit_flags(report: FleetReport, row: Any) -> str:
    flags = [f for f, on in (("OUTLIER", row["outlier"]), ("stand-in", row["stand_in"]),
                             ("no serial", not row["identified"]),
                             ("not in manifest", report.manifest and row["identified"] and not row.get("in_manifest", True)))
             if on]
    return ", ".join(flags) or "ok"


def _measured_cell(row: Any, metric: str) -> str:
    value, u = row[metric], row.get(f"U_{metric}")
    if isinstance(u, float) and not math.isnan(u) and not math.isnan(value):
        return f"{_fmt(value)} ± {_fmt(u, 2)}"
    return _fmt(value)


def lot_tables(report: FleetReport) -> list[Table]:
    """The unit table and the lot statistics table (cells already formatted)."""
    header = (["Unit", "Device", "Verdict", "Evidence"] + [f"{metric_label(m)} ± U" for m in report.metrics]
              + ["Largest deviation", "Flags"])
    rows = []
    for _, row in report.units.iterrows():
        devs = [abs(row[f"dev_{m}"]) for m in report.metrics if not math.isnan(row[f"dev_{m}"])]
        worst = max(devs) if devs else float("nan")
        rows.append([str(row["unit"]), _fmt(row["device"]), _fmt(row["verdict"]), str(row["evidence"])]
                    + [_measured_cell(row, m) for m in report.metrics]
                    + ["—" if math.isnan(worst) else f"{worst:.1%}", _unit_flags(report, row)])
    stats = [[metric_label(m), _fmt(s["min"]), _fmt(s["median"]), _fmt(s["max"]), str(int(s["n"])),
              "—" if math.isnan(s["robust_spread"]) else f"{s['robust_spread']:.2%}"]
             for m, s in report.lot_stats.iterrows()]
    return [Table(header, rows, title="Units", align=["l", "l", "l", "l"] + ["r"] * (len(header) - 5) + ["l"]),
            Table(["Metric", "Min", "Median", "Max", "Units", "Robust spread (MAD / median)"], stats,
                  title="Lot statistics")]


def _flag_lines(report: FleetReport) -> list[str]:
    lines: list[str] = []
    problems = [("Evidence", report.evidence), ("Failing units", report.failing), ("Outliers", report.outliers),
                ("Missing serials", report.missing), ("Unexpected serials", report.unexpected),
                ("Duplicates", report.duplicates), ("Device mismatch", report.device_mismatch),
                ("Undecided", report.undecided), ("No serial", report.unidentified)]
    lines += ["", "## Flags", ""]
    found = False
    for title, items in problems:
        for item in items:
            lines.append(f"- {title}: {item}")
            found = True
    if not found:
        lines.append("- none")
    meaning = {RESULT_OK: "every unit verified, identified and passing", RESULT_NOT_OK: "a unit fails or its "
               "evidence does not hold", RESULT_UNDECIDED: "nothing fails, but a unit cannot be decided"}
    lines += ["", f"Lot result: {report.result} ({meaning[report.result]})"]
    return lines


def render_text(report: FleetReport) -> str:
    """The lot report for a terminal: the same content as render_markdown, tables in the house style."""
    head = render_markdown(report).split("\n## Units", 1)[0].replace("**", "").replace("# Lot summary", "Lot summary")
    tables = lot_tables(report)
    width = max([terminal_width()] + [sum(max(len(c) for c in col) + 3 for col in zip(t.columns, *t.rows)) for t in tables])
    flags = "\n".join(_flag_lines(report)).replace("## Flags", "Flags")
    return head.rstrip() + "\n\n" + to_text(tables, width=width) + "\n" + flags + "\n"


def render_markdown(report: FleetReport) -> str:
    """The lot report as Markdown: accepted weaker evidence first, labels, unit table, lot statistics, flags."""
    units = report.units
    lines = [f"**{UNSIGNED_BANNER}**", ""] if report.allow_unsigned else []
    lines += ["# Lot summary", ""]
    if report.manifest:
        lot = report.manifest.lot or Path(report.manifest.path).name
        lines.append(f"Lot {lot}: {len(report.manifest.expected)} units expected, {len(units)} measured.")
    else:
        lines.append(f"{len(units)} units measured (no manifest: serials not reconciled).")
    if report.spread_note:
        lines.append(f"Spread: {report.spread_note}.")
    else:
        lines.append(f"Spread: a unit is an outlier when it lies more than ±{report.spread:.0%} from the lot median "
                     "of a metric, beyond its own uncertainty U (k = 2); robust z = deviation / (1.4826 × MAD).")
    lines += [f"**{label}**" for label in report.labels]
    unit_table, stats_table = lot_tables(report)
    lines += ["", "## Units", ""]
    lines += _table(unit_table.columns, unit_table.rows)
    lines += ["", "## Lot statistics", ""]
    lines += _table(stats_table.columns, stats_table.rows)
    lines += _flag_lines(report)
    return "\n".join(lines) + "\n"
