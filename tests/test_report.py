"""bench report: HTML and Markdown from stored runs (a frozen real CPU run, a synthetic H100 run)."""

from __future__ import annotations

import re
import time

import pytest
from report_fixtures import accelerator_run, cpu_run, write

from bench import report
from bench.cli import main
from bench.verdict import check_run


@pytest.fixture(scope="module")
def cpu_folder(tmp_path_factory):
    return write(tmp_path_factory.mktemp("cpu"), cpu_run())


@pytest.fixture(scope="module")
def rendered(cpu_folder, tmp_path_factory):
    """Both formats rendered once (figures are the slow part), and how long that took."""
    out = tmp_path_factory.mktemp("report")
    started = time.monotonic()
    report.write_report(cpu_folder, "all", out)
    return out, time.monotonic() - started


def _images(page: str) -> list[str]:
    return re.findall(r'<img[^>]*src="([^"]+)"', page)


def test_html_is_self_contained_with_every_figure(cpu_folder, rendered):
    out, seconds = rendered
    assert seconds < 10
    page = (out / "report.html").read_text()
    sources = _images(page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert set(report.figures(report.gather(cpu_folder))) == {"gauges", "roofline", "gemm_peaks", "gemm_shapes",
                                                              "streams", "sweep"}
    assert len(sources) == 6
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
    assert len(links) == 6
    for link in links:
        assert (out / link).stat().st_size > 1000
    assert "| fp32 |" in text and "## Methodology" in text


def test_cli_shows_the_verdict_when_asked(cpu_folder, tmp_path, capsys):
    verdict = check_run(cpu_folder, profile="us-2023-10").to_dict()
    assert main(["report", str(cpu_folder), "--format", "html", "--out", str(tmp_path), "--profile", "us-2023-10"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert 'class="verdict' in page and verdict["verdict"].upper() in page and "us-2023-10" in page
    assert "NOT CHECKED" not in page and not (tmp_path / "report.md").exists()


def test_accelerator_run_uses_the_declared_spec(tmp_path):
    folder = write(tmp_path / "run", accelerator_run())
    data = report.gather(folder)
    assert data.spec is not None and "H100" in data.spec.name
    assert data.declared_peak("bf16") and data.declared_bandwidth()
    text = report.write_report(folder, "md", tmp_path / "out")[0].read_text()
    assert data.spec.name in text


def test_missing_run_is_an_input_error(tmp_path):
    assert main(["report", str(tmp_path)]) == 2


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
        assert "CPU stand-in" in rendered_text
        assert "3072x1024x256" in rendered_text and "possible benchmark detection" in rendered_text
    (folder / "signature.dsse.json").write_text("{}")  # a broken signature must not read as valid
    assert "signature: signed (INVALID)" in report.gather(folder).provenance
