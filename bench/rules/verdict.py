"""Export-control verdict for a measured run: five checks, each reported separately, combined
into one ILAC-G8 outcome (pass, conditional pass, conditional fail, fail) or inconclusive.

1. declared: the declared spec against the profile (does the declared part qualify?)
2. contradiction: measured against declared peaks; measured above the declared theoretical peak
   beyond uncertainty means the part is more capable than declared (the headline failure)
3. threshold: measured against the profile directly; a measured value is a *lower bound* on the
   theoretical peak, so it can prove a part is above a limit, never that it is below one
4. plausibility: a measurement far below what the architecture normally reaches (or taken while
   throttled / power-capped) makes a "below the line" conclusion inconclusive
5. identity: detected device against the declared one

Expanded uncertainty U (k = 2) comes from `summary.uncertainty[metric]` when the run has an
uncertainty budget, else from the run's own 95 % confidence interval (and the output says so).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping, cast

from bench.analysis import metrics
from bench.analysis.metrics import CONDITIONAL_FAIL, CONDITIONAL_PASS, FAIL, INCONCLUSIVE, PASS
from bench.analysis.summary import DEFAULT_MAX_RELATIVE_U, build_summary, indefensible
from bench.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    ConfigError,
    ResultsError,
    UsageError,
)
from bench.record import folder as folder_module
from bench.record.verdict_file import judged_block, stale_verdict  # noqa: F401 -- re-exported for readers
from bench.render import Table, fmt, humanize_criterion, md_table, terminal_width, to_text
from bench.rules.profiles import (
    Profile,
    classify_spec,
    conclusion_depends_on,
    declared_notes,
    load_profile,
    region_outcomes,
)
from bench.rules.specs import (
    Database,
    DeviceSpec,
    canonical_dtype,
    devices_dir,
    load_database,
    load_declared,
)

RANK = {FAIL: 0, CONDITIONAL_FAIL: 1, INCONCLUSIVE: 2, CONDITIONAL_PASS: 3, PASS: 4}
EXIT_CODES = {PASS: EXIT_OK, CONDITIONAL_PASS: EXIT_OK, FAIL: EXIT_CHECK_FAILED,
              CONDITIONAL_FAIL: EXIT_CHECK_FAILED, INCONCLUSIVE: EXIT_INCONCLUSIVE}
RULES = ("simple", "guarded")
MEASURABLE = ("tpp", "performance_density", "dram_bandwidth_gbps")
CAPABILITY = ("tpp", "dram_bandwidth_gbps")  # the variables a run measures (PD follows from TPP)
UNCERTAINTY_FROM_CI = "run statistics: half-width of the 95 % CI of the median (about k = 2); no uncertainty budget in this run"
UNCERTAINTY_FROM_BUDGET = "uncertainty budget in run.json (summary.uncertainty, k = 2)"
DERIVED_TOLERANCE = 1.15  # reported units x clock may exceed the declared peak by this much (boost clocks)
LIKELY_CAUSES = ("power cap or low clock lock", "thermal or power throttling", "wrong code path "
                 "(library fallback, TF32 off, wrong accumulate mode)", "device shared with other work",
                 "a deliberately limited (sandbagged) part")
SUSPECT_FINDINGS = ("power", "clock", "throttl", "cap", "limit", "shared", "contention", "ecc", "mig")


@dataclasses.dataclass
class Measured:
    """One measured quantity with expanded uncertainty U (k = 2), in the unit of its metric."""

    metric: str
    value: float
    U: float
    uncertainty_source: str
    measurement_id: str | None = None
    dtype: str | None = None


@dataclasses.dataclass
class Criterion:
    """One row: declared, derived and measured values side by side with the limit and outcome."""

    check: str
    id: str
    description: str
    metric: str | None = None
    unit: str | None = None
    limit: float | None = None
    declared: Any = None
    derived: float | None = None
    measured: float | None = None
    U: float | None = None
    acceptance_limit: float | None = None
    outcome: str = INCONCLUSIVE
    note: str = ""


@dataclasses.dataclass
class Check:
    id: str
    title: str
    outcome: str
    summary: str
    criteria: list[Criterion]


@dataclasses.dataclass
class Verdict:
    verdict: str
    exit_code: int
    profile: dict[str, Any]
    rule: str
    declared: dict[str, Any]
    detected: dict[str, Any]
    uncertainty_source: str
    checks: list[Check]
    statement: str
    notes: list[str]
    reason: str | None = None  # "uncertainty too large" when nothing defensible set a headline value
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)  # how to re-derive it (bench verify)

    @property
    def criteria(self) -> list[Criterion]:
        return [row for check in self.checks for row in check.criteria]

    def check(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["criteria"] = [dataclasses.asdict(row) for row in self.criteria]
        for check in data["checks"]:
            check.pop("criteria")
        return cast(dict[str, Any], _finite(data))


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_DATABASE_CACHE: dict[tuple[Any, ...], Database] = {}


def shipped_database() -> Database:
    """The shipped specification database, parsed once per process while its files are unchanged
    (fleet and verify judge many units; parsing the YAML takes about a second)."""
    folder = Path(str(devices_dir()))
    stamp = tuple(sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in folder.iterdir()))
    if stamp not in _DATABASE_CACHE:
        _DATABASE_CACHE.clear()
        _DATABASE_CACHE[stamp] = load_database()
    return _DATABASE_CACHE[stamp]


# --- reading a run --------------------------------------------------------------------------------

def read_run(run: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(run, Mapping):
        return dict(run)
    return dict(folder_module.read_run(run))


def _finite_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ResultsError(f"run.json: {what} is {str(value)[:40]!r}, not a finite number")
    return float(value)


def _number(value: Any, what: str, *, positive: bool = False) -> float:
    """A finite number (>= 0, or > 0 with `positive`) from a run, else ResultsError: an input error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ResultsError(f"run.json: {what} is {str(value)[:40]!r}, not a finite number")
    if value < 0 or (positive and value == 0):
        raise ResultsError(f"run.json: {what} is {value!r}; it must be {'positive' if positive else 'at least 0'}")
    return float(value)


