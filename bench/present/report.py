"""`bench report`: a self-contained HTML page and a Markdown file from a stored run or lot folder.

Everything comes from run.json (and verdict.json when `bench check` left one); nothing is measured
again. A single run gets, top to bottom: verdict, a compact results table (per dtype: measured |
datasheet | % | TPP | shape), the health block (bench/analysis/health.py), then the figures and tables.
A lot folder (a multi-unit run, e.g. `bench run --plan`) gets the lot table that `bench fleet`
prints (bench/lab/fleet.py renders it), then one such section per unit.

A report never alters the evidence it describes: in a signed folder it is written beside it
(`<folder>-report/`) unless `--out` names another place outside the folder. Made before
`bench sign`, it lies inside the folder and the signature covers it.

Figures are matplotlib PNGs (bench/present/report_figures.py): base64-inlined in the HTML, files under
`report-figures/` for the Markdown. One builder per kind of folder feeds both renderers."""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import re
from pathlib import Path
from typing import Any, Mapping

from bench.analysis import metrics
from bench.analysis.health import HealthLine, health_lines, shape_label
from bench.errors import UsageError
from bench.evidence.recompute import run_labels
from bench.evidence.signing import signature_status
from bench.lab.fleet import LotManifest, aggregate, unit_summaries
from bench.lab.fleet import render_markdown as fleet_markdown
from bench.lab.multiunit import unit_runs
from bench.present.report_figures import _bytes, _num, figure_lot, figures, png_bytes, render_figures  # noqa: F401  (figures: public API)
from bench.record.folder import SIGNATURE_FILE, read_verdict
from bench.record.jsonfile import write_text_atomic
from bench.rules.profiles import Profile, list_profiles
from bench.rules.specs import DeviceSpec, canonical_dtype, load_database
from bench.rules.verdict import read_run

FORMATS = ("html", "md", "all")
FIGURE_DIR = "report-figures"
REPORT_FILES = ("report.html", "report.md", FIGURE_DIR)
PROFILE_METRICS = {"tpp": "TPP", "dram_bandwidth_gbps": "GB/s"}


@dataclasses.dataclass
class Limit:
    profile: str
    metric: str
    value: float
    clauses: str = ""  # the profile's rule ids that draw this line, e.g. "3A090.a.2, 3A090.b.2"


@dataclasses.dataclass
class ReportData:
    """What the report shows of one unit, gathered once: the run, its declared spec, verdict and limits."""

    run: dict[str, Any]
    spec: DeviceSpec | None
    spec_how: str
    verdict: dict[str, Any] | None
    limits: list[Limit]
    provenance: list[str] = dataclasses.field(default_factory=list)  # signature status, CPU / stand-in labels
    unit: str | None = None  # the unit's label inside a lot

    @property
    def summary(self) -> dict[str, Any]:
        return self.run.get("summary") or {}

    def ok(self, suite: str) -> list[dict[str, Any]]:
        return [m for m in self.run.get("measurements") or [] if m.get("suite") == suite and m.get("status") == "ok"]

    def measurement(self, measurement_id: str | None) -> dict[str, Any] | None:
        return next((m for m in self.run.get("measurements") or [] if m.get("id") == measurement_id), None)

    def declared_peak(self, dtype: str) -> float | None:
        return self.spec.peak_tops(canonical_dtype(dtype)) if self.spec else None

    def declared_bandwidth(self) -> float | None:
        return self.spec.dram_bandwidth_gbps if self.spec else None

    def headline_measurements(self) -> list[tuple[str, dict[str, Any]]]:
        """(title, measurement) of every figure the summary quotes: GEMM and attention peaks, DRAM bandwidth."""
        out = []
        for dtype, peak in (self.summary.get("gemm_peak") or {}).items():
            out.append((f"GEMM {dtype} {shape_label(peak['measurement_id'])}", peak["measurement_id"]))
        for dtype, peak in (self.summary.get("attention_peak") or {}).items():
            out.append((f"attention {dtype}", peak.get("measurement_id")))
        bandwidth = self.summary.get("effective_dram_bandwidth") or {}
        if bandwidth.get("measurement_id"):
            out.append((f"DRAM bandwidth ({bandwidth.get('kernel')})", bandwidth["measurement_id"]))
        found = [(title, self.measurement(mid)) for title, mid in out]
        return [(title, m) for title, m in found if m]

    def power_limit_w(self) -> float | None:
        """The device's enforced power limit as the audit read it (NVML mW, amdsmi µW), in W."""
        audit = self.run.get("audit") or {}
        for stage in ("before", "after"):
            device = ((audit.get(stage) or {}).get("settings") or {}).get("device") or {}
            for key in ("enforced_power_limit_mw", "power_limit_mw"):
                if isinstance(device.get(key), (int, float)) and device[key] > 0:
                    return device[key] / 1000
            cap = (device.get("power_cap_info") or {}).get("power_cap") if isinstance(device.get("power_cap_info"), Mapping) else None
            if isinstance(cap, (int, float)) and cap > 0:
                return cap / 1e6
        return None


@dataclasses.dataclass
class LotData:
    """A lot folder: the lot table `bench fleet` prints, then every unit's ReportData."""

    run: dict[str, Any]
    units: list[ReportData]
    fleet_markdown: str
    fleet_ok: bool
    failed: list[tuple[str, str]]  # (unit label, why) of units that produced no run
    provenance: list[str]

    @property
    def name(self) -> str:
        plan = self.run.get("plan") or {}
        return str(plan.get("lot") or (plan.get("manifest") or {}).get("lot") or plan.get("name") or self.run.get("run_id"))


