"""The first probe of the device: harness overhead, fill rate, and the sizes derived from them."""

import torch

from bench import probe
from bench.devices.base import DeviceInfo
from bench.kernels import stream
from bench.timing import FakeClock, PerfCounterClock

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