def _budget(summary: Mapping[str, Any], *keys: str) -> Mapping[str, Any] | None:
    table = summary.get("uncertainty") or {}
    for key in keys:
        block = table.get(key)
        if isinstance(block, Mapping) and block.get("U") is not None:
            return block
    return None


def _own_budget(run: Mapping[str, Any], measurement_id: str | None) -> Mapping[str, Any] | None:
    """A measurement's own uncertainty block (bench/analysis/uncertainty.py for_measurement), if any."""
    block = _measurement(run, measurement_id).get("uncertainty")
    return block if isinstance(block, Mapping) and block.get("U") is not None else None


def _measurement(run: Mapping[str, Any], measurement_id: str | None) -> Mapping[str, Any]:
    return next((m for m in run.get("measurements") or [] if m.get("id") == measurement_id), {})


def _expanded_u(budget: Mapping[str, Any] | None, value: float, ci: Any, what: str) -> tuple[float, str]:
    """U (k = 2) of a value: its budget's U, else the larger half-width of its 95 % CI, else NaN."""
    if budget:
        return _number(budget["U"], f"{what} uncertainty U"), UNCERTAINTY_FROM_BUDGET
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        low, high = (_finite_number(x, f"{what} ci95") for x in ci)
        if low > high:
            raise ResultsError(f"run.json: {what} ci95 [{low:g}, {high:g}] is reversed")
        return metrics.expanded_from_interval(value, (low, high)), UNCERTAINTY_FROM_CI
    return math.nan, UNCERTAINTY_FROM_CI


def _headline_summary(run: Mapping[str, Any], max_relative_u: float | None) -> Mapping[str, Any]:
    """The run's summary, or one re-derived under another defensibility ceiling (bench check --max-relative-u)."""
    summary = run.get("summary") or {}
    if max_relative_u is None:
        return summary if isinstance(summary, Mapping) else {}
    try:
        return build_summary(run, max_relative_u)
    except (KeyError, TypeError, AttributeError, ValueError, ZeroDivisionError) as exc:
        raise ResultsError(f"run.json: cannot re-select the headline peaks ({type(exc).__name__}: {exc})") from None


def measured_values(run: Mapping[str, Any], max_relative_u: float | None = None) -> dict[str, Measured]:
    """tpp, dram_bandwidth_gbps and gemm:<dtype> (TOPS) from a run, each with U (k = 2).

    Raises ResultsError for a value or uncertainty that is not a finite number >= 0."""
    summary = _headline_summary(run, max_relative_u)
    out: dict[str, Measured] = {}
    tpp_block = summary.get("effective_tpp")
    if isinstance(tpp_block, Mapping) and "by_dtype" in tpp_block:
        by_dtype = tpp_block["by_dtype"] or {}  # empty: nothing defensible, never a fallback to every case
    else:
        by_dtype = _by_dtype_from_measurements(run, max_relative_u)
    for dtype, entry in by_dtype.items():
        tops = entry.get("tops")
        if not tops:
            continue
        tops = _number(tops, f"summary TOPS of {dtype}", positive=True)
        budget = (_budget(summary, f"gemm/{dtype}", entry.get("measurement_id") or "")
                  or _own_budget(run, entry.get("measurement_id")))
        ci = entry.get("ci95_tops") or (_measurement(run, entry.get("measurement_id")).get("throughput") or {}).get("ci95")
        U, source = _expanded_u(budget, tops, ci, f"{dtype} GEMM")
        out[f"gemm:{dtype}"] = Measured(f"gemm:{dtype}", tops, U, source, entry.get("measurement_id"), dtype)
    tops_by_dtype = {cast(str, m.dtype): m.value for m in out.values()}  # only gemm:<dtype> entries so far
    tpp_value, tpp_dtype = metrics.max_tpp(tops_by_dtype) if tops_by_dtype else (0.0, None)
    if tpp_value > 0 and tpp_dtype:
        gemm = out[f"gemm:{tpp_dtype}"]
        budget = _budget(summary, "tpp", "effective_tpp")
        U, source = ((_number(budget["U"], "TPP uncertainty U"), UNCERTAINTY_FROM_BUDGET) if budget
                     else (gemm.U * metrics.bit_length(tpp_dtype), gemm.uncertainty_source))
        out["tpp"] = Measured("tpp", tpp_value, U, source, gemm.measurement_id, tpp_dtype)
    bandwidth = summary.get("effective_dram_bandwidth") or {}
    if bandwidth.get("value"):
        value = _number(bandwidth["value"], "effective DRAM bandwidth", positive=True)
        budget = (_budget(summary, "dram_bandwidth_gbps", "effective_dram_bandwidth")
                  or _own_budget(run, bandwidth.get("measurement_id")))
        ci = (_measurement(run, bandwidth.get("measurement_id")).get("throughput") or {}).get("ci95")
        U, source = _expanded_u(budget, value, ci, "DRAM bandwidth")
        out["dram_bandwidth_gbps"] = Measured("dram_bandwidth_gbps", value, U, source, bandwidth.get("measurement_id"))
    return out


