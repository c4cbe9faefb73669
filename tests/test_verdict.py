"""Verdict paths with synthetic runs (tests/verdict_fixtures.py) and the `bench check` command."""

import json

import pytest
from verdict_fixtures import make_run

from bench.analysis.metrics import CONDITIONAL_FAIL, CONDITIONAL_PASS, FAIL, INCONCLUSIVE, PASS
from bench.cli import check as check_command
from bench.rules import verdict as v

H200_DEVICE = dict(compute_units=132, max_clock_mhz=1980, architecture="sm_90")


def h200_run(bf16=(800, 10), fp8=(1500, 20), bandwidth=(4200, 30), **device):
    return make_run(device.pop("name", "NVIDIA H200"), {"bf16": bf16, "fp8_e4m3": fp8}, bandwidth, **{**H200_DEVICE, **device})


def test_consistent_part_passes_with_every_check_reported():
    result = v.check_run(h200_run(), profile="us-2026-01")
    assert [c.outcome for c in result.checks] == [PASS] * 5
    assert result.verdict == PASS and result.exit_code == 0
    assert result.declared["id"] == "h200-sxm" and "auto-matched" in result.declared["how"]
    assert "95 % CI" in result.uncertainty_source  # no budget in the run: says so
    row = next(r for r in result.criteria if r.check == "threshold" and r.metric == "tpp")
    assert row.measured == 12800 and row.U == pytest.approx(160) and row.acceptance_limit == pytest.approx(21000 - 160)


def test_declaration_contradicted_when_measured_above_declared_peak():
    # declared an H20 (TPP 2,368) but it multiplies at H200 speed
    run = h200_run(name="NVIDIA H20", bf16=(800, 10), fp8=(1500, 20))
    result = v.check_run(run, profile="us-2023-10")
    assert result.check("declared").outcome == PASS  # the declared H20 is outside 3A090.a/.b
    assert result.check("contradiction").outcome == FAIL
    assert result.verdict == FAIL and result.exit_code == 1


def test_measured_above_a_limit_fails_whatever_was_declared(tmp_path):
    # a declaration file claiming a small part; measurement proves TPP >= 4800 (3A090.a.1)
    path = tmp_path / "declared.yaml"
    path.write_text("""sources: {s: exporter}
devices:
  - id: small
    name: Small Part
    vendor: X
    match: ["NVIDIA H200"]
    peaks: [{dtype: bf16, tops: 1000, source: s}]
    memory: {gib: 80, bandwidth_gbps: 3000, source: s}
    die_area: {mm2: 5000, source: s}
""")
    result = v.check_run(h200_run(bandwidth=None), profile="us-2023-10", declared=str(path))
    assert result.check("declared").outcome == FAIL  # declared 16,000 TPP is itself 3A090.a.1
    assert result.check("threshold").outcome == FAIL
    a1 = next(r for r in result.check("threshold").criteria if r.id.startswith("3A090.a.1"))
    assert a1.outcome == FAIL and a1.measured - a1.U >= 4800


def test_measured_lower_bound_beyond_2026_limit_fails():
    run = make_run("AMD Instinct MI325X", {"fp8_e4m3": (2700, 20)}, (5000, 50), vendor="AMD")
    result = v.check_run(run, profile="us-2026-01")
    assert result.check("threshold").outcome == FAIL  # 21,600 - 160 > 21,000
    assert result.check("contradiction").outcome == FAIL  # and above the declared 2,614.9
    assert result.verdict == FAIL


def test_sandbagged_part_is_inconclusive_not_below_the_line():
    run = h200_run(bf16=(200, 5), fp8=(300, 5), bandwidth=(4000, 30))  # 20 % / 15 % of declared
    result = v.check_run(run, profile="us-2026-01")
    assert result.check("threshold").outcome == PASS
    plaus = result.check("plausibility")
    assert plaus.outcome == INCONCLUSIVE and "power cap" in plaus.criteria[-1].note
    assert result.verdict == INCONCLUSIVE and result.exit_code == 3


def test_throttle_flag_and_audit_finding_make_it_inconclusive():
    run = h200_run()
    run["measurements"][0]["telemetry"] = {"throttled": True}
    assert v.check_run(run, profile="us-2026-01").verdict == INCONCLUSIVE
    run = h200_run()
    run["audit"] = {"findings": [{"severity": "high", "code": "power-cap", "message": "power limit 300 W of 700 W",
                                  "lowers_results": True}]}
    result = v.check_run(run, profile="us-2026-01")
    assert result.verdict == INCONCLUSIVE
    assert any(r.id == "audit: power-cap" for r in result.check("plausibility").criteria)


