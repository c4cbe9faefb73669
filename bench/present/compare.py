"""Compare runs: run B against baseline run A, measurement by measurement, as a gate CI can leave on.

What is compared: every measurement both runs hold, plus the headline metrics (effective TPP and
TPP per dtype, effective DRAM bandwidth), which are compared even when a different shape or kernel
sets them in each run. All are rates: higher is better, a drop is a slowdown.

Is a change real? A Mann-Whitney rank test (bench/analysis/rank_test.py) on the two measurements' raw
samples, converted to rates: it sees how far the samples of one run overlap the other's, with no
assumption of normality and little weight on outliers. A change is significant when the one-sided
p-value is below `alpha`; a regression needs, in addition, a drop larger than the threshold (the
minimum effect size), so a shift of a few percent between two runners never fails a build. Runs
stored without samples fall back to the expanded uncertainties: |b - a| > sqrt(U_a² + U_b²).

Run-to-run noise: samples of one run cannot show how far a second run on the same machine lands
(another tenant, another clock state). Given repeats of the baseline (`repeats`, e.g. an A B A
order in CI), a drop counts only when B is significantly slower than every baseline run, the
drop against the nearest baseline run exceeds the threshold, and it exceeds the spread between
the baseline runs themselves (the measured run-to-run noise of that measurement).

What is gated (`gate`): the headline metrics only ("headline"); those plus the large shapes of
each kernel and dtype, whose timings are long enough to be stable ("large", the default); or
every common measurement ("all"). Small shapes are still shown, never gated by default."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

from bench import render
from bench.analysis.rank_test import mann_whitney
from bench.errors import EXIT_CHECK_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, UsageError
from bench.lab.multiunit import unit_runs
from bench.rules.verdict import read_run

SOFTWARE_KEYS = ("torch", "cuda", "hip", "cudnn", "numpy", "python")
GATES = ("headline", "large", "all")
DEFAULT_GATE = "large"
DEFAULT_ALPHA = 0.01
LARGE_FRACTION = 0.25  # a shape is "large" with at least this share of its group's largest work
DRAM_SIZED_LLC_MULTIPLE = 4.0
MIN_SAMPLES = 3  # below this the rank test cannot reach significance; fall back to U


@dataclasses.dataclass(frozen=True)
class Entry:
    """One comparable quantity of one run: value, unit, U, per-sample rates, and what it is."""

    id: str
    name: str
    unit: str
    value: float
    U: float
    samples: tuple[float, ...]
    headline: bool = False
    large: bool = False


@dataclasses.dataclass(frozen=True)
class Row:
    """One quantity of B against A."""

    id: str
    name: str
    unit: str
    headline: bool
    gated: bool
    a: float
    b: float
    U_a: float
    U_b: float
    n_a: int
    n_b: int
    test: str  # "mann-whitney (exact|asymptotic)" or "uncertainty"
    p_slower: float | None  # one-sided p-value for "B is slower" (the largest over baseline runs); None with U
    p_faster: float | None
    significant: bool
    effect_pct: float  # change against the nearest baseline run (= change_pct with one baseline run)
    a_nearest: float  # the value of that baseline run (= a with one baseline run)
    noise_pct: float | None = None  # largest change between the baseline runs; None without repeats

    @property
    def ratio(self) -> float:
        return self.b / self.a if self.a else math.nan

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100.0

    @property
    def slower(self) -> bool:
        return self.significant and self.b < self.a

    def regression(self, threshold_pct: float) -> bool:
        """A gated, significant drop larger than threshold_pct percent and than the run-to-run noise."""
        return (self.gated and self.slower and -self.effect_pct > threshold_pct
                and -self.effect_pct > (self.noise_pct or 0.0))

    def result(self, threshold_pct: float | None) -> str:
        if threshold_pct is not None and self.regression(threshold_pct):
            return "REGRESSION"
        if not self.significant:
            return "within noise"
        if self.noise_pct is not None and abs(self.effect_pct) <= self.noise_pct:
            return "run-to-run noise"
        return "slower" if self.b < self.a else "faster"

    def to_dict(self, threshold_pct: float | None) -> dict[str, Any]:
        out = {field.name: _finite(getattr(self, field.name)) for field in dataclasses.fields(self)}
        out.update(ratio=_finite(self.ratio), change_pct=_finite(self.change_pct), result=self.result(threshold_pct),
                   regression=bool(threshold_pct is not None and self.regression(threshold_pct)))
        return out


@dataclasses.dataclass
class Gate:
    """The outcome of a gate: 'pass', 'fail' or 'inconclusive', with one line per reason."""

    outcome: str
    reasons: list[str]

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_OK, "fail": EXIT_CHECK_FAILED, "inconclusive": EXIT_INCONCLUSIVE}[self.outcome]


@dataclasses.dataclass
class Comparison:
    """Run B against baseline run A."""

    a: str
    b: str
    rows: list[Row]
    missing_headline: list[tuple[str, str]]  # (id, name) of the baseline's headline metrics absent from B
    only_in_a: int
    only_in_b: int
    warnings: list[str]
    gate_scope: str
    alpha: float
    repeats: int = 0  # baseline runs besides A

    def gated(self) -> list[Row]:
        return [row for row in self.rows if row.gated]

    def regressions(self, threshold_pct: float) -> list[Row]:
        return [row for row in self.rows if row.regression(threshold_pct)]

    def gate(self, threshold_pct: float | None, fail_on_missing: bool = True) -> Gate:
        """Fail on a regression beyond threshold_pct (when given) and, unless turned off, on a
        headline metric of the baseline that B lacks; inconclusive when nothing gated is common."""
        reasons = []
        if fail_on_missing:
            reasons += [f"missing in B: {name}" for _, name in self.missing_headline]
        if threshold_pct is not None:
            reasons += [_regression_text(row) for row in self.regressions(threshold_pct)]
        if reasons:
            return Gate("fail", reasons)
        if threshold_pct is not None and not self.gated():
            return Gate("inconclusive", [f"the runs share no gated measurement (gate: {self.gate_scope})"])
        return Gate("pass", [])

    def to_dict(self, threshold_pct: float | None = None, fail_on_missing: bool = True) -> dict[str, Any]:
        gate = self.gate(threshold_pct, fail_on_missing)
        return {"baseline": self.a, "run": self.b, "baseline_repeats": self.repeats,
                "gate_scope": self.gate_scope, "alpha": self.alpha,
                "threshold_pct": threshold_pct, "fail_on_missing": fail_on_missing,
                "outcome": gate.outcome, "failing": gate.reasons,
                "missing_headline": [{"id": i, "name": n} for i, n in self.missing_headline],
                "only_in_baseline": self.only_in_a, "only_in_run": self.only_in_b, "warnings": self.warnings,
                "rows": [row.to_dict(threshold_pct) for row in self.rows]}


def _regression_text(row: Row) -> str:
    evidence = f"p = {render.fmt(row.p_slower, 2)}" if row.p_slower is not None else "beyond U"
    if row.noise_pct is not None:
        evidence += f", run-to-run noise ±{row.noise_pct:.1f}%"
    return f"{row.name}: {row.effect_pct:+.1f}% ({evidence})"


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# --- what a run offers for comparison -----------------------------------------------------------

def _map(value: Any) -> Mapping[str, Any]:
    """A stored block when it is one; {} for anything else (a hostile or truncated run.json)."""
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> float:
    """A finite number, or NaN for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.nan
    return float(value)