def _by_dtype_from_measurements(run: Mapping[str, Any], max_relative_u: float | None = None) -> dict[str, dict[str, Any]]:
    """Best passing, defensible GEMM per dtype, for runs without a summary block."""
    ceiling = DEFAULT_MAX_RELATIVE_U if max_relative_u is None else max_relative_u
    records = [{"dtype": m["dtype"], "tops": m["throughput"]["value"], "measurement_id": m["id"],
                "ci95_tops": m["throughput"].get("ci95")}
               for m in run.get("measurements") or []
               if m.get("suite") == "gemm" and m.get("status", "ok") == "ok" and m.get("throughput")
               and not indefensible(m, ceiling)]
    return {dtype: dict(r) for dtype, r in metrics.best_by(records, "tops", "dtype").items()}


# --- the five checks --------------------------------------------------------------------------------

def _decide(value: float, U: float, limit: float, rule: str) -> tuple[str, float | None]:
    """Outcome and acceptance limit for a value that should stay below `limit`."""
    if math.isnan(U):
        U = 0.0 if rule == "simple" else math.nan
    if math.isnan(U):
        return INCONCLUSIVE, math.nan
    outcome = metrics.decide(value, U, limit, below_is_conforming=True, rule=rule)
    accept = metrics.acceptance_limit(limit, U, rule, below_is_conforming=True)
    if accept <= 0:  # the guard band swallows the whole conforming zone: nothing below the limit can be shown
        return (outcome if outcome in (FAIL, CONDITIONAL_FAIL) else INCONCLUSIVE), None
    return outcome, accept


def _measured_for(metric: str, measured: Mapping[str, Measured], spec: DeviceSpec) -> Measured | None:
    if metric == "performance_density":
        tpp = measured.get("tpp")
        if not tpp or not spec.die_area_mm2:
            return None
        return Measured(metric, tpp.value / spec.die_area_mm2, tpp.U / spec.die_area_mm2,
                        tpp.uncertainty_source, tpp.measurement_id, tpp.dtype)
    return measured.get(metric)


def _derived_for(metric: str, derived_tpp: float | None, spec: DeviceSpec) -> float | None:
    if derived_tpp is None:
        return None
    if metric == "tpp":
        return derived_tpp
    if metric == "performance_density":
        return metrics.performance_density(derived_tpp, spec.die_area_mm2)
    return None


def check_declared(profile: Profile, spec: DeviceSpec, measured: Mapping[str, Measured],
                   derived_tpp: float | None, rule: str) -> Check:
    values = spec.profile_values()
    rows = []
    for rule_obj, leaf in profile.leaves():
        state = leaf.evaluate(values)
        name = cast(str, leaf.metric or leaf.flag)  # a leaf tests a metric or a flag
        row = Criterion("declared", f"{rule_obj.id}: {leaf.describe()}", rule_obj.description, name,
                        leaf.unit, leaf.value, values.get(name),
                        _derived_for(leaf.metric or "", derived_tpp, spec),
                        outcome={True: "met", False: "not met", None: "unknown"}[state])
        m = _measured_for(leaf.metric or "", measured, spec)
        if m:
            row.measured, row.U = m.value, m.U
            if _toward_nonconformity(profile, leaf.op):
                row.acceptance_limit = _decide(m.value, m.U, cast(float, leaf.value), rule)[1]
        rows.append(row)
    result = classify_spec(spec, profile)
    outcome = {True: PASS, False: FAIL, None: INCONCLUSIVE}[result.conforms]
    summary = f"declared {spec.name}: {result.label}"
    if result.matched:
        summary += f" (matches {', '.join(result.matched)})"
    if result.exempted_by:
        summary += f" (exempted by {', '.join(result.exempted_by)})"
    if result.undetermined:
        summary += f"; undetermined: {', '.join(result.undetermined)}"
    if (depends := conclusion_depends_on(spec, profile)) and outcome != INCONCLUSIVE:
        outcome = INCONCLUSIVE  # the declaration cannot support either conclusion
        summary += "; inconclusive: the conclusion changes across an estimated value: " + "; ".join(depends)
    return Check("declared", "1. declared spec against the profile", outcome, summary, rows)