def _load_verdict(run_dir: Path, run: Mapping[str, Any]) -> dict[str, Any] | None:
    block = run.get("verdict")
    if isinstance(block, Mapping) and {"checks", "declared", "profile"} <= set(block):  # Verdict.to_dict() shape
        return dict(block)
    stored = read_verdict(run_dir)
    return dict(stored) if stored is not None else None


def _declared_spec(run: Mapping[str, Any], verdict: Mapping[str, Any] | None) -> tuple[DeviceSpec | None, str]:
    database = load_database()
    device = run.get("device") or {}
    if verdict and (verdict.get("declared") or {}).get("name"):
        name = verdict["declared"]["name"]
        spec = database.find(name) or (database.match_device(device) if device.get("backend") == "cpu" else None)
        if spec:
            return spec, f"declared in the verdict ({verdict['declared'].get('how', 'given')})"
    spec = database.match_device(device)
    if spec is None:
        return None, "not in the specification database: no declared values"
    return spec, "derived from the host CPU (an estimate)" if spec.kind == "cpu" else "auto-matched from the detected name"


def profile_limits(profiles: list[Profile]) -> list[Limit]:
    """Every threshold the shipped profiles put on TPP and DRAM bandwidth, with the clauses that use it."""
    out = []
    for p in profiles:
        for metric in PROFILE_METRICS:
            for value in p.thresholds(metric):
                clauses = dict.fromkeys(rule.id for rule, c in p.leaves() if c.metric == metric and c.value == value)
                out.append(Limit(p.id, metric, value, ", ".join(clauses)))
    return out


def nearest_limit(value: float | None, limits: list[Limit]) -> str:
    """The profile line closest to a measured value (on a log scale), with its clauses."""
    if not limits:
        return "none in shipped profiles"
    if not value:
        return "nothing measured"
    near = min(limits, key=lambda lim: abs(math.log(lim.value / value)))
    return f"{_num(near.value)} ({near.profile} {near.clauses}); measured is {value / near.value:.2%} of it"


LIMIT_HEADERS = ["profile", "metric", "limit", "clauses"]


def limit_rows(data: ReportData) -> list[list[str]]:
    return [[lim.profile, PROFILE_METRICS[lim.metric], _num(lim.value), lim.clauses] for lim in data.limits]


