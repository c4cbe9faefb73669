"""The first probe of the device: harness overhead, fill rate, and the sizes derived from them."""

import torch

from bench.devices.base import DeviceInfo
from bench.devices.timing import FakeClock, PerfCounterClock
from bench.kernels import stream
from bench.measure import probe

GiB = 2**30
CONFIG = {"kernels": ["copy", "scale", "add", "triad", "read", "write"], "llc_multiple": 4,
          "min_array_bytes": 256 * 2**20, "target_array_bytes": GiB}


def fake_probe(overhead_s=1e-6, fill=None):
    return probe.DeviceProbe(per_sample_overhead_s=overhead_s, overhead_max_s=overhead_s, fill_bytes_per_s=fill,
                             clock="fake")


def test_the_overhead_probe_times_empty_samples_with_the_clock():
    median, worst = probe.sample_overhead(FakeClock(2e-6), samples=5)
    assert median == worst == 2e-6
    real = probe.probe(torch.device("cpu"), PerfCounterClock())
    assert 0 < real.per_sample_overhead_s <= real.overhead_max_s and real.fill_bytes_per_s > 0
    assert real.to_dict()["min_sample_s"] == probe.OVERHEAD_MULTIPLE * real.per_sample_overhead_s


def test_streams_reach_the_target_when_memory_and_fill_rate_allow():
    info = DeviceInfo(backend="cuda", torch_device="cuda:0", vendor="x", name="big", memory_bytes=141 * GiB, last_level_cache_bytes=60 * 2**20)
    assert stream.dram_array_bytes(CONFIG, info, fake_probe(fill=2e12)) == GiB


def test_streams_stay_smaller_on_a_slow_to_fill_or_small_device():
    info = DeviceInfo(backend="cpu", torch_device="cpu", vendor="x", name="small", memory_bytes=24 * GiB, last_level_cache_bytes=16 * 2**20)
    slow = stream.dram_array_bytes(CONFIG, info, fake_probe(fill=1e9))  # 1 GB/s first touch: 12 s budget
    assert 256 * 2**20 <= slow < GiB
    tiny = DeviceInfo(backend="cuda", torch_device="cuda:0", vendor="x", name="tiny", memory_bytes=2 * GiB, last_level_cache_bytes=4 * 2**20)
    assert stream.dram_array_bytes(CONFIG, tiny, fake_probe(fill=1e12)) == 256 * 2**20  # the floor holds
    assert stream.dram_array_bytes({**CONFIG, "target_array_bytes": 0}, info) == 256 * 2**20


def test_samples_are_resized_when_the_overhead_would_reach_one_percent(tmp_path):
    from bench.devices.cpu import CpuBackend
    from bench.measure.config import load_suite_config
    from bench.measure.policy import TimingPolicy
    from bench.measure.results import RunWriter
    from bench.measure.runner import Runner, RunOptions, new_run

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nsuites:\n  gemm: {dtypes: [fp32], shapes: [[64, 64, 64]]}\n")
    config = load_suite_config(str(suite))
    backend = CpuBackend()
    runner = Runner(backend, config, RunWriter(tmp_path / "run", new_run("r", backend, config, RunOptions())))
    runner.probe = fake_probe(overhead_s=50e-6)  # a slow timer: 50 us per sample
    assert runner._resized(TimingPolicy(min_sample_s=0.001)).min_sample_s == 100 * 50e-6
    assert runner._resized(TimingPolicy(min_sample_s=0.01)).min_sample_s == 0.01  # already long enough
    assert runner._overhead(0.0025)["fraction_of_sample"] == 50e-6 / 0.0025


def test_a_run_records_its_probe_and_each_measurements_overhead(tmp_path):
    from bench.cli import main
    from bench.measure.results import load_run

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ntiming: {min_sample_s: 0.001, warmup_min_s: 0.0, warmup_max_s: 0.05, samples: 3, "
                     "max_samples: 3, max_measure_s: 0.05}\nsuites:\n  gemm: {dtypes: [fp32], shapes: [[64, 64, 64]]}\n")
    assert main(["run", "--device", "cpu", "--suite", str(suite), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    run = load_run(tmp_path / "run")
    found = run["probe"]
    assert found["per_sample_overhead_s"] > 0 and found["min_sample_s"] == 100 * found["per_sample_overhead_s"]
    for m in run["measurements"]:
        overhead = m["timing"]["overhead"]
        assert overhead["per_sample_s"] == found["per_sample_overhead_s"]
        assert m["timing"]["policy"]["min_sample_s"] >= found["min_sample_s"]
