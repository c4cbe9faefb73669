"""bench report: HTML and Markdown from stored runs (a frozen real CPU run, a synthetic H100 run)."""

from __future__ import annotations

import copy
import re

import pytest
from report_fixtures import accelerator_run, cpu_lot_run, cpu_run, write

from bench.cli import main
from bench.present import report, report_figures
from bench.rules.verdict import check_run


@pytest.fixture(scope="module")
def cpu_folder(tmp_path_factory):
    return write(tmp_path_factory.mktemp("cpu"), cpu_run())


@pytest.fixture(scope="module")
def rendered(cpu_folder, tmp_path_factory):
    """Both formats rendered once (figures are the slow part). No timed assertion: the house rules
    keep speed goals in benchmarks."""
    out = tmp_path_factory.mktemp("report")
    report.write_report(cpu_folder, "all", out)
    return out, None


def _images(page: str) -> list[str]:
    return re.findall(r'<img[^>]*src="([^"]+)"', page)


def test_html_is_self_contained_with_every_figure(cpu_folder, rendered):
    out, _ = rendered
    page = (out / "report.html").read_text()
    sources = _images(page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert set(report.figures(report.gather(cpu_folder))) == {"gauges", "roofline", "distributions", "gemm_peaks",
                                                              "gemm_shapes", "streams", "sweep"}
    assert len(sources) == 7
    assert not re.search(r'(src|href)="(https?:)?//', page), "no network references"
    assert "<script" not in page


def test_html_shows_the_headline_numbers_from_the_run(rendered):
    run = cpu_run()
    page = (rendered[0] / "report.html").read_text()
    tpp = run["summary"]["effective_tpp"]["max"]
    assert report._num(tpp) in page
    assert report._num(run["summary"]["effective_dram_bandwidth"]["value"]) in page
    for skip in run["skips"]:
        assert skip["id"] in page
    assert "NOT CHECKED" in page
    assert "us-2026-01" in page and "21,000" in page  # profile limits shown


def test_markdown_links_figures_that_exist(rendered):
    out = rendered[0]
    text = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 7
    for link in links:
        assert (out / link).stat().st_size > 1000
    assert "| fp32 |" in text and "## Methodology" in text


@pytest.mark.slow
def test_cli_shows_the_verdict_when_asked(cpu_folder, tmp_path, capsys):
    verdict = check_run(cpu_folder, profile="us-2023-10").to_dict()
    assert main(["report", str(cpu_folder), "--format", "html", "--out", str(tmp_path), "--profile", "us-2023-10"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert 'class="verdict' in page and verdict["verdict"].upper() in page and "us-2023-10" in page
    assert "NOT CHECKED" not in page and not (tmp_path / "report.md").exists()


@pytest.mark.slow
def test_accelerator_run_uses_the_declared_spec(tmp_path):
    folder = write(tmp_path / "run", accelerator_run())
    data = report.gather(folder)
    assert data.spec is not None and "H100" in data.spec.name
    assert data.declared_peak("bf16") and data.declared_bandwidth()
    text = report.write_report(folder, "md", tmp_path / "out")[0].read_text()
    assert data.spec.name in text


def test_missing_run_is_an_input_error(tmp_path):
    assert main(["report", str(tmp_path)]) == 2


@pytest.mark.slow
def test_report_labels_provenance_and_shows_the_search(tmp_path):
    run = cpu_run()
    run["searches"] = {"bf16": {"best": {"shape": {"m": 3072, "n": 1024, "k": 256}, "value": 0.82, "from": "candidate"},
                                "measured_trials": 15, "elapsed_s": 13.0, "stop_reason": "patience",
                                "strategy": "candidates+coordinate-refinement", "budget": {}, "space": {},
                                "trials": []}}
    run["summary"]["anti_detection"] = {"findings": ["possible benchmark detection: bf16 standard shape won"]}
    folder = write(tmp_path / "run", run)
    report.write_report(folder, "all")
    page = (folder / "report.html").read_text()
    text = (folder / "report.md").read_text()
    for rendered_text in (page, text):
        assert "signature: unsigned" in rendered_text
        assert "CPU run: AMD EPYC" in rendered_text and "stand-in" not in rendered_text
        assert "3072×1024×256" in rendered_text and "possible benchmark detection" in rendered_text
    (folder / "signature.dsse.json").write_text("{}")  # a broken signature must not read as valid
    assert "signature: signed (INVALID)" in report.gather(folder).provenance


def test_results_table_comes_first_with_datasheet_share_tpp_and_shape(cpu_folder, rendered):
    data = report.gather(cpu_folder)
    rows = {row[0]: row for row in report.results_rows(data)}
    bf16 = rows["GEMM bf16 (sets TPP)"]  # bf16 sets this run's effective TPP
    peak = cpu_run()["summary"]["gemm_peak"]["bf16"]
    assert bf16[1].startswith(report._num(peak["value"])) and " ± " in bf16[1]
    assert bf16[3] == report._num(data.declared_peak("bf16")) and bf16[4].endswith("%")
    assert bf16[5] == report._num(peak["value"] * 16) and bf16[6] == "1024×1024×1024"
    assert rows["DRAM bandwidth (scale)"][2] == "GB/s"
    page = (rendered[0] / "report.html").read_text()
    order = [page.index(marker) for marker in ('class=results', "<h2>Health</h2>", "Identity", "Roofline")]
    assert order == sorted(order), "results, then health, before the detail sections"


def test_health_block_is_at_the_top_of_the_report(rendered):
    page = (rendered[0] / "report.html").read_text()
    health = page[page.index('<ul class="health">'):page.index("</ul>", page.index('<ul class="health">'))]
    assert "18 of 22 measurements: high spread" in health and "CV 215%" in health
    assert "2 skipped: too slow here (gemm fp32 ×2)" in health
    text = (rendered[0] / "report.md").read_text()
    assert "## Health" in text and "- note: 8 of 22 measurements: warm-up did not stabilise" in text


@pytest.mark.slow
def test_telemetry_panel_and_perf_per_watt_when_telemetry_exists(tmp_path):
    from report_fixtures import with_telemetry

    folder = write(tmp_path / "run", with_telemetry(accelerator_run(), power_limit_w=500))
    data = report.gather(folder)
    assert data.power_limit_w() == 500
    assert "telemetry" in report.figures(data)
    series = report_figures.telemetry_series(data)
    assert set(series) == {"clock_mhz", "power_w", "temperature_c"} and len(series["power_w"]) == 3
    page = report.write_report(folder, "html", tmp_path / "out")[0].read_text()
    assert 'id="fig-telemetry"' in page and "TFLOPS/W" in page and "power limit 500 W below default" in page
    assert "median sampled power" in page


def test_no_telemetry_panel_for_a_nominal_cpu_clock(tmp_path):
    lot = report.gather(write(tmp_path / "lot", cpu_lot_run()))
    assert all("telemetry" not in report.figures(unit) for unit in lot.units)  # /proc/cpuinfo MHz is not a reading


def _log_axes_with_bars(fig) -> list[str]:
    from matplotlib.patches import Rectangle

    bad = []
    for ax in fig.axes:
        if "log" in (ax.get_xscale(), ax.get_yscale()):
            bars = [p for p in ax.patches if isinstance(p, Rectangle)]
            if bars:
                bad.append(ax.get_title())
    return bad


@pytest.mark.slow
def test_no_bars_on_log_axes(cpu_folder, tmp_path):
    from report_fixtures import with_telemetry

    for data in (report.gather(cpu_folder), report.gather(write(tmp_path / "a", with_telemetry(accelerator_run())))):
        for name, (_, build) in report.figures(data).items():
            fig = build(data)
            assert not _log_axes_with_bars(fig), name
            report_figures.plt.close(fig)


def test_shape_chart_stays_a_scatter_with_200_shapes(tmp_path):
    run = cpu_run()
    gemm = next(m for m in run["measurements"] if m["suite"] == "gemm")
    for i in range(200):
        m = copy.deepcopy(gemm)
        size = 64 + 16 * i
        m["id"] = f"gemm/matmul/fp32/m={size},n={size},k=256,search_trial={i + 1}"
        m["shape"], m["params"] = {"m": size, "n": size, "k": 256}, {**m["params"], "search_trial": i + 1}
        m["work"] = {**m["work"], "flops": 2 * size * size * 256}
        run["measurements"].append(m)
    data = report.gather(write(tmp_path / "run", run))
    fig = report_figures.figure_gemm_shapes(data)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_xticklabels()) < 20  # no category label per shape
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == len(data.ok("gemm")) >= 200
    assert "search trial" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    report_figures.plt.close(fig)


def test_distributions_show_every_sample_of_each_headline(cpu_folder):
    data = report.gather(cpu_folder)
    titles = [title for title, _ in data.headline_measurements()]
    assert titles == ["GEMM fp32 256×256×256", "GEMM bf16 1024×1024×1024", "DRAM bandwidth (scale)"]
    _, m = data.headline_measurements()[1]
    values = report_figures.sample_throughputs(m)
    assert len(values) == len(m["timing"]["samples_s"])
    assert sorted(values)[len(values) // 2] == pytest.approx(m["throughput"]["value"], rel=0.2)


def test_uncertainty_budget_table_lists_each_component_and_U(cpu_folder, rendered):
    rows = report.budget_rows(report.gather(cpu_folder))
    tpp = [r for r in rows if r[0] == "effective TPP"]
    assert [r[1] for r in tpp] == ["repeatability (samples)", "timer resolution", "clock variation", "expanded U (k=2)"]
    assert tpp[0][2] == "A" and tpp[-1][3] == "14.76%" and tpp[-1][5] == "U = 0.213 on 1.443"
    assert "Uncertainty budget" in (rendered[0] / "report.html").read_text()


def test_profile_limits_name_the_clauses_that_draw_them(cpu_folder, rendered):
    data = report.gather(cpu_folder)
    limits = {(lim.profile, lim.metric, lim.value): lim.clauses for lim in data.limits}
    assert limits[("us-2023-10", "tpp", 1600.0)] == "3A090.a.2, 3A090.b.2"
    assert limits[("us-2026-01", "dram_bandwidth_gbps", 6500.0)] == "case-by-case"
    tpp_row = report.metric_rows(data)[0]
    assert tpp_row[5] == "1,600 (us-2023-10 3A090.a.2, 3A090.b.2); measured is 0.09% of it"
    page = (rendered[0] / "report.html").read_text()
    assert "<td>3A090.a.1, 3A090.b.1, Note 2 to 3A090</td>" in page
