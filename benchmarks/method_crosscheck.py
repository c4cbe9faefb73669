"""Method cross-check: a mamf-finder-style brute force beside accelbench's sustained measurement of
the same GEMM shapes, in one process (issue 10 item 5).

mamf-finder's way, per shape: B column-major (the .t() of a contiguous (N, K) tensor, "TN"),
`--warmup` untimed calls, then `--calls` calls each timed on its own with a cache flush before it
(a buffer of max(256 MiB, 2 x LLC) on accelerators, 2 x LLC on CPUs, written outside the timed
region); mean, median and max TFLOPS per shape.
accelbench's way: bench.kernels.gemm's kernel for the same dtype and shape, measured by
bench.measure.policy.measure with the chosen suite's GEMM timing (sustained back-to-back calls, a flush per
sample), median of the sample means. The order is accelbench, mamf, accelbench (the better of
the two accelbench figures is kept), so both see the same device state.

The gap (accelbench median / mamf max, and / mamf mean) is what a lab should expect between the
two methods on this device: below 1 where mamf's cold, gap-separated single calls run at burst
clocks, above 1 where its per-call flush costs cache-resident shapes their reuse.

    python benchmarks/method_crosscheck.py --device cuda          # named mamf-finder shapes, bf16 and fp8
    python benchmarks/method_crosscheck.py --device cpu --tiny    # CI size (tests/test_method_crosscheck.py)

Not a test: prints a table and exits 0 (1 when a kernel's check failed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import torch

from bench.analysis import metrics
from bench.devices.registry import select
from bench.kernels import gemm
from bench.measure.config import load_suite_config, timing_policy
from bench.measure.policy import measure

# Named shapes (M, N, K): mamf-finder's published best shapes on Hopper, and a cube.
GPU_SHAPES = {"mamf-h100-bf16": (2048, 2048, 13312), "mamf-h100-fp8": (1024, 9216, 14336),
              "mamf-h200-fp8": (1280, 4096, 12032), "cube-8192": (8192, 8192, 8192)}
CPU_SHAPES = {"cube-1024": (1024, 1024, 1024), "short-k": (4096, 1024, 256), "cache-384": (384, 768, 768)}
TINY_SHAPES = {"tiny-cube": (128, 128, 128), "tiny-long-k": (64, 96, 512)}
MAMF_FLUSH_BYTES = 256 * 2**20


def column_major_b(kernel: gemm.MatmulKernel) -> None:
    """Make the kernel's B column-major ("TN"), as mamf-finder does for every dtype."""
    if kernel.b.stride(0) != 1:
        kernel.b = kernel.b.t().contiguous().t()


def flusher(backend: Any) -> Any:
    llc = backend.cached_info().last_level_cache_bytes or 64 * 2**20
    size = 2 * llc if backend.cached_info().backend == "cpu" else max(MAMF_FLUSH_BYTES, 2 * llc)
    buffer = torch.empty(size // 4, dtype=torch.float32, device=backend.torch_device)
    return lambda: buffer.zero_()


def mamf_style(backend: Any, dtype: str, shape: tuple[int, int, int], warmup: int, calls: int) -> dict[str, Any]:
    kernel = gemm.make_kernel(gemm.case_for(dtype, shape), backend)
    kernel.setup()
    try:
        column_major_b(kernel)
        for _ in range(warmup):
            kernel.step()
        backend.synchronize()
        seconds = backend.clock().time_samples(kernel.step, 1, calls, flusher(backend))
        passed = kernel.check().passed
    finally:
        kernel.teardown()
        backend.empty_cache()
    rates = [metrics.tera_per_second(kernel.flops(), s) for s in seconds]
    return {"mean": statistics.fmean(rates), "median": statistics.median(rates), "max": max(rates), "passed": passed}


def accelbench_style(backend: Any, dtype: str, shape: tuple[int, int, int], config: dict[str, Any]) -> dict[str, Any]:
    kernel = gemm.make_kernel(gemm.case_for(dtype, shape), backend)
    policy = timing_policy(config, "gemm")
    flush = backend.flush_cache() if policy.flush_cache else None
    kernel.setup()
    try:
        timing = measure(kernel.step, backend.clock(), policy, flush)
        passed = kernel.check().passed
    finally:
        kernel.teardown()
        backend.empty_cache()
    return {"median": metrics.tera_per_second(kernel.flops(), statistics.median(timing.samples_s)), "passed": passed,
            "b_layout": "column-major" if dtype in gemm.SHAPE_ALIGN else "row-major"}


def crosscheck(backend: Any, dtypes: list[str], shapes: dict[str, tuple[int, int, int]], config: dict[str, Any],
               warmup: int, calls: int) -> list[dict[str, Any]]:
    rows = []
    for dtype in dtypes:
        reason = backend.unsupported_reason(dtype)
        if reason:
            print(f"{dtype}: skipped ({reason})")
            continue
        for name, shape in shapes.items():
            first = accelbench_style(backend, dtype, shape, config)
            mamf = mamf_style(backend, dtype, shape, warmup, calls)
            second = accelbench_style(backend, dtype, shape, config)
            ours = max(first, second, key=lambda r: r["median"])
            rows.append({"dtype": dtype, "name": name, "shape": shape, "mamf": mamf, "accelbench": ours,
                         "gap_vs_max": ours["median"] / mamf["max"], "gap_vs_mean": ours["median"] / mamf["mean"],
                         "passed": mamf["passed"] and first["passed"] and second["passed"]})
    return rows


def print_table(rows: list[dict[str, Any]], unit: str) -> None:
    print(f"{'dtype':9s} {'shape':22s} {'mamf mean':>10s} {'median':>9s} {'max':>9s} | {'accelbench':>10s} | "
          f"{'/max':>6s} {'/mean':>6s}  ({unit})")
    for r in rows:
        m, a = r["mamf"], r["accelbench"]
        shape = "x".join(map(str, r["shape"]))
        print(f"{r['dtype']:9s} {r['name'] + ' ' + shape:22s} {m['mean']:10.4g} {m['median']:9.4g} {m['max']:9.4g} | "
              f"{a['median']:10.4g} | {r['gap_vs_max']:6.3f} {r['gap_vs_mean']:6.3f}"
              f"{'' if r['passed'] else '  CHECK FAILED'}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--dtypes", help="default: bf16,fp8_e4m3 on accelerators, fp32,bf16 on CPUs")
    p.add_argument("--suite", default="default", help="suite whose GEMM timing accelbench's side uses")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--tiny", action="store_true", help="CI size: two tiny shapes, 3 + 10 calls, quick timing")
    return p


def main(argv: list[str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    args = parser().parse_args(argv)
    backend = select(args.device)[0]
    info = backend.cached_info()
    cpu = info.backend == "cpu"
    shapes = TINY_SHAPES if args.tiny else (CPU_SHAPES if cpu else GPU_SHAPES)
    dtypes = (args.dtypes or ("fp32,bf16" if cpu else "bf16,fp8_e4m3")).split(",")
    config = load_suite_config("quick" if args.tiny else args.suite)
    if args.tiny:
        args.warmup, args.calls = 3, 10
    print(f"device: {info.name} ({info.backend}, {info.architecture}); torch {torch.__version__}; "
          f"mamf-style {args.warmup} + {args.calls} calls per shape; accelbench timing from suite {config['name']}")
    rows = crosscheck(backend, dtypes, shapes, config, args.warmup, args.calls)
    print_table(rows, "TOPS" if dtypes == ["int8"] else "TFLOPS")
    return (0 if all(r["passed"] for r in rows) else 1), rows


if __name__ == "__main__":
    sys.exit(main()[0])
