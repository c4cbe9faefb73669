"""Timing policy against a seeded fake clock: exact, deterministic, no real timing."""

import pytest

from bench.devices.timing import FakeClock, PerfCounterClock
from bench.measure.policy import TimingPolicy, measure, warm_up


def never_called():
    raise AssertionError("the fake clock must not run the step")


def test_calibrates_iterations_to_min_sample_time():
    clock = FakeClock(per_iteration_s=1e-4)
    policy = TimingPolicy(min_sample_s=0.01, warmup_min_s=0.0, samples=5, target_rel_ci=1.0)
    timing = measure(never_called, clock, policy)
    assert timing.iterations == 100
    assert len(timing.samples_s) == 5
    assert all(s == pytest.approx(1e-4) for s in timing.samples_s)
    assert timing.stop_reason == "target confidence reached"


def ramp(n):
    """A device that speeds up 5% per sample for 20 samples (clocks ramping), then holds."""
    return 1e-3 * (1 + 0.05 * max(0, 20 - n))


def test_warm_up_waits_for_stable_throughput():
    clock = FakeClock(per_iteration_s=ramp)
    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.0, warmup_max_s=10.0, warmup_window=3)
    _, record = warm_up(never_called, clock, policy, None)
    assert record["stable"] is True
    assert clock.samples_taken >= 20
    timing = measure(never_called, FakeClock(per_iteration_s=ramp), policy)
    assert max(timing.samples_s) == pytest.approx(1e-3)  # no cold sample leaks into the measurement


def test_warm_up_minimum_time_covers_a_cold_plateau():
    # A steady-but-cold phase looks stable; only the time-based minimum outlasts it.
    cold_then_hot = lambda n: 2e-3 if n < 20 else 1e-3
    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.05, warmup_max_s=10.0)
    timing = measure(never_called, FakeClock(per_iteration_s=cold_then_hot), policy)
    assert max(timing.samples_s) == pytest.approx(1e-3)


def test_warm_up_cap_is_reported_when_never_stable():
    alternating = FakeClock(per_iteration_s=lambda n: 1e-3 if n % 2 else 2e-3)
    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.0, warmup_max_s=0.05)
    _, record = warm_up(never_called, alternating, policy, None)
    assert record["stable"] is False
    assert record["seconds"] >= 0.05


def test_noisy_clock_samples_until_budget():
    clock = FakeClock(per_iteration_s=1e-3, rel_noise=0.2, seed=3)
    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.0, warmup_max_s=0.02, warmup_stable_rel=1.0,
                          samples=5, max_samples=12, target_rel_ci=0.001, max_measure_s=100.0)
    timing = measure(never_called, clock, policy)
    assert len(timing.samples_s) == 12
    assert timing.stop_reason == "max samples reached"


def test_time_budget_stops_sampling():
    clock = FakeClock(per_iteration_s=0.1, rel_noise=0.3, seed=1)
    policy = TimingPolicy(min_sample_s=0.1, warmup_min_s=0.0, warmup_max_s=0.2, warmup_stable_rel=1.0,
                          samples=3, max_samples=100, target_rel_ci=1e-6, max_measure_s=1.0)
    timing = measure(never_called, clock, policy)
    assert timing.stop_reason == "time budget reached"
    assert len(timing.samples_s) < 100


def test_same_seed_same_samples():
    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.0, samples=8, target_rel_ci=1.0)
    first = measure(never_called, FakeClock(1e-3, rel_noise=0.05, seed=7), policy).samples_s
    second = measure(never_called, FakeClock(1e-3, rel_noise=0.05, seed=7), policy).samples_s
    assert first == second


def test_before_sample_hook_runs_once_per_sample_and_window_wraps_sampling():
    calls = []
    entered = []

    class Window:
        def __enter__(self):
            entered.append(len(calls))

        def __exit__(self, *exc):
            entered.append(len(calls))

    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.0, samples=4, target_rel_ci=1.0)
    clock = FakeClock(1e-3)
    timing = measure(never_called, clock, policy, before_sample=lambda: calls.append(1), window=Window)
    assert len(calls) == clock.samples_taken
    warmup_samples = clock.samples_taken - len(timing.samples_s)
    assert entered == [warmup_samples, clock.samples_taken]


def test_perf_counter_clock_runs_the_step():
    counter = []
    totals = PerfCounterClock().time_samples(lambda: counter.append(1), iterations=10, samples=3)
    assert len(counter) == 30 and len(totals) == 3 and all(t >= 0 for t in totals)


def test_a_first_iteration_over_the_limit_stops_the_measurement():
    from bench.errors import TooSlow

    clock = FakeClock(per_iteration_s=3.0)
    with pytest.raises(TooSlow) as excinfo:
        measure(never_called, clock, TimingPolicy(), max_iteration_s=0.5)
    assert excinfo.value.iteration_s == pytest.approx(3.0)
    assert clock.samples_taken == 2  # the set-apart first call, one judged iteration, then stop
    assert measure(never_called, FakeClock(per_iteration_s=0.1), TimingPolicy(samples=3, target_rel_ci=1.0),
                   max_iteration_s=0.5).samples_s


def test_a_slow_first_call_is_set_apart_and_never_judged():
    """M4: one-time work (handles, JIT, tuning) in the first call must not skip the case."""
    clock = FakeClock(per_iteration_s=lambda n: 2.0 if n == 0 else 0.01)
    timing = measure(never_called, clock, TimingPolicy(samples=3, target_rel_ci=1.0), max_iteration_s=0.5)
    assert timing.warmup["first_call_s"] == pytest.approx(2.0)
    assert max(timing.samples_s) == pytest.approx(0.01)


def test_a_hopeless_first_call_gives_up_without_a_rate():
    from bench.errors import TooSlow

    clock = FakeClock(per_iteration_s=30.0)
    with pytest.raises(TooSlow) as excinfo:
        measure(never_called, clock, TimingPolicy(), max_iteration_s=0.5)
    assert excinfo.value.iteration_s is None and excinfo.value.first_call_s == pytest.approx(30.0)
    assert clock.samples_taken == 1


def test_sample_count_is_reported_after_each_batch():
    counts = []
    policy = TimingPolicy(min_sample_s=1e-3, warmup_min_s=0.0, samples=5, max_samples=12, target_rel_ci=1e-9,
                          max_measure_s=100.0, warmup_stable_rel=1.0)
    timing = measure(never_called, FakeClock(1e-3, rel_noise=0.1, seed=2), policy, on_samples=counts.append)
    assert counts == [5, 10, 12] and len(timing.samples_s) == 12


def test_fastest_times_each_option_and_stops_early_on_a_slow_one():
    from bench.measure.policy import fastest

    chosen = []
    speed = {"slow": 1.0, "fast": 0.001}
    clock = FakeClock(per_iteration_s=lambda n: speed[chosen[-1]])
    options = {name: (lambda name=name: chosen.append(name)) for name in speed}
    best, seconds = fastest(options, never_called, clock, TimingPolicy(min_sample_s=0.01), max_iteration_s=0.5)
    assert best == "fast" and seconds == {"slow": 1.0, "fast": 0.001}
    assert clock.samples_taken == 2 + 2 + 3  # slow: first + judged call only; fast: first, judged, 3 samples
