"""Machine outputs for CI: a JUnit XML of the verdict criteria, a Markdown job summary, and the
files `bench run` leaves next to run.json (pytest-benchmark JSON, summary.md).

JUnit mapping: one <testsuite> per verdict check, one <testcase> per criterion; outcome `fail`
and `conditional fail` are <failure>, `inconclusive`/`unknown` are <skipped> (not decided), the
rest pass. Metric names come from bench.render (the one mapping from keys to human names), so
a JUnit test case, a job summary and the terminal say the same thing. Pure string builders plus
writers that turn an unwritable path into one typed error; the CLI decides where files go."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

from bench.errors import UsageError
from bench.present import pytest_benchmark_export
from bench.present.pytest_benchmark_export import FILENAME as PYTEST_BENCHMARK_FILE
from bench.present.pytest_benchmark_export import to_pytest_benchmark
from bench.record.jsonfile import write_text_atomic
from bench.render import fmt, humanize_criterion, md_table, metric, shape_label

FAILING = ("fail", "conditional fail")
UNDECIDED = ("inconclusive", "unknown")
SUMMARY_FILE = "summary.md"


def _fmt(value: Any, digits: int = 4) -> str:
    return fmt(value, digits)


def criterion_label(row: Mapping[str, Any]) -> str:
    """A criterion's id in words ('case-by-case: DRAM bandwidth < 6,500 GB/s')."""
    return humanize_criterion(str(row["id"]))


def _criterion_text(row: Mapping[str, Any]) -> str:
    parts = [criterion_label(row), f"{row.get('description') or row['id']}", f"outcome: {row.get('outcome')}"]
    if row.get("metric"):
        parts.append(f"metric: {metric(str(row['metric'])).name}")
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
            label = criterion_label(row)
            case = ET.SubElement(suite, "testcase", classname=f"accelbench.verdict.{check['id']}", name=label)
            text = _criterion_text(row)
            if row["outcome"] in FAILING:
                ET.SubElement(case, "failure", message=f"{row['outcome']}: {label}", type=row["outcome"]).text = text
            elif row["outcome"] in UNDECIDED:
                ET.SubElement(case, "skipped", message=f"{row['outcome']}: {row.get('note') or label}")
            ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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
    lines += md_table(["metric", "value", "from"], [
        [metric("effective_tpp").label, _fmt(tpp.get("max")), tpp.get("dtype") or "-"],
        [metric("effective_dram_bandwidth").label, _fmt(bandwidth.get("value")), bandwidth.get("kernel") or "-"],
        ["Measurements / skips / failed checks", f"{counts.get('measurements', 0)} / {counts.get('skips', 0)} / "
                                                  f"{counts.get('failed_checks', 0)}", ""]])
    peaks = summary.get("gemm_peak") or {}
    if peaks:
        lines += ["", "**GEMM peak per dtype** (median)", ""]
        lines += md_table(["dtype", "value", "unit", "shape"],
                          [[d, _fmt(p["value"]), p.get("unit", ""), shape_label(p["measurement_id"])] for d, p in peaks.items()])
    if verdict:
        lines += ["", "**Verdict checks**", ""]
        lines += md_table(["check", "outcome", "summary"], [[c["title"], c["outcome"], c["summary"]] for c in verdict["checks"]])
        lines += ["", verdict["statement"]]
    return "\n".join(lines) + "\n"


def check_writable(path: str | Path, option: str) -> Path:
    """Refuse, as one line, an output path that cannot be written: a folder, a missing folder, no permission."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: folder {parent} does not exist")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise UsageError(f"{option} {path}: not writable")
    return path


def write_output(path: str | Path, text: str, option: str, append: bool = False) -> Path:
    """Write (or append, as GitHub's step summary file wants) one CI output; errors are one typed line."""
    path = check_writable(path, option)
    try:
        with open(path, "a" if append else "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    return path


def write_run_exports(run_dir: str | Path, run: Mapping[str, Any]) -> list[Path]:
    """Write pytest-benchmark.json (when pytest-benchmark is installed) and summary.md next to
    run.json; returns the paths."""
    run_dir = Path(run_dir)
    written = []
    if pytest_benchmark_export.available():
        text = json.dumps(to_pytest_benchmark(run), indent=1, default=str)
        written.append(write_text_atomic(run_dir / PYTEST_BENCHMARK_FILE, text))
    written.append(write_text_atomic(run_dir / SUMMARY_FILE, markdown_summary(run)))
    return written
