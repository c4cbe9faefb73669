"""Every issue-14 benchmark on the machine at hand, in one run, ending in one table of ratios.

1. GEMM per dtype: the harness's reported peak (summary.gemm_peak of the default suite's GEMM part:
   fixed shapes, guided search, variants) run in this process before and after a wide brute-force
   `torch.matmul` sweep (benchmarks/_sweep.py), so harness, sweep, harness see the same machine;
   then the sweep's best and the harness's peak shapes re-timed round-robin (winner's curse and
   drift out). Target: harness >= 97 % of the sweep, search time <= 10 % of the sweep's.
2. Streams: copy, add, triad against the same loops compiled from C (benchmarks/stream_vs_c.py).
   Target: >= 95 % (paired median ratio; separate-process median and best printed beside).
3. Suite wall times: `bench run --suite quick` and, with --default-suite, `--suite default`, each in
   a fresh process. Targets: 20 s and 300 s on a 2-core CPU.
4. Harness overhead: the per-sample fixed cost the run's first probe measures (bench/measure/probe.py).
5. Method cross-check (benchmarks/method_crosscheck.py): accelbench vs mamf-finder-style timing.

    python benchmarks/run_all.py                 # GEMM fp32 + bf16, streams, quick suite (~10 min)
    python benchmarks/run_all.py --default-suite # and the default suite's wall time (+5 min)
    python benchmarks/run_all.py --quick         # small sweep, one stream round (~4 min)

Prints the CPU model and flags with the figures. Not a test; exit 0 when every target is met.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _sweep  # noqa: E402
import method_crosscheck  # noqa: E402
import stream_vs_c  # noqa: E402

from bench.devices.cpu import CpuBackend  # noqa: E402
from bench.measure import probe as device_probe  # noqa: E402
from bench.measure.config import load_suite_config  # noqa: E402
from bench.measure.results import RunWriter  # noqa: E402
from bench.measure.runner import Runner, new_run  # noqa: E402

GEMM_TARGET, SEARCH_TIME_TARGET, STREAM_TARGET = 0.97, 0.10, 0.95
SUITE_TARGETS = {"quick": 20.0, "default": 300.0}


def cpu_description() -> str:
    fields = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    flags = set(fields.get("Flags", "").split())
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8") if f in flags]
    return (f"{fields.get('Model name', '?')} (family {fields.get('CPU family', '?')}, model {fields.get('Model', '?')}),"
            f" {fields.get('CPU(s)', '?')} CPUs, L3 {fields.get('L3 cache', '?')}; flags: {' '.join(simd)}")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def fast_path_dtypes() -> str:
    """fp64 and fp32 (MKL/oneDNN vector paths everywhere), bf16 where the CPU has bf16 instructions:
    without avx512_bf16 or AMX, oneDNN emulates bf16 at a few GFLOPS and a sweep of it says nothing."""
    flags = cpu_flags()
    return "fp64,fp32" + (",bf16" if flags & {"avx512_bf16", "amx_bf16"} else "")


def harness_gemm(dtype: str, folder: Path) -> dict[str, Any]:
    """One in-process run of the default suite's GEMM part for one dtype: peak, its shape, search seconds."""
    config = load_suite_config("default")
    config["suites"] = {"gemm": {**config["suites"]["gemm"], "dtypes": [dtype]}}
    backend = CpuBackend()
    writer = RunWriter(folder, new_run(folder.name, backend, config, _options()))
    began = time.perf_counter()
    run = Runner(backend, config, writer, options=_options()).run()
    peak = run["summary"]["gemm_peak"].get(dtype)
    if not peak:
        return {"peak": None, "shape": None, "search_s": 0.0, "wall_s": time.perf_counter() - began}
    best = next(m for m in run["measurements"] if m["id"] == peak["measurement_id"])
    return {"peak": peak["value"], "shape": (best["shape"]["m"], best["shape"]["n"], best["shape"]["k"]),
            "search_s": (run.get("searches", {}).get(dtype) or {}).get("elapsed_s", 0.0),
            "wall_s": time.perf_counter() - began}


def _options():
    from bench.measure.runner import RunOptions

    return RunOptions(command=["benchmarks/run_all.py"])


