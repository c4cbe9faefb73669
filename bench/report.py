"""`bench report`: a self-contained HTML page and a Markdown file from a stored run folder.

Everything comes from run.json (and verdict.json when `bench check` left one); nothing is measured
again. Figures are matplotlib (Agg) PNGs: base64-inlined in the HTML, files under
`report-figures/` for the Markdown. One builder (`ReportData`) feeds two renderers."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
from matplotlib.figure import Figure  # noqa: E402

from bench import metrics  # noqa: E402
from bench.errors import UsageError  # noqa: E402
from bench.profiles import Profile, list_profiles  # noqa: E402
from bench.record.folder import read_verdict  # noqa: E402
from bench.record.jsonfile import write_text_atomic  # noqa: E402
from bench.specs import DeviceSpec, canonical_dtype, load_database  # noqa: E402
from bench.verdict import read_run  # noqa: E402

FORMATS = ("html", "md", "all")
FIGURE_DIR = "report-figures"
COLORS = plt.get_cmap("tab10").colors
PROFILE_METRICS = {"tpp": "TPP", "dram_bandwidth_gbps": "GB/s"}


@dataclasses.dataclass
class Limit:
    profile: str
    metric: str
    value: float


@dataclasses.dataclass
class ReportData:
    """What the report shows, gathered once: the run, its declared spec, verdict and limits."""

    run: dict[str, Any]
    spec: DeviceSpec | None
    spec_how: str
    verdict: dict[str, Any] | None
    limits: list[Limit]
    provenance: list[str] = dataclasses.field(default_factory=list)  # signature status, stand-in labels

    @property
    def summary(self) -> dict[str, Any]:
        return self.run.get("summary") or {}

    def ok(self, suite: str) -> list[dict[str, Any]]:
        return [m for m in self.run.get("measurements", []) if m["suite"] == suite and m["status"] == "ok"]

    def declared_peak(self, dtype: str) -> float | None:
        return self.spec.peak_tops(canonical_dtype(dtype)) if self.spec else None

    def declared_bandwidth(self) -> float | None:
        return self.spec.dram_bandwidth_gbps if self.spec else None


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
    """Every threshold the shipped profiles put on TPP and DRAM bandwidth."""
    return [Limit(p.id, metric, value) for p in profiles for metric in PROFILE_METRICS for value in p.thresholds(metric)]


def gather(run_dir: str | Path, verdict: Mapping[str, Any] | None = None) -> ReportData:
    """Read a run folder and everything the report needs beside it."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    verdict = dict(verdict) if verdict else _load_verdict(run_dir if run_dir.is_dir() else run_dir.parent, run)
    spec, how = _declared_spec(run, verdict)
    return ReportData(run, spec, how, verdict, profile_limits(list_profiles()), provenance(run_dir, run))


def provenance(run_dir: Path, run: dict[str, Any]) -> list[str]:
    """What every report must say about where the numbers come from: signed or not, stand-ins."""
    from bench.recompute import run_labels
    from bench.signing import signature_status

    folder = run_dir if run_dir.is_dir() else run_dir.parent
    return [f"signature: {signature_status(folder)}"] + run_labels(run)


# --- figures ---------------------------------------------------------------------------------------

