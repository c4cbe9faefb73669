"""bench run's progress: one count and one ETA over the whole run (fixed cases, then the peak search
and variants within their budget); plain lines off a terminal, nothing for --quiet/--json, live on a TTY."""

from __future__ import annotations

import io
import re

import pytest

from bench.cli import main
from bench.kernels import registry
from bench.kernels.base import FIXED, VARIANTS, Case, FollowupBound, Suite
from bench.present.progress import LineObserver, LiveObserver, QuietObserver, RunProgress, extras_budget, make_observer

CONFIG = {"suites": {"gemm": {
    "dtypes": ["fp32"], "data_patterns": ["normal", "zeros"],
    "search": {"enabled": True, "max_trials": 4, "max_seconds": 100},
    "perturbation": {"enabled": True, "variants": 1}}}}


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _gemm(size: int, **params) -> Case:
    return Case("gemm", "matmul", "fp32", (("m", size), ("n", size), ("k", size)), tuple(params.items()))


def _ok(case: Case, value: float = 1.0) -> dict:
    return {"id": case.id, "suite": case.suite, "kernel": case.kernel, "dtype": case.dtype, "status": "ok",
            "throughput": {"value": value, "unit": "TFLOPS"}, "stats": {"n": 5}}


def _drive(observer, clock: FakeClock, seconds: float = 2.0) -> None:
    """The runner's call pattern: 3 fixed cases, then 2 search trials (patience stops the search),
    a zeros-input case and 3 variants, each extra numbered number == total as bench/measure/runner.py does."""
    fixed = [_gemm(s) for s in (64, 128, 256)]
    extras = [_gemm(320, search_trial=1), _gemm(384, search_trial=2), _gemm(256, input_distribution="zeros"),
              _gemm(256, variant="standard"), _gemm(256, variant="reseeded", seed=3), _gemm(272, variant="perturbed")]
    for number, case in enumerate(fixed, 1):
        observer.case_started(case, number, len(fixed))
        clock.now += seconds
        observer.measured(_ok(case))
    for number, case in enumerate(extras, len(fixed) + 1):
        observer.case_started(case, number, number)
        clock.now += seconds
        observer.measured(_ok(case))


def test_extras_budget_from_the_suite_config():
    budget = extras_budget(CONFIG)["fp32"]
    assert (budget.search_trials, budget.search_seconds, budget.others, budget.cases) == (4, 100.0, 4, 9)  # + the confirming re-measurement
    assert extras_budget({"suites": {"gemm": {"dtypes": ["fp32"]}}}) == {}
    assert extras_budget(None) == {}


def test_the_bound_is_what_each_configured_suite_declares(monkeypatch):
    toy = Suite(lambda config, info, probe=None: [], lambda case, backend, seed=0: None,
                followup_bound=lambda config: {"int8": FollowupBound(others=config["extra"])},
                phase=lambda case: VARIANTS if case.params else FIXED)
    monkeypatch.setitem(registry.SUITES, "toy", toy)
    monkeypatch.setitem(registry.SUITES, "toy2", toy)
    assert extras_budget({"suites": {"toy": {"extra": 2}, "toy2": {"extra": 3}}}) == {"int8": FollowupBound(others=5)}
    config = {"suites": {"toy": {"extra": 2}, "not_registered": {}}}
    assert extras_budget(config) == {"int8": FollowupBound(others=2)}
    progress = RunProgress(config, FakeClock())
    fixed = Case("toy", "k", "int8", (("n", 1),))
    progress.started(fixed, 1, 1)
    progress.ended(fixed, True)
    assert progress.counter() == "1/≤3"
    progress.started(Case("toy", "k", "int8", (("n", 2),), (("more", 1),)), 2, 2)
    assert (progress.counter(), progress.phase_text()) == ("2/≤3", "variants int8 1/2")


def test_count_and_eta_cover_the_whole_run():
    clock = FakeClock()
    progress = RunProgress(CONFIG, clock)
    first = _gemm(64)
    progress.started(first, 1, 3)
    assert progress.counter() == "1/≤12" and progress.eta_s() is None  # nothing timed yet
    clock.now += 2
    progress.ended(first, True)
    assert progress.eta_s() == 2 * 2 + 5 * 2 + 4 * 2  # two fixed cases, four trials and a confirm, four variants at 2 s
    for number, size in ((2, 128), (3, 256)):
        progress.started(_gemm(size), number, 3)
        clock.now += 2
        progress.ended(_gemm(size), True)
    progress.started(_gemm(320, search_trial=1), 4, 4)
    assert progress.counter() == "4/≤12" and progress.phase_text() == "peak search fp32 trial 1/≤4 (≤100 s)"
    progress.ended(_gemm(320, search_trial=1), True)
    progress.started(_gemm(256, input_distribution="zeros"), 5, 5)  # patience ended the search after one trial
    assert progress.total == 3 + 1 + 4 and progress.counter() == "5/≤8"  # search over: its confirm never came
    assert progress.phase_text() == "variants fp32 1/4"
    assert progress.eta_s() == 3 * 2


def test_the_confirming_measurement_counts_in_the_search_phase():
    progress = RunProgress(CONFIG, FakeClock())
    progress.started(_gemm(64), 1, 1)
    progress.ended(_gemm(64), True)
    progress.started(_gemm(320, search_trial=1), 2, 2)
    progress.ended(_gemm(320, search_trial=1), True)
    progress.started(_gemm(320, search_confirm=True), 3, 3)
    assert progress.phase == "search" and progress.counter() == "3/≤10"
    assert progress.phase_text() == "peak search fp32: best trial confirmed"