def _toward_nonconformity(profile: Profile, op: str | None) -> bool:
    """Whether a larger value of this leaf's metric moves the item toward non-conformity."""
    if op is None:
        return False
    upward = op in (">=", ">")
    return upward if profile.conforms_when == "outside" else not upward


def check_contradiction(spec: DeviceSpec, measured: Mapping[str, Measured], derived_tpp: float | None, rule: str) -> Check:
    rows = []
    if "tpp" in measured:
        m = measured["tpp"]
        outcome, al = _decide(m.value, m.U, spec.tpp, rule)
        rows.append(Criterion("contradiction", "tpp <= declared TPP", "measured effective TPP against the declared theoretical TPP",
                              "tpp", "TPP", spec.tpp, spec.tpp, derived_tpp, m.value, m.U, al, outcome,
                              f"measured max from {m.dtype}; declared max from {spec.tpp_dtype}"))
    for key, m in sorted(measured.items()):
        if not key.startswith("gemm:"):
            continue
        peak = spec.peak_tops(cast(str, m.dtype))  # gemm:<dtype> entries have a dtype
        if peak is None:
            rows.append(Criterion("contradiction", f"{m.dtype} TOPS <= declared", "no declared peak for this dtype",
                                  f"tops:{m.dtype}", "TOPS", None, None, None, m.value, m.U, None, INCONCLUSIVE,
                                  "the declaration lists no dense peak for this data type"))
            continue
        outcome, al = _decide(m.value, m.U, peak, rule)
        rows.append(Criterion("contradiction", f"{m.dtype} TOPS <= declared", f"measured dense {m.dtype} GEMM against the declared peak (fastest accumulate mode)",
                              f"tops:{m.dtype}", "TOPS", peak, peak, None, m.value, m.U, al, outcome))
    if "dram_bandwidth_gbps" in measured and spec.dram_bandwidth_gbps:
        m = measured["dram_bandwidth_gbps"]
        outcome, al = _decide(m.value, m.U, spec.dram_bandwidth_gbps, rule)
        rows.append(Criterion("contradiction", "DRAM GB/s <= declared", "measured STREAM bandwidth against the declared peak DRAM bandwidth",
                              "dram_bandwidth_gbps", "GB/s", spec.dram_bandwidth_gbps, spec.dram_bandwidth_gbps, None,
                              m.value, m.U, al, outcome))
    unmeasured = _unmeasured_declared(spec, measured)
    rows.extend(unmeasured)
    decisive = [r for r in rows if r.limit is not None]
    if not decisive:
        return Check("contradiction", "2. measured against declared", INCONCLUSIVE,
                     "nothing measured that the declaration gives a peak for"
                     + "".join(f"; {r.note}" for r in unmeasured), rows)
    outcome = min((r.outcome for r in decisive), key=RANK.__getitem__)
    if unmeasured and RANK[outcome] > RANK[INCONCLUSIVE]:
        return Check("contradiction", "2. measured against declared", INCONCLUSIVE,
                     "not measured: " + "; ".join(r.note for r in unmeasured)
                     + " (leaving it out can never do better than measuring it low)", rows)
    if spec.estimate and outcome in (FAIL, CONDITIONAL_FAIL):
        return Check("contradiction", "2. measured against declared", INCONCLUSIVE,
                     "measured above an estimated peak: the estimate (derived from the host; its clock may be "
                     "below the boost clock) is too low, which contradicts no declaration", rows)
    summary = {FAIL: "declaration contradicted: the part measured faster than its declared theoretical peak",
               CONDITIONAL_FAIL: "declaration probably contradicted: measured above the declared peak, within uncertainty",
               CONDITIONAL_PASS: "consistent with the declaration, but a measurement is within uncertainty of a declared peak",
               PASS: "consistent with the declaration: every measurement is below the declared peak",
               INCONCLUSIVE: "a measurement has no usable uncertainty"}[outcome]
    return Check("contradiction", "2. measured against declared", outcome, summary, rows)


def _unmeasured_declared(spec: DeviceSpec, measured: Mapping[str, Measured]) -> list[Criterion]:
    """Rows for what sets the declaration but was not measured: the data type(s) of the declared TPP
    (any one of them, when several tie) and, when declared, the DRAM bandwidth."""
    rows = []
    best = spec.best_tops()
    declared_tpp = {dtype: metrics.tpp(tops, dtype) for dtype, tops in best.items()}
    setting = sorted(d for d, v in declared_tpp.items() if spec.tpp and math.isclose(v, spec.tpp, rel_tol=1e-9))
    measured_dtypes = {canonical_dtype(m.dtype) for key, m in measured.items() if key.startswith("gemm:") and m.dtype}
    if setting and not set(setting) & measured_dtypes:
        names = " or ".join(setting)
        rows.append(Criterion("contradiction", f"{names} measured", "the data type that sets the declared TPP must "
                              "be measured", "tpp", "TPP", declared=spec.tpp, outcome=INCONCLUSIVE,
                              note=f"{names} sets the declared TPP {spec.tpp:g} and was not measured"))
    if spec.dram_bandwidth_gbps and "dram_bandwidth_gbps" not in measured:
        rows.append(Criterion("contradiction", "DRAM bandwidth measured", "the declared DRAM bandwidth must be measured",
                              "dram_bandwidth_gbps", "GB/s", declared=spec.dram_bandwidth_gbps, outcome=INCONCLUSIVE, note="DRAM bandwidth (stream, DRAM-sized) was not measured"))
    return rows


