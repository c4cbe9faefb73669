"""Brute-force torch.matmul shape sweep, shared by the benchmark scripts (gemm_sweep.py, peak_search.py).

Every (M, N, K) of a grid, each timed with a short warm-up and the median of a few runs with
perf_counter_ns, fresh seeded normal inputs, torch.matmul allocating its output as a user would.
TFLOPS = 2*M*N*K / seconds / 1e12 (bench.analysis.metrics)."""

from __future__ import annotations

import dataclasses
import itertools
import random
import statistics
import time
from typing import Callable, Iterable

import torch

from bench.analysis import metrics

GRID = (256, 512, 768, 1024, 1536, 2048, 3072, 4096)
QUICK_GRID = (256, 512, 1024, 2048, 4096)
# Off-grid shapes worth a look: odd sizes, skinny and very tall/wide ones.
EXTRA_SHAPES = ((1000, 1000, 1000), (2000, 2000, 2000), (4000, 4000, 4000), (8192, 1024, 1024),
                (1024, 8192, 1024), (1024, 1024, 8192), (8192, 8192, 256), (6144, 6144, 1024),
                (16384, 512, 512), (512, 512, 16384))
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One timed shape. Seconds are per matmul; TFLOPS from the median and from the best run."""

    dtype: str
    m: int
    n: int
    k: int
    median_s: float
    best_s: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.m, self.n, self.k

    @property
    def tflops(self) -> float:
        return metrics.tera_per_second(metrics.gemm_flops(self.m, self.n, self.k), self.median_s)

    @property
    def best_tflops(self) -> float:
        return metrics.tera_per_second(metrics.gemm_flops(self.m, self.n, self.k), self.best_s)


def grid_shapes(values: Iterable[int] = GRID, extra: Iterable[tuple[int, int, int]] = EXTRA_SHAPES,
                max_gflop: float = 70.0) -> list[tuple[int, int, int]]:
    """Every (M, N, K) over `values` plus `extra`, keeping those of at most `max_gflop` GFLOP (2MNK)."""
    values = sorted(set(values))
    shapes = set(itertools.product(values, values, values)) | set(map(tuple, extra))
    return sorted(s for s in shapes if metrics.gemm_flops(*s) <= max_gflop * 1e9)


def inputs(m: int, n: int, k: int, dtype: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(m, k, generator=gen).to(DTYPES[dtype])
    b = torch.randn(k, n, generator=gen).to(DTYPES[dtype])
    return a, b


def time_calls(call: Callable[[], object], runs: int, warmup_s: float = 0.05, warmup_min: int = 1) -> list[float]:
    """Seconds of each of `runs` calls after at least `warmup_min` calls and `warmup_s` seconds of warm-up."""
    start = time.perf_counter()
    done = 0
    while done < warmup_min or time.perf_counter() - start < warmup_s:
        call()
        done += 1
    times = []
    for _ in range(runs):
        begin = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - begin) * 1e-9)
    return times


def time_matmul(dtype: str, shape: tuple[int, int, int], runs: int = 5, warmup_s: float = 0.05) -> SweepPoint:
    m, n, k = shape
    if dtype == "fp32":
        torch.set_float32_matmul_precision("highest")
    a, b = inputs(m, n, k, dtype)
    times = time_calls(lambda: torch.matmul(a, b), runs, warmup_s)
    return SweepPoint(dtype, m, n, k, statistics.median(times), min(times))


def sweep(dtype: str, shapes: Iterable[tuple[int, int, int]], runs: int = 5, warmup_s: float = 0.05,
          progress: Callable[[SweepPoint], None] | None = None, budget_s: float | None = None,
          seed: int = 0) -> list[SweepPoint]:
    """Shapes timed in a seeded random order (so a time budget still covers the whole grid evenly,
    and a burst of background load does not hit one corner of it); returned best first (median TFLOPS).
    With `budget_s`, stops starting new shapes once that many seconds have passed."""
    order = list(shapes)
    random.Random(seed).shuffle(order)
    started = time.perf_counter()
    points = []
    for shape in order:
        if budget_s is not None and time.perf_counter() - started > budget_s:
            break
        point = time_matmul(dtype, shape, runs, warmup_s)
        points.append(point)
        if progress:
            progress(point)
    return sorted(points, key=lambda p: p.tflops, reverse=True)


def confirm(dtype: str, candidates: Iterable[tuple[int, int, int]], rounds: int = 3, runs: int = 5) -> list[SweepPoint]:
    """Re-time the leading shapes round-robin (`rounds` passes, `runs` each) to beat noise on a shared host:
    each shape's median is over all its rounds. Returned best first."""
    samples: dict[tuple[int, int, int], list[float]] = {tuple(s): [] for s in candidates}
    for _ in range(rounds):
        for shape in samples:
            m, n, k = shape
            a, b = inputs(m, n, k, dtype)
            samples[shape] += time_calls(lambda: torch.matmul(a, b), runs, warmup_s=0.02)
    points = [SweepPoint(dtype, *shape, statistics.median(t), min(t)) for shape, t in samples.items()]
    return sorted(points, key=lambda p: p.tflops, reverse=True)
