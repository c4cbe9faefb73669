"""LineObserver's exact lines (bench/present/progress.py): one per case, with the run-wide count, the
phase and the ETA from a fake clock; nothing for samples_taken."""

from __future__ import annotations

import io

from test_progress import FakeClock
from test_progress import _gemm as gemm

from bench.kernels.base import Case
from bench.present.progress import LineObserver

CONFIG = {"suites": {"gemm": {  # fp32 extras: 4 search trials + 1 confirmation, zeros + 3 variants
    "dtypes": ["fp32"], "data_patterns": ["normal", "zeros"],
    "search": {"enabled": True, "max_trials": 4, "max_seconds": 100},
    "perturbation": {"enabled": True, "variants": 1}}}}


def measurement(case: Case, value: float, status: str = "ok", unit: str = "TFLOPS") -> dict:
    return {"id": case.id, "suite": case.suite, "kernel": case.kernel, "dtype": case.dtype, "status": status,
            "throughput": {"value": value, "unit": unit}, "stats": {"n": 5}}


def test_fixed_cases_count_exactly_and_the_eta_follows_the_mean_case_time():
    clock, stream = FakeClock(), io.StringIO()
    observer = LineObserver(stream, None, clock)
    triad = Case("stream", "triad", "fp32", (("n", 1024),))
    observer.case_started(gemm(64), 1, 2)
    observer.samples_taken(gemm(64), 3)
    assert stream.getvalue() == ""  # no running sample count in a log
    clock.now += 2.0
    observer.measured(measurement(gemm(64), 0.91234))
    observer.case_started(triad, 2, 2)
    clock.now += 5.0
    observer.skipped({"id": triad.id, "reason": "needs 8 GiB, 2 GiB free"})
    assert stream.getvalue().splitlines() == [
        "[1/2] gemm/matmul/fp32/m=64,n=64,k=64: 0.9123 TFLOPS",
        "[2/2 · ETA 0:02] stream/triad/fp32/n=1024: skipped (needs 8 GiB, 2 GiB free)",
    ]


def test_extras_name_their_phase_within_the_bound_and_flag_a_wrong_result():
    clock, stream = FakeClock(), io.StringIO()
    observer = LineObserver(stream, CONFIG, clock)
    fixed, trial, zeros = gemm(64), gemm(320, search_trial=1), gemm(256, input_distribution="zeros")
    observer.case_started(fixed, 1, 1)
    clock.now += 3.0
    observer.measured(measurement(fixed, 0.91234))
    observer.case_started(trial, 2, 2)
    observer.samples_taken(trial, 7)
    clock.now += 3.0
    observer.measured(measurement(trial, 12345.6, status="wrong"))
    observer.case_started(zeros, 3, 3)
    observer.skipped({"id": zeros.id, "reason": "no best shape"})
    assert stream.getvalue().splitlines() == [
        "[1/≤10] gemm/matmul/fp32/m=64,n=64,k=64: 0.9123 TFLOPS",  # 1 fixed + 5 search + 4 variants at most
        # 4 trials left and 4 variants at 3 s a case: 24 s (the 100 s search cap does not bind)
        "[2/≤10 peak search fp32 trial 1/≤4 (≤100 s) · ETA 0:24] "
        "gemm/matmul/fp32/m=320,n=320,k=320,search_trial=1: 1.235e+04 TFLOPS  WRONG RESULT",
        # the variants started, so the search is over: 3 variants left at 3 s
        "[3/≤6 variants fp32 1/4 · ETA 0:09] "
        "gemm/matmul/fp32/m=256,n=256,k=256,input_distribution=zeros: skipped (no best shape)",
    ]


def test_lines_go_to_stderr_by_default(capsys):
    observer = LineObserver(clock=FakeClock())
    triad = Case("stream", "triad", "fp32", (("n", 1024),))
    observer.case_started(triad, 1, 1)
    observer.measured(measurement(triad, 25.04, unit="GB/s"))
    observer.close()
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "[1/1] stream/triad/fp32/n=1024: 25.04 GB/s\n")
