"""CI outputs: JUnit XML of the verdict criteria, Markdown job summary, pytest-benchmark JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from report_fixtures import cpu_run, slower, write

from bench.cli import main
from bench.present.ci_outputs import junit_xml, markdown_summary, write_run_exports
from bench.present.pytest_benchmark_export import benchmark_stats, to_pytest_benchmark
from bench.rules.verdict import check_run


def test_junit_has_one_testcase_per_criterion_and_failures_for_failing_rows():
    verdict = check_run(cpu_run(), profile="us-2026-01").to_dict()
    verdict["criteria"][0]["outcome"] = "fail"  # make one row fail to see it mapped
    root = ET.fromstring(junit_xml(verdict))
    cases = root.findall(".//testcase")
    assert len(cases) == len(verdict["criteria"])
    assert len(root.findall(".//failure")) == sum(r["outcome"] in ("fail", "conditional fail") for r in verdict["criteria"]) == 1
    skipped = sum(r["outcome"] in ("inconclusive", "unknown") for r in verdict["criteria"])
    assert len(root.findall(".//skipped")) == skipped
    assert {s.get("name") for s in root.findall("testsuite")} == {c["title"] for c in verdict["checks"]}


def test_markdown_summary_has_the_headline_numbers_and_verdict():
    run = cpu_run()
    verdict = check_run(run, profile="us-2026-01").to_dict()
    text = markdown_summary(run, verdict)
    assert f"**Verdict: {verdict['verdict'].upper()}**" in text
    assert "| Effective TPP |" in text and run["device"]["name"] in text


def test_check_cli_writes_junit_and_appends_summary(tmp_path, capsys):
    folder = write(tmp_path / "run", cpu_run())
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code = main(["check", str(folder), "--junit", str(tmp_path / "v.xml"), "--summary-md", str(summary)])
    assert code == 3  # the frozen run's verdict is decided by its recorded device block alone: inconclusive
    assert json.loads((folder / "verdict.json").read_text())["verdict"] == "inconclusive"
    ET.parse(tmp_path / "v.xml")
    assert summary.read_text().startswith("earlier step\n## accelbench")


def test_pytest_benchmark_stats_match_the_samples():
    stats = benchmark_stats([1.0, 2.0, 3.0, 4.0], iterations=5)
    assert stats["median"] == 2.5 and stats["min"] == 1.0 and stats["rounds"] == 4
    assert stats["iterations"] == 5 and stats["data"] == [1.0, 2.0, 3.0, 4.0] and stats["ops"] == 1 / 2.5


def test_run_exports_are_read_by_pytest_benchmark_compare(tmp_path):
    run = cpu_run()
    folder = write(tmp_path / "a", run)
    written = write_run_exports(folder, run)
    other = write(tmp_path / "b", slower(run, 2.0))
    write_run_exports(other, slower(run, 2.0))
    doc = json.loads(written[0].read_text())
    assert len(doc["benchmarks"]) == len(run["measurements"])
    result = subprocess.run([sys.executable, "-c", "from pytest_benchmark.cli import main; main()", "compare", str(written[0]),
                             str(other / "pytest-benchmark.json"), "--group-by", "group", "--columns", "min,median,rounds"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Failed to load" not in result.stdout + result.stderr
    first = run["measurements"][0]["id"].split("/", 1)[1]
    assert first in result.stdout and "benchmark 'gemm'" in result.stdout


def test_every_benchmark_carries_the_fields_pytest_benchmark_writes():
    doc = to_pytest_benchmark(cpu_run())
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    needed = {"min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers", "stddev_outliers",
              "outliers", "ld15iqr", "hd15iqr", "ops", "total", "data", "iterations"}
    for bench in doc["benchmarks"]:
        assert needed <= set(bench["stats"]) and {"group", "name", "fullname", "params", "options"} <= set(bench)


def test_junit_and_summary_use_human_metric_names():
    run = cpu_run()
    verdict = check_run(run, profile="us-2026-01").to_dict()
    names = [case.get("name") for case in ET.fromstring(junit_xml(verdict)).iter("testcase")]
    assert any(name.startswith("case-by-case: DRAM bandwidth < 6,500 GB/s") for name in names)
    assert not any("dram_bandwidth_gbps" in name for name in names)
    text = markdown_summary(run, verdict)
    assert "| Effective DRAM bandwidth (GB/s) |" in text and "1024×1024×1024" in text and "m=1024" not in text


def test_unwritable_ci_outputs_are_one_line_errors(tmp_path, capsys):
    folder = write(tmp_path / "run", cpu_run())
    for option, target in (("--junit", "/nonexistent/dir/x.xml"), ("--summary-md", str(tmp_path)),
                           ("--junit", str(tmp_path))):
        assert main(["check", str(folder), "--no-save", option, target]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"bench check: error: {option} ") and "Traceback" not in err[0]
    assert not (tmp_path / "run" / "verdict.json").exists()