def test_the_search_cap_bounds_the_eta():
    clock = FakeClock()
    capped = {"suites": {"gemm": {"dtypes": ["fp32"], "search": {"enabled": True, "max_trials": 50, "max_seconds": 10}}}}
    progress = RunProgress(capped, clock)
    progress.started(_gemm(64), 1, 1)
    clock.now += 3
    progress.ended(_gemm(64), True)
    assert progress.eta_s() == 10  # 50 trials at 3 s would be 150 s; max_seconds caps it


def test_no_variants_for_a_dtype_with_nothing_measured():
    progress = RunProgress(CONFIG, FakeClock())
    progress.started(_gemm(64), 1, 1)
    progress.ended(_gemm(64), False)  # skipped: no best shape for patterns and variants
    assert progress.total == 1 + 4 + 1  # four trials and the confirming re-measurement


def test_log_lines_never_count_n_of_n_through_the_extras():
    clock, stream = FakeClock(), io.StringIO()
    _drive(LineObserver(stream, CONFIG, clock), clock)
    counters = re.findall(r"^\[(\d+)/(≤?)(\d+)", stream.getvalue(), flags=re.M)
    assert len(counters) == 9
    assert [int(n) for n, _, _ in counters] == list(range(1, 10))
    assert all(bound == "≤" for _, bound, _ in counters[:8])  # extras may still come
    assert counters[-1] == ("9", "", "9")  # the last variant: the bound is reached, the count is exact
    lines = stream.getvalue().splitlines()
    assert "peak search fp32 trial 2/≤4" in lines[4] and "ETA" in lines[4]
    assert "variants fp32 1/4" in lines[5]


def test_observer_choice():
    assert isinstance(make_observer(True, False, FakeTTY()), QuietObserver)
    assert isinstance(make_observer(False, True, FakeTTY()), QuietObserver)
    assert isinstance(make_observer(False, False, io.StringIO()), LineObserver)
    live = make_observer(False, False, FakeTTY())
    assert isinstance(live, LiveObserver)
    live.close()


def test_live_panel_stays_open_through_the_search_and_variants():
    clock = FakeClock()
    from rich.console import Console

    live = LiveObserver(Console(file=FakeTTY()), CONFIG, clock)
    fixed = [_gemm(s) for s in (64, 128, 256)]
    for number, case in enumerate(fixed, 1):
        live.case_started(case, number, 3)
        live.measured(_ok(case, value=number))
    assert live.live.is_started, "closed at the last fixed case although the peak search follows"
    trial = _gemm(320, search_trial=1)
    live.case_started(trial, 4, 4)
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(live._render())
    assert "peak search fp32 trial 1/≤4" in buffer.getvalue() and "4/≤12" in buffer.getvalue()
    live.measured(_ok(trial, value=9.0))
    assert live.best[("gemm", "fp32")] == (9.0, "TFLOPS")
    live.close()
    assert not live.live.is_started


def test_live_panel_without_extras_stops_after_the_last_case():
    live = make_observer(False, False, FakeTTY())
    case = Case("gemm", "matmul", "bf16", (("m", 8), ("n", 8), ("k", 8)))
    for number, value in ((1, 2.0), (2, 5.0)):
        live.case_started(case, number, 3)
        live.measured({"id": case.id, "suite": "gemm", "kernel": "matmul", "dtype": "bf16", "status": "ok",
                       "throughput": {"value": value, "unit": "TFLOPS"}, "stats": {"n": 5}})
    assert live.best[("gemm", "bf16")] == (5.0, "TFLOPS")
    live.case_started(case, 3, 3)
    live.skipped({"id": case.id, "reason": "too slow"})
    assert not live.live.is_started


def test_live_panel_shows_samples_while_a_case_runs():
    from rich.console import Console

    live = make_observer(False, False, FakeTTY())
    case = Case("stream", "triad", "fp32", (("elements", 1024),))
    live.case_started(case, 1, 2)
    live.samples_taken(case, 7)
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(live._render())
    assert "7 samples" in buffer.getvalue()
    live.close()


@pytest.mark.slow
def test_bench_run_logs_the_whole_run_and_prints_the_health_block(tmp_path, capsys):
    """A real small CPU run: its log counts through the peak search, then the tables and the health block."""
    code = main(["run", "--device", "cpu", "--suite", "quick", "--suites", "gemm", "--dtypes", "fp32",
                 "--set", "suites.gemm.shapes=[[64,64,64],[128,128,128]]",
                 "--set", "suites.gemm.max_iteration_s=5",  # a busy host must not turn the cases into skips
                 "--out", str(tmp_path / "run")])
    assert code == 0
    captured = capsys.readouterr()
    counters = re.findall(r"^\[(\d+)/≤?(\d+)[^\]]*\]", captured.err, flags=re.M)
    assert [int(n) for n, _ in counters] == list(range(1, len(counters) + 1)) and len(counters) >= 3
    assert "peak search fp32 trial 1/≤1" in captured.err
    assert not any(n == total for n, total in counters[:-1] if int(n) > 2)  # no [3/3], [4/4] ... in the extras
    assert "\nHealth\n" in captured.out
    assert captured.out.index("Effective TPP") < captured.out.index("Health")
