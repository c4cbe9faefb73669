"""bench compare as a CI gate: the rank test, what is gated, the minimum effect size, missing
headline metrics, and the md/json outputs. Runs are synthetic, drawn from seeded generators
through the run-record builders of tests/run_factory.py (samples -> bench.analysis.stats -> bench.analysis.summary)."""

from __future__ import annotations

import copy
import json
import math

import pytest
from report_fixtures import cpu_run, cpu_run_rederived, slower, write
from run_factory import _measurement, synthetic_run

from bench.analysis import metrics
from bench.analysis.rank_test import mann_whitney
from bench.analysis.summary import build_summary
from bench.cli import main
from bench.present.compare import compare_runs, render_markdown, render_text

NOISE = 0.05  # samples spread over 5 %, as on a shared CI runner


def ci_run(seed: int, speed: float = 1.0, small_speed: float = 1.0) -> dict:
    """A run of the synthetic device plus two small GEMM shapes whose speed swings from run to run
    (they are a tenth of the large shape's work and slower, so never the peak)."""
    run = synthetic_run(f"run-{seed}", seed=seed, noise=NOISE, speed=speed)
    for i, n in enumerate((512, 1024)):
        flops = metrics.gemm_flops(n, n, n)
        base_s = flops / 200e12 / (speed * small_speed)  # ~200 TFLOPS, below the 4096³ shape's ~690
        run["measurements"].append(_measurement(f"gemm/bf16/m={n},n={n},k={n}", "gemm", "matmul", "bf16",
                                                {"flops": flops, "bytes": 0}, base_s, seed=100 * seed + 10 + i,
                                                noise=0.3))
    run["summary"] = build_summary(run)
    return run


def folders(tmp_path, *runs):
    return [str(write(tmp_path / f"run{i}", run)) for i, run in enumerate(runs)]


# --- the rank test --------------------------------------------------------------------------------

def test_mann_whitney_exact_p_of_fully_separated_samples():
    test = mann_whitney([1, 2, 3], [4, 5, 6])
    assert test.method == "exact" and test.u == 0
    assert test.p_less == pytest.approx(1 / math.comb(6, 3)) and test.p_greater == 1.0
    assert mann_whitney(range(10), range(10, 20)).p_less == pytest.approx(1 / math.comb(20, 10))


def test_mann_whitney_exact_and_normal_approximation_agree_and_are_symmetric():
    import numpy as np

    rng = np.random.default_rng(7)
    x, y = rng.normal(0.0, 1.0, 45), rng.normal(0.4, 1.0, 50)
    exact = mann_whitney(x, y)
    approx = mann_whitney(list(x) + [float(x[0])], y)  # one tie forces the asymptotic method
    assert exact.method == "exact" and approx.method == "asymptotic"
    assert abs(exact.p_less - approx.p_less) < 0.01
    assert mann_whitney(y, x).p_greater == pytest.approx(exact.p_less)


def test_mann_whitney_on_identical_values_finds_nothing():
    test = mann_whitney([2.0] * 6, [2.0] * 6)
    assert test.p_less == test.p_greater == 1.0


# --- the gate ---------------------------------------------------------------------------------------

def test_two_runs_of_the_same_code_pass_although_small_shapes_swing(tmp_path):
    a, b = ci_run(seed=1), ci_run(seed=2, speed=0.97, small_speed=0.6)  # a 3 % slower runner, small shapes -40 %
    comparison = compare_runs(a, b)
    small = [r for r in comparison.rows if "m=512" in r.id or "m=1024" in r.id]
    assert small and not any(r.gated for r in small)
    assert any(r.significant and r.slower for r in comparison.rows if r.gated)  # the test sees the 3 % shift...
    assert comparison.regressions(5) == []  # ...but it is below the minimum effect size
    assert main(["compare", *folders(tmp_path, a, b), "--fail-on-regression", "5"]) == 0