def test_guard_band_turns_near_limit_pass_into_conditional():
    # measured TPP 20,950 +- 160 against 21,000: simple acceptance passes, the guard band makes it conditional
    run = make_run("AMD Instinct MI325X", {"bf16": (1309.375, 10)}, (5000, 50), vendor="AMD")
    declared = "mi325x"
    simple = v.check_run(run, profile="us-2026-01", declared=declared, rule="simple")
    guarded = v.check_run(run, profile="us-2026-01", declared=declared, rule="guarded")
    assert simple.check("threshold").outcome == PASS
    assert guarded.check("threshold").outcome == CONDITIONAL_PASS
    assert guarded.check("contradiction").outcome == CONDITIONAL_FAIL  # 1,309.4 +- 10 vs declared 1,307.4
    row = next(r for r in guarded.check("threshold").criteria if r.metric == "tpp")
    assert row.acceptance_limit == pytest.approx(21000 - 160)


def test_conditional_fail_just_above_a_limit():
    run = make_run("AMD Instinct MI325X", {"bf16": (1315, 10)}, (5000, 50), vendor="AMD")  # 21,040 +- 160
    assert v.check_run(run, profile="us-2026-01").check("threshold").outcome == CONDITIONAL_FAIL
    assert v.check_run(run, profile="us-2026-01", rule="simple").check("threshold").outcome == FAIL


def test_identity_mismatch_fails():
    result = v.check_run(h200_run(), profile="us-2026-01", declared="h100-pcie")
    assert result.check("identity").outcome == FAIL and result.verdict == FAIL


def test_uncertainty_budget_replaces_run_statistics():
    run = h200_run()
    run["summary"]["uncertainty"] = {"tpp": {"value": 12800, "U": 400, "k": 2, "components": []}}
    result = v.check_run(run, profile="us-2026-01")
    row = next(r for r in result.check("threshold").criteria if r.metric == "tpp")
    assert row.U == 400 and "uncertainty budget" in result.uncertainty_source


def test_unknown_device_without_declaration_is_usage_error():
    from bench.errors import UsageError
    with pytest.raises(UsageError, match="--declared"):
        v.check_run(make_run("Mystery Accelerator 9000", {"bf16": (10, 1)}), profile="us-2026-01")


def test_bad_rule_and_missing_run(tmp_path):
    from bench.errors import ResultsError, UsageError
    with pytest.raises(UsageError):
        v.check_run(h200_run(), rule="lenient")
    with pytest.raises(ResultsError):
        v.check_run(tmp_path)


def _cli(argv):
    import argparse
    parser = argparse.ArgumentParser()
    check_command.add_parser(parser.add_subparsers())
    return check_command.run(parser.parse_args(argv))


