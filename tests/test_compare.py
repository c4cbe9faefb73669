"""bench compare: common measurements, significance from both runs' spreads, regressions, warnings."""

from __future__ import annotations

import copy
import json

from report_fixtures import cpu_run, slower, write

from bench.cli import main
from bench.compare import compare_runs


def test_a_run_against_itself_has_no_significant_change():
    run = cpu_run()
    result = compare_runs(run, run)
    ok = [m for m in run["measurements"] if m["status"] == "ok"]
    assert len(result.table) == len(ok) + 2  # plus effective TPP and DRAM bandwidth
    assert not result.table["significant"].any()
    assert (result.table["ratio"] == 1.0).all()
    assert result.warnings == []


def test_a_much_slower_run_is_a_significant_regression():
    run = cpu_run()
    table = compare_runs(run, slower(run, 3.0)).table
    assert abs(table["change_pct"] + 100 * 2 / 3).max() < 1e-6
    narrow = table["U_a"] < 0.3 * table["a"]  # this busy-machine run has a few very wide measurements
    assert narrow.sum() >= 10 and table["regression"][narrow].all()
    assert not table["regression"][~table["significant"]].any()
    result = compare_runs(run, slower(run, 3.0))
    assert len(result.regressions(50)) == table["regression"].sum() and len(result.regressions(70)) == 0


def test_a_change_inside_the_spreads_is_not_significant():
    run = cpu_run()
    result = compare_runs(run, slower(run, 1.0 + 1e-6))
    assert not result.table["significant"].any()


def test_warns_on_device_software_and_method_differences():
    a = cpu_run()
    b = copy.deepcopy(a)
    b["device"]["name"] = "Other CPU"
    b["software"]["torch"] = "9.9"
    b["method_version"] = "2.0"
    text = " | ".join(compare_runs(a, b).warnings)
    assert "device name differs" in text and "software torch differs" in text and "method_version differs" in text


def test_cli_fail_on_regression_exit_codes(tmp_path, capsys):
    run = cpu_run()
    a = write(tmp_path / "a", run)
    b = write(tmp_path / "b", slower(run, 2.0))
    assert main(["compare", str(a), str(a), "--fail-on-regression", "5"]) == 0
    assert main(["compare", str(a), str(b), "--fail-on-regression", "5"]) == 1
    assert main(["compare", str(a), str(b), "--fail-on-regression", "60"]) == 0
    assert main(["compare", str(a), str(b)]) == 0  # without the flag, a report only
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--json", "--fail-on-regression", "5"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["failing"] and data["comparisons"][0]["rows"][0]["regression"] is True


def test_cli_needs_two_runs(tmp_path):
    assert main(["compare", str(write(tmp_path / "a", cpu_run()))]) == 2
