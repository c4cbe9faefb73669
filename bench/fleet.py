"""Fleet / shipment-lot aggregation: many run folders -> one table per unit plus lot statistics.

Each unit's serial comes from its identity block (`identity.sources[*].fields.serial`, else
`uuid`); a unit without one is listed as "no serial" under device name, host and index and
cannot be reconciled against a manifest. Deviation is taken from the lot median of each
metric; a unit beyond the spread (5% by default, the procurement convention) is flagged in
either direction: low may be a limited part, high a relabelled one.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from bench.errors import ConfigError, UsageError
from bench.record.folder import read_run
from bench.yamlfile import read_yaml

DEFAULT_SPREAD = 0.05
PASSING_VERDICTS = {"pass", "conditional pass"}
SERIAL_FIELDS = ("serial", "serial_number", "board_serial", "product_serial", "asic_serial")
UUID_FIELDS = ("uuid", "gpu_uuid", "unique_id")


@dataclasses.dataclass(frozen=True)
class UnitSummary:
    """Who a measured unit is. `unit_id` is the serial, else the UUID, else a 'no serial' label."""

    unit_id: str
    serial: str | None
    uuid: str | None
    device_name: str | None
    backend: str | None
    host: str | None
    index: int | None
    stand_in: bool  # a CPU process standing in for an accelerator unit

    @property
    def identified(self) -> bool:
        return bool(self.serial or self.uuid)


def _identity_value(identity: dict[str, Any] | None, names: tuple[str, ...]) -> str | None:
    if not isinstance(identity, dict):
        return None
    for name in names:
        if identity.get(name):
            return str(identity[name])
    sources = [s for s in identity.get("sources") or [] if isinstance(s, dict)]
    # The accelerator's own source before the host CPU's, so a host id never names the unit.
    for source in sorted(sources, key=lambda s: s.get("source") == "cpu"):
        fields = source.get("fields") or {}
        for name in names:
            if fields.get(name):
                return str(fields[name])
    return None


def _unit_summary(part: dict[str, Any], run: dict[str, Any], position: int) -> UnitSummary:
    device = part.get("device") or {}
    identity = part.get("identity")
    serial = _identity_value(identity, SERIAL_FIELDS)
    uuid = _identity_value(identity, UUID_FIELDS)
    host = ((part.get("host") or run.get("host")) or {}).get("hostname")
    index = device.get("index")
    index = position if index is None else index
    name = device.get("name")
    unit_id = serial or uuid or f"{name or 'unknown device'} @ {host or 'unknown host'} #{index} (no serial)"
    stand_in = device.get("backend") == "cpu" or bool((device.get("extra") or {}).get("stand_in"))
    return UnitSummary(unit_id, serial, uuid, name, device.get("backend"), host, index, stand_in)


def unit_parts(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-unit blocks of a run: `run["units"]` when present, else the run itself as one unit."""
    units = run.get("units")
    return list(units) if units else [run]


def unit_summaries(run: dict[str, Any]) -> list[UnitSummary]:
    return [_unit_summary(part, run, i) for i, part in enumerate(unit_parts(run))]


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
        data = data["manifest"]  # a test plan (bench/plan.py): its manifest block
    if isinstance(data, list):
        data = {"units": data}
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        raise ConfigError(f"manifest {path}: key 'units' must be a list of serials or UUIDs")
    expected = []
    for i, entry in enumerate(data["units"]):
        if isinstance(entry, (str, int)):
            expected.append(str(entry))
        elif isinstance(entry, dict) and (entry.get("serial") or entry.get("uuid")):
            expected.append(str(entry.get("serial") or entry.get("uuid")))
        else:
            raise ConfigError(f"manifest {path}: units[{i}] needs a serial or uuid, got {entry!r}")
    spread = data.get("spread")
    if spread is not None and (not isinstance(spread, (int, float)) or not 0 < spread < 1):
        raise ConfigError(f"manifest {path}: key 'spread' must be a fraction between 0 and 1, got {spread!r}")
    return LotManifest(str(path), expected, data.get("device"), data.get("lot"), spread)


# --- aggregation ---------------------------------------------------------------------------

