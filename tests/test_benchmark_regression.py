"""CPU regression suite on pytest-benchmark's fixture: times the harness's own kernels (one
`step()` each, then a device synchronise, so queued work is inside the timing).

Skipped in the normal test run (pyproject addopts has --benchmark-skip). For CI:
    python -m pytest tests/test_benchmark_regression.py --benchmark-enable --benchmark-only \
        --benchmark-json=bench-cpu.json
and compare against a saved baseline with `pytest-benchmark compare` or --benchmark-compare-fail."""

from __future__ import annotations

import pytest

from bench.devices import select
from bench.kernels.base import Case
from bench.kernels.registry import SUITES

CASES = [
    Case("gemm", "matmul", "fp32", (("m", 256), ("n", 256), ("k", 256))),
    Case("gemm", "matmul", "bf16", (("m", 256), ("n", 256), ("k", 256))),
    Case("attention", "sdpa", "fp32", (("batch", 1), ("heads", 4), ("seq_len", 128), ("head_dim", 64)), (("causal", False),)),
    Case("stream", "triad", "fp32", (("elements", 1 << 20),), (("role", "dram"), ("llc_multiple", 0.0))),
]


@pytest.fixture(scope="module")
def cpu():
    return select("cpu")[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kernel_step(benchmark, cpu, case):
    kernel = SUITES[case.suite].make_kernel(case, cpu, seed=0)
    kernel.setup()
    try:
        def step():
            kernel.step()
            cpu.synchronize()

        benchmark.group = case.suite
        benchmark.extra_info.update(flops=kernel.flops(), bytes=kernel.bytes_moved(), unit=kernel.unit)
        benchmark.pedantic(step, rounds=10, iterations=3, warmup_rounds=2)
        assert kernel.check().passed, "the timed kernel computed a wrong result"
    finally:
        kernel.teardown()
