"""Real CPU measurements end to end, at small sizes."""

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from bench.cli import main
from bench.devices.cpu import CpuBackend
from bench.kernels import gemm
from bench.measure.config import load_suite_config
from bench.measure.results import RunWriter, load_run
from bench.measure.runner import Runner, RunOptions, new_run

TINY = """
name: tiny
timing: {min_sample_s: 0.001, warmup_min_s: 0.0, warmup_max_s: 0.05, samples: 3, max_samples: 5, max_measure_s: 0.05}
suites:
  gemm: {dtypes: [fp32, bf16, int8, tf32], shapes: [[64, 64, 64], [128, 96, 64]]}
  attention: {dtypes: [fp32, bf16], causal: [false, true], shapes: [{batch: 1, heads: 2, seq_len: 64, head_dim: 32}]}
  stream: {kernels: [copy, scale, add, triad, read, write], llc_multiple: 0.01, min_array_bytes: 1048576}
"""

VERDICT_EXIT = {"pass": 0, "conditional pass": 0, "fail": 1, "conditional fail": 1, "inconclusive": 3}


@pytest.fixture
def tiny_suite(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


@pytest.mark.slow
def test_bench_run_writes_a_complete_results_folder(tiny_suite, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--device", "cpu", "--suite", tiny_suite, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Effective TPP" in printed and "Effective DRAM bandwidth" in printed and str(out) in printed
    run = load_run(out)
    assert run["status"] == "complete" and run["schema_version"] == 1 and run["method_version"]
    assert run["device"]["backend"] == "cpu"
    ids = [m["id"] for m in run["measurements"]]
    assert len(ids) == len(set(ids)) == 4 * 2 - 2 + 4 + 6  # tf32 is skipped on the CPU
    for m in run["measurements"]:
        assert m["status"] == "ok", m["check"]
        assert len(m["timing"]["samples_s"]) == m["stats"]["n"] >= 3
        assert m["throughput"]["value"] > 0 and m["work"]["flops"] >= 0
    assert [s["dtype"] for s in run["skips"]] == ["tf32", "tf32"]
    summary = run["summary"]
    excluded = {e["measurement_id"] for e in summary.get("excluded_from_peaks", [])}  # indefensible cases
    defensible = {m["dtype"] for m in run["measurements"] if m["suite"] == "gemm" and m["id"] not in excluded}
    assert set(summary["gemm_peak"]) == {"fp32", "bf16", "int8"}
    assert set(summary["effective_tpp"]["by_dtype"]) == defensible
    assert summary["effective_tpp"]["max"] == max((e["tpp"] for e in summary["effective_tpp"]["by_dtype"].values()),
                                                  default=None)
    assert summary["effective_dram_bandwidth"]["value"] == max(
        (e["value"] for e in summary["stream"].values() if e["measurement_id"] not in excluded), default=None)
    csv = pd.read_csv(out / "measurements.csv")
    assert len(csv) == len(run["measurements"])


def test_wrong_answer_fails_the_measurement_and_the_run(tiny_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(gemm.MatmulKernel, "step", lambda self: self.c.zero_())
    out = tmp_path / "wrong"
    code = main(["run", "--device", "cpu", "--suite", tiny_suite, "--suites", "gemm", "--dtypes", "fp32",
                 "--out", str(out), "--quiet"])
    assert code == 1
    run = load_run(out)
    assert all(m["status"] == "failed" for m in run["measurements"])
    assert run["summary"]["effective_tpp"]["max"] is None  # a wrong answer never counts


class InterruptAfter:
    def __init__(self, cases):
        self.cases = cases

    def case_started(self, case, number, total):
        if number > self.cases:
            raise KeyboardInterrupt

    def samples_taken(self, case, count): ...
    def measured(self, m): ...
    def skipped(self, s): ...


def test_interrupt_keeps_what_was_measured(tiny_suite, tmp_path):
    config = load_suite_config(tiny_suite)
    backend = CpuBackend()
    writer = RunWriter(tmp_path / "cut", new_run("cut", backend, config, RunOptions()))
    with pytest.raises(KeyboardInterrupt):
        Runner(backend, config, writer, InterruptAfter(2)).run()
    run = load_run(tmp_path / "cut")
    assert run["status"] == "incomplete" and "interrupt" in run["interrupted"]
    assert len(run["measurements"]) == 2
    assert run["summary"]["gemm_peak"]["fp32"]["value"] > 0


def _inherit_sigint_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell without job control starts a background job


@pytest.mark.slow
@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_on_the_command_line(tmp_path, inherited):
    out = tmp_path / "sigint"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--device", "cpu", "--suite", "default",
                             "--suites", "gemm", "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_inherit_sigint_ignored if inherited == "ignored" else None)
    deadline = time.time() + 60
    while time.time() < deadline:
        run_file = out / "run.json"
        if run_file.exists() and json.loads(run_file.read_text())["measurements"]:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    run = load_run(out)
    assert run["status"] == "incomplete" and len(run["measurements"]) >= 1


def test_missing_device_is_one_line_and_exit_2(capsys):
    if "cuda" in __import__("bench.devices", fromlist=["present"]).present():
        pytest.skip("a CUDA device is present")
    assert main(["run", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "available: cpu" in err


def test_bad_suite_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("suites: {gemm: {dtypes: [fp32], shapes: [[1, 1, -1]]}}")
    assert main(["run", "--device", "cpu", "--suite", str(bad)]) == 2
    assert "suites.gemm.shapes" in capsys.readouterr().err


def test_devices_command(capsys):
    assert main(["devices", "--json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert infos[0]["backend"] == "cpu" and infos[0]["torch_version"]
    assert main(["devices"]) == 0
    assert "cpu" in capsys.readouterr().out


def test_check_stores_the_verdict_unless_the_folder_is_signed(tiny_suite, tmp_path, capsys):
    out = tmp_path / "checked"
    assert main(["run", "--device", "cpu", "--suite", tiny_suite, "--suites", "stream", "--out", str(out), "--quiet"]) == 0
    code = main(["check", str(out), "--profile", "us-2026-01"])
    stored = json.loads((out / "verdict.json").read_text())
    assert stored["criteria"] and code == stored["exit_code"] == VERDICT_EXIT[stored["verdict"]]  # host-measured
    (out / "verdict.json").unlink()
    (out / "signature.dsse.json").write_text("{}")
    main(["check", str(out), "--profile", "us-2026-01"])
    assert not (out / "verdict.json").exists()


def test_run_with_profile_prints_and_stores_the_verdict(tiny_suite, tmp_path, capsys):
    out = tmp_path / "profiled"
    code = main(["run", "--device", "cpu", "--suite", tiny_suite, "--suites", "gemm", "--dtypes", "fp32",
                 "--out", str(out), "--quiet", "--profile", "us-2023-10"])
    printed = capsys.readouterr().out
    stored = json.loads((out / "verdict.json").read_text())
    assert "Verdict:" in printed and stored["verdict"].upper() in printed
    assert code == VERDICT_EXIT[stored["verdict"]]


def test_attention_pins_its_backend_only_while_measuring():
    import torch

    from bench.kernels import attention
    from bench.kernels.base import Case

    enabled = lambda: (torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled())
    before = enabled()
    case = Case("attention", "sdpa", "fp32", (("batch", 1), ("heads", 2), ("seq_len", 32), ("head_dim", 16)),
                (("causal", True),))
    kernel = attention.make_kernel(case, CpuBackend())
    kernel.setup()
    chosen = kernel.record()["sdpa_backend"]
    assert enabled() == (chosen == "FLASH_ATTENTION", chosen == "MATH")  # only the chosen backend is on
    kernel.step()
    assert kernel.check().passed
    kernel.teardown()
    assert enabled() == before


@pytest.mark.slow
def test_attention_offers_every_accepted_backend_and_measures_the_fastest(tiny_suite, tmp_path):
    """M11: each backend that accepts the case is timed; the measurement names the one it ran."""
    out = tmp_path / "sdpa"
    assert main(["run", "--device", "cpu", "--suite", tiny_suite, "--suites", "attention", "--dtypes", "fp32",
                 "--out", str(out), "--quiet"]) == 0
    for m in load_run(out)["measurements"]:
        params = m["params"]
        assert set(params["accepted_backends"]) == {"FLASH_ATTENTION", "MATH"}  # what the CPU build has
        tried = params["alternatives_s_per_call"]
        assert set(tried) == set(params["accepted_backends"]) and all(s > 0 for s in tried.values())
        assert params["sdpa_backend"] == min(tried, key=tried.get)


@pytest.mark.slow
def test_int8_takes_b_column_major_and_fp8_adds_fast_accumulation(tmp_path):
    """M3: int8 B is the .t() of a contiguous (N, K) tensor; M12: fp8 fast accumulation beside the default."""
    suite = tmp_path / "lowp.yaml"
    suite.write_text("""
name: lowp
timing: {min_sample_s: 0.001, warmup_min_s: 0.0, warmup_max_s: 0.05, samples: 3, max_samples: 5, max_measure_s: 0.05}
suites:
  gemm: {dtypes: [int8, fp8_e4m3], shapes: [[64, 96, 128]]}
""")
    kernel = gemm.make_kernel(gemm.case_for("int8", (64, 96, 128)), CpuBackend())
    kernel.setup()
    assert kernel.b.shape == (128, 96) and kernel.b.stride() == (1, 128)
    assert kernel.check().passed
    kernel.teardown()
    out = tmp_path / "run"
    assert main(["run", "--device", "cpu", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    run = load_run(out)
    fp8 = [m for m in run["measurements"] if m["dtype"] == "fp8_e4m3"]
    assert sorted(m["params"]["accumulate"] for m in fp8) == ["fast", "fp32"]
    assert all(m["status"] == "ok" and m["params"]["b_layout"] == "column-major" for m in run["measurements"])


def test_a_hopeless_first_call_skips_larger_cases_without_a_rate(tmp_path):
    """M4: a first call over 20 x max_iteration_s is not repeated; larger cases of that kind skip unrun."""
    from bench.devices.timing import FakeClock

    config = load_suite_config(str(_write(tmp_path, """
name: slow
suites:
  gemm: {dtypes: [fp32], shapes: [[64, 64, 64], [128, 128, 128], [32, 32, 32]], max_iteration_s: 0.01}
""")))
    backend = CpuBackend()
    writer = RunWriter(tmp_path / "out", new_run("r", backend, config, RunOptions()))
    runner = Runner(backend, config, writer, options=RunOptions(clock_factory=lambda b: FakeClock(1.0)))
    run = runner.run()
    reasons = [s["reason"] for s in run["skips"]]
    assert "first call took 1.0 s" in reasons[0] and "not repeated" in reasons[0]
    assert "first call alone" in reasons[1]  # 128^3 has more work than the hopeless 64^3
    assert "first call took" in reasons[2]  # 32^3 has less work: it gets its own first call
    assert runner.rates == {}


def _write(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path
