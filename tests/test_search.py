"""Guided peak search on synthetic throughput surfaces with a known optimum and a fake clock."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from bench.analysis import search
from bench.analysis.search import SearchBudget, ShapeSpace


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def smooth_surface(optimum: tuple[int, int, int], peak: float = 100.0):
    """Unimodal in log-size around `optimum`: 1% off per ~10% off in any dimension."""
    def value(shape):
        return peak * math.exp(-sum(math.log(s / o) ** 2 for s, o in zip(shape, optimum)))
    return value


def counting(fn, clock: FakeClock | None = None, seconds_per_gflop: float = 0.0):
    calls = []

    def evaluate(shape):
        calls.append(shape)
        if clock is not None:
            clock.now += 0.01 + seconds_per_gflop * 2 * shape[0] * shape[1] * shape[2] / 1e9
        return fn(shape)
    return evaluate, calls


CPU_SPACE = ShapeSpace(tile=64, min_size=256, max_size=4096, compute_units=2)


def brute_force_best(fn, space: ShapeSpace) -> float:
    sizes = range(space.min_size, space.max_size + 1, space.tile * 4)
    return max(fn(shape) for shape in itertools.product(sizes, sizes, sizes))


@pytest.mark.parametrize("optimum", [(1536, 2048, 1024), (3072, 640, 2560), (384, 384, 4032)])
def test_search_reaches_the_known_optimum_within_2_percent(optimum):
    fn = smooth_surface(optimum)
    evaluate, calls = counting(fn)
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=80, max_seconds=1e9, patience=20,
                                                             min_improvement=0.001), clock=FakeClock())
    assert record.best_value >= 0.98 * fn(optimum)
    assert record.best_value >= 0.98 * brute_force_best(fn, CPU_SPACE)
    assert len(calls) == len(set(calls)), "a shape was measured twice"
    assert len(calls) <= 80


def test_every_tried_shape_stays_on_the_tile_grid_and_in_bounds():
    evaluate, calls = counting(smooth_surface((1000, 3000, 700)))
    search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=60, max_seconds=1e9), clock=FakeClock())
    for shape in calls:
        assert all(s % 64 == 0 and 256 <= s <= 4096 for s in shape), shape


def test_max_trials_stops_the_search():
    evaluate, calls = counting(smooth_surface((2048, 2048, 2048)))
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=5, max_seconds=1e9, patience=100),
                           clock=FakeClock())
    assert len(calls) == 5 and record.stop_reason == search.STOP_MAX_TRIALS


def test_time_budget_stops_the_search_on_the_fake_clock():
    clock = FakeClock()
    evaluate, calls = counting(smooth_surface((2048, 2048, 2048)), clock, seconds_per_gflop=0.1)
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=1000, max_seconds=3.0, patience=1000),
                           clock=clock)
    assert record.stop_reason.startswith(search.STOP_TIME)
    assert record.elapsed_s <= 3.0 + record.trials[-1].seconds
    assert record.elapsed_s >= 2.0, "stopped long before the budget"


def test_shapes_predicted_to_overrun_the_budget_are_passed_over_for_cheaper_ones():
    clock = FakeClock()
    evaluate, calls = counting(smooth_surface((4096, 4096, 4096)), clock, seconds_per_gflop=0.1)
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=1000, max_seconds=2.0, patience=1000),
                           clock=clock)
    assert record.elapsed_s <= 2.0, "a trial predicted to overrun was started"
    assert (4096, 4096, 4096) not in calls  # 13.7 s at the rate seen
    assert "predicted to overrun" in record.stop_reason
    assert sum(t.seconds for t in record.trials) == pytest.approx(record.elapsed_s)
    assert all(t.seconds > 0 for t in record.trials)


def test_patience_stops_a_flat_surface():
    evaluate, calls = counting(lambda shape: 50.0)
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=1000, max_seconds=1e9, patience=4,
                                                             min_improvement=0.02), clock=FakeClock())
    assert record.stop_reason.startswith(search.STOP_PATIENCE)
    assert sum(1 for t in record.trials if t.phase == "refine") == 4


def test_improvements_below_min_improvement_do_not_reset_patience():
    # Grows by 0.5% per step in M forever: never "significant" at 1%.
    evaluate, calls = counting(lambda shape: 100.0 * 1.005 ** (shape[0] / 64))
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=1000, max_seconds=1e9, patience=6,
                                                             min_improvement=0.5), clock=FakeClock())
    assert record.stop_reason.startswith(search.STOP_PATIENCE)
    assert sum(1 for t in record.trials if t.phase == "refine") == 6


def test_convergence_when_no_neighbour_is_left():
    space = ShapeSpace(tile=64, min_size=64, max_size=128, compute_units=1, max_candidates=2)
    evaluate, calls = counting(lambda shape: float(sum(shape)))
    record = search.search(evaluate, space, SearchBudget(max_trials=1000, max_seconds=1e9, patience=1000),
                           clock=FakeClock())
    assert record.stop_reason == search.STOP_CONVERGED
    assert record.best_shape == (128, 128, 128)
    assert len(calls) <= 8  # the whole 2x2x2 grid at most


def test_known_results_seed_the_best_and_are_not_remeasured():
    fn = smooth_surface((1024, 1024, 1024))
    known = [((1024, 1024, 1024), fn((1024, 1024, 1024))), ((512, 512, 512), fn((512, 512, 512)))]
    evaluate, calls = counting(fn)
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=30, max_seconds=1e9, patience=6),
                           known=known, clock=FakeClock())
    assert (1024, 1024, 1024) not in calls and (512, 512, 512) not in calls
    assert record.best_shape == (1024, 1024, 1024)
    assert record.to_dict()["best"]["from"] == "known"
    assert record.measured_trials == len(calls)


def test_skipped_trials_are_recorded_and_never_best():
    fn = smooth_surface((4096, 4096, 4096))
    evaluate, calls = counting(lambda shape: None if max(shape) > 2048 else fn(shape))
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=40, max_seconds=1e9), clock=FakeClock())
    assert any(t.value is None for t in record.trials)
    assert max(record.best_shape) <= 2048


def test_nothing_measurable_says_so():
    record = search.search(lambda shape: None, CPU_SPACE, SearchBudget(max_trials=50, max_seconds=1e9),
                           clock=FakeClock())
    assert record.best_shape is None and record.stop_reason == search.STOP_NO_CANDIDATES


def test_record_is_json_ready():
    evaluate, _ = counting(smooth_surface((1024, 2048, 512)))
    record = search.search(evaluate, CPU_SPACE, SearchBudget(max_trials=10, max_seconds=1e9), clock=FakeClock())
    data = json.loads(json.dumps(record.to_dict()))
    assert data["best"]["value"] == record.best_value
    assert data["budget"]["max_trials"] == 10 and data["space"]["tile"] == 64
    assert len(data["trials"]) == len(record.trials) and data["stop_reason"] == record.stop_reason


@pytest.mark.parametrize("units", [132, 108, 304, 80, 2])
def test_wave_grid_fills_whole_waves_on_the_tile_grid(units):
    for size in (2048, 4096, 5000, 8192, 16384):
        m, n = search.wave_grid(size, size, 256, units)
        assert m % 256 == 0 and n % 256 == 0
        assert (m // 256) * (n // 256) % units == 0
        assert 0.5 < m / n < 2.0 or units > 100 and 0.25 < m / n < 4.0


def test_gpu_candidates_are_wave_aligned_and_cpu_tiles_are_smaller():
    gpu = search.default_space("cuda", 132, memory_bytes=80 * 2**30)
    families = search.family_shapes(gpu)
    for m, n, k in search.candidates(gpu):
        assert m % 256 == 0 and n % 256 == 0 and k % 256 == 0
        assert (m // 256) * (n // 256) % 132 == 0 or (m, n, k) in families
    cpu = search.default_space("cpu", 8)
    assert cpu.tile == 64 and cpu.max_size <= 4096
    assert all(s % 64 == 0 for shape in search.candidates(cpu) for s in shape)


def test_candidates_span_cache_resident_long_k_and_skinny_shapes():
    space = search.default_space("cpu", 2, memory_bytes=24 * 2**30, cache_bytes=16 * 2**20, itemsize=4)
    shapes = search.candidates(space)
    assert any(3 * max(m * k, k * n, m * n) * 4 <= 16 * 2**20 for m, n, k in shapes)  # fits the LLC
    assert any(k >= 4 * max(m, n) for m, n, k in shapes)  # long K
    assert any(m >= 8 * n for m, n, k in shapes) and any(n >= 8 * m for m, n, k in shapes)  # skinny
    assert any(k * 4 <= min(m, n) for m, n, k in shapes)  # short K
    assert max(m * n * k for m, n, k in shapes) == 4096**3  # up to DRAM-sized
    works = [m * n * k for m, n, k in shapes]
    assert works == sorted(works)  # small first: too-slow judgements learn from the small ones


def test_memory_bounds_the_largest_size():
    small = search.default_space("cuda", 16, memory_bytes=2 * 2**30)
    assert 3 * small.max_size**2 * 2 <= 0.25 * 2 * 2**30 + 3 * 2 * small.tile**2 * 4


def test_start_sizes_replace_the_geometric_ladder():
    space = ShapeSpace(tile=64, min_size=64, max_size=4096, compute_units=1, start_sizes=(320, 1000))
    assert search.candidates(space) == [(320, 320, 320), (1024, 1024, 1024)]


def test_search_time_goes_to_the_dtype_that_sets_the_tpp():
    from bench.kernels.gemm_followups import MIN_SEARCH_SHARE, search_share

    def measured(dtype, value):
        return {"suite": "gemm", "dtype": dtype, "status": "ok", "params": {}, "throughput": {"value": value}}

    measurements = [measured("fp32", 1.0), measured("bf16", 1.0), measured("int8", 0.1)]
    dtypes = ["fp32", "bf16", "int8"]
    assert search_share(measurements, dtypes, "fp32") == 1.0  # 32 bits x 1.0 sets the TPP
    assert search_share(measurements, dtypes, "bf16") == 0.5  # 16 bits x 1.0
    assert search_share(measurements, dtypes, "int8") == MIN_SEARCH_SHARE  # 8 x 0.1 = 2.5 %, raised to the floor
    assert search_share(measurements, dtypes + ["fp16"], "fp16") == MIN_SEARCH_SHARE  # nothing measured yet
