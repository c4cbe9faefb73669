"""A first probe of the device, taken once per run before any case: what a sample costs the
harness itself, and how fast fresh memory can be filled. The suites size themselves from it
(stream arrays) and the timing policy re-sizes samples from it (more calls per sample when the
fixed cost would otherwise reach 1 % of a sample). Recorded in run.json as `probe`."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

import torch

from bench.devices.timing import Clock

OVERHEAD_SAMPLES = 51
FILL_PROBE_BYTES = 64 * 2**20
FILL_PROBE_REPEATS = 3
# A sample lasts at least this many times the fixed per-sample cost, so that cost is <= 1 % of it.
OVERHEAD_MULTIPLE = 100


@dataclasses.dataclass(frozen=True)
class DeviceProbe:
    per_sample_overhead_s: float  # median seconds one sample of one empty call costs (timer + sync + Python)
    overhead_max_s: float
    fill_bytes_per_s: float | None  # allocating fresh device memory and filling it with normal values
    clock: str

    def min_sample_s(self) -> float:
        """The shortest sample for which the fixed cost stays under 1 %."""
        return OVERHEAD_MULTIPLE * self.per_sample_overhead_s

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "overhead_multiple": OVERHEAD_MULTIPLE,
                "min_sample_s": self.min_sample_s()}


def _nothing() -> None:
    return None


def sample_overhead(clock: Clock, samples: int = OVERHEAD_SAMPLES) -> tuple[float, float]:
    """(median, max) seconds of a sample of one empty call: what every sample carries besides the work."""
    totals = clock.time_samples(_nothing, 1, samples)
    return statistics.median(totals), max(totals)


def fill_rate(device: torch.device, clock: Clock, nbytes: int = FILL_PROBE_BYTES) -> float | None:
    """Bytes per second of allocating fresh memory and filling it with seeded normal values, as the
    kernels' setup does (first touch and random-number generation included): the cost of setting up a
    large input. Best of a few; None when the probe cannot allocate."""
    try:
        gen = torch.Generator(device=device).manual_seed(0)

        def allocate_and_fill() -> None:
            torch.randn(nbytes // 4, dtype=torch.float32, device=device, generator=gen)

        seconds = min(clock.time_samples(allocate_and_fill, 1, FILL_PROBE_REPEATS))
    except (RuntimeError, TypeError, ValueError, NotImplementedError, torch.OutOfMemoryError):
        return None  # a backend without device generators: streams keep their floor size
    return nbytes / seconds if seconds > 0 else None


def probe(device: torch.device, clock: Clock) -> DeviceProbe:
    median, worst = sample_overhead(clock)
    return DeviceProbe(per_sample_overhead_s=median, overhead_max_s=worst,
                       fill_bytes_per_s=fill_rate(device, clock), clock=clock.name)
