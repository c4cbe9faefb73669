"""The report's figures (matplotlib, Agg): each builder takes one unit's ReportData and returns a
Figure; `figures()` lists those the run has data for. Imported only by bench/present/report.py, so
matplotlib loads only when a report is made.

House style: no bars on a log axis (points and intervals instead); shapes as `m×n×k`; every
axis says its unit."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any, Callable, Mapping

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
from matplotlib.figure import Figure  # noqa: E402

from bench.analysis import metrics  # noqa: E402
from bench.analysis.health import shape_label  # noqa: E402

if TYPE_CHECKING:
    from bench.present.report import Limit, ReportData

COLORS = plt.get_cmap("tab10").colors
SUITE_MARKERS = {"gemm": "o", "attention": "^", "stream": "s"}


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


def _fig(width: float = 7.5, height: float = 3.6) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


# --- gauges: headline metrics against declared values and profile limits --------------------------

def _metric_gauge(ax: Any, title: str, unit: str, measured: float | None, U: float | None,
                  declared: float | None, limits: list[Limit]) -> None:
    """One log-scale row chart: measured (point ± U), declared (diamond), each profile's limits (ticks)."""
    profiles = sorted({lim.profile for lim in limits})
    values = [v for v in [measured, declared, *(lim.value for lim in limits)] if v]
    if not values:
        ax.text(0.5, 0.5, f"{title}: nothing measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    low, high = min(values) / 3, max(values) * 4
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    rows = ["measured", "declared", *profiles]
    ax.set_ylim(len(rows) - 0.4, -0.6)
    labels = ["measured ± U", "declared"] + [f"{p}\n" + " / ".join(_num(lim.value) for lim in limits if lim.profile == p)
                                             for p in profiles]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    if measured:
        error = [[min(U or 0, measured - low * 1.01)], [U or 0]]
        ax.errorbar([measured], [0], xerr=error, fmt="o", color=COLORS[0], capsize=4, markersize=7, zorder=4)
        ax.annotate(f"{_num(measured)} {unit}", (measured + (U or 0), 0), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=7.5)
    if declared:
        ax.scatter([declared], [1], marker="D", s=42, color=COLORS[7], zorder=4)
        ax.annotate(f"{_num(declared)} {unit}", (declared, 1), xytext=(7, 0), textcoords="offset points",
                    va="center", fontsize=7.5)
    else:
        ax.text(low * 1.1, 1, "no declared value", va="center", fontsize=7.5, color="grey")
    for row, profile in enumerate(profiles, start=2):
        color = COLORS[(row + 1) % len(COLORS)]
        mine = [lim.value for lim in limits if lim.profile == profile]
        ax.axhline(row, color=color, linewidth=0.6, alpha=0.4)
        ax.scatter(mine, [row] * len(mine), marker="|", s=160, color=color, linewidths=2, zorder=3)
        for value in mine:
            ax.axvline(value, color=color, linestyle=":", linewidth=0.8, alpha=0.6)
    ax.set_title(f"{title} ({unit}, log scale) against each profile's limits", fontsize=9, loc="left")


def figure_gauges(data: ReportData) -> Figure:
    fig, axes = plt.subplots(2, 1, figsize=(8.5, 6.2), dpi=110)
    tpp = data.summary.get("effective_tpp") or {}
    budget = data.summary.get("uncertainty") or {}
    _metric_gauge(axes[0], "Effective TPP", "TPP", tpp.get("max"), (budget.get("tpp") or {}).get("U"),
                  data.spec.tpp if data.spec else None, [lim for lim in data.limits if lim.metric == "tpp"])
    bandwidth = data.summary.get("effective_dram_bandwidth") or {}
    _metric_gauge(axes[1], "Effective DRAM bandwidth", "GB/s", bandwidth.get("value"),
                  (budget.get("dram_bandwidth_gbps") or {}).get("U"), data.declared_bandwidth(),
                  [lim for lim in data.limits if lim.metric == "dram_bandwidth_gbps"])
    fig.tight_layout()
    return fig


# --- roofline -------------------------------------------------------------------------------------

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
    for suite, marker in SUITE_MARKERS.items():
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


# --- GEMM -----------------------------------------------------------------------------------------

def figure_gemm_peaks(data: ReportData) -> Figure:
    """Achieved peak per dtype (point with its 95% CI) against the declared peak (diamond), log y."""
    fig, ax = _fig(7.5, 3.4)
    peaks = data.summary.get("gemm_peak") or {}
    dtypes = list(peaks)
    for x, dtype in enumerate(dtypes):
        peak = peaks[dtype]
        value, declared = peak["value"], data.declared_peak(dtype)
        low, high = peak.get("ci95") or (value, value)
        ax.errorbar([x], [value], yerr=[[max(value - low, 0)], [max(high - value, 0)]], fmt="o", color=COLORS[0],
                    capsize=4, markersize=7, zorder=4, label="measured (median, best shape, 95% CI)" if x == 0 else None)
        if declared:
            ax.scatter([x], [declared], marker="D", s=40, color=COLORS[7], zorder=4,
                       label="declared dense peak" if x == 0 else None)
            ax.plot([x, x], [value, declared], color="grey", linewidth=0.8, linestyle=":", zorder=2)
        ax.annotate(f"{value / declared:.0%} of declared" if declared else "no declared value", (x, value),
                    xytext=(8, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(dtypes)), dtypes)
    ax.set_xlim(-0.6, len(dtypes) - 0.1)
    ax.set_ylabel("TFLOPS / TOPS (log)")
    ax.set_title("GEMM: achieved peak against the declared peak per dtype", fontsize=10, loc="left")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _gemm_kind(m: Mapping[str, Any]) -> str:
    params = m.get("params") or {}
    if "search_trial" in params:
        return "search trial"
    if params.get("variant") or params.get("input_distribution", "normal") != "normal":
        return "variant / data pattern"
    return "fixed shape"


GEMM_KIND_MARKERS = {"fixed shape": "o", "search trial": "^", "variant / data pattern": "x"}


def figure_gemm_shapes(data: ReportData) -> Figure:
    """Throughput against work per call, one colour per dtype: readable with hundreds of shapes
    (a scatter, not one category per shape). The best shape of each dtype is named."""
    fig, ax = _fig(7.5, 3.8)
    gemm = [m for m in data.ok("gemm") if (m.get("work") or {}).get("flops")]
    dtypes = sorted({m["dtype"] for m in gemm})
    for i, dtype in enumerate(dtypes):
        mine = [m for m in gemm if m["dtype"] == dtype]
        for kind, marker in GEMM_KIND_MARKERS.items():
            chosen = [m for m in mine if _gemm_kind(m) == kind]
            if chosen:
                ax.scatter([m["work"]["flops"] for m in chosen], [m["throughput"]["value"] for m in chosen],
                           marker=marker, s=18 if len(gemm) > 60 else 26, color=COLORS[i % len(COLORS)], alpha=0.75,
                           linewidths=1 if marker == "x" else 0.3, edgecolors=None if marker == "x" else "black",
                           label=f"{dtype} {kind}")
        best = max(mine, key=lambda m: m["throughput"]["value"])
        ax.annotate(shape_label(best), (best["work"]["flops"], best["throughput"]["value"]), xytext=(4, 5),
                    textcoords="offset points", fontsize=7, color=COLORS[i % len(COLORS)])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("work per call (floating-point or integer operations, log)")
    ax.set_ylabel("TFLOPS / TOPS (log)")
    ax.set_title(f"GEMM throughput against problem size ({len(gemm)} shapes)", fontsize=10, loc="left")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


# --- sample distributions ---------------------------------------------------------------------------

def sample_throughputs(m: Mapping[str, Any]) -> list[float]:
    """Each raw timing sample as a throughput, in the measurement's own unit."""
    work = m.get("work") or {}
    unit = (m.get("throughput") or {}).get("unit")
    amount = work.get(metrics.work_key(unit))
    samples = (m.get("timing") or {}).get("samples_s") or []
    return [metrics.rate(amount, s, unit) for s in samples if isinstance(s, (int, float)) and s > 0] if amount else []


def figure_distributions(data: ReportData) -> Figure:
    """One small histogram per headline measurement: every sample, the median and its 95% CI."""
    headline = [(title, m) for title, m in data.headline_measurements() if sample_throughputs(m)]
    columns = min(3, max(1, len(headline)))
    rows = math.ceil(len(headline) / columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(8.5, 2.3 * rows + 0.3), dpi=110, squeeze=False)
    for ax in axes.flat[len(headline):]:
        ax.set_axis_off()
    for ax, (title, m) in zip(axes.flat, headline):
        values = sample_throughputs(m)
        throughput = m["throughput"]
        low, high = throughput.get("ci95") or (throughput["value"], throughput["value"])
        ax.axvspan(low, high, color=COLORS[1], alpha=0.18, label="95% CI of the median")
        ax.hist(values, bins=min(20, max(5, len(values) // 2)), color=COLORS[0], alpha=0.8)
        ax.axvline(throughput["value"], color=COLORS[3], linewidth=1.4, label="median (reported)")
        cv = (m.get("stats") or {}).get("cv")
        ax.set_title(f"{title}\nn={len(values)}" + (f", CV {cv:.0%}" if isinstance(cv, (int, float)) else ""),
                     fontsize=7.5, loc="left")
        ax.set_xlabel(throughput["unit"], fontsize=7)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.tick_params(labelsize=6.5)
        ax.grid(True, alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="upper right", ncol=2, frameon=False)
    fig.suptitle("Samples of each headline measurement (throughput per timed sample)", fontsize=9.5, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


# --- streams --------------------------------------------------------------------------------------

def figure_streams(data: ReportData) -> Figure:
    fig, ax = _fig(7.5, 3.0)
    streams = data.summary.get("stream") or {}
    names = list(streams)
    values = [streams[k]["value"] for k in names]
    lows = [(streams[k].get("ci95") or [v, v])[0] for k, v in zip(names, values)]
    highs = [(streams[k].get("ci95") or [v, v])[1] for k, v in zip(names, values)]
    errors = [[max(v - lo, 0) for v, lo in zip(values, lows)], [max(hi - v, 0) for v, hi in zip(values, highs)]]
    ax.bar(names, values, color=COLORS[2], yerr=errors, capsize=3)
    for x, (value, high) in enumerate(zip(values, highs)):
        ax.annotate(_num(value), (x, max(value, high)), xytext=(0, 4), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7)
    declared = data.declared_bandwidth()
    top = max(highs + [declared or 0] + [1e-9])
    ax.set_ylim(0, top * 1.18)
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


# --- telemetry ------------------------------------------------------------------------------------

TELEMETRY_ROWS = (("clock_mhz", "clock (MHz)"), ("power_w", "power (W)"), ("temperature_c", "temperature (°C)"))


def telemetry_series(data: ReportData) -> dict[str, list[tuple[float, float, dict[str, float], str]]]:
    """metric -> [(start s, duration s, {min, median, max}, suite)], measurements end to end in run order."""
    series: dict[str, list[tuple[float, float, dict[str, float], str]]] = {name: [] for name, _ in TELEMETRY_ROWS}
    clock = 0.0
    for m in data.run.get("measurements") or []:
        window = m.get("telemetry") or {}
        not_live = {str(n.get("what", "")) for n in window.get("not_observed") or [] if isinstance(n, Mapping)}
        duration = window.get("duration_s")
        if not isinstance(duration, (int, float)) or duration <= 0:
            continue
        for name, _ in TELEMETRY_ROWS:
            spread = window.get(name)
            if any(what.endswith(f"{name} (live)") for what in not_live):
                continue  # e.g. a CPU clock read from /proc/cpuinfo: a nominal figure, not a reading
            if isinstance(spread, Mapping) and isinstance(spread.get("median"), (int, float)):
                series[name].append((clock, float(duration), dict(spread), str(m.get("suite"))))
        clock += duration
    return {name: points for name, points in series.items() if points}


def has_telemetry(data: ReportData) -> bool:
    return bool(telemetry_series(data))


def figure_telemetry(data: ReportData) -> Figure:
    """Clock, power and temperature over the run (one segment per measurement window, band = min–max),
    with the device's power limit drawn on the power row."""
    series = telemetry_series(data)
    fig, axes = plt.subplots(len(series), 1, figsize=(8.5, 1.9 * len(series) + 0.6), dpi=110, sharex=True,
                             squeeze=False)
    limit = data.power_limit_w()
    for ax, (name, points) in zip(axes.flat, series.items()):
        for start, duration, spread, suite in points:
            color = COLORS[list(SUITE_MARKERS).index(suite) % len(COLORS)] if suite in SUITE_MARKERS else COLORS[7]
            ax.fill_between([start, start + duration], spread.get("min", spread["median"]),
                            spread.get("max", spread["median"]), color=color, alpha=0.2, linewidth=0)
            ax.plot([start, start + duration], [spread["median"]] * 2, color=color, linewidth=1.6)
        if name == "power_w" and limit:
            ax.axhline(limit, color=COLORS[3], linestyle="--", linewidth=1.2)
            ax.annotate(f"power limit {limit:,.0f} W", (0, limit), xytext=(2, -10), textcoords="offset points",
                        fontsize=7, color=COLORS[3])
            ax.set_ylim(0, max(limit, max(p[2].get("max", p[2]["median"]) for p in points)) * 1.12)
        ax.set_ylabel(dict(TELEMETRY_ROWS)[name], fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    for i, suite in enumerate(SUITE_MARKERS):
        axes.flat[0].plot([], [], color=COLORS[i], linewidth=2, label=suite)
    axes.flat[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes.flat[-1].set_xlabel("measuring time (s): each measurement's window end to end, in run order")
    fig.suptitle("Telemetry over the run (line: median of each window; band: min–max)", fontsize=9.5, x=0.01, ha="left")
    fig.tight_layout()
    return fig


# --- the lot --------------------------------------------------------------------------------------

def figure_lot(units: list[ReportData]) -> Figure:
    """Each unit's headline metrics with U (k=2), side by side: how far apart the units are
    compared with how well each is measured (points and intervals on linear axes)."""
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 0.45 * len(units) + 1.6), dpi=110, squeeze=False)
    metrics_shown = (("tpp", "effective_tpp", "max", "effective TPP"),
                     ("dram_bandwidth_gbps", "effective_dram_bandwidth", "value", "DRAM bandwidth (GB/s)"))
    for ax, (budget_key, summary_key, field, title) in zip(axes.flat, metrics_shown):
        for row, data in enumerate(units):
            value = (data.summary.get(summary_key) or {}).get(field)
            U = ((data.summary.get("uncertainty") or {}).get(budget_key) or {}).get("U") or 0
            if value:
                ax.errorbar([value], [row], xerr=[[min(U, value)], [U]], fmt="o", color=COLORS[row % len(COLORS)],
                            capsize=4, markersize=6)
                ax.annotate(_num(value), (value, row), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7)
        ax.set_yticks(range(len(units)), [str(data.unit) for data in units], fontsize=8)
        ax.set_ylim(len(units) - 0.4, -0.6)
        ax.set_xlim(left=0)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(f"{title} ± U (k=2)", fontsize=9, loc="left")
    fig.tight_layout()
    return fig


# --- the list -------------------------------------------------------------------------------------

def figures(data: ReportData) -> dict[str, tuple[str, Callable[[ReportData], Figure]]]:
    """Figure name -> (caption, builder), only those the run has data for."""
    out: dict[str, tuple[str, Callable[[ReportData], Figure]]] = {
        "gauges": ("Effective TPP and DRAM bandwidth against the declared values and every profile's limits", figure_gauges)}
    if any(data.ok(s) for s in ("gemm", "attention", "stream")):
        out["roofline"] = ("Roofline (log-log): measured GEMM, attention and stream points", figure_roofline)
    if any(sample_throughputs(m) for _, m in data.headline_measurements()):
        out["distributions"] = ("Sample distributions of the headline measurements", figure_distributions)
    if has_telemetry(data):
        out["telemetry"] = ("Telemetry: clock, power and temperature over the run, power limit dashed", figure_telemetry)
    if data.summary.get("gemm_peak"):
        out["gemm_peaks"] = ("GEMM achieved peak against the declared peak per dtype", figure_gemm_peaks)
        out["gemm_shapes"] = ("GEMM throughput against problem size, every shape tried", figure_gemm_shapes)
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