def check_threshold(profile: Profile, spec: DeviceSpec, measured: Mapping[str, Measured], rule: str) -> Check:
    rows = []
    for rule_obj, leaf in profile.leaves():
        if leaf.metric not in MEASURABLE:
            continue
        m = _measured_for(leaf.metric, measured, spec)
        row = Criterion("threshold", f"{rule_obj.id}: {leaf.describe()}", rule_obj.description, leaf.metric, leaf.unit,
                        leaf.value, spec.profile_values().get(leaf.metric))
        if m is None:
            row.outcome, row.note = "n/a", "not measured in this run" if leaf.metric != "performance_density" or "tpp" not in measured else "no declared die area"
        else:
            row.measured, row.U = m.value, m.U
            if _toward_nonconformity(profile, leaf.op):
                row.outcome, row.acceptance_limit = _decide(m.value, m.U, cast(float, leaf.value), rule)
                if row.outcome in (PASS, CONDITIONAL_PASS):
                    row.note = "not shown to exceed; a measured value is a lower bound, so it cannot show the part is below"
            else:
                row.outcome = "n/a"
                row.note = "this bound is crossed by a lower value; a lower-bound measurement cannot show a value is below it"
        rows.append(row)
    available = {metric: measured[metric] for metric in CAPABILITY if metric in measured}
    if not available:
        return Check("threshold", "3. measured against the threshold", INCONCLUSIVE, "nothing measured that the profile tests", rows)
    if any(math.isnan(m.U) for m in available.values()) and rule == "guarded":
        return Check("threshold", "3. measured against the threshold", INCONCLUSIVE, "a measurement has no usable uncertainty", rows)
    outcome = _threshold_outcome(profile, spec, available, rule)
    summary = {FAIL: "the measured lower bound proves the part is beyond the profile's limits, whatever was declared",
               CONDITIONAL_FAIL: "the measured value is beyond a limit, but within uncertainty of it",
               CONDITIONAL_PASS: "the measured value is below the limits, but within uncertainty of one",
               PASS: "the measurement does not show the part beyond any limit (a measured value is a lower bound: "
                     "this does not prove the part is below the line)"}[outcome]
    return Check("threshold", "3. measured against the threshold", outcome, summary, rows)


def _threshold_outcome(profile: Profile, spec: DeviceSpec, available: Mapping[str, Measured], rule: str) -> str:
    """ILAC zone of the measurement against the whole profile: the true (theoretical) value of each
    measured metric is at least the measured one, and unmeasured capability metrics are free."""
    fixed = spec.profile_values()
    item = "hbm_stack" if spec.kind == "hbm_stack" else "accelerator"

    def ranges(offset: float, upper: float | None = None) -> dict[str, tuple[float, float]]:
        out = {}
        for metric in CAPABILITY:
            if metric in available:
                m = available[metric]
                low = max(m.value + offset * (m.U or 0.0), 0.0)
                out[metric] = (low, m.value + (upper or 0.0) * (m.U or 0.0) if upper is not None else math.inf)
            else:
                out[metric] = (0.0, math.inf)
        return out

    def proven_nonconforming(offset: float) -> bool:
        return region_outcomes(profile, ranges(offset), fixed, spec.die_area_mm2, item) == {False}

    if rule == "simple":
        return FAIL if proven_nonconforming(0.0) else PASS
    if proven_nonconforming(-1.0):
        return FAIL
    if proven_nonconforming(0.0):
        return CONDITIONAL_FAIL
    measured_only = {metric: (m.value, m.value + m.U) for metric, m in available.items()}
    near = region_outcomes(profile, measured_only, {**fixed, **{k: 0.0 for k in CAPABILITY if k not in available}},
                           spec.die_area_mm2, item)
    return CONDITIONAL_PASS if False in near else PASS