def run_folder(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    return run_dir if run_dir.is_dir() else run_dir.parent


def is_signed(folder: Path) -> bool:
    """Any envelope present, valid or not: the folder is evidence and is not written into."""
    return (folder / SIGNATURE_FILE).exists()


def gather(run_dir: str | Path, verdict: Mapping[str, Any] | None = None,
           profile: str | None = None) -> ReportData | LotData:
    """Read a run or lot folder and everything the report needs beside it.

    For a lot, `verdict` maps unit labels to verdicts (from `bench report --profile`) and `profile`
    judges units without a stored verdict in the lot table."""
    run = read_run(run_dir)
    folder = run_folder(run_dir)
    if run.get("units"):
        return gather_lot(folder, run, verdict, profile)
    verdict = dict(verdict) if verdict else _load_verdict(folder, run)
    return _unit_data(run, verdict, provenance(folder, run))


def _unit_data(run: dict[str, Any], verdict: Mapping[str, Any] | None, labels: list[str],
               unit: str | None = None) -> ReportData:
    spec, how = _declared_spec(run, verdict)
    return ReportData(run, spec, how, dict(verdict) if verdict else None, profile_limits(list_profiles()), labels, unit)


def gather_lot(folder: Path, run: dict[str, Any], verdicts: Mapping[str, Any] | None = None,
               profile: str | None = None) -> LotData:
    units = []
    for label, unit_run in unit_runs(run):
        verdict = (verdicts or {}).get(label) or _load_verdict(folder / "units" / label, unit_run)
        units.append(_unit_data(unit_run, verdict, run_labels_of(unit_run), unit=label))
    failed = [(str(u.get("unit")), str(u.get("error") or f"exit {u.get('exit_code')}"))
              for u in run.get("units") or [] if isinstance(u, Mapping) and u.get("status") == "failed"]
    markdown, ok = lot_table(folder, run, profile)
    return LotData(run, units, markdown, ok, failed, [f"signature: {_signature_status(folder)}"])


def stored_manifest(run: Mapping[str, Any]) -> Any:
    """The plan's manifest as stored in run.json, as a bench.lab.fleet.LotManifest (None without one)."""
    plan = run.get("plan") or {}
    manifest = plan.get("manifest")
    block = manifest if isinstance(manifest, Mapping) else {"units": manifest}
    entries = block.get("units")
    if not isinstance(entries, list):
        return None
    expected = [str(e.get("serial") or e.get("uuid")) if isinstance(e, Mapping) else str(e) for e in entries]
    return LotManifest(f"plan {plan.get('name') or plan.get('path') or '?'} (stored in run.json)", expected,
                       block.get("device"), block.get("lot") or plan.get("lot"))


def lot_table(folder: Path, run: Mapping[str, Any], profile: str | None = None) -> tuple[str, bool]:
    """What `bench fleet FOLDER --manifest PLAN` prints (bench/lab/fleet.py renders it), and whether the lot is OK."""
    report = aggregate([folder], manifest=stored_manifest(run), profile=profile)
    return fleet_markdown(report), report.ok


def _signature_status(folder: Path) -> str:
    status = signature_status(folder)
    if status == "unsigned":
        return "unsigned when this report was made (`bench sign` afterwards covers the report files too)"
    return status


def run_labels_of(run: dict[str, Any]) -> list[str]:
    return run_labels(run)


def provenance(run_dir: Path, run: dict[str, Any]) -> list[str]:
    """What every report must say about where the numbers come from: signed or not, CPU runs, stand-ins."""
    return [f"signature: {_signature_status(run_folder(run_dir))}"] + run_labels_of(run)


# --- tables (shared by both renderers) -----------------------------------------------------------

def _share(value: float | None, declared: float | None) -> str:
    return f"{value / declared:.1%}" if value and declared else "-"


def _with_u(value: float | None, measurement: Mapping[str, Any] | None) -> str:
    U = ((measurement or {}).get("uncertainty") or {}).get("U")
    return _num(value) + (f" ± {_num(U, 2)}" if isinstance(U, (int, float)) and U > 0 else "")


RESULTS_HEADERS = ["", "measured ± U (k=2)", "unit", "datasheet", "% of datasheet", "TPP", "best shape"]


def results_rows(data: ReportData) -> list[list[str]]:
    """The compact table at the top, one row per dtype (an MLPerf-style row) plus DRAM bandwidth."""
    tpp = data.summary.get("effective_tpp") or {}
    rows = []
    for dtype, peak in (data.summary.get("gemm_peak") or {}).items():
        declared = data.declared_peak(dtype)
        mark = " (sets TPP)" if dtype == tpp.get("dtype") else ""
        rows.append([f"GEMM {dtype}{mark}", _with_u(peak["value"], data.measurement(peak["measurement_id"])),
                     peak.get("unit", ""), _num(declared), _share(peak["value"], declared),
                     _num(metrics.tpp(peak["value"], dtype)), shape_label(peak["measurement_id"])])
    for dtype, peak in (data.summary.get("attention_peak") or {}).items():
        rows.append([f"attention {dtype}", _with_u(peak.get("value"), data.measurement(peak.get("measurement_id"))),
                     peak.get("unit", "TFLOPS"), "-", "-", "-", shape_label(peak.get("measurement_id") or "")])
    bandwidth = data.summary.get("effective_dram_bandwidth") or {}
    if bandwidth.get("value"):
        declared = data.declared_bandwidth()
        measurement = data.measurement(bandwidth.get("measurement_id"))
        array = (measurement or {}).get("params", {}).get("array_bytes")
        rows.append([f"DRAM bandwidth ({bandwidth.get('kernel')})", _with_u(bandwidth["value"], measurement), "GB/s",
                     _num(declared), _share(bandwidth["value"], declared), "-",
                     f"{_bytes(array)} per array" if array else "-"])
    return rows


def search_line(data: ReportData) -> list[str]:
    """mamf-finder's one-liner per searched dtype: best value @ shape, trials, elapsed, why it stopped."""
    lines = []
    for dtype, record in (data.run.get("searches") or {}).items():
        best = record.get("best") or {}
        shape = "×".join(str((best.get("shape") or {}).get(k, "?")) for k in ("m", "n", "k")) if best else "-"
        found = "a fixed shape" if best.get("from") == "known" else "found by the search"
        lines.append(f"peak search {dtype}: best {_num(best.get('value'))} @ {shape} ({found}), "
                     f"{record.get('measured_trials', '?')} trial(s) measured in {record.get('elapsed_s', 0):.0f} s, "
                     f"stopped: {record.get('stop_reason', '?')}")
    return lines


def identity_rows(data: ReportData) -> list[list[str]]:
    run, device = data.run, data.run.get("device") or {}
    software = run.get("software") or {}
    rows = [["device", f"{device.get('name')} ({device.get('backend')}, {device.get('vendor')})"]]
    serial = _serial(run)
    if data.unit or serial:
        rows.append(["unit", " ".join(x for x in (data.unit, f"serial {serial}" if serial else None) if x)])
    rows += [["architecture", str(device.get("architecture") or "-")],
             ["compute units", f"{device.get('compute_units')} {device.get('compute_unit_kind') or ''}".strip()],
             ["memory", _bytes(device["memory_bytes"]) if device.get("memory_bytes") else "-"],
             ["declared spec", f"{data.spec.name} — {data.spec_how}" if data.spec else data.spec_how],
             ["run", f"{run.get('run_id')} ({run.get('status')}), {run.get('started_at')} → {run.get('ended_at')}"],
             ["suite", str((run.get("config") or {}).get("name"))],
             ["software", ", ".join(f"{k} {v}" for k, v in software.items() if v)],
             ["host", f"{(run.get('host') or {}).get('hostname')} — {(run.get('host') or {}).get('os')}"]]
    return rows


def _serial(run: Mapping[str, Any]) -> str | None:
    summaries = unit_summaries(dict(run))
    return summaries[0].serial if summaries else None


def metric_rows(data: ReportData) -> list[list[str]]:
    """Headline metrics against declared values and every profile's limit."""
    tpp = data.summary.get("effective_tpp") or {}
    bandwidth = data.summary.get("effective_dram_bandwidth") or {}
    budget = data.summary.get("uncertainty") or {}
    rows = []
    for metric, value, U, declared, source in (
            ("tpp", tpp.get("max"), (budget.get("tpp") or {}).get("U"), data.spec.tpp if data.spec else None,
             f"GEMM {tpp.get('dtype') or '-'}"),
            ("dram_bandwidth_gbps", bandwidth.get("value"), (budget.get("dram_bandwidth_gbps") or {}).get("U"),
             data.declared_bandwidth(), f"stream {bandwidth.get('kernel') or '-'}")):
        nearest = nearest_limit(value, [lim for lim in data.limits if lim.metric == metric])
        rows.append([f"{'Effective TPP' if metric == 'tpp' else 'DRAM bandwidth (GB/s)'}",
                     f"{_num(value)}" + (f" ± {_num(U, 2)}" if U else ""), source, _num(declared),
                     _share(value, declared), nearest])
    return rows


METRIC_HEADERS = ["metric", "measured ± U (k=2)", "from", "declared", "measured/declared", "nearest profile limit"]


def gemm_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for dtype, peak in (data.summary.get("gemm_peak") or {}).items():
        declared = data.declared_peak(dtype)
        low, high = peak.get("ci95") or (None, None)
        rows.append([dtype, _num(peak["value"]), f"{_num(low, 3)} – {_num(high, 3)}", peak.get("unit", ""),
                     _num(declared), _share(peak["value"], declared),
                     _num(metrics.tpp(peak["value"], dtype)), shape_label(peak["measurement_id"])])
    return rows


GEMM_HEADERS = ["dtype", "median", "95% CI", "unit", "declared peak", "share", "TPP", "best shape"]


def attention_rows(data: ReportData) -> list[list[str]]:
    return [[m["dtype"], shape_label(m), _num(m["throughput"]["value"]), m["params"].get("sdpa_backend", "-")]
            for m in data.ok("attention")]


def stream_rows(data: ReportData) -> list[list[str]]:
    return [[kernel, _num(e["value"]), _bytes(e["array_bytes"]) if e.get("array_bytes") else "-", _num(e.get("llc_multiple"))]
            for kernel, e in (data.summary.get("stream") or {}).items()]


SEARCH_HEADERS = ["dtype", "best shape", "TFLOPS/TOPS", "trials", "time", "stop reason"]


def search_rows(data: ReportData) -> list[list[str]]:
    """One row per dtype whose peak was searched for (bench/analysis/search.py)."""
    rows = []
    for dtype, record in (data.run.get("searches") or {}).items():
        best = record.get("best") or {}
        shape = "×".join(str(best.get("shape", {}).get(k, "?")) for k in ("m", "n", "k")) if best else "-"
        rows.append([dtype, shape, _num(best.get("value")), str(record.get("measured_trials", "-")),
                     f"{record.get('elapsed_s', 0):.0f} s", str(record.get("stop_reason", "-"))])
    return rows


PER_WATT_HEADERS = ["measurement", "throughput", "per watt", "power (W)", "power from"]


def per_watt_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for title, m in data.headline_measurements():
        per_watt = (m.get("throughput") or {}).get("per_watt")
        if isinstance(per_watt, Mapping) and per_watt.get("value"):
            rows.append([title, f"{_num(m['throughput']['value'])} {m['throughput']['unit']}",
                         f"{_num(per_watt['value'])} {per_watt.get('unit', '')}", _num(per_watt.get("power_w")),
                         str(per_watt.get("power_basis", "-"))])
    return rows


BUDGET_HEADERS = ["metric", "component", "type", "relative u", "degrees of freedom", "how"]


def budget_rows(data: ReportData) -> list[list[str]]:
    """The uncertainty budget (GUM) of each headline metric: its measurement's components, then U."""
    rows = []
    budgets = data.summary.get("uncertainty") or {}
    for metric, title in (("tpp", "effective TPP"), ("dram_bandwidth_gbps", "DRAM bandwidth")):
        entry = budgets.get(metric) or {}
        measurement = data.measurement(entry.get("measurement_id"))
        block = (measurement or {}).get("uncertainty") or {}
        for c in block.get("components") or []:
            rows.append([title, str(c.get("name")), str(c.get("type")), _percent(c.get("relative_standard_uncertainty")),
                         _num(c.get("degrees_of_freedom")) if c.get("degrees_of_freedom") is not None else "∞",
                         str(c.get("note", ""))])
        if block:
            rows.append([title, f"expanded U (k={_num(block.get('k'))})", "", _percent(block.get("relative_U")),
                         _num(block.get("effective_dof"), 3), f"U = {_num(entry.get('U'), 3)} on {_num(entry.get('value'))}"])
    return rows


def _percent(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value * 100:.1e}%" if 0 < value < 1e-4 else f"{value:.2%}"


def anti_detection_findings(data: ReportData) -> list[str]:
    block = data.summary.get("anti_detection") or {}
    return list(block.get("findings") or [])


def methodology(data: ReportData) -> dict[str, Any]:
    """Counting conventions, statistic, versions, warnings and skips."""
    run = data.run
    warnings = [(m["id"], w) for m in run.get("measurements") or [] for w in m.get("warnings") or []]
    findings = [(f.get("code", "?"), f.get("message", "")) for f in (run.get("audit") or {}).get("findings") or []]
    failed = [m["id"] for m in run.get("measurements") or [] if m.get("status") != "ok"]
    tool = run.get("tool") or {}
    return {
        "conventions": run.get("conventions") or metrics.CONVENTIONS,
        "versions": {"schema_version": run.get("schema_version"), "method_version": run.get("method_version"),
                     "tool": f"{tool.get('name')} {tool.get('version')}", "git_commit": tool.get("git_commit") or "-"},
        "statistic": "median of per-iteration sample times; 95% CI by seeded bootstrap; U (k=2) from the uncertainty budget",
        "warnings": warnings, "findings": findings, "failed": failed,
        "skips": [(s["id"], s["reason"]) for s in run.get("skips") or []],
    }


# --- HTML ----------------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1020px;margin:0 auto;padding:24px 28px 60px;background:#fff;min-height:100vh}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.2em;margin:32px 0 8px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
h3{font-size:1.05em;margin:22px 0 6px}h4{font-size:.95em;margin:16px 0 4px}
section.unit{border-top:3px solid #34495e;margin-top:36px}
.sub{color:#5b6472;margin:0 0 10px}.label{margin:2px 0;font-weight:600;color:#7a4b00}
table{border-collapse:collapse;width:auto;min-width:60%;font-size:.86em;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.results td:first-child{font-weight:600}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #e6e9ee}figcaption{font-size:.82em;color:#5b6472}
.verdict{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:700;color:#fff;letter-spacing:.03em}
.pass,.conditional.pass{background:#2e7d32}.fail{background:#c62828}.inconclusive{background:#8d6e00}
.cfail{background:#d84315}.cpass{background:#558b2f}.none{background:#78838f}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{flex:1 1 200px;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px}
.card .v{font-size:1.6em;font-weight:700}.card .l{color:#5b6472;font-size:.82em}
ul.health{list-style:none;padding:0;margin:6px 0;font-size:.88em}
ul.health li{padding:3px 8px;margin:2px 0;border-left:4px solid #78838f;background:#f7f8fa}
ul.health li.warn{border-color:#d9a400}ul.health li.bad{border-color:#c62828}ul.health li.ok{border-color:#2e7d32}
.lot{border:1px solid #dde1e7;border-radius:6px;padding:4px 16px 10px;background:#fbfcfd}
.lot h1{font-size:1.2em;margin-top:10px}.lot h2{font-size:1.05em;margin:16px 0 6px}
details{margin:6px 0}summary{cursor:pointer;color:#34495e}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px;font-size:.9em}
"""
VERDICT_CLASS = {"pass": "pass", "fail": "fail", "inconclusive": "inconclusive", "conditional fail": "cfail",
                 "conditional pass": "cpass"}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _html_table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{_e(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table{f' class={css}' if css else ''}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_figure(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{_e(name)}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _verdict_html(verdict: Mapping[str, Any] | None) -> str:
    if not verdict:
        return ('<p><span class="verdict none">NOT CHECKED</span> Run <code>bench check RUN_DIR --profile P</code> '
                "or <code>bench report RUN_DIR --profile P</code> for a verdict.</p>")
    outcome = verdict["verdict"]
    rows = [[c["title"], c["outcome"], c["summary"]] for c in verdict.get("checks") or []]
    return (f'<p><span class="verdict {VERDICT_CLASS.get(outcome, "none")}">{_e(outcome.upper())}</span> '
            f"profile <code>{_e(verdict['profile']['id'])}</code> — {_e(verdict['profile'].get('title', ''))}; "
            f"declared {_e(verdict['declared']['name'])}; rule {_e(verdict.get('rule'))}</p>"
            + _html_table(["check", "outcome", "summary"], rows) + f"<p>{_e(verdict.get('statement', ''))}</p>")


def _cards(data: ReportData) -> str:
    tpp = data.summary.get("effective_tpp") or {}
    bandwidth = data.summary.get("effective_dram_bandwidth") or {}
    budget = data.summary.get("uncertainty") or {}
    counts = data.summary.get("counts") or {}
    u_tpp, u_bw = (budget.get("tpp") or {}).get("U"), (budget.get("dram_bandwidth_gbps") or {}).get("U")
    cards = [(_num(tpp.get("max")) + (f" ± {_num(u_tpp, 2)}" if u_tpp else ""),
              f"effective TPP (from {tpp.get('dtype') or '-'}; U at k=2; a lower bound)"),
             (_num(bandwidth.get("value")) + (f" ± {_num(u_bw, 2)}" if u_bw else ""),
              f"effective DRAM bandwidth, GB/s (from {bandwidth.get('kernel') or '-'})"),
             (f"{counts.get('measurements', 0)}", f"measurements ({counts.get('skips', 0)} skipped, "
                                                  f"{counts.get('failed_checks', 0)} wrong results)")]
    return '<div class="cards">' + "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="l">{_e(l)}</div></div>'
                                           for v, l in cards) + "</div>"


def _health_html(lines: list[HealthLine]) -> str:
    return '<ul class="health">' + "".join(f'<li class="{_e(line.level)}">{_e(line.text)}</li>' for line in lines) + "</ul>"


def _list_details(title: str, items: list[tuple[str, str]]) -> str:
    if not items:
        return f"<p>{_e(title)}: none.</p>"
    rows = "".join(f"<li><code>{_e(a)}</code>: {_e(b)}</li>" for a, b in items)
    return f"<details><summary>{_e(title)} ({len(items)})</summary><ul>{rows}</ul></details>"


def _unit_html(data: ReportData, figs: Mapping[str, tuple[str, bytes]], level: int = 2) -> list[str]:
    """One unit's body: verdict, results, health, then the detail sections (headings from `level`)."""
    h, sub = f"h{level}", f"h{level + 1}"
    fig = lambda name: _html_figure(name, *figs[name]) if name in figs else ""
    method = methodology(data)
    parts = ["".join(f'<p class="label">{_e(label)}</p>' for label in data.provenance),
             _verdict_html(data.verdict),
             f"<{h}>Results</{h}>", _html_table(RESULTS_HEADERS, results_rows(data), {1, 3, 4, 5}, "results"),
             "".join(f"<p class=sub>{_e(line)}</p>" for line in search_line(data)),
             f"<{h}>Health</{h}>", _health_html(health_lines(data.run)), _cards(data),
             _html_table(METRIC_HEADERS, metric_rows(data), {1, 3, 4}), fig("gauges"),
             "<details><summary>Every profile's limits and the clauses that draw them</summary>"
             + _html_table(LIMIT_HEADERS, limit_rows(data), {2}) + "</details>",
             "<p>A measured TPP or bandwidth is a lower bound on the theoretical peak that export rules use: "
             "it can show a part is above a line, never that it is below one.</p>",
             fig("distributions")]
    if budget_rows(data):
        parts += [f"<{sub}>Uncertainty budget</{sub}>", _html_table(BUDGET_HEADERS, budget_rows(data), {3, 4})]
    if "telemetry" in figs:
        parts += [f"<{h}>Telemetry</{h}>", fig("telemetry")]
        if per_watt_rows(data):
            parts.append(_html_table(PER_WATT_HEADERS, per_watt_rows(data), {1, 2, 3}))
    parts += [f"<{h}>Identity</{h}>", _html_table(["", ""], identity_rows(data)),
              f"<{h}>Roofline</{h}>", fig("roofline"),
              f"<{h}>GEMM</{h}>", _html_table(GEMM_HEADERS, gemm_rows(data), {1, 4, 5, 6}), fig("gemm_peaks"),
              fig("gemm_shapes")]
    if search_rows(data):
        parts += [f"<{sub}>Peak search</{sub}>", _html_table(SEARCH_HEADERS, search_rows(data), {2, 3})]
    parts += [f"<{sub}>Data patterns and benchmark detection</{sub}>",
              "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in anti_detection_findings(data)) + "</ul>"
              if anti_detection_findings(data) else "<p>No finding (or no perturbed / low-entropy runs).</p>"]
    if attention_rows(data):
        parts += [f"<{h}>Attention</{h}>", _html_table(["dtype", "case", "TFLOPS", "SDPA backend"], attention_rows(data), {2})]
    parts += [f"<{h}>Memory streams</{h}>", _html_table(["kernel", "GB/s", "array", "x LLC"], stream_rows(data), {1, 3}),
              fig("streams"), fig("sweep"),
              f"<{h}>Methodology</{h}>",
              _html_table(["convention", ""], [[k, str(v)] for k, v in method["conventions"].items()]),
              _html_table(["version", ""], [[k, str(v)] for k, v in method["versions"].items()]),
              f"<p>Statistic: {_e(method['statistic'])}.</p>",
              _list_details("Failed correctness checks", [(i, "wrong result") for i in method["failed"]]),
              _list_details("Warnings", method["warnings"]),
              _list_details("Audit findings", method["findings"]),
              _list_details("Skipped cases", method["skips"])]
    return parts


def _page(title: str, parts: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(p for p in parts if p) + "\n</main></body></html>\n")


def _run_line(run: Mapping[str, Any]) -> str:
    return (f"run {run.get('run_id')} · status {run.get('status')} · suite {(run.get('config') or {}).get('name')}")


def render_html(data: ReportData, figs: Mapping[str, tuple[str, bytes]]) -> str:
    """The self-contained page of one run: inline CSS, base64 PNGs, no scripts, no network."""
    device = data.run.get("device") or {}
    parts = [f"<h1>accelbench report: {_e(device.get('name'))}</h1>", f'<p class="sub">{_e(_run_line(data.run))}</p>',
             *_unit_html(data, figs)]
    return _page(f"accelbench report — {device.get('name')} — {data.run.get('run_id')}", parts)


def _markdown_to_html(text: str) -> str:
    """bench/lab/fleet.py's Markdown (tables, lists, emphasis) as HTML; raw HTML in it is escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table").render(text)


def _demote(markdown: str, levels: int = 1) -> str:
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown, flags=re.M)


def render_lot_html(lot: LotData, figs: Mapping[str, Mapping[str, tuple[str, bytes]]]) -> str:
    """The lot page: the lot table `bench fleet` prints, then one section per unit."""
    parts = [f"<h1>accelbench lot report: {_e(lot.name)}</h1>",
             f'<p class="sub">{_e(_run_line(lot.run))} · {len(lot.units)} unit(s) measured</p>',
             "".join(f'<p class="label">{_e(label)}</p>' for label in lot.provenance),
             f'<p><span class="verdict {"pass" if lot.fleet_ok else "fail"}">LOT {"OK" if lot.fleet_ok else "NOT OK"}'
             "</span> lot table as <code>bench fleet</code> prints it, manifest from the stored plan</p>",
             f'<div class="lot">{_markdown_to_html(lot.fleet_markdown)}</div>',
             "<h2>Units at a glance</h2>",
             _html_table(LOT_HEADERS, lot_rows(lot), {2, 3}), lot_figure_html(lot)]
    if lot.failed:
        parts += ["<h2>Units without results</h2>",
                  "<ul>" + "".join(f"<li><code>{_e(u)}</code>: {_e(why)}</li>" for u, why in lot.failed) + "</ul>"]
    for data in lot.units:
        parts += [f'<section class="unit" id="unit-{_e(data.unit)}"><h2>Unit {_e(data.unit)}</h2>',
                  *_unit_html(data, figs.get(data.unit or "", {}), level=3), "</section>"]
    return _page(f"accelbench lot report — {lot.name}", parts)


LOT_HEADERS = ["unit", "verdict", "effective TPP ± U", "DRAM GB/s ± U", "health"]


def lot_figure_html(lot: LotData) -> str:
    return _html_figure("lot", LOT_CAPTION, png_bytes(figure_lot(lot.units))) if lot.units else ""


LOT_CAPTION = "Each unit's effective TPP and DRAM bandwidth with its expanded uncertainty U (k=2)"


def lot_rows(lot: LotData) -> list[list[str]]:
    """One line per unit linking to its section: verdict, headline figures with U, health in a word."""
    rows = []
    for data in lot.units:
        tpp = data.summary.get("effective_tpp") or {}
        bandwidth = data.summary.get("effective_dram_bandwidth") or {}
        budget = data.summary.get("uncertainty") or {}
        lines = health_lines(data.run)
        noted = [line for line in lines if line.level != "ok"]
        rows.append([str(data.unit), (data.verdict or {}).get("verdict", "not checked"),
                     _num(tpp.get("max")) + (f" ± {_num((budget.get('tpp') or {}).get('U'), 2)}" if budget.get("tpp") else ""),
                     _num(bandwidth.get("value")) + (f" ± {_num((budget.get('dram_bandwidth_gbps') or {}).get('U'), 2)}"
                                                     if budget.get("dram_bandwidth_gbps") else ""),
                     f"{len(noted)} note(s)" if noted else "ok"])
    return rows


# --- Markdown -----------------------------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    cell = lambda c: str(c).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows])


def _unit_markdown(data: ReportData, figure_paths: Mapping[str, tuple[str, str]], level: int = 2) -> list[str]:
    h, sub = "#" * level, "#" * (level + 1)
    fig = lambda name: f"![{figure_paths[name][0]}]({figure_paths[name][1]})\n" if name in figure_paths else ""
    verdict = data.verdict
    method = methodology(data)
    out = [f"**{label}**  " for label in data.provenance] + [""]
    if verdict:
        out += [f"**Verdict: {verdict['verdict'].upper()}** — profile `{verdict['profile']['id']}`, declared "
                f"{verdict['declared']['name']}, rule {verdict.get('rule')}", "",
                _md_table(["check", "outcome", "summary"],
                          [[c["title"], c["outcome"], c["summary"]] for c in verdict.get("checks") or []]),
                "", verdict.get("statement", ""), ""]
    else:
        out += ["Verdict: not checked (run `bench check RUN_DIR --profile P`).", ""]
    out += [f"{h} Results", "", _md_table(RESULTS_HEADERS, results_rows(data)), ""]
    out += [f"{line}  " for line in search_line(data)] + [""]
    marks = {"ok": "ok", "warn": "note", "bad": "**problem**"}
    out += [f"{h} Health", ""] + [f"- {marks[line.level]}: {line.text}" for line in health_lines(data.run)] + [""]
    out += [_md_table(METRIC_HEADERS, metric_rows(data)), "", fig("gauges"),
            "Every profile's limits and the clauses that draw them:", "", _md_table(LIMIT_HEADERS, limit_rows(data)), "",
            "A measured TPP or bandwidth is a lower bound on the theoretical peak: it can show a part is above a line, "
            "never that it is below one.", "", fig("distributions")]
    if budget_rows(data):
        out += [f"{sub} Uncertainty budget", "", _md_table(BUDGET_HEADERS, budget_rows(data)), ""]
    if "telemetry" in figure_paths:
        out += [f"{h} Telemetry", "", fig("telemetry")]
        if per_watt_rows(data):
            out += [_md_table(PER_WATT_HEADERS, per_watt_rows(data)), ""]
    out += [f"{h} Identity", "", _md_table(["", ""], identity_rows(data)), "",
            f"{h} Roofline", "", fig("roofline"), f"{h} GEMM", "", _md_table(GEMM_HEADERS, gemm_rows(data)), "",
            fig("gemm_peaks"), fig("gemm_shapes")]
    if search_rows(data):
        out += [f"{sub} Peak search", "", _md_table(SEARCH_HEADERS, search_rows(data)), ""]
    out += [f"{sub} Data patterns and benchmark detection", ""]
    out += [f"- {f}" for f in anti_detection_findings(data)] or ["No finding (or no perturbed / low-entropy runs)."]
    out += [""]
    if attention_rows(data):
        out += [f"{h} Attention", "", _md_table(["dtype", "case", "TFLOPS", "SDPA backend"], attention_rows(data)), ""]
    out += [f"{h} Memory streams", "", _md_table(["kernel", "GB/s", "array", "x LLC"], stream_rows(data)), "",
            fig("streams"), fig("sweep"), f"{h} Methodology", "",
            _md_table(["convention", ""], [[k, str(v)] for k, v in method["conventions"].items()]), "",
            _md_table(["version", ""], [[k, str(v)] for k, v in method["versions"].items()]), "",
            f"Statistic: {method['statistic']}.", ""]
    for title, items in (("Failed correctness checks", [(i, "wrong result") for i in method["failed"]]),
                         ("Warnings", method["warnings"]), ("Audit findings", method["findings"]),
                         ("Skipped cases", method["skips"])):
        out += [f"**{title}** ({len(items)})", ""] + [f"- `{a}`: {b}" for a, b in items] + [""]
    return out


def render_markdown(data: ReportData, figure_paths: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Markdown with the same tables; figures linked as files (name -> (caption, relative path))."""
    device = data.run.get("device") or {}
    out = [f"# accelbench report: {device.get('name')}", "", _run_line(data.run) + ".", "",
           *_unit_markdown(data, figure_paths or {})]
    return "\n".join(out).rstrip() + "\n"


def render_lot_markdown(lot: LotData, figure_paths: Mapping[str, Mapping[str, tuple[str, str]]] | None = None,
                        lot_paths: Mapping[str, tuple[str, str]] | None = None) -> str:
    figure_paths, lot_paths = figure_paths or {}, lot_paths or {}
    out = [f"# accelbench lot report: {lot.name}", "", _run_line(lot.run) + f", {len(lot.units)} unit(s) measured.", ""]
    out += [f"**{label}**  " for label in lot.provenance] + ["", _demote(lot.fleet_markdown),
                                                             "## Units at a glance", "",
                                                             _md_table(LOT_HEADERS, lot_rows(lot)), ""]
    if "lot" in lot_paths:
        out += [f"![{lot_paths['lot'][0]}]({lot_paths['lot'][1]})", ""]
    if lot.failed:
        out += ["## Units without results", ""] + [f"- `{u}`: {why}" for u, why in lot.failed] + [""]
    for data in lot.units:
        out += [f"## Unit {data.unit}", "", *_unit_markdown(data, figure_paths.get(data.unit or "", {}), level=3)]
    return "\n".join(out).rstrip() + "\n"


# --- writing --------------------------------------------------------------------------------------

def destination(run_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, str | None]:
    """Where the report goes, and a note when that is not the run folder itself.

    A signed folder is never written into: by default the report goes beside it, to
    `<folder>-report/`; an --out inside it is refused."""
    folder = run_folder(run_dir)
    signed = is_signed(folder)
    if out_dir:
        out = Path(out_dir)
        if signed and _inside(out, folder):
            raise UsageError(f"--out {out_dir}: {folder} is signed; a report written inside it would break its "
                             "signature. Pass --out outside the folder, or report before `bench sign`")
        return out, None
    if signed:
        out = folder.resolve().parent / f"{folder.resolve().name}-report"
        return out, (f"{folder} is signed: the report goes to {out} so the evidence stays untouched "
                     "(report before `bench sign` to have the signature cover it)")
    return folder, None


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def write_report(run_dir: str | Path, fmt: str = "all", out_dir: str | Path | None = None,
                 verdict: Mapping[str, Any] | None = None, profile: str | None = None) -> list[Path]:
    """Write report.html and/or report.md (+ report-figures/) where `destination` says.

    For a lot folder, `verdict` maps unit labels to verdicts."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    out, _ = destination(run_dir, out_dir)
    data = gather(run_dir, verdict, profile)
    if not _inside(out, run_folder(run_dir)) and is_signed(run_folder(run_dir)):
        note = "this report lies outside the signed folder: the signature does not cover it"
        data.provenance.append(note)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(data, LotData):
        return _write_lot(data, fmt, out)
    figs = render_figures(data)
    written = []
    if fmt in ("html", "all"):
        written.append(_atomic(out / "report.html", render_html(data, figs)))
    if fmt in ("md", "all"):
        written.append(_atomic(out / "report.md", render_markdown(data, _write_figures(out, figs))))
    return written


def _write_lot(lot: LotData, fmt: str, out: Path) -> list[Path]:
    figs = {data.unit or "": render_figures(data) for data in lot.units}
    written = []
    if fmt in ("html", "all"):
        written.append(_atomic(out / "report.html", render_lot_html(lot, figs)))
    if fmt in ("md", "all"):
        paths = {unit: _write_figures(out, unit_figs, prefix=f"{_safe(unit)}-") for unit, unit_figs in figs.items()}
        lot_paths = _write_figures(out, {"lot": (LOT_CAPTION, png_bytes(figure_lot(lot.units)))}) if lot.units else {}
        written.append(_atomic(out / "report.md", render_lot_markdown(lot, paths, lot_paths)))
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "unit"


def _write_figures(out: Path, figs: Mapping[str, tuple[str, bytes]], prefix: str = "") -> dict[str, tuple[str, str]]:
    (out / FIGURE_DIR).mkdir(exist_ok=True)
    paths = {}
    for name, (caption, png) in figs.items():
        (out / FIGURE_DIR / f"{prefix}{name}.png").write_bytes(png)
        paths[name] = (caption, f"{FIGURE_DIR}/{prefix}{name}.png")
    return paths


def _atomic(path: Path, text: str) -> Path:
    return write_text_atomic(path, text)