def test_a_real_ten_percent_slowdown_fails_the_gate(tmp_path, capsys):
    a, b = ci_run(seed=1), ci_run(seed=2, speed=0.9)
    assert main(["compare", *folders(tmp_path, a, b), "--fail-on-regression", "5", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    failing = " | ".join(doc["failing"])
    assert "Effective TPP" in failing and "Effective DRAM bandwidth" in failing
    rows = {r["id"]: r for r in doc["comparisons"][0]["rows"]}
    assert rows["summary/effective_tpp"]["change_pct"] == pytest.approx(-10, abs=3)
    assert rows["summary/effective_tpp"]["p_slower"] < 0.001 and rows["summary/effective_tpp"]["regression"]
    assert main(["compare", *folders(tmp_path, a, b), "--fail-on-regression", "15"]) == 0  # below that threshold


def test_small_shapes_are_gated_only_when_asked(tmp_path):
    a, b = ci_run(seed=1), ci_run(seed=2, small_speed=0.3)
    paths = folders(tmp_path, a, b)
    assert main(["compare", *paths, "--fail-on-regression", "5"]) == 0
    assert main(["compare", *paths, "--fail-on-regression", "5", "--gate", "all"]) == 1


def test_headline_gate_ignores_a_slower_large_shape_that_does_not_set_a_headline(tmp_path):
    a = ci_run(seed=1)
    b = copy.deepcopy(ci_run(seed=2))
    comparison = compare_runs(a, b, gate="headline")
    assert {r.id for r in comparison.gated()} == {"summary/effective_tpp", "summary/tpp/bf16", "summary/tpp/fp32",
                                                  "summary/effective_dram_bandwidth"}


def test_a_missing_headline_metric_fails_by_default(tmp_path, capsys):
    a = ci_run(seed=1)
    b = ci_run(seed=2)
    b["measurements"] = [m for m in b["measurements"] if m["suite"] != "stream"]  # the stream suite crashed
    b["summary"] = build_summary(b)
    paths = folders(tmp_path, a, b)
    assert main(["compare", *paths]) == 1
    assert "missing in B: Effective DRAM bandwidth" in capsys.readouterr().out
    assert main(["compare", *paths, "--fail-on-regression", "5", "--no-fail-on-missing"]) == 0


def test_runs_that_share_nothing_never_pass(tmp_path):
    a = ci_run(seed=1)
    empty = {**copy.deepcopy(a), "run_id": "empty", "measurements": [], "skips": []}
    empty["summary"] = build_summary(empty)
    paths = folders(tmp_path, a, empty)
    assert main(["compare", *paths, "--fail-on-regression", "5"]) == 1
    assert main(["compare", *paths, "--fail-on-regression", "5", "--no-fail-on-missing"]) == 3


def test_runs_without_samples_fall_back_to_the_uncertainties():
    run = cpu_run_rederived()
    stripped = copy.deepcopy(run)
    for m in stripped["measurements"]:
        m["timing"]["samples_s"] = []
    rows = compare_runs(stripped, slower(stripped, 3.0), gate="all").rows
    assert {r.test for r in rows} == {"uncertainty"}
    narrow = [r for r in rows if math.isfinite(r.U_a) and r.U_a < 0.3 * r.a]
    assert len(narrow) >= 10 and all(r.regression(50) for r in narrow)
    assert not any(r.regression(70) for r in rows)


def test_a_run_against_itself_has_no_significant_change():
    run = cpu_run()
    result = compare_runs(run, run)
    ok = [m for m in run["measurements"] if m["status"] == "ok"]
    assert len(result.rows) == len(ok) + 2 + len(run["summary"]["effective_tpp"]["by_dtype"])
    assert not any(r.significant for r in result.rows)
    assert all(r.ratio == 1.0 for r in result.rows)
    assert result.warnings == [] and result.missing_headline == []


def test_a_three_times_slower_run_regresses_everywhere_it_is_measured_well():
    run = cpu_run_rederived()
    result = compare_runs(run, slower(run, 3.0), gate="all")
    assert all(r.change_pct == pytest.approx(-100 * 2 / 3) for r in result.rows)
    assert len(result.regressions(50)) >= 15 and result.regressions(70) == []


def test_warns_on_device_software_and_method_differences():
    a = cpu_run()
    b = copy.deepcopy(a)
    b["device"]["name"] = "Other CPU"
    b["software"]["torch"] = "9.9"
    b["method_version"] = "2.0"
    text = " | ".join(compare_runs(a, b).warnings)
    assert "device name differs" in text and "software torch differs" in text and "method_version differs" in text


# --- outputs ----------------------------------------------------------------------------------------

def test_text_output_uses_human_names_and_says_pass(tmp_path, capsys):
    paths = folders(tmp_path, ci_run(seed=1), ci_run(seed=2))
    assert main(["compare", *paths, "--fail-on-regression", "5"]) == 0
    out = capsys.readouterr().out
    assert "Effective DRAM bandwidth" in out and "GEMM bf16 4096×4096×4096" in out and "PASS" in out
    assert "summary/" not in out


def test_markdown_for_the_job_summary(tmp_path, capsys):
    paths = folders(tmp_path, ci_run(seed=1), ci_run(seed=2, speed=0.9))
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    assert main(["compare", *paths, "--fail-on-regression", "5", "--format", "md", "--summary-md", str(summary)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("## accelbench compare") and "❌ FAIL" in out and "| Effective TPP | TPP |" not in out
    assert "| Effective TPP |" in out and "<details>" in out and "REGRESSION" in out
    assert summary.read_text() == "earlier step\n" + out


def test_usage_errors(tmp_path, capsys):
    paths = folders(tmp_path, ci_run(seed=1), ci_run(seed=2))
    assert main(["compare", paths[0]]) == 2
    assert main(["compare", *paths, "--fail-on-regression", "-1"]) == 2
    assert main(["compare", *paths, "--alpha", "2"]) == 2
    assert main(["compare", *paths, "--summary-md", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bench compare: error: --summary-md") and "is a folder" in err[-1]


# --- run-to-run noise from baseline repeats (A B A) -------------------------------------------------

def test_a_drift_of_the_runner_passes_when_the_baseline_is_repeated(tmp_path):
    before, during, after = ci_run(seed=1), ci_run(seed=2, speed=0.93), ci_run(seed=3, speed=0.92)
    base, new, again = folders(tmp_path, before, during, after)
    assert main(["compare", base, new, "--fail-on-regression", "5"]) == 1  # one run per side: a false alarm
    assert main(["compare", base, new, "--baseline-repeat", again, "--fail-on-regression", "5"]) == 0
    row = next(r for r in compare_runs(before, during, repeats=(after,)).rows if r.id == "summary/effective_tpp")
    assert row.noise_pct == pytest.approx(8.0, abs=2.0) and abs(row.effect_pct) < 3 and not row.slower


def test_a_real_slowdown_still_fails_with_baseline_repeats(tmp_path):
    base, new, again = folders(tmp_path, ci_run(seed=1), ci_run(seed=2, speed=0.9), ci_run(seed=3, speed=0.98))
    assert main(["compare", base, new, "--baseline-repeat", again, "--fail-on-regression", "5"]) == 1
    assert main(["compare", base, new, "--baseline-repeat", again, "--fail-on-regression", "10"]) == 0


def test_a_drop_inside_the_run_to_run_noise_is_not_a_regression():
    rows = compare_runs(ci_run(seed=1), ci_run(seed=2, speed=0.85), repeats=(ci_run(seed=3, speed=0.8),)).rows
    headline = [r for r in rows if r.headline]
    assert headline and not any(r.regression(5) for r in headline)
    assert {r.result(5) for r in headline} <= {"run-to-run noise", "within noise"}


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    import subprocess
    import sys

    paths = folders(tmp_path, ci_run(seed=1), ci_run(seed=2))
    child = subprocess.Popen([sys.executable, "-m", "bench", "compare", *paths, "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before anything is written, as with `| head` on a long output
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_hostile_run_records_are_compared_without_a_traceback(tmp_path, capsys):
    good = ci_run(seed=1)
    bad = copy.deepcopy(good)
    bad["run_id"] = "hostile"
    bad["summary"] = {"effective_tpp": {"max": "lots", "dtype": ["bf16"], "by_dtype": {"bf16": 7, "fp32": {"tpp": True}}},
                      "effective_dram_bandwidth": [], "uncertainty": "none"}
    bad["device"], bad["software"], bad["config"] = "x", None, 3
    first, second, third = bad["measurements"][:3]
    first["timing"] = {"samples_s": ["0.1", None, -1, 1e308, {"deep": [[[]]]}]}
    first["stats"] = {"median": "fast"}
    second["throughput"] = {"value": -1e308, "unit": "TFLOPS"}
    third["params"], third["work"], third["suite"] = [], "much", ["stream"]
    bad["measurements"].append("not a measurement")
    for a, b in ((good, bad), (bad, good), (bad, bad)):  # the library, past the reader
        comparison = compare_runs(a, b, repeats=(bad,))
        render_text(comparison, 5.0), render_markdown([comparison], 5.0)
        json.dumps(comparison.to_dict(5.0), allow_nan=False)
    for run in (good, bad):
        (tmp_path / run["run_id"]).mkdir()
        (tmp_path / run["run_id"] / "run.json").write_text(json.dumps(run))
    for a, b in ((good, bad), (bad, good)):  # the command: the run-record reader refuses it in one line
        capsys.readouterr()
        code = main(["compare", str(tmp_path / a["run_id"]), str(tmp_path / b["run_id"]), "--fail-on-regression", "5"])
        captured = capsys.readouterr()
        assert code == 2 and "Traceback" not in captured.err and captured.out == ""
        assert len(captured.err.strip().splitlines()) == 1 and "hostile" in captured.err


# --- end to end on a real CPU measurement --------------------------------------------------------------

def test_a_fresh_real_run_passes_against_its_own_copy(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--device", "cpu", "--suite", "quick", "--suites", "gemm", "--dtypes", "fp32", "--quiet",
                 "--out", str(out)]) == 0
    copy_dir, = folders(tmp_path, json.loads((out / "run.json").read_text()))
    assert main(["compare", str(out), copy_dir, "--fail-on-regression", "5"]) == 0


def test_a_frozen_real_run_passes_against_its_copy_and_fails_against_a_slowed_copy(tmp_path, capsys):
    """The stored real CPU run (tests/data/cpu_sweep_run.json), so that the peak is always defined: a
    fresh run on a busy host may have no GEMM case defensible enough to set the effective TPP."""
    measured = cpu_run_rederived()
    tpp = measured["summary"]["effective_tpp"]
    peak = next(m for m in measured["measurements"] if m["id"] == tpp["by_dtype"][tpp["dtype"]]["measurement_id"])
    samples = peak["timing"]["samples_s"]
    assert len(samples) == 10  # five a side at least, or p < 0.01 is out of reach even when fully separated
    factor = 1.1 * max(samples) / min(samples)  # slower by more than the stored run's own spread
    base_dir, copy_dir, slow_dir = folders(tmp_path, measured, copy.deepcopy(measured), slower(measured, factor))
    assert main(["compare", base_dir, copy_dir, "--fail-on-regression", "5"]) == 0
    capsys.readouterr()
    assert main(["compare", base_dir, slow_dir, "--fail-on-regression", "5", "--format", "json"]) == 1
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["comparisons"][0]["rows"]}
    tpp_row = rows["summary/effective_tpp"]
    assert tpp_row["regression"] and tpp_row["test"].startswith("mann-whitney")
    assert tpp_row["ratio"] == pytest.approx(1 / factor)


# --- lot folders: unit by unit ------------------------------------------------------------------------

def lot(run_id: str, *units: tuple[str, dict]) -> dict:
    records = [{**run, "unit": label, "run_dir": f"units/{label}", "device_spec": "cpu", "stand_in": True,
                "label_note": None, "exit_code": 0} for label, run in units]
    top = {key: value for key, value in units[0][1].items() if key not in ("device", "identity", "summary")}
    return {**top, "run_id": run_id, "kind": "multi-unit", "mode": "serial", "units": records, "problems": [],
            "measurements": [], "skips": []}


def test_lots_are_compared_unit_by_unit(tmp_path, capsys):
    base = lot("lot-a", ("u1", ci_run(seed=1)), ("u2", ci_run(seed=2)))
    same = lot("lot-b", ("u1", ci_run(seed=3)), ("u2", ci_run(seed=4)))
    slow = lot("lot-c", ("u1", ci_run(seed=5)), ("u2", ci_run(seed=6, speed=0.85)))
    partial = lot("lot-d", ("u1", ci_run(seed=7)))
    a, b, c, d, single = folders(tmp_path, base, same, slow, partial, ci_run(seed=8))
    assert main(["compare", a, b, "--fail-on-regression", "5"]) == 0
    assert main(["compare", a, c, "--fail-on-regression", "5"]) == 1
    assert "lot-c unit u2" in capsys.readouterr().out
    assert main(["compare", a, d, "--fail-on-regression", "5"]) == 1  # unit u2 is missing from the new lot
    assert main(["compare", a, single]) == 2 and main(["compare", single, a]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "lot folder" in err[1] and "units" in err[1]