def check_plausibility(run: Mapping[str, Any], spec: DeviceSpec, measured: Mapping[str, Measured], database: Database) -> Check:
    rows = []
    cpu = spec.kind == "cpu"
    for key, m in sorted(measured.items()):
        if key.startswith("gemm:"):
            record = _measurement(run, m.measurement_id)
            accumulate = (record.get("params") or {}).get("accumulate") or "fp32"
            dtype = cast(str, m.dtype)  # gemm:<dtype> entries have a dtype
            peak = spec.peak_tops(dtype, accumulate)
            floor = database.plausibility_floor("gemm", canonical_dtype(dtype), cpu)
            label, unit = f"{m.dtype} GEMM efficiency", "TOPS"
        elif key == "dram_bandwidth_gbps":
            peak, floor = spec.dram_bandwidth_gbps, database.plausibility_floor("dram_bandwidth", None, cpu)
            label, unit = "DRAM bandwidth efficiency", "GB/s"
        else:
            continue
        if not peak:
            continue
        share = cast(float, metrics.efficiency(m.value, peak))  # a float: peak is not zero
        low = share < floor
        rows.append(Criterion("plausibility", label, f"measured / declared peak should be at least {floor:.0%}", key, unit,
                              floor, peak, None, m.value, m.U, None, INCONCLUSIVE if low else PASS,
                              f"{share:.1%} of declared" + (f"; likely causes: {', '.join(LIKELY_CAUSES)}" if low else "")))
    for finding in (run.get("audit") or {}).get("findings") or []:
        text = f"{finding.get('code', '')} {finding.get('message', '')}".lower()
        suspect = finding.get("lowers_results") or (finding.get("severity") in ("high", "medium")
                                                     and any(word in text for word in SUSPECT_FINDINGS))
        if suspect:
            rows.append(Criterion("plausibility", f"audit: {finding.get('code', '?')}", str(finding.get("message", "")),
                                  outcome=INCONCLUSIVE, note=f"severity {finding.get('severity')}; a finding that lowers results "
                                  "means a low measurement may not reflect the part"))
    throttled = [m.get("id") for m in run.get("measurements") or [] if (m.get("telemetry") or {}).get("throttled")]
    if throttled:
        rows.append(Criterion("plausibility", "telemetry: throttled", "measurements taken while the device throttled",
                              outcome=INCONCLUSIVE, note=", ".join(map(str, throttled))))
    if not rows:
        return Check("plausibility", "4. plausibility", INCONCLUSIVE, "nothing measured to judge against the declaration", rows)
    outcome = INCONCLUSIVE if any(r.outcome == INCONCLUSIVE for r in rows) else PASS
    summary = ("measurements are far below what this part should reach, or were taken under throttling or a power "
               "cap: a below-the-line conclusion cannot rest on them" if outcome == INCONCLUSIVE
               else "measured efficiencies are in the normal range for this architecture")
    return Check("plausibility", "4. plausibility", outcome, summary, rows)


def check_identity(device: Mapping[str, Any], spec: DeviceSpec, declared_how: str, derived_tpp: float | None) -> Check:
    detected = device.get("name") or "?"
    if spec.kind == "cpu":
        same = device.get("backend") == "cpu"
        name_row = Criterion("identity", "detected device is the declared one", "a CPU run checked against a CPU spec",
                             declared=spec.name, outcome=PASS if same else FAIL,
                             note=f"detected {detected!r} ({device.get('backend')})")
    else:
        same = device.get("backend") != "cpu" and spec.matches_name(detected)
        name_row = Criterion("identity", "detected device is the declared one", "driver-reported name against the declaration",
                             declared=spec.name, outcome=PASS if same else FAIL,
                             note=f"detected {detected!r}" + ("" if same else " does not match the declared part")
                             + ("; identity strings can be spoofed (test-lab.md §3.5)" if same else ""))
    rows = [name_row]
    if derived_tpp is not None and spec.kind != "cpu":
        too_high = derived_tpp > spec.tpp * DERIVED_TOLERANCE
        rows.append(Criterion("identity", "derived TPP consistent with declared",
                              f"units x max clock x ops/clock reported by the device, allowing {DERIVED_TOLERANCE - 1:.0%} for boost clocks",
                              "tpp", "TPP", spec.tpp * DERIVED_TOLERANCE, spec.tpp, derived_tpp,
                              outcome=CONDITIONAL_FAIL if too_high else PASS,
                              note="the device reports more units or a higher clock than the declared part has" if too_high else ""))
    outcome = min((r.outcome for r in rows), key=RANK.__getitem__)
    return Check("identity", "5. identity", outcome, f"declared {spec.name} ({declared_how}); detected {detected}", rows)


# --- the verdict -------------------------------------------------------------------------------------

def check_run(run: str | Path | Mapping[str, Any], profile: str | Profile = "us-2026-01",
              declared: str | DeviceSpec | None = None, rule: str = "guarded",
              database: Database | None = None, max_relative_u: float | None = None) -> Verdict:
    """The verdict for a measured run (a run folder, a run.json path, or the run dict) under a
    threshold profile (id, file path or Profile). `declared` is a database name, a spec file, a
    DeviceSpec, or None to auto-match the detected device (CPUs get the derived host spec).
    `rule` is the decision rule: "guarded" (guard band w = U, non-binary) or "simple" (w = 0).
    `max_relative_u`: the ceiling on a case's relative U above which it cannot set a headline peak
    (None: the one the run's summary was built with, bench.analysis.summary.DEFAULT_MAX_RELATIVE_U)."""
    if rule not in RULES:
        raise UsageError(f"unknown decision rule {rule!r}; use one of {', '.join(RULES)}")
    if max_relative_u is not None and (isinstance(max_relative_u, bool) or not isinstance(max_relative_u, (int, float))
                                       or not 0 < max_relative_u < math.inf):
        raise UsageError(f"--max-relative-u must be a positive number, got {max_relative_u!r}")
    data = read_run(run)
    database = database or shipped_database()
    profile_name = profile if isinstance(profile, str) else profile.id
    profile = load_profile(profile)
    _validate_profile(profile)
    parameters = {"profile": profile_name, "rule": rule, "declared": declared if isinstance(declared, str) else None,
                  "max_relative_u": max_relative_u}
    try:
        return _judge(data, profile, declared, rule, database, parameters)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise ResultsError(f"run.json: malformed run record ({type(exc).__name__}: {str(exc)[:120]})") from None


