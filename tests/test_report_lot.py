"""bench report on a lot folder (the lot table of `bench fleet`, then one section per unit) and on
signed folders (never written into; the run → check → report → sign order covers the report)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from report_fixtures import cpu_lot_run, cpu_run, write

from bench.cli import main
from bench.evidence import signing
from bench.lab.fleet import aggregate, render_markdown
from bench.present import report


@pytest.fixture(scope="module")
def lot_folder(tmp_path_factory):
    return write(tmp_path_factory.mktemp("lot") / "demo-lot", cpu_lot_run())


@pytest.fixture(scope="module")
def lot_report(lot_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("lot-report")
    report.write_report(lot_folder, "all", out)
    return out


def test_lot_report_has_the_fleet_table_and_a_section_per_unit(lot_folder, lot_report):
    page = (lot_report / "report.html").read_text()
    assert "accelbench lot report: DEMO-LOT-1" in page and "report: None" not in page
    assert "LOT NOT OK" in page  # bench fleet's result for this lot (two undecided stand-ins)
    for serial in ("SIM-0001", "SIM-0002"):
        assert page.count(serial) >= 3  # fleet table, unit identity, stand-in label
    sections = re.findall(r'<section class="unit" id="unit-([^"]+)">', page)
    assert sections == ["unit-a", "unit-b"]
    for unit in ("unit-a", "unit-b"):
        body = page[page.index(f'id="unit-{unit}"'):]
        body = body[:body.index("</section>")]
        assert "INCONCLUSIVE" in body and "us-2026-01" in body  # the verdict stored per unit by the plan run
        assert "class=results" in body and "GEMM fp32 (sets TPP)" in body and 'class="health"' in body
        assert len(re.findall(r"<img ", body)) >= 5
    assert "CPU stand-in unit-a (SIM-0001)" in page and "CPU stand-in unit-b (SIM-0002)" in page
    glance = page[page.index("Units at a glance"):page.index('<section class="unit"')]
    assert 'id="fig-lot"' in glance and "0.3624 ± 0.022" in glance and "0.9633 ± 2.4" in glance


def test_lot_markdown_carries_every_row_bench_fleet_prints(lot_folder, lot_report):
    text = (lot_report / "report.md").read_text()
    run = cpu_lot_run()
    fleet = render_markdown(aggregate([lot_folder], manifest=report.stored_manifest(run)))
    for line in fleet.splitlines():
        if line.startswith("|"):
            assert line in text
    assert "## Unit unit-a" in text and "## Unit unit-b" in text
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (lot_report / link).stat().st_size > 1000
    assert "unit-a-gemm_shapes.png" in text and "unit-b-gemm_shapes.png" in text and "report-figures/lot.png" in text


def test_lot_unit_figures_match_that_units_numbers(lot_folder):
    lot = report.gather(lot_folder)
    assert isinstance(lot, report.LotData) and [u.unit for u in lot.units] == ["unit-a", "unit-b"]
    raw = cpu_lot_run()["units"]
    for data, unit in zip(lot.units, raw):
        assert data.summary["effective_tpp"]["max"] == unit["summary"]["effective_tpp"]["max"]
        assert report.results_rows(data)[0][1].startswith(report._num(unit["summary"]["gemm_peak"]["fp32"]["value"]))
    assert lot.units[0].summary != lot.units[1].summary


@pytest.mark.slow
def test_report_profile_on_a_lot_judges_every_unit(lot_folder, tmp_path):
    assert main(["report", str(lot_folder), "--profile", "us-2023-10", "--format", "html", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.count("profile <code>us-2023-10</code>") == 2


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def keys(tmp_path):
    return signing.generate_keys(tmp_path / "keys" / "lab.key")


@pytest.mark.slow
def test_report_leaves_a_signed_folder_untouched(tmp_path, keys, capsys):
    folder = write(tmp_path / "signed-run", cpu_run())
    signing.sign_run(folder, keys.private_path)
    before = _digests(folder)
    assert main(["report", str(folder), "--format", "html"]) == 0
    assert _digests(folder) == before
    assert signing.verify_run(folder, keys.public_path).status == signing.STATUS_VERIFIED
    beside = tmp_path / "signed-run-report" / "report.html"
    assert beside.is_file()
    captured = capsys.readouterr()
    assert str(beside) in captured.out and "is signed" in captured.err and "signed-run-report" in captured.err
    assert "outside the signed folder" in beside.read_text()
    assert main(["report", str(folder), "--out", str(folder / "sub")]) == 2  # never inside the evidence
    assert _digests(folder) == before


@pytest.mark.slow
def test_run_check_report_sign_covers_the_report(tmp_path, keys):
    folder = write(tmp_path / "run", cpu_run())
    assert main(["check", str(folder), "--profile", "us-2026-01"]) == 3  # frozen run: inconclusive on any host
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    assert "INCONCLUSIVE" in page  # the verdict check stored is shown
    assert "unsigned when this report was made" in page
    signing.sign_run(folder, keys.private_path)
    result = signing.verify_run(folder, keys.public_path)
    assert result.status == signing.STATUS_VERIFIED
    signed = set(signing.build_manifest(folder))
    assert {"report.html", "report.md", "verdict.json"} <= signed
    assert any(name.startswith("report-figures/") for name in signed)
    (folder / "report.html").write_text("tampered")
    assert signing.verify_run(folder, keys.public_path).status == signing.STATUS_INVALID


@pytest.mark.slow
def test_hostile_unit_labels_stay_text_and_file_names_stay_inside(tmp_path):
    run = cpu_lot_run()
    hostile = '<img src=x onerror=alert(1)>/../../escape'
    run["units"][0]["unit"] = hostile
    folder = write(tmp_path / "lot", run)
    out = tmp_path / "out"
    report.write_report(folder, "all", out)
    page = (out / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    written = [p.resolve() for p in out.rglob("*")]
    assert all(out.resolve() in p.parents for p in written)
    assert not (tmp_path / "escape").exists()