def gemm_row(dtype: str, grid: tuple[int, ...], budget_s: float, folder: Path) -> dict[str, Any]:
    before = harness_gemm(dtype, folder / f"{dtype}-before")
    shapes = _sweep.grid_shapes(grid, max_gflop=20.0)
    began = time.perf_counter()
    swept = _sweep.sweep(dtype, shapes, runs=3, budget_s=budget_s)
    sweep_s = time.perf_counter() - began
    after = harness_gemm(dtype, folder / f"{dtype}-after")
    harness = [r for r in (before, after) if r["peak"]]
    # The better of the two runs: on a shared host interference only ever lowers a figure, and the
    # sweep's best is likewise a maximum (over shapes). The mean is printed beside it.
    peak = max(r["peak"] for r in harness)
    retime = {swept[0].shape, *(r["shape"] for r in harness)}
    confirmed = {p.shape: p.tflops for p in _sweep.confirm(dtype, retime, rounds=3, runs=5)}
    harness_confirmed = max(confirmed[r["shape"]] for r in harness)
    return {"dtype": dtype, "harness": [r["peak"] for r in harness], "harness_shapes": [r["shape"] for r in harness],
            "sweep_best": swept[0].tflops, "sweep_shape": swept[0].shape, "sweep_shapes": len(swept),
            "ratio": peak / swept[0].tflops, "mean_ratio": sum(r["peak"] for r in harness) / len(harness) / swept[0].tflops,
            "confirmed_ratio": harness_confirmed / confirmed[swept[0].shape],
            "search_s": max(r["search_s"] for r in harness), "sweep_s": sweep_s}


def suite_wall(suite: str, folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `bench run --suite <suite>` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", "run", "--device", "cpu", "--suite", suite,
                    "--out", str(folder / suite), "--quiet"], check=False, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def table(rows: list[tuple[str, str, str, bool | None]]) -> bool:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':{width}s} | {'figure':58s} | {'target':10s} | verdict")
    print("-" * (width + 86))
    for name, figure, target, passed in rows:
        verdict = "-" if passed is None else ("PASS" if passed else "FAIL")
        print(f"{name:{width}s} | {figure:58s} | {target:10s} | {verdict}")
    return all(p for *_, p in rows if p is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtypes", default=None, help="default: the CPU's fast-path dtypes (fast_path_dtypes)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--default-suite", action="store_true", help="also time the default suite (~5 min)")
    parser.add_argument("--sweep-budget", type=float, default=120.0, help="seconds per dtype for the sweep")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_description()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f} "
          f"at start (other processes on these cores make every figure noisier)")
    rows: list[tuple[str, str, str, bool | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        found = device_probe.probe(torch.device("cpu"), CpuBackend().clock())
        rows.append(("harness overhead", f"{found.per_sample_overhead_s * 1e6:.2f} us per sample; samples >= "
                     f"{found.min_sample_s() * 1e3:.3f} ms keep it < 1 %", "< 1 %", None))
        grid = _sweep.QUICK_GRID if args.quick else _sweep.GRID
        for dtype in (args.dtypes or fast_path_dtypes()).split(","):
            r = gemm_row(dtype, grid, args.sweep_budget / (3 if args.quick else 1), folder)
            print(f"GEMM {dtype}: harness {r['harness']} at {r['harness_shapes']}; sweep best {r['sweep_best']:.4f} at "
                  f"{r['sweep_shape']} ({r['sweep_shapes']} shapes, {r['sweep_s']:.0f} s); search {r['search_s']:.1f} s")
            rows.append((f"GEMM {dtype} peak / sweep", f"{max(r['harness']):.4f} / {r['sweep_best']:.4f} TFLOPS = "
                         f"{r['ratio']:.3f} (mean of runs {r['mean_ratio']:.3f}; re-timed {r['confirmed_ratio']:.3f})",
                         ">= 0.97", r["ratio"] >= GEMM_TARGET))
            rows.append((f"GEMM {dtype} search / sweep time", f"{r['search_s']:.1f} / {r['sweep_s']:.0f} s = "
                         f"{r['search_s'] / r['sweep_s']:.3f}", "<= 0.10", r["search_s"] / r["sweep_s"] <= SEARCH_TIME_TARGET))
        stream_args = stream_vs_c.parser().parse_args(["--quick"] if args.quick else [])
        if args.quick:
            stream_args.rounds, stream_args.repeats, stream_args.pairs = 1, 10, 15
        for s in stream_vs_c.run(stream_args):
            rows.append((f"stream {s['kernel']} / C", f"paired {s['paired_ratio']:.3f}; separate median "
                         f"{s['h_median'] / s['c_median']:.3f}, best {s['h_best'] / s['c_best']:.3f} "
                         f"({s['h_median']:.1f} vs {s['c_median']:.1f} GB/s)", ">= 0.95", s["paired_ratio"] >= STREAM_TARGET))
        for suite in ("quick", "default") if args.default_suite else ("quick",):
            wall, cpu = suite_wall(suite, folder)
            rows.append((f"suite {suite} wall time", f"{wall:.1f} s wall, {cpu:.1f} s CPU",
                         f"<= {SUITE_TARGETS[suite]:.0f} s", wall <= SUITE_TARGETS[suite]))
        code, cross = method_crosscheck.main(["--device", "cpu", "--tiny"] if args.quick else ["--device", "cpu",
                                             "--warmup", "5", "--calls", "20", "--dtypes", "fp32"])
        for c in cross:
            rows.append((f"method {c['dtype']} {c['name']}", f"accelbench / mamf-style max {c['gap_vs_max']:.3f}, "
                         f"/ mean {c['gap_vs_mean']:.3f}", "(gap)", None))
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0 if table(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