def _judge(data: dict[str, Any], profile: Profile, declared: str | DeviceSpec | None, rule: str,
           database: Database, parameters: dict[str, Any]) -> Verdict:
    max_relative_u = parameters["max_relative_u"]
    device = data.get("device") or {}
    if not isinstance(device, Mapping):
        raise ResultsError("run.json: 'device' is not an object")
    spec, declared_how = _declared_spec(declared, device, database)
    _validate_declared(spec)
    measured = measured_values(data, max_relative_u)
    device_derived = database.derived_for_device(device, spec)
    derived = device_derived or database.derived_for_spec(spec)
    derived_tpp = derived.tpp if derived else None
    checks = [check_declared(profile, spec, measured, derived_tpp, rule),
              check_contradiction(spec, measured, derived_tpp, rule),
              check_threshold(profile, spec, measured, rule),
              check_plausibility(data, spec, measured, database),
              check_identity(device, spec, declared_how, device_derived.tpp if device_derived else None)]
    outcome = min((c.outcome for c in checks), key=RANK.__getitem__)
    sources = sorted({m.uncertainty_source for m in measured.values()})
    notes = ["A measured (effective) TPP or bandwidth is a lower bound on the theoretical peak the rules use: "
             "it can prove a part is above a line, never that it is below one. 'Below the line' rests on the "
             "declaration, which the measurement can only be consistent with."]
    reason = _too_uncertain(_headline_summary(data, max_relative_u), measured) if outcome == INCONCLUSIVE else None
    if reason:
        notes.insert(0, reason)
    if spec.estimate:
        notes.append(f"The declared spec is an estimate: {spec.notes}")
    notes += [f"Declared spec: {note}" for note in declared_notes(spec, profile)]
    if status := data.get("status"):
        if status != "complete":
            notes.append(f"The run's status is {str(status)[:40]!r}; results may be partial.")
    return Verdict(
        verdict=outcome, exit_code=EXIT_CODES[outcome],
        profile={"id": profile.id, "title": profile.title, "citation": dict(profile.citation),
                 "effective": profile.effective, "conforms_when": profile.conforms_when},
        rule=rule, declared={"id": spec.id, "name": spec.name, "how": declared_how, "tpp": spec.tpp,
                             "tpp_dtype": spec.tpp_dtype, "confidence": spec.confidence, "estimate": spec.estimate},
        detected={k: device.get(k) for k in ("backend", "vendor", "name", "architecture", "compute_units", "max_clock_mhz")},
        uncertainty_source="; ".join(sources) or "no measurements",
        checks=checks, statement=_statement(outcome, profile, spec, rule), notes=notes,
        reason="uncertainty too large" if reason else None, parameters=parameters)


def _too_uncertain(summary: Mapping[str, Any], measured: Mapping[str, Measured]) -> str | None:
    """A note when a headline metric is missing only because every case of it was excluded."""
    excluded = summary.get("excluded_from_peaks") or []
    ids = [str(e.get("measurement_id")) for e in excluded if isinstance(e, Mapping)]
    missing = []
    if "tpp" not in measured and any(i.startswith("gemm/") for i in ids):
        missing.append("TPP")
    if "dram_bandwidth_gbps" not in measured and any(i.startswith("stream/") for i in ids):
        missing.append("DRAM bandwidth")
    if not missing:
        return None
    return (f"inconclusive (uncertainty too large): no {' or '.join(missing)} measurement a lab can defend; every "
            "case had unstable warm-up or a relative U above the ceiling (summary.excluded_from_peaks)")


def _positive(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where} is {value!r}; a declared value must be a finite positive number")


def _validate_declared(spec: DeviceSpec) -> None:
    """Declared peaks, bandwidth and die area finite and positive: 0 GB/s or a NaN peak is an input error,
    never a criterion silently skipped."""
    where = f"declared spec {spec.name}" + (f" ({spec.path})" if spec.path else "")
    for peak in spec.peaks:
        _positive(peak.tops, f"{where}: {peak.dtype} peak")
    for name in ("dram_bandwidth_gbps", "die_area_mm2"):
        value = getattr(spec, name)
        if value is not None:
            _positive(value, f"{where}: {name}")


def _validate_profile(profile: Profile) -> None:
    """Numeric limits finite: a NaN limit compares false both ways and could let any part through."""
    for rule_obj, leaf in profile.leaves():
        if leaf.metric is not None and (isinstance(leaf.value, bool) or not isinstance(leaf.value, (int, float))
                                        or not math.isfinite(leaf.value)):
            raise ConfigError(f"profile {profile.id}: rule {rule_obj.id}: limit {leaf.metric} is {leaf.value!r}; "
                              "a limit must be a finite number")