def _U(entry: Mapping[str, Any]) -> float:
    """Expanded uncertainty (k = 2) of a measurement's rate, in its own unit."""
    U = _num(_map(entry.get("uncertainty")).get("U"))
    if math.isfinite(U):
        return U
    interval = _map(entry.get("throughput")).get("ci95")
    if isinstance(interval, (list, tuple)) and len(interval) == 2:
        return (_num(interval[1]) - _num(interval[0])) / 2
    return math.nan


def _rate_samples(m: Mapping[str, Any], value: float) -> tuple[float, ...]:
    """Each sample as a rate on the scale of `value` (the rate is inversely proportional to the time)."""
    stored = _map(m.get("timing")).get("samples_s")
    times = [_num(t) for t in stored] if isinstance(stored, list) else []
    times = [t for t in times if t > 0]  # NaN compares false
    median = _num(_map(m.get("stats")).get("median"))
    if not times or not median > 0:
        return ()
    return tuple(value * median / t for t in times)


def _work(m: Mapping[str, Any]) -> float:
    work = _map(m.get("work"))
    amount = _num(work.get("bytes")) if m.get("suite") == "stream" else _num(work.get("flops") or work.get("bytes"))
    return amount if amount > 0 else 0.0


def _large_ids(measurements: list[Mapping[str, Any]]) -> set[str]:
    """Measurements with at least LARGE_FRACTION of the largest work of their (suite, kernel, dtype);
    for streams only DRAM-sized arrays (cache-sized sweep points measure caches, not DRAM)."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for m in measurements:
        if m.get("suite") == "stream":
            params = _map(m.get("params"))
            if params.get("role") != "dram" and not _num(params.get("llc_multiple")) >= DRAM_SIZED_LLC_MULTIPLE:
                continue
        groups[tuple(str(m.get(key)) for key in ("suite", "kernel", "dtype"))].append(m)
    large = set()
    for group in groups.values():
        biggest = max(_work(m) for m in group)
        large |= {m["id"] for m in group if _work(m) >= LARGE_FRACTION * biggest}
    return large


def _headline(run: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> list[Entry]:
    summary = _map(run.get("summary"))
    budget = _map(summary.get("uncertainty"))
    tpp = _map(summary.get("effective_tpp"))
    found = []

    def add(key: str, name: str, unit: str, value: Any, measurement_id: Any, U: Any) -> None:
        value = _num(value)
        if not value > 0:
            return
        source = by_id.get(measurement_id) if isinstance(measurement_id, str) else None
        samples = _rate_samples(source, value) if source else ()
        found.append(Entry(key, name, unit, value, _num(U), samples, headline=True))

    by_dtype = _map(tpp.get("by_dtype"))
    best = _map(by_dtype.get(tpp.get("dtype")) if isinstance(tpp.get("dtype"), str) else None)
    add("summary/effective_tpp", render.metric("effective_tpp").name, "TPP", tpp.get("max"), best.get("measurement_id"),
        _map(budget.get("tpp")).get("U"))
    for dtype, entry in by_dtype.items():
        entry = _map(entry)
        source = by_id.get(entry.get("measurement_id")) if isinstance(entry.get("measurement_id"), str) else None
        U = _U(source) * _num(entry.get("bit_length")) if source else math.nan
        add(f"summary/tpp/{dtype}", f"TPP {dtype} (GEMM peak)", "TPP", entry.get("tpp"), entry.get("measurement_id"), U)
    bandwidth = _map(summary.get("effective_dram_bandwidth"))
    add("summary/effective_dram_bandwidth", render.metric("effective_dram_bandwidth").name, "GB/s",
        bandwidth.get("value"), bandwidth.get("measurement_id"), _map(budget.get("dram_bandwidth_gbps")).get("U"))
    return found


def entries(run: Mapping[str, Any], large: set[str] | None = None) -> dict[str, Entry]:
    """id -> Entry for each passing measurement and each headline metric of a run. `large` (ids of
    the baseline's large shapes) marks which measurements the default gate covers."""
    stored = run.get("measurements")
    measurements = [m for m in (stored if isinstance(stored, list) else []) if isinstance(m, Mapping)
                    and m.get("status") == "ok" and isinstance(m.get("id"), str)
                    and _num(_map(m.get("throughput")).get("value")) > 0]
    by_id = {m["id"]: m for m in measurements}
    large = _large_ids(measurements) if large is None else large
    out = {}
    for m in measurements:
        value = _num(m["throughput"]["value"])
        out[m["id"]] = Entry(m["id"], render.measurement_name(m), str(m["throughput"].get("unit", "")), value, _U(m),
                             _rate_samples(m, value), large=m["id"] in large)
    for entry in _headline(run, by_id):
        out[entry.id] = entry
    return out


# --- comparing ------------------------------------------------------------------------------------

def _is_gated(entry: Entry, scope: str) -> bool:
    return scope == "all" or entry.headline or (scope == "large" and entry.large)


def _pct(new: float, old: float) -> float:
    return (new / old - 1.0) * 100.0 if old else math.nan


def compare_entries(a: Entry, b: Entry, scope: str, alpha: float, repeats: tuple[Entry, ...] = ()) -> Row:
    """B against A, and against A's repeats when given (B must be slower than each to be slower)."""
    baselines = (a, *repeats)
    nearest = min(baselines, key=lambda base: abs(_pct(b.value, base.value)))
    effect = _pct(b.value, nearest.value)
    noise = max(abs(_pct(x.value, y.value)) for x in baselines for y in baselines) if repeats else None
    if all(len(base.samples) >= MIN_SAMPLES for base in baselines) and len(b.samples) >= MIN_SAMPLES:
        tests = [mann_whitney(b.samples, base.samples) for base in baselines]  # "less" means B slower
        p_slower, p_faster = max(t.p_less for t in tests), max(t.p_greater for t in tests)
        method = f"mann-whitney ({tests[0].method})"
        slower_than_all = all(b.value < base.value for base in baselines)
        faster_than_all = all(b.value > base.value for base in baselines)
        significant = (p_slower < alpha and slower_than_all) or (p_faster < alpha and faster_than_all)
    else:
        combined = math.sqrt(sum(u * u for u in (nearest.U, b.U) if math.isfinite(u)))
        p_slower = p_faster = None
        method, significant = "uncertainty", abs(b.value - nearest.value) > combined
    return Row(a.id, a.name, a.unit, a.headline, _is_gated(a, scope), a.value, b.value, a.U, b.U,
               len(a.samples), len(b.samples), method, p_slower, p_faster, significant, effect, nearest.value, noise)


def run_warnings(a: Mapping[str, Any], b: Mapping[str, Any], b_label: str = "B") -> list[str]:
    """Why the two runs may not be comparable: device, software or method differences."""
    warnings = []
    da, db = _map(a.get("device")), _map(b.get("device"))
    for key in ("name", "backend", "compute_units", "memory_bytes"):
        if da.get(key) != db.get(key):
            warnings.append(f"device {key} differs: {da.get(key)!r} vs {db.get(key)!r}")
    sa, sb = _map(a.get("software")), _map(b.get("software"))
    for key in SOFTWARE_KEYS:
        if sa.get(key) != sb.get(key):
            warnings.append(f"software {key} differs: {sa.get(key)!r} vs {sb.get(key)!r}")
    for key in ("method_version", "schema_version"):
        if a.get(key) != b.get(key):
            warnings.append(f"{key} differs: {a.get(key)!r} vs {b.get(key)!r} (results may not be comparable)")
    suite_a, suite_b = _map(a.get("config")).get("name"), _map(b.get("config")).get("name")
    if suite_a != suite_b:
        warnings.append(f"suite differs: {suite_a!r} vs {suite_b!r}")
    for label, run in (("A", a), (b_label, b)):
        if run.get("status") != "complete":
            warnings.append(f"run {label} ({run.get('run_id')}) is {run.get('status')!r}")
    return warnings


def compare_runs(a: Mapping[str, Any], b: Mapping[str, Any], *, gate: str = DEFAULT_GATE,
                 alpha: float = DEFAULT_ALPHA, repeats: tuple[Mapping[str, Any], ...] = ()) -> Comparison:
    """Run b against baseline a (run dicts); `repeats`: more runs of the baseline's code on the same machine."""
    if gate not in GATES:
        raise UsageError(f"unknown gate {gate!r}; use one of {', '.join(GATES)}")
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, got {alpha!r}")
    ea = entries(a)
    large = {key for key, e in ea.items() if e.large}
    eb = entries(b, large=large)
    er = [entries(r, large=large) for r in repeats]
    common = [key for key in ea if key in eb and ea[key].unit == eb[key].unit]
    headline_first = sorted(common, key=lambda key: (not ea[key].headline, not _is_gated(ea[key], gate)))
    rows = [compare_entries(ea[key], eb[key], gate, alpha,
                            tuple(e[key] for e in er if key in e and e[key].unit == ea[key].unit))
            for key in headline_first]
    missing = [(key, e.name) for key, e in ea.items() if e.headline and key not in common]
    only_a = sum(1 for key in ea if key not in eb and not ea[key].headline)
    only_b = sum(1 for key in eb if key not in ea and not eb[key].headline)
    warnings = run_warnings(a, b)
    for i, repeat in enumerate(repeats, 1):
        warnings += [f"baseline repeat {i}: {w}" for w in run_warnings(a, repeat, "repeat") if w not in warnings]
    if only_a or only_b:
        warnings.append(f"{only_a} measurement(s) only in A and {only_b} only in B are left out")
    if not common:
        warnings.append("the runs share no measurement")
    return Comparison(str(a.get("run_id")), str(b.get("run_id")), rows, missing, only_a, only_b, warnings, gate, alpha,
                      len(repeats))


def compare_paths(paths: list[str | Path], *, gate: str = DEFAULT_GATE, alpha: float = DEFAULT_ALPHA,
                  repeats: list[str | Path] = ()) -> list[Comparison]:
    """Each run after the first against the first (the baseline) and the baseline's repeats. Lot
    folders (multi-unit runs) are compared unit by unit, matched by unit label."""
    if len(paths) < 2:
        raise UsageError("compare needs at least two run folders (the first is the baseline)")
    runs = [read_run(p) for p in paths]
    again = [read_run(p) for p in repeats]
    if not _units(runs[0]):
        for path, run in zip([*paths[1:], *repeats], [*runs[1:], *again]):
            _refuse_lot(path, run, "the baseline is a single run")
        return [compare_runs(runs[0], other, gate=gate, alpha=alpha, repeats=tuple(again)) for other in runs[1:]]
    for path, run in zip([*paths[1:], *repeats], [*runs[1:], *again]):
        if not _units(run):
            raise UsageError(f"{path} is a single run but the baseline {paths[0]} is a lot folder; compare a unit "
                             f"folder of the lot ({Path(paths[0]) / 'units' / '<label>'}) with it instead")
    return [c for other in runs[1:] for c in _compare_lots(runs[0], other, again, gate, alpha)]


def _units(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    units = run.get("units")
    return dict(unit_runs(dict(run))) if isinstance(units, list) and units else {}


def _refuse_lot(path: str | Path, run: Mapping[str, Any], why: str) -> None:
    units = _units(run)
    if units:
        raise UsageError(f"{path} is a lot folder of {len(units)} unit(s) ({', '.join(units)}) but {why}; compare "
                         f"one of its unit folders ({Path(path) / 'units' / '<label>'}) instead")


def _compare_lots(base: Mapping[str, Any], other: Mapping[str, Any], again: list[Mapping[str, Any]], gate: str,
                  alpha: float) -> list[Comparison]:
    """One comparison per unit of the baseline lot; a unit absent from the other lot misses everything."""
    base_units, other_units = _units(base), _units(other)
    repeat_units = [_units(r) for r in again]
    out = []
    for label, unit in base_units.items():
        counterpart = other_units.get(label) or {"run_id": other.get("run_id"), "measurements": [], "summary": {},
                                                 "status": f"no unit {label}"}
        comparison = compare_runs(unit, counterpart, gate=gate, alpha=alpha,
                                  repeats=tuple(r[label] for r in repeat_units if label in r))
        comparison.a, comparison.b = f"{base.get('run_id')} unit {label}", f"{other.get('run_id')} unit {label}"
        out.append(comparison)
    return out


# --- presenting -----------------------------------------------------------------------------------

COLUMNS = ["measurement", "unit", "A", "B", "change", "p", "gated", "result"]
REPEAT_COLUMNS = ["measurement", "unit", "A (nearest run)", "B", "change", "noise", "p", "gated", "result"]


def _p_cell(row: Row) -> str:
    p = row.p_slower if row.effect_pct < 0 else row.p_faster
    return "U" if p is None else (f"{p:.2g}" if p >= 0.001 else "<0.001")


def _cells(row: Row, threshold_pct: float | None, with_noise: bool) -> list[Any]:
    noise = [f"±{row.noise_pct:.1f}%" if row.noise_pct is not None else "-"] if with_noise else []
    return [row.name, render.unit_text(row.unit), row.a_nearest, row.b, f"{row.effect_pct:+.1f}%", *noise, _p_cell(row),
            "yes" if row.gated else "no", row.result(threshold_pct)]


def _table(comparison: Comparison, rows: list[Row], threshold_pct: float | None, title: str | None) -> render.Table:
    with_noise = comparison.repeats > 0
    columns = REPEAT_COLUMNS if with_noise else COLUMNS
    align = ["l", "l", "r", "r", "r"] + (["r"] if with_noise else []) + ["r", "l", "l"]
    return render.Table(columns, [_cells(r, threshold_pct, with_noise) for r in rows], title=title, align=align)


def tables(comparison: Comparison, threshold_pct: float | None = None, only_gated: bool = False) -> list[render.Table]:
    """The gated rows (or every common row), headline metrics first."""
    rows = comparison.gated() if only_gated else comparison.rows
    title = f"B {comparison.b} against A {comparison.a} (baseline)"
    if comparison.repeats:
        title += (f" and {comparison.repeats} repeat(s) of it; change: against the nearest baseline run, "
                  "noise: the spread between baseline runs")
    return [_table(comparison, rows, threshold_pct, title)]


def verdict_line(comparison: Comparison, threshold_pct: float | None, fail_on_missing: bool = True) -> str:
    gate = comparison.gate(threshold_pct, fail_on_missing)
    counts = (f"{len(comparison.rows)} common, {len(comparison.gated())} gated ({comparison.gate_scope}); "
              f"{sum(r.significant for r in comparison.rows)} significant at p < {comparison.alpha:g}")
    if threshold_pct is None and not gate.reasons:
        return f"{counts}; no gate (pass --fail-on-regression PCT)"
    head = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}[gate.outcome]
    limit = f" beyond {threshold_pct:g}%" if threshold_pct is not None else ""
    return f"{head}: {counts}; {len(comparison.regressions(threshold_pct)) if threshold_pct is not None else 0} " \
           f"regression(s){limit}" + "".join(f"\n  {reason}" for reason in gate.reasons)


def render_text(comparison: Comparison, threshold_pct: float | None = None, fail_on_missing: bool = True,
                width: int | None = None) -> str:
    parts = [render.to_text(tables(comparison, threshold_pct), width) if comparison.rows
             else "(no common measurements)", "", verdict_line(comparison, threshold_pct, fail_on_missing)]
    if threshold_pct is not None and not comparison.repeats:
        parts.append("note: one run per side shows the spread within each run, not between runs; "
                     "--baseline-repeat adds the run-to-run noise")
    parts += [f"warning: {w}" for w in comparison.warnings]
    return "\n".join(parts)


def render_markdown(comparisons: list[Comparison], threshold_pct: float | None = None,
                    fail_on_missing: bool = True) -> str:
    """A job summary ($GITHUB_STEP_SUMMARY) or PR comment: the gate, the gated rows, the rest folded."""
    lines = ["## accelbench compare", ""]
    for c in comparisons:
        gate = c.gate(threshold_pct, fail_on_missing)
        badge = {"pass": "✅ PASS", "fail": "❌ FAIL", "inconclusive": "⚠️ INCONCLUSIVE"}[gate.outcome]
        if threshold_pct is None and gate.outcome == "pass":
            badge = "COMPARED (no gate)"
        lines += [f"**{badge}**: `{c.b}` against baseline `{c.a}`" + (
            f"; gate: significant drops beyond {threshold_pct:g}% (p < {c.alpha:g}) on {c.gate_scope} measurements"
            if threshold_pct is not None else ""), ""]
        lines += [f"- {reason}" for reason in gate.reasons]
        if gate.reasons:
            lines.append("")
        gated = tables(c, threshold_pct, only_gated=True)[0]
        lines += render.md_table(gated.columns, gated.rows, gated.alignments())
        others = [r for r in c.rows if not r.gated]
        if others:
            rest = _table(c, others, threshold_pct, None)
            rest = render.md_table(rest.columns, rest.rows, rest.alignments())
            lines += ["", f"<details><summary>{len(others)} other common measurement(s), not gated</summary>", "",
                      *rest, "", "</details>"]
        lines += [""] + [f"> warning: {w}" for w in c.warnings] + [""]
    return "\n".join(lines).rstrip() + "\n"