def test_check_command_json_and_exit_codes(tmp_path, capsys):
    (tmp_path / "run.json").write_text(json.dumps(h200_run()))
    assert _cli(["check", str(tmp_path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["verdict"] == PASS and {r["check"] for r in document["criteria"]} >= {"declared", "contradiction",
                                                                                        "threshold", "plausibility", "identity"}
    assert _cli(["check", str(tmp_path), "--profile", "us-2023-10"]) == 1
    assert "3A090.a.1" in capsys.readouterr().out


def test_cpu_run_end_to_end_with_derived_spec(tmp_path, capsys):
    """A CPU run dict (bench run's shape) checked through the command against the derived CPU spec."""
    from bench.rules import specs
    host = specs.host_cpu_spec()
    fp32_peak = host.peak_tops("fp32")
    run = make_run(host.name, {"fp32": (fp32_peak * 0.6, fp32_peak * 0.01)}, (20.0, 0.5), backend="cpu",
                   vendor=host.vendor, compute_units=host.derive["units"], max_clock_mhz=host.derive["clock_mhz"],
                   extra={"isa_flags": [f for f in open("/proc/cpuinfo").read().split() if f.startswith(("avx", "fma", "amx"))]})
    (tmp_path / "run.json").write_text(json.dumps(run))
    code = _cli(["check", str(tmp_path), "--profile", "us-2023-10", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert document["declared"]["how"] == "derived from the host CPU" and document["declared"]["estimate"]
    assert document["verdict"] == PASS and code == 0


def test_cpu_faster_than_its_estimated_peak_is_inconclusive_not_a_contradiction(tmp_path, capsys):
    """A host CPU's derived peak uses the clock the OS reports, which can sit below the boost clock:
    beating that estimate says the estimate is low, not that a declaration is false."""
    from bench.rules import specs
    host = specs.host_cpu_spec()
    int8_peak = host.peak_tops("int8") or host.peak_tops("fp32")
    dtype = "int8" if host.peak_tops("int8") else "fp32"
    run = make_run(host.name, {dtype: (int8_peak * 1.3, int8_peak * 0.01)}, (20.0, 0.5), backend="cpu",
                   vendor=host.vendor, compute_units=host.derive["units"], max_clock_mhz=host.derive["clock_mhz"],
                   extra={"isa_flags": [f for f in open("/proc/cpuinfo").read().split() if f.startswith(("avx", "fma", "amx"))]})
    (tmp_path / "run.json").write_text(json.dumps(run))
    _cli(["check", str(tmp_path), "--profile", "us-2023-10", "--json"])
    document = json.loads(capsys.readouterr().out)
    contradiction = next(c for c in document["checks"] if c["id"] == "contradiction")
    assert contradiction["outcome"] == INCONCLUSIVE and "estimate" in contradiction["summary"]
    assert document["verdict"] == INCONCLUSIVE


# --- evidence that cannot support a verdict (issue 9) --------------------------------------------

def test_leaving_out_the_dtype_that_sets_the_declared_tpp_is_inconclusive():
    """H200: fp8, int8, bf16 and fp16 tie for the declared TPP. Measured fp32 only: never better than
    measuring one of them low."""
    left_out = v.check_run(make_run("NVIDIA H200", {"fp32": (50, 1)}, (4200, 30), **H200_DEVICE))
    assert left_out.verdict == INCONCLUSIVE and left_out.check("contradiction").outcome == INCONCLUSIVE
    assert "sets the declared TPP" in left_out.check("contradiction").summary
    measured_low = v.check_run(h200_run(fp8=(300, 5)))
    assert measured_low.verdict == INCONCLUSIVE
    assert v.RANK[left_out.verdict] <= v.RANK[measured_low.verdict]


def test_leaving_out_the_declared_bandwidth_is_inconclusive():
    result = v.check_run(h200_run(bandwidth=None))
    assert result.verdict == INCONCLUSIVE
    assert any(r.id == "DRAM bandwidth measured" for r in result.check("contradiction").criteria)


@pytest.mark.parametrize("U", [-5.0, float("nan"), "12", float("inf")])
def test_uncertainty_must_be_finite_and_not_negative(U):
    from bench.errors import ResultsError

    run = h200_run()
    run["summary"]["uncertainty"] = {"tpp": {"value": 12800, "U": U, "k": 2}}
    with pytest.raises(ResultsError, match="TPP uncertainty U"):
        v.check_run(run)


def test_negative_uncertainty_is_exit_2_with_one_line(tmp_path, capsys):
    from bench.cli import main

    run = h200_run()
    run["summary"]["uncertainty"] = {"tpp": {"value": 12800, "U": -5.0, "k": 2, "relative_U": None,
                                             "measurement_id": "gemm/fp8_e4m3/m=8192,n=8192,k=8192", "source": "x"}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TPP uncertainty U is -5.0" in err[0]


DECLARED = """sources: {{s: exporter}}
devices:
  - id: odd
    name: Odd Part
    vendor: X
    match: ["NVIDIA H200"]
    peaks: [{{dtype: bf16, tops: {tops}, source: s}}, {{dtype: fp8_e4m3, tops: 1979, source: s}}]
    memory: {{gib: 80, bandwidth_gbps: {bandwidth}, source: s}}
"""


@pytest.mark.parametrize("tops, bandwidth, what", [(989, 0, "memory.bandwidth_gbps: expected a finite positive number, got 0"),
                                                     (989, ".nan", "memory.bandwidth_gbps: expected a finite positive number, got nan"),
                                                     (".nan", 4800, "peaks[0].tops: expected a finite positive number, got nan"),
                                                     (0, 4800, "peaks[0].tops: expected a finite positive number, got 0")])
def test_declared_values_must_be_finite_and_positive(tmp_path, tops, bandwidth, what):
    from bench.errors import BenchError

    path = tmp_path / "declared.yaml"
    path.write_text(DECLARED.format(tops=tops, bandwidth=bandwidth))
    with pytest.raises(BenchError) as caught:
        v.check_run(h200_run(), declared=str(path))
    assert caught.value.exit_code == 2 and str(caught.value) == f"{path}: devices[0] (odd).{what}"


def test_a_nan_profile_limit_is_an_input_error(tmp_path):
    import yaml

    from bench.errors import BenchError
    from bench.rules.profiles import profile_files

    shipped = next(f for f in profile_files() if f.name.startswith("us-2023-10"))
    data = yaml.safe_load(shipped.read_text())
    text = yaml.safe_dump(data).replace("4800", ".nan", 1)
    assert ".nan" in text
    (tmp_path / "nan.yaml").write_text(text)
    with pytest.raises(BenchError) as caught:
        v.check_run(h200_run(), profile=str(tmp_path / "nan.yaml"))
    assert caught.value.exit_code == 2


def _with_cases(run, cases):
    """Extra gemm bf16 cases (value, half-width, warm-up stable) added to a verdict_fixtures run."""
    from verdict_fixtures import gemm_measurement

    from bench.analysis.summary import build_summary

    for i, (value, half, stable) in enumerate(cases):
        m = gemm_measurement("bf16", value, half, params={})
        m["id"] = f"gemm/bf16/case-{i}"
        m["timing"] = {"warmup": {"stable": stable}, "samples_s": []}
        run["measurements"].append(m)
    for m in run["measurements"]:
        m.setdefault("params", {"role": "dram"} if m["suite"] == "stream" else {})
    run["summary"] = build_summary(run)
    return run


def test_a_case_with_unstable_warmup_or_large_u_does_not_set_the_headline():
    run = _with_cases(h200_run(fp8=(900, 10)), [(950, 5, False), (990, 400, True)])
    tpp = run["summary"]["effective_tpp"]
    assert tpp["by_dtype"]["bf16"]["measurement_id"] == "gemm/matmul/m=8192,n=8192,k=8192".replace(
        "matmul/", "bf16/")  # the defensible 800 TFLOPS case, not the unstable 950 or the noisy 990
    reasons = {e["measurement_id"]: e["reason"] for e in run["summary"]["excluded_from_peaks"]}
    assert reasons["gemm/bf16/case-0"] == "warm-up did not stabilise"
    assert reasons["gemm/bf16/case-1"].startswith("relative U 40.4% above the 25% ceiling")
    assert run["summary"]["gemm_peak"]["bf16"]["value"] == 990  # the table still shows every case


def test_nothing_defensible_is_inconclusive_uncertainty_too_large(capsys, tmp_path):
    run = make_run("NVIDIA H200", {}, (4200, 30), **H200_DEVICE)
    run = _with_cases(run, [(800, 300, True), (900, 10, False)])
    result = v.check_run(run)
    assert result.verdict == INCONCLUSIVE and result.reason == "uncertainty too large"
    assert v.render_verdict(result).startswith("Verdict: INCONCLUSIVE (uncertainty too large)")
    # a looser ceiling given at check time lets the noisy case count again
    assert v.check_run(run, max_relative_u=0.5).reason is None


def test_acceptance_limit_is_never_negative():
    """U = 7,000 GB/s against a 6,500 GB/s limit: the guard band swallows the conforming zone."""
    run = h200_run()
    run["summary"]["uncertainty"] = {"dram_bandwidth_gbps": {"value": 4200, "U": 7000, "k": 2}}
    result = v.check_run(run)
    for row in result.criteria:
        assert row.acceptance_limit is None or row.acceptance_limit > 0, row
    judged = [r for r in result.criteria if r.metric == "dram_bandwidth_gbps" and r.check in ("contradiction", "threshold")]
    assert judged and all(r.outcome == INCONCLUSIVE and r.acceptance_limit is None for r in judged), judged
    assert result.verdict == INCONCLUSIVE


def test_saved_verdict_names_run_id_and_digest(tmp_path):
    from bench.evidence.signing import sha256_file
    from bench.record.verdict_file import stale_verdict

    run = h200_run()
    run["run_id"] = "run-42"
    (tmp_path / "run.json").write_text(json.dumps(run))
    path = v.save_verdict(tmp_path, v.check_run(tmp_path))
    stored = json.loads(path.read_text())
    assert stored["judged"] == {"run_id": "run-42", "run_json_sha256": sha256_file(tmp_path / "run.json")}
    assert stored["parameters"]["profile"] == "us-2026-01" and v.stale_verdict is stale_verdict
    assert stale_verdict(tmp_path, stored) is None
    (tmp_path / "run.json").write_text(json.dumps({**run, "status": "incomplete"}))
    assert "stale" in stale_verdict(tmp_path, stored)


def test_unwritable_junit_is_a_usage_error_before_judging(tmp_path, capsys):
    from bench.cli import main

    (tmp_path / "run.json").write_text(json.dumps(h200_run()))
    missing = tmp_path / "nonexistent"
    assert main(["check", str(tmp_path), "--junit", str(missing / "x.xml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--junit {missing}/x.xml: folder {missing} does not exist" in err[0]
    assert not (tmp_path / "verdict.json").exists()