def _declared_spec(declared: str | DeviceSpec | None, device: Mapping[str, Any], database: Database) -> tuple[DeviceSpec, str]:
    if isinstance(declared, DeviceSpec):
        return declared, "given"
    if declared:
        return load_declared(declared, database), f"--declared {declared}"
    spec = database.match_device(device)
    if spec is None:
        raise UsageError(f"the detected device {device.get('name')!r} is not in the specification database; "
                         "pass --declared NAME or --declared FILE")
    return spec, "derived from the host CPU" if spec.kind == "cpu" else "auto-matched from the detected name"


def _statement(outcome: str, profile: Profile, spec: DeviceSpec, rule: str) -> str:
    rule_text = ("guarded acceptance, guard band w = U (k = 2), non-binary (ILAC-G8 §4.2.3)" if rule == "guarded"
                 else "simple acceptance, w = 0 (ILAC-G8 §4.2.1; up to 50 % false-accept risk at the limit)")
    meaning = {PASS: "conforms", CONDITIONAL_PASS: "conforms, within the guard band (conditional)",
               CONDITIONAL_FAIL: "does not conform, within the guard band (conditional)", FAIL: "does not conform",
               INCONCLUSIVE: "cannot be decided from this run"}[outcome]
    return (f"{outcome.upper()}: the tested item declared as {spec.name} {meaning} with profile {profile.id} "
            f"({profile.labels.get('conforms', 'conforms')}); decision rule: {rule_text}.")


# --- text rendering (the CLI prints it) ---------------------------------------------------------------

def _fmt(value: Any, digits: int = 4) -> str:
    return fmt(value, digits)


CRITERIA_COLUMNS = ["criterion", "declared", "derived", "measured ± U", "accept. limit", "outcome", "note"]


def verdict_head(verdict: Verdict) -> list[str]:
    """The verdict, profile, declared and detected parts and the decision rule, one line each."""
    reason = f" ({verdict.reason})" if verdict.reason else ""
    return [f"Verdict: {verdict.verdict.upper()}{reason}  (exit {verdict.exit_code})",
            f"Profile: {verdict.profile['id']} — {verdict.profile['title']}",
            f"         {verdict.profile['citation'].get('document', '')}; effective {verdict.profile['effective']}",
            f"Declared: {verdict.declared['name']} ({verdict.declared['how']}), TPP {_fmt(verdict.declared['tpp'])}"
            + (" [estimate]" if verdict.declared["estimate"] else ""),
            f"Detected: {verdict.detected.get('name')} ({verdict.detected.get('backend')})",
            f"Decision rule: {verdict.rule}; uncertainty: {verdict.uncertainty_source}"]


def criteria_table(check: Check) -> Table:
    """A check's criteria side by side, each criterion in words and whole (never cut off)."""
    rows = [[humanize_criterion(row.id), _fmt(row.declared), _fmt(row.derived),
             "-" if row.measured is None else f"{_fmt(row.measured)} ± {_fmt(row.U, 2)}",
             _fmt(row.acceptance_limit), row.outcome, row.note or ""] for row in check.criteria]
    return Table(list(CRITERIA_COLUMNS), rows, title=f"{check.title}: {check.outcome.upper()}",
                 align=["l", "r", "r", "r", "r", "l", "l"], note=check.summary)


def render_verdict(verdict: Verdict, output_format: str = "text") -> str:
    """A verdict as text (terminal) or md: the checks, the side-by-side criteria, the statement."""
    md = output_format == "md"
    head = verdict_head(verdict)
    lines = ([f"**{head[0]}**", ""] + [f"- {line.strip()}" for line in head[1:]]) if md else head
    lines.append("")
    for check in verdict.checks:
        if not check.criteria:
            lines += [f"**{check.title}: {check.outcome.upper()}**" if md else f"{check.title}: {check.outcome.upper()}",
                      ("" if md else "  ") + check.summary, ""]
            continue
        table = criteria_table(check)
        if md:
            lines += [f"**{table.title}**", "", check.summary, ""]
            lines += md_table(table.columns, table.rows, table.alignments())
        else:
            lines += [cast(str, table.title), f"  {check.summary}"]  # criteria_table titles every table
            lines += ["  " + line for line in to_text([Table(table.columns, table.rows, align=table.align)],
                                                       width=max(terminal_width(), _natural_width(table))).splitlines()]
        lines.append("")
    lines.append(verdict.statement)
    lines += [f"Note: {note}" for note in verdict.notes]
    return "\n".join(lines)


def _natural_width(table: Table) -> int:
    return sum(max(len(str(cell)) for cell in column) + 3 for column in zip(table.columns, *table.rows))


def save_verdict(run_dir: str | Path, verdict: Verdict) -> Path | None:
    """Store the verdict as RUN_DIR/verdict.json, where reports, fleet and verify read it, naming the
    run id and run.json digest it judged (see `stale_verdict`).

    Returns the path, or None when the folder is signed: adding a file would break the signature,
    so a verdict for a signed run must be made before signing (or kept outside the folder)."""
    folder = folder_module.RunFolder(run_dir)
    if not folder.path.is_dir() or folder.is_signed() or not folder.run_file.is_file():
        return None
    return folder.write_verdict({"schema_version": 1, **verdict.to_dict(), "judged": judged_block(folder.path)})