def _fig(width: float = 7.5, height: float = 3.6) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _metric_bar(ax: Any, title: str, unit: str, measured: float | None, U: float | None,
                declared: float | None, limits: list[Limit]) -> None:
    """One log-scale gauge: a row for measured (± U), one for declared, one per profile with its limits."""
    profiles = sorted({l.profile for l in limits})
    values = [v for v in [measured, declared, *(l.value for l in limits)] if v]
    if not values:
        ax.text(0.5, 0.5, f"{title}: nothing measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    low, high = min(values) / 3, max(values) * 4
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    rows = ["measured", "declared", *profiles]
    ax.set_ylim(len(rows) - 0.4, -0.6)
    labels = ["measured", "declared"] + [f"{p}\n" + " / ".join(_num(l.value) for l in limits if l.profile == p) for p in profiles]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    if measured:
        ax.barh(0, measured - low, left=low, height=0.6, color=COLORS[0],
                xerr=[[min(U or 0, measured - low * 1.01)], [U or 0]], capsize=3)
        ax.text((measured + (U or 0)) * 1.12, 0, f"{_num(measured)} {unit}", va="center", fontsize=7.5)
    if declared:
        ax.barh(1, declared - low, left=low, height=0.6, color=COLORS[7])
        ax.text(declared * 1.12, 1, f"{_num(declared)} {unit}", va="center", fontsize=7.5)
    else:
        ax.text(low * 1.1, 1, "no declared value", va="center", fontsize=7.5, color="grey")
    for row, profile in enumerate(profiles, start=2):
        color = COLORS[(row + 1) % len(COLORS)]
        mine = [l.value for l in limits if l.profile == profile]
        ax.axhline(row, color=color, linewidth=0.6, alpha=0.4)
        ax.scatter(mine, [row] * len(mine), marker="|", s=160, color=color, linewidths=2, zorder=3)
        for value in mine:
            ax.axvline(value, color=color, linestyle=":", linewidth=0.8, alpha=0.6)
    ax.set_title(f"{title} ({unit}, log scale) against each profile's limits", fontsize=9, loc="left")


def figure_gauges(data: ReportData) -> Figure:
    fig, axes = plt.subplots(2, 1, figsize=(8.5, 6.2), dpi=110)
    tpp = data.summary.get("effective_tpp") or {}
    budget = (data.summary.get("uncertainty") or {})
    _metric_bar(axes[0], "Effective TPP", "TPP", tpp.get("max"), (budget.get("tpp") or {}).get("U"),
                data.spec.tpp if data.spec else None, [l for l in data.limits if l.metric == "tpp"])
    bandwidth = data.summary.get("effective_dram_bandwidth") or {}
    _metric_bar(axes[1], "Effective DRAM bandwidth", "GB/s", bandwidth.get("value"),
                (budget.get("dram_bandwidth_gbps") or {}).get("U"), data.declared_bandwidth(),
                [l for l in data.limits if l.metric == "dram_bandwidth_gbps"])
    fig.tight_layout()
    return fig


def _intensity(m: Mapping[str, Any]) -> float | None:
    work = m.get("work") or {}
    return work["flops"] / work["bytes"] if work.get("flops") and work.get("bytes") else None


def _tops(m: Mapping[str, Any]) -> float:
    """Achieved 1e12 op/s of a measurement (streams: flops over the measured time)."""
    if m["throughput"]["unit"] != "GB/s":
        return m["throughput"]["value"]
    return m["throughput"]["value"] * 1e9 * _intensity(m) / 1e12


def figure_roofline(data: ReportData) -> Figure:
    """Measured points against declared compute roofs per dtype and the DRAM roof, log-log."""
    fig, ax = _fig(8, 4.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    points = [(m, _intensity(m)) for s in ("gemm", "attention", "stream") for m in data.ok(s)]
    points = [(m, ai) for m, ai in points if ai]
    bandwidth = data.declared_bandwidth()
    roof_label = "declared DRAM"
    if not bandwidth:
        bandwidth = (data.summary.get("effective_dram_bandwidth") or {}).get("value")
        roof_label = "measured DRAM (no declared value)"
    intensities = [ai for _, ai in points] or [1.0]
    x_low, x_high = min(intensities) / 4, max(intensities) * 4
    peaks = {d: data.declared_peak(d) for d in sorted({m["dtype"] for m, _ in points if m["suite"] != "stream"})}
    peaks = {d: p for d, p in peaks.items() if p}
    dtypes = sorted({m["dtype"] for m, _ in points})
    color_of = {d: COLORS[i % len(COLORS)] for i, d in enumerate(dtypes)}
    for dtype, peak in peaks.items():
        ridge = peak * 1e12 / (bandwidth * 1e9) if bandwidth else x_low
        xs = [x_low, ridge, max(x_high, ridge * 4)] if bandwidth else [x_low, x_high]
        ys = [min(peak, bandwidth * 1e9 * x / 1e12) if bandwidth else peak for x in xs]
        ax.plot(xs, ys, color=color_of[dtype], linewidth=1.2, alpha=0.8)
        ax.text(xs[-1], peak, f" {dtype} {_num(peak)}", color=color_of[dtype], fontsize=7, va="bottom", ha="right")
    if bandwidth:
        xs = [x_low, x_high]
        ax.plot(xs, [bandwidth * 1e9 * x / 1e12 for x in xs], color="black", linestyle=":", linewidth=1,
                label=f"{roof_label} {_num(bandwidth)} GB/s")
    markers = {"gemm": "o", "attention": "^", "stream": "s"}
    for suite, marker in markers.items():
        for dtype in dtypes:
            chosen = [(m, ai) for m, ai in points if m["suite"] == suite and m["dtype"] == dtype]
            if chosen:
                ax.scatter([ai for _, ai in chosen], [_tops(m) for m, _ in chosen], marker=marker, s=22,
                           color=color_of[dtype], edgecolor="black", linewidth=0.4, zorder=3,
                           label=f"{suite} {dtype}")
    ax.set_xlabel("arithmetic intensity (operations per byte)")
    ax.set_ylabel("TFLOPS / TOPS")
    ax.set_title("Roofline: measured points against declared roofs", fontsize=10, loc="left")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def figure_gemm_peaks(data: ReportData) -> Figure:
    """Achieved peak per dtype against the declared peak (grouped bars, log y)."""
    fig, ax = _fig(7.5, 3.4)
    peaks = data.summary.get("gemm_peak") or {}
    dtypes = list(peaks)
    xs = range(len(dtypes))
    measured = [peaks[d]["value"] for d in dtypes]
    declared = [data.declared_peak(d) or 0 for d in dtypes]
    ax.bar([x - 0.2 for x in xs], measured, width=0.4, color=COLORS[0], label="measured (median, best shape)")
    ax.bar([x + 0.2 for x in xs], declared, width=0.4, color=COLORS[7], label="declared dense peak")
    for x, value, peak in zip(xs, measured, declared):
        label = f"{value / peak:.0%}" if peak else "no decl."
        ax.text(x - 0.2, value, label, ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(list(xs), dtypes)
    ax.set_ylabel("TFLOPS / TOPS")
    ax.set_title("GEMM: achieved against declared (label: share of declared)", fontsize=10, loc="left")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_gemm_shapes(data: ReportData) -> Figure:
    """Throughput over the shapes tried, one line per dtype."""
    fig, ax = _fig(7.5, 3.4)
    gemm = data.ok("gemm")
    shapes = sorted({tuple(m["shape"].values()) for m in gemm}, key=lambda s: math.prod(s))
    labels = ["x".join(map(str, s)) for s in shapes]
    for i, dtype in enumerate(sorted({m["dtype"] for m in gemm})):
        by_shape = {tuple(m["shape"].values()): m["throughput"]["value"] for m in gemm if m["dtype"] == dtype}
        xs = [j for j, s in enumerate(shapes) if s in by_shape]
        ax.plot(xs, [by_shape[shapes[j]] for j in xs], marker="o", color=COLORS[i % len(COLORS)], label=dtype)
    ax.set_xticks(range(len(shapes)), labels, rotation=20, fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("m x n x k")
    ax.set_ylabel("TFLOPS / TOPS")
    ax.set_title("GEMM throughput over the shapes tried", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def figure_streams(data: ReportData) -> Figure:
    fig, ax = _fig(7.5, 3.0)
    streams = data.summary.get("stream") or {}
    names = list(streams)
    values = [streams[k]["value"] for k in names]
    errors = [[v - streams[k]["ci95"][0] for k, v in zip(names, values)],
              [streams[k]["ci95"][1] - v for k, v in zip(names, values)]]
    ax.bar(names, values, color=COLORS[2], yerr=errors, capsize=3)
    for x, value in enumerate(values):
        ax.text(x, value, f"{_num(value)}", ha="center", va="bottom", fontsize=7)
    declared = data.declared_bandwidth()
    if declared:
        ax.axhline(declared, color=COLORS[3], linestyle="--", label=f"declared {_num(declared)} GB/s")
        ax.legend(fontsize=7)
    ax.set_ylabel("GB/s")
    ax.set_title("Memory streams at DRAM-sized arrays (median, 95% CI)", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def figure_sweep(data: ReportData) -> Figure:
    fig, ax = _fig(7.5, 3.4)
    swept = {m["kernel"] for m in data.ok("stream") if m["params"].get("role") == "sweep"}
    sweep = [m for m in data.ok("stream") if m["params"].get("array_bytes") and m["kernel"] in swept]
    for i, kernel in enumerate(sorted(swept)):
        points = sorted((m["params"]["array_bytes"], m["throughput"]["value"]) for m in sweep if m["kernel"] == kernel)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3,
                color=COLORS[i % len(COLORS)], label=kernel)
    device = data.run.get("device") or {}
    caches = ((device.get("extra") or {}).get("cache_levels_bytes")
              or {"L2": device.get("l2_cache_bytes"), "LLC": device.get("last_level_cache_bytes")})
    for level, size in caches.items():
        if size:
            name = f"L{level}" if str(level).isdigit() else level
            ax.axvline(size, color="grey", linestyle="--", linewidth=1)
            ax.text(size, ax.get_ylim()[1], f" {name} {_bytes(size)}", fontsize=7, va="top", color="grey")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("array size (bytes per array)")
    ax.set_ylabel("GB/s")
    ax.set_title("Bandwidth against array size (cache sizes dashed)", fontsize=10, loc="left")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def has_sweep(data: ReportData) -> bool:
    return any(m["params"].get("role") == "sweep" for m in data.ok("stream"))


def figures(data: ReportData) -> dict[str, tuple[str, Callable[[ReportData], Figure]]]:
    """Figure name -> (caption, builder), only those the run has data for."""
    out: dict[str, tuple[str, Callable[[ReportData], Figure]]] = {
        "gauges": ("Effective TPP and DRAM bandwidth against the declared values and every profile's limits", figure_gauges)}
    if any(data.ok(s) for s in ("gemm", "attention", "stream")):
        out["roofline"] = ("Roofline (log-log): measured GEMM, attention and stream points", figure_roofline)
    if data.summary.get("gemm_peak"):
        out["gemm_peaks"] = ("GEMM achieved against declared peak per dtype", figure_gemm_peaks)
        out["gemm_shapes"] = ("GEMM throughput over the shapes tried", figure_gemm_shapes)
    if data.summary.get("stream"):
        out["streams"] = ("Memory stream bandwidth per kernel", figure_streams)
    if has_sweep(data):
        out["sweep"] = ("Bandwidth against array size", figure_sweep)
    return out


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def render_figures(data: ReportData) -> dict[str, tuple[str, bytes]]:
    return {name: (caption, png_bytes(build(data))) for name, (caption, build) in figures(data).items()}


# --- tables (shared by both renderers) -----------------------------------------------------------

def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    return str(size)


def identity_rows(data: ReportData) -> list[list[str]]:
    run, device = data.run, data.run.get("device") or {}
    software = run.get("software") or {}
    return [["device", f"{device.get('name')} ({device.get('backend')}, {device.get('vendor')})"],
            ["architecture", str(device.get("architecture") or "-")],
            ["compute units", f"{device.get('compute_units')} {device.get('compute_unit_kind') or ''}".strip()],
            ["memory", _bytes(device["memory_bytes"]) if device.get("memory_bytes") else "-"],
            ["declared spec", f"{data.spec.name} — {data.spec_how}" if data.spec else data.spec_how],
            ["run", f"{run.get('run_id')} ({run.get('status')}), {run.get('started_at')} → {run.get('ended_at')}"],
            ["suite", str((run.get("config") or {}).get("name"))],
            ["software", ", ".join(f"{k} {v}" for k, v in software.items() if v)],
            ["host", f"{(run.get('host') or {}).get('hostname')} — {(run.get('host') or {}).get('os')}"]]


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
        limits = [l for l in data.limits if l.metric == metric]
        profiles = sorted({l.profile for l in limits})
        nearest = "; ".join(f"{p}: " + " / ".join(_num(l.value) for l in limits if l.profile == p)
                            for p in profiles) or "none in shipped profiles"
        share = f"{value / declared:.1%}" if value and declared else "-"
        rows.append([f"{'Effective TPP' if metric == 'tpp' else 'DRAM bandwidth (GB/s)'}",
                     f"{_num(value)}" + (f" ± {_num(U, 2)}" if U else ""), source, _num(declared), share, nearest])
    return rows


METRIC_HEADERS = ["metric", "measured ± U (k=2)", "from", "declared", "measured/declared", "profile limits"]


def gemm_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for dtype, peak in (data.summary.get("gemm_peak") or {}).items():
        declared = data.declared_peak(dtype)
        low, high = peak.get("ci95") or (None, None)
        rows.append([dtype, _num(peak["value"]), f"{_num(low, 3)} – {_num(high, 3)}", peak.get("unit", ""),
                     _num(declared), f"{peak['value'] / declared:.1%}" if declared else "-",
                     _num(metrics.tpp(peak["value"], dtype)), peak["measurement_id"].split("/", 3)[-1]])
    return rows


GEMM_HEADERS = ["dtype", "median", "95% CI", "unit", "declared peak", "share", "TPP", "best shape"]


def attention_rows(data: ReportData) -> list[list[str]]:
    return [[m["dtype"], m["id"].split("/", 3)[-1], _num(m["throughput"]["value"]), m["params"].get("sdpa_backend", "-")]
            for m in data.ok("attention")]


def stream_rows(data: ReportData) -> list[list[str]]:
    return [[kernel, _num(e["value"]), _bytes(e["array_bytes"]) if e.get("array_bytes") else "-", _num(e.get("llc_multiple"))]
            for kernel, e in (data.summary.get("stream") or {}).items()]


SEARCH_HEADERS = ["dtype", "best shape", "TFLOPS/TOPS", "trials", "time", "stop reason"]


def search_rows(data: ReportData) -> list[list[str]]:
    """One row per dtype whose peak was searched for (bench/search.py)."""
    rows = []
    for dtype, record in (data.run.get("searches") or {}).items():
        best = record.get("best") or {}
        shape = "x".join(str(best.get("shape", {}).get(k, "?")) for k in ("m", "n", "k")) if best else "-"
        rows.append([dtype, shape, _num(best.get("value")), str(record.get("measured_trials", "-")),
                     f"{record.get('elapsed_s', 0):.0f} s", str(record.get("stop_reason", "-"))])
    return rows


def anti_detection_findings(data: ReportData) -> list[str]:
    block = data.summary.get("anti_detection") or {}
    return list(block.get("findings") or [])


def methodology(data: ReportData) -> dict[str, Any]:
    """Counting conventions, statistic, versions, warnings and skips."""
    run = data.run
    warnings = [(m["id"], w) for m in run.get("measurements", []) for w in m.get("warnings") or []]
    findings = [(f.get("code", "?"), f.get("message", "")) for f in (run.get("audit") or {}).get("findings") or []]
    failed = [m["id"] for m in run.get("measurements", []) if m["status"] != "ok"]
    tool = run.get("tool") or {}
    return {
        "conventions": run.get("conventions") or metrics.CONVENTIONS,
        "versions": {"schema_version": run.get("schema_version"), "method_version": run.get("method_version"),
                     "tool": f"{tool.get('name')} {tool.get('version')}", "git_commit": tool.get("git_commit") or "-"},
        "statistic": "median of per-iteration sample times; 95% CI by seeded bootstrap; U (k=2) from the uncertainty budget",
        "warnings": warnings, "findings": findings, "failed": failed,
        "skips": [(s["id"], s["reason"]) for s in run.get("skips", [])],
    }


# --- HTML ----------------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1020px;margin:0 auto;padding:24px 28px 60px;background:#fff;min-height:100vh}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:32px 0 8px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
.sub{color:#5b6472;margin:0 0 16px}
table{border-collapse:collapse;width:auto;min-width:60%;font-size:.86em;margin:8px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #e6e9ee}figcaption{font-size:.82em;color:#5b6472}
.verdict{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:700;color:#fff;letter-spacing:.03em}
.pass,.conditional.pass{background:#2e7d32}.fail{background:#c62828}.inconclusive{background:#8d6e00}
.cfail{background:#d84315}.cpass{background:#558b2f}.none{background:#78838f}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{flex:1 1 200px;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px}
.card .v{font-size:1.6em;font-weight:700}.card .l{color:#5b6472;font-size:.82em}
details{margin:6px 0}summary{cursor:pointer;color:#34495e}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px;font-size:.9em}
"""
VERDICT_CLASS = {"pass": "pass", "fail": "fail", "inconclusive": "inconclusive", "conditional fail": "cfail",
                 "conditional pass": "cpass"}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _html_table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{_e(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_figure(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{name}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _verdict_html(verdict: Mapping[str, Any] | None) -> str:
    if not verdict:
        return ('<p><span class="verdict none">NOT CHECKED</span> Run <code>bench check RUN_DIR --profile P</code> '
                "or <code>bench report RUN_DIR --profile P</code> for a verdict.</p>")
    outcome = verdict["verdict"]
    rows = [[c["title"], c["outcome"], c["summary"]] for c in verdict["checks"]]
    return (f'<p><span class="verdict {VERDICT_CLASS.get(outcome, "none")}">{_e(outcome.upper())}</span> '
            f"profile <code>{_e(verdict['profile']['id'])}</code> — {_e(verdict['profile'].get('title', ''))}; "
            f"declared {_e(verdict['declared']['name'])}; rule {_e(verdict['rule'])}</p>"
            + _html_table(["check", "outcome", "summary"], rows) + f"<p>{_e(verdict['statement'])}</p>")


def _cards(data: ReportData) -> str:
    tpp = data.summary.get("effective_tpp") or {}
    bandwidth = data.summary.get("effective_dram_bandwidth") or {}
    counts = data.summary.get("counts") or {}
    cards = [(_num(tpp.get("max")), f"effective TPP (from {tpp.get('dtype') or '-'}; a lower bound)"),
             (_num(bandwidth.get("value")), f"effective DRAM GB/s (from {bandwidth.get('kernel') or '-'})"),
             (f"{counts.get('measurements', 0)}", f"measurements ({counts.get('skips', 0)} skipped, "
                                                  f"{counts.get('failed_checks', 0)} wrong results)")]
    return '<div class="cards">' + "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="l">{_e(l)}</div></div>'
                                           for v, l in cards) + "</div>"


def _list_details(title: str, items: list[tuple[str, str]]) -> str:
    if not items:
        return f"<p>{_e(title)}: none.</p>"
    rows = "".join(f"<li><code>{_e(a)}</code>: {_e(b)}</li>" for a, b in items)
    return f"<details><summary>{_e(title)} ({len(items)})</summary><ul>{rows}</ul></details>"


def render_html(data: ReportData, figs: Mapping[str, tuple[str, bytes]]) -> str:
    """The self-contained page: inline CSS, base64 PNGs, no scripts, no network."""
    device = data.run.get("device") or {}
    fig = lambda name: _html_figure(name, *figs[name]) if name in figs else ""
    method = methodology(data)
    parts = [
        f"<h1>accelbench report: {_e(device.get('name'))}</h1>",
        f'<p class="sub">run {_e(data.run.get("run_id"))} · status {_e(data.run.get("status"))} · '
        f"suite {_e((data.run.get('config') or {}).get('name'))}</p>",
        "".join(f'<p class="sub"><strong>{_e(label)}</strong></p>' for label in data.provenance),
        "<h2>Summary</h2>", _verdict_html(data.verdict), _cards(data),
        _html_table(METRIC_HEADERS, metric_rows(data), {1, 3, 4}), fig("gauges"),
        "<p>A measured TPP or bandwidth is a lower bound on the theoretical peak that export rules use: "
        "it can show a part is above a line, never that it is below one.</p>",
        "<h2>Identity</h2>", _html_table(["", ""], identity_rows(data)),
        "<h2>Roofline</h2>", fig("roofline"),
        "<h2>GEMM</h2>", _html_table(GEMM_HEADERS, gemm_rows(data), {1, 4, 5, 6}), fig("gemm_peaks"), fig("gemm_shapes"),
    ]
    if search_rows(data):
        parts += ["<h3>Peak search</h3>", _html_table(SEARCH_HEADERS, search_rows(data), {2, 3})]
    parts += ["<h3>Data patterns and benchmark detection</h3>",
              "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in anti_detection_findings(data)) + "</ul>"
              if anti_detection_findings(data) else "<p>No finding (or no perturbed / low-entropy runs).</p>"]
    if attention_rows(data):
        parts += ["<h2>Attention</h2>", _html_table(["dtype", "case", "TFLOPS", "SDPA backend"], attention_rows(data), {2})]
    parts += ["<h2>Memory streams</h2>", _html_table(["kernel", "GB/s", "array", "x LLC"], stream_rows(data), {1, 3}),
              fig("streams"), fig("sweep"),
              "<h2>Methodology</h2>",
              _html_table(["convention", ""], [[k, str(v)] for k, v in method["conventions"].items()]),
              _html_table(["version", ""], [[k, str(v)] for k, v in method["versions"].items()]),
              f"<p>Statistic: {_e(method['statistic'])}.</p>",
              _list_details("Failed correctness checks", [(i, "wrong result") for i in method["failed"]]),
              _list_details("Warnings", method["warnings"]),
              _list_details("Audit findings", method["findings"]),
              _list_details("Skipped cases", method["skips"])]
    title = f"accelbench report — {device.get('name')} — {data.run.get('run_id')}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(p for p in parts if p) + "\n</main></body></html>\n")


# --- Markdown -----------------------------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    cell = lambda c: str(c).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows])


def render_markdown(data: ReportData, figure_paths: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Markdown with the same tables; figures linked as files (name -> (caption, relative path))."""
    figure_paths = figure_paths or {}
    device = data.run.get("device") or {}
    fig = lambda name: f"![{figure_paths[name][0]}]({figure_paths[name][1]})\n" if name in figure_paths else ""
    verdict = data.verdict
    method = methodology(data)
    out = [f"# accelbench report: {device.get('name')}", "",
           f"Run `{data.run.get('run_id')}`, status **{data.run.get('status')}**, suite `{(data.run.get('config') or {}).get('name')}`.",
           ""] + [f"**{label}**  " for label in data.provenance] + ["", "## Summary", ""]
    if verdict:
        out += [f"**Verdict: {verdict['verdict'].upper()}** — profile `{verdict['profile']['id']}`, declared "
                f"{verdict['declared']['name']}, rule {verdict['rule']}", "",
                _md_table(["check", "outcome", "summary"], [[c["title"], c["outcome"], c["summary"]] for c in verdict["checks"]]),
                "", verdict["statement"], ""]
    else:
        out += ["Verdict: not checked (run `bench check RUN_DIR --profile P`).", ""]
    out += [_md_table(METRIC_HEADERS, metric_rows(data)), "", fig("gauges"),
            "A measured TPP or bandwidth is a lower bound on the theoretical peak: it can show a part is above a line, "
            "never that it is below one.", "", "## Identity", "", _md_table(["", ""], identity_rows(data)), "",
            "## Roofline", "", fig("roofline"), "## GEMM", "", _md_table(GEMM_HEADERS, gemm_rows(data)), "",
            fig("gemm_peaks"), fig("gemm_shapes")]
    if search_rows(data):
        out += ["### Peak search", "", _md_table(SEARCH_HEADERS, search_rows(data)), ""]
    out += ["### Data patterns and benchmark detection", ""]
    out += [f"- {f}" for f in anti_detection_findings(data)] or ["No finding (or no perturbed / low-entropy runs)."]
    out += [""]
    if attention_rows(data):
        out += ["## Attention", "", _md_table(["dtype", "case", "TFLOPS", "SDPA backend"], attention_rows(data)), ""]
    out += ["## Memory streams", "", _md_table(["kernel", "GB/s", "array", "x LLC"], stream_rows(data)), "",
            fig("streams"), fig("sweep"), "## Methodology", "",
            _md_table(["convention", ""], [[k, str(v)] for k, v in method["conventions"].items()]), "",
            _md_table(["version", ""], [[k, str(v)] for k, v in method["versions"].items()]), "",
            f"Statistic: {method['statistic']}.", ""]
    for title, items in (("Failed correctness checks", [(i, "wrong result") for i in method["failed"]]),
                         ("Warnings", method["warnings"]), ("Audit findings", method["findings"]),
                         ("Skipped cases", method["skips"])):
        out += [f"**{title}** ({len(items)})", ""] + [f"- `{a}`: {b}" for a, b in items] + [""]
    return "\n".join(out).rstrip() + "\n"


# --- writing --------------------------------------------------------------------------------------

def write_report(run_dir: str | Path, fmt: str = "all", out_dir: str | Path | None = None,
                 verdict: Mapping[str, Any] | None = None) -> list[Path]:
    """Write report.html and/or report.md (+ report-figures/) into out_dir (default: the run folder)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    data = gather(run_dir, verdict)
    out = Path(out_dir) if out_dir else (Path(run_dir) if Path(run_dir).is_dir() else Path(run_dir).parent)
    out.mkdir(parents=True, exist_ok=True)
    figs = render_figures(data)
    written = []
    if fmt in ("html", "all"):
        written.append(_atomic(out / "report.html", render_html(data, figs)))
    if fmt in ("md", "all"):
        (out / FIGURE_DIR).mkdir(exist_ok=True)
        paths = {}
        for name, (caption, png) in figs.items():
            (out / FIGURE_DIR / f"{name}.png").write_bytes(png)
            paths[name] = (caption, f"{FIGURE_DIR}/{name}.png")
        written.append(_atomic(out / "report.md", render_markdown(data, paths)))
    return written


def _atomic(path: Path, text: str) -> Path:
    return write_text_atomic(path, text)