@dataclasses.dataclass
class FleetReport:
    """Lot table, lot statistics and every problem found. `ok` is False on any flag."""

    units: Any  # pandas.DataFrame, one row per measured unit
    lot_stats: Any  # pandas.DataFrame indexed by metric: min, median, max, n
    spread: float
    metrics: list[str]
    outliers: list[str] = dataclasses.field(default_factory=list)  # "unit: metric +7.1% from lot median"
    failing: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    duplicates: list[str] = dataclasses.field(default_factory=list)
    unidentified: list[str] = dataclasses.field(default_factory=list)
    device_mismatch: list[str] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)
    manifest: LotManifest | None = None

    @property
    def ok(self) -> bool:
        return not (self.outliers or self.failing or self.missing or self.unexpected or self.duplicates
                    or self.device_mismatch or (self.manifest and self.unidentified))

    def to_dict(self) -> dict[str, Any]:
        units = self.units.astype(object).where(self.units.notna(), None).to_dict(orient="records")
        stats = self.lot_stats.astype(object).where(self.lot_stats.notna(), None)
        return {
            "ok": self.ok,
            "spread": self.spread,
            "units": units,
            "lot_stats": {metric: stats.loc[metric].to_dict() for metric in stats.index},
            "outliers": self.outliers, "failing": self.failing, "missing": self.missing,
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
        values[f"tops_{dtype}"] = (entry or {}).get("tops")
    return values


def _computed_verdict(part: dict[str, Any], run: dict[str, Any], profile: str) -> str:
    """check_run under `profile` for a unit without a stored verdict; an error becomes the label."""
    from bench.errors import BenchError
    from bench.verdict import check_run

    unit_run = run if part is run else {**{k: v for k, v in run.items() if k != "units"}, **part}
    try:
        return check_run(unit_run, profile=profile).verdict
    except BenchError as exc:
        return f"inconclusive ({exc})"


def _unit_rows(run_dir: Path, run: dict[str, Any], signature: str, profile: str | None) -> list[dict[str, Any]]:
    from bench.recompute import with_stored_verdict

    run = with_stored_verdict(run, run_dir)
    rows = []
    for i, part in enumerate(unit_parts(run)):
        unit = _unit_summary(part, run, i)
        stored = ((part.get("verdict") if part is not run else run.get("verdict")) or {}).get("verdict")
        verdict, source = (stored, "stored") if stored else (None, None)
        if not stored and profile:
            verdict, source = _computed_verdict(part, run, profile), f"computed ({profile})"
        row = {
            "unit": unit.unit_id, "serial": unit.serial, "uuid": unit.uuid, "device": unit.device_name,
            "host": unit.host, "run_id": run.get("run_id"), "unit_index": i, "run_dir": str(run_dir),
            "verdict": verdict, "verdict_source": source, "signature": signature,
            "stand_in": unit.stand_in, "identified": unit.identified,
        }
        row.update(_summary_metrics(part.get("summary") or (run.get("summary") if part is run else {}) or {}))
        rows.append(row)
    return rows


def _read_run(run_dir: Path) -> dict[str, Any]:
    return dict(read_run(run_dir))


def aggregate(run_dirs: Iterable[str | Path], manifest: LotManifest | None = None,
              spread: float | None = None, check_signatures: bool = True,
              profile: str | None = None) -> FleetReport:
    """Aggregate run folders into a lot report. `spread` is a fraction (0.05 = 5%).

    A unit's verdict is the stored one (run.json `verdict` or verdict.json); with `profile`, a unit
    without one is judged by bench.verdict.check_run under that threshold profile."""
    import pandas as pd

    from bench.signing import signature_status

    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise UsageError("no run folders given")
    spread = spread if spread is not None else (manifest.spread if manifest and manifest.spread else DEFAULT_SPREAD)
    if not 0 < spread < 1:
        raise UsageError(f"spread must be a fraction between 0 and 1, got {spread}")
    rows = []
    for run_dir in run_dirs:
        run = _read_run(run_dir)
        status = signature_status(run_dir) if check_signatures else "not checked"
        rows.extend(_unit_rows(run_dir, run, status, profile))
    units = pd.DataFrame(rows)
    metric_names = [c for c in units.columns if c in ("effective_tpp", "dram_bandwidth_gbs") or c.startswith("tops_")]
    units[metric_names] = units[metric_names].apply(pd.to_numeric, errors="coerce")
    lot_stats = pd.DataFrame({
        "min": units[metric_names].min(), "median": units[metric_names].median(),
        "max": units[metric_names].max(), "n": units[metric_names].count(),
    }).reindex(metric_names)
    report = FleetReport(units=units, lot_stats=lot_stats, spread=spread, metrics=metric_names, manifest=manifest)
    _flag_deviations(report)
    _flag_units(report)
    if manifest:
        _reconcile(report, manifest)
    return report


def _flag_deviations(report: FleetReport) -> None:
    units = report.units
    outlier = [False] * len(units)
    for metric in report.metrics:
        median = report.lot_stats.loc[metric, "median"]
        column = f"dev_{metric}"
        if not median or math.isnan(median):
            units[column] = float("nan")
            continue
        units[column] = (units[metric] - median) / median
        for i, deviation in enumerate(units[column]):
            if not math.isnan(deviation) and abs(deviation) > report.spread:
                outlier[i] = True
                report.outliers.append(f"{units.loc[i, 'unit']}: {metric} {deviation:+.1%} from lot median "
                                       f"(beyond ±{report.spread:.0%})")
    units["outlier"] = outlier


def _flag_units(report: FleetReport) -> None:
    units = report.units
    for _, row in units.iterrows():
        verdict = row["verdict"]
        if isinstance(verdict, str) and verdict not in PASSING_VERDICTS:
            report.failing.append(f"{row['unit']}: verdict {verdict}")
        if not row["identified"]:
            report.unidentified.append(f"{row['unit']}: no serial or UUID recorded")
    counts = Counter(units.loc[units["identified"], "unit"])
    report.duplicates = [f"{unit}: measured {n} times" for unit, n in sorted(counts.items()) if n > 1]
    same_run = Counter(zip(units["run_id"], units["unit_index"]))
    report.duplicates += [f"run {run_id} unit {index}: given {n} times (counted once per folder)"
                          for (run_id, index), n in sorted(same_run.items(), key=str) if n > 1 and run_id]
    if units["stand_in"].any():
        n = int(units["stand_in"].sum())
        report.labels.append(f"CPU stand-in: {n} unit(s) are CPU processes standing in for accelerators")
    unsigned = units.loc[units["signature"] != "signed (verified)", "signature"]
    if len(unsigned) and not (unsigned == "not checked").all():
        report.labels.append(f"{len(unsigned)} unit(s) not signed-and-verified: "
                             + ", ".join(sorted(set(unsigned))))


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


def render_markdown(report: FleetReport) -> str:
    """The lot report as Markdown: labels, unit table, lot statistics, flags, verdict line."""
    units = report.units
    lines = ["# Lot summary", ""]
    if report.manifest:
        lot = report.manifest.lot or Path(report.manifest.path).name
        lines.append(f"Lot {lot}: {len(report.manifest.expected)} units expected, {len(units)} measured.")
    else:
        lines.append(f"{len(units)} units measured (no manifest: serials not reconciled).")
    lines.append(f"Outlier spread: ±{report.spread:.0%} from the lot median of each metric.")
    lines += [f"**{label}**" for label in report.labels]
    lines += ["", "## Units", ""]
    header = ["unit", "device", "verdict", "signature"] + report.metrics + ["max dev", "flag"]
    rows = []
    for _, row in units.iterrows():
        devs = [abs(row[f"dev_{m}"]) for m in report.metrics if not math.isnan(row[f"dev_{m}"])]
        worst = max(devs) if devs else float("nan")
        flags = [f for f, on in (("OUTLIER", row["outlier"]), ("stand-in", row["stand_in"]),
                                 ("not in manifest", report.manifest and row["identified"] and not row.get("in_manifest", True)))
                 if on]
        rows.append([str(row["unit"]), _fmt(row["device"]), _fmt(row["verdict"]), row["signature"]]
                    + [_fmt(row[m]) for m in report.metrics]
                    + ["—" if math.isnan(worst) else f"{worst:.1%}", ", ".join(flags) or "ok"])
    lines += _table(header, rows)
    lines += ["", "## Lot statistics", ""]
    lines += _table(["metric", "min", "median", "max", "n"],
                    [[m, _fmt(s["min"]), _fmt(s["median"]), _fmt(s["max"]), str(int(s["n"]))]
                     for m, s in report.lot_stats.iterrows()])
    problems = [("Outliers", report.outliers), ("Failing units", report.failing), ("Missing serials", report.missing),
                ("Unexpected serials", report.unexpected), ("Duplicates", report.duplicates),
                ("Device mismatch", report.device_mismatch), ("No serial", report.unidentified)]
    lines += ["", "## Flags", ""]
    found = False
    for title, items in problems:
        for item in items:
            lines.append(f"- {title}: {item}")
            found = True
    if not found:
        lines.append("- none")
    lines += ["", f"Lot result: {'OK' if report.ok else 'NOT OK'}"]
    return "\n".join(lines) + "\n"
