"""Clocks: the seam between the timing policy and the hardware.

A Clock times `samples` samples of `iterations` back-to-back calls of a step and returns each
sample's total seconds. Accelerator clocks record device events around each sample and
synchronise once per batch; the CPU clock reads perf_counter_ns; tests use FakeClock.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

import numpy as np

Step = Callable[[], Any]
Hook = Callable[[], None]


class Clock(Protocol):
    name: str
    resolution_s: float

    def time_samples(self, step: Step, iterations: int, samples: int, before_sample: Hook | None = None) -> list[float]:
        """Total seconds of each of `samples` samples; `before_sample` runs untimed before each."""
        ...


class PerfCounterClock:
    """Host clock for devices whose ops complete before they return (the CPU)."""

    name = "perf_counter_ns"

    def __init__(self) -> None:
        self.resolution_s = max(time.get_clock_info("perf_counter").resolution, 1e-9)

    def time_samples(self, step: Step, iterations: int, samples: int, before_sample: Hook | None = None) -> list[float]:
        totals = []
        for _ in range(samples):
            if before_sample:
                before_sample()
            start = time.perf_counter_ns()
            for _ in range(iterations):
                step()
            totals.append((time.perf_counter_ns() - start) * 1e-9)
        return totals


class EventClock:
    """Device-side events around each sample; one host synchronisation for the whole batch.

    `event_factory()` must return an object with record() and elapsed_time(other) in ms
    (torch.Event, torch.cuda.Event, torch.npu.Event, torch.mps.event.Event)."""

    name = "device_events"
    resolution_s = 0.5e-6  # CUDA documents ~0.5 us event resolution; others are no finer

    def __init__(self, event_factory: Callable[[], Any], synchronize: Hook):
        self._event = event_factory
        self._synchronize = synchronize

    def time_samples(self, step: Step, iterations: int, samples: int, before_sample: Hook | None = None) -> list[float]:
        pairs = []
        for _ in range(samples):
            if before_sample:
                before_sample()
            start, end = self._event(), self._event()
            start.record()
            for _ in range(iterations):
                step()
            end.record()
            pairs.append((start, end))
        self._synchronize()
        return [start.elapsed_time(end) * 1e-3 for start, end in pairs]


class FakeClock:
    """Seeded synthetic clock for tests: per-iteration time from `per_iteration_s(sample_number)`,
    times (1 + relative Gaussian noise). It never calls the step."""

    name = "fake"

    def __init__(self, per_iteration_s: float | Callable[[int], float], rel_noise: float = 0.0,
                 seed: int = 0, resolution_s: float = 1e-9):
        self._per_iteration = per_iteration_s if callable(per_iteration_s) else (lambda _n: per_iteration_s)
        self._rng = np.random.default_rng(seed)
        self._rel_noise = rel_noise
        self.resolution_s = resolution_s
        self.samples_taken = 0

    def time_samples(self, step: Step, iterations: int, samples: int, before_sample: Hook | None = None) -> list[float]:
        totals = []
        for _ in range(samples):
            if before_sample:
                before_sample()
            noise = 1.0 + self._rel_noise * float(self._rng.standard_normal())
            totals.append(iterations * self._per_iteration(self.samples_taken) * max(noise, 0.01))
            self.samples_taken += 1
        return totals
