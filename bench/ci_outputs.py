"""Machine outputs for CI: a JUnit XML of the verdict criteria, a Markdown job summary, and the
files `bench run` leaves next to run.json (pytest-benchmark JSON, summary.md).

JUnit mapping: one <testsuite> per verdict check, one <testcase> per criterion; outcome `fail`
and `conditional fail` are <failure>, `inconclusive`/`unknown` are <skipped> (not decided), the
rest pass. Pure string builders plus one writer; the CLI decides where files go."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

from bench.pytest_benchmark_export import FILENAME as PYTEST_BENCHMARK_FILE
from bench.pytest_benchmark_export import to_pytest_benchmark
from bench.record.jsonfile import write_text_atomic
from bench.render import fmt

FAILING = ("fail", "conditional fail")
UNDECIDED = ("inconclusive", "unknown")
SUMMARY_FILE = "summary.md"


def _fmt(value: Any, digits: int = 4) -> str:
    return fmt(value, digits)


def _criterion_text(row: Mapping[str, Any]) -> str:
    parts = [f"{row.get('description') or row['id']}", f"outcome: {row.get('outcome')}"]
    for key in ("limit", "declared", "derived", "measured", "U", "acceptance_limit"):
        if row.get(key) is not None:
            parts.append(f"{key}: {_fmt(row[key])}{' ' + row['unit'] if row.get('unit') and key != 'declared' else ''}")
    if row.get("note"):
        parts.append(f"note: {row['note']}")
    return "\n".join(parts)


def junit_xml(verdict: Mapping[str, Any]) -> str:
    """JUnit XML (one testsuite per check) from `Verdict.to_dict()`."""
    root = ET.Element("testsuites", name=f"accelbench verdict: {verdict['verdict']}")
    for check in verdict["checks"]:
        rows = [r for r in verdict["criteria"] if r["check"] == check["id"]]
        failures = sum(r["outcome"] in FAILING for r in rows)
        skipped = sum(r["outcome"] in UNDECIDED for r in rows)
        suite = ET.SubElement(root, "testsuite", name=f"{check['title']}", tests=str(len(rows)),
                              failures=str(failures), skipped=str(skipped), errors="0")
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="outcome", value=check["outcome"])
        for row in rows:
            case = ET.SubElement(suite, "testcase", classname=f"accelbench.verdict.{check['id']}", name=row["id"])
            text = _criterion_text(row)
            if row["outcome"] in FAILING:
                ET.SubElement(case, "failure", message=f"{row['outcome']}: {row['id']}", type=row["outcome"]).text = text
            elif row["outcome"] in UNDECIDED:
                ET.SubElement(case, "skipped", message=f"{row['outcome']}: {row.get('note') or row['id']}")
            ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    escape = lambda cell: str(cell).replace("|", "\\|").replace("\n", " ")
    return (["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
            + ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows])


def markdown_summary(run: Mapping[str, Any], verdict: Mapping[str, Any] | None = None) -> str:
    """A Markdown job summary (e.g. for $GITHUB_STEP_SUMMARY): headline metrics and the verdict."""
    device, summary = run.get("device") or {}, run.get("summary") or {}
    tpp = summary.get("effective_tpp") or {}
    bandwidth = summary.get("effective_dram_bandwidth") or {}
    counts = summary.get("counts") or {}
    lines = [f"## accelbench: {device.get('name', '?')} ({device.get('backend', '?')})", "",
             f"Run `{run.get('run_id')}`, status **{run.get('status')}**, suite `{(run.get('config') or {}).get('name')}`, "
             f"method {run.get('method_version')}", ""]
    if verdict:
        lines += [f"**Verdict: {verdict['verdict'].upper()}** under profile `{verdict['profile']['id']}` "
                  f"(declared {verdict['declared']['name']}, rule {verdict['rule']})", ""]
    lines += _md_table(["metric", "value", "from"], [
        ["Effective TPP", _fmt(tpp.get("max")), tpp.get("dtype") or "-"],
        ["Effective DRAM bandwidth (GB/s)", _fmt(bandwidth.get("value")), bandwidth.get("kernel") or "-"],
        ["Measurements / skips / failed checks", f"{counts.get('measurements', 0)} / {counts.get('skips', 0)} / "
                                                  f"{counts.get('failed_checks', 0)}", ""]])
    peaks = summary.get("gemm_peak") or {}
    if peaks:
        lines += ["", "**GEMM peak per dtype** (median)", ""]
        lines += _md_table(["dtype", "value", "unit", "case"],
                           [[d, _fmt(p["value"]), p.get("unit", ""), p["measurement_id"].split("/", 3)[-1]] for d, p in peaks.items()])
    if verdict:
        lines += ["", "**Verdict checks**", ""]
        lines += _md_table(["check", "outcome", "summary"], [[c["title"], c["outcome"], c["summary"]] for c in verdict["checks"]])
        lines += ["", verdict["statement"]]
    return "\n".join(lines) + "\n"


def write_run_exports(run_dir: str | Path, run: Mapping[str, Any]) -> list[Path]:
    """Write pytest-benchmark.json and summary.md next to run.json; returns the paths."""
    run_dir = Path(run_dir)
    written = []
    for name, text in ((PYTEST_BENCHMARK_FILE, json.dumps(to_pytest_benchmark(run), indent=1, default=str)),
                       (SUMMARY_FILE, markdown_summary(run))):
        written.append(write_text_atomic(run_dir / name, text))
    return written
