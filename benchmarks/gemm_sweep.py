"""GEMM peak: the harness's best (summary.gemm_peak) vs a wide brute-force torch.matmul shape sweep.

Acceptance (issue 2): for fp32 and bf16 on this CPU, the harness's GEMM peak is within 5% of the
best median TFLOPS any shape of the sweep reaches.

Three phases per dtype:
1. sweep: every (M, N, K) of benchmarks/_sweep.GRID (plus off-grid extras) up to --max-gflop,
   warm-up then the median of --runs torch.matmul calls;
2. harness: `bench run --device cpu --suite default --suites gemm --dtypes fp32,bf16`, its
   summary.gemm_peak per dtype (with the guided search on and, where the config has it, off);
3. confirm: the sweep's leading shapes and the harness's peak shapes re-timed round-robin, so a
   burst of background load on a shared host cannot favour one side.

    python benchmarks/gemm_sweep.py            # a few minutes
    python benchmarks/gemm_sweep.py --quick    # coarser grid, shorter harness run

Not a test. Exit 0 when every dtype passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _sweep  # noqa: E402

from bench.measure.config import load_suite_config  # noqa: E402

THRESHOLD = 0.95
DTYPES = ("fp32", "bf16")


def run_harness(suite: str, dtypes: tuple[str, ...], extra_sets: list[str], folder: Path) -> dict:
    """Run the CLI and return run.json."""
    command = ["bench", "run", "--device", "cpu", "--suite", suite, "--suites", "gemm", "--dtypes", ",".join(dtypes),
               "--out", str(folder), "--quiet"]
    for item in extra_sets:
        command += ["--set", item]
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    run = json.loads((folder / "run.json").read_text())
    run["_wall_s"] = time.time() - started
    return run


def measured_shape(run: dict, measurement_id: str) -> tuple[int, int, int]:
    for m in run["measurements"]:
        if m["id"] == measurement_id:
            return m["shape"]["m"], m["shape"]["n"], m["shape"]["k"]
    raise KeyError(measurement_id)


def harness_variants(args: argparse.Namespace) -> dict[str, list[str]]:
    """name -> --set overrides. With a guided search in the config: search on and off."""
    gemm = load_suite_config(args.suite)["suites"]["gemm"]
    base = []
    if "perturbation" in gemm:
        base.append("suites.gemm.perturbation.enabled=false")  # perturbed variants never set the peak
    if "search" not in gemm:
        return {"fixed shapes": base}
    variants = {"search off": base + ["suites.gemm.search.enabled=false"]}
    if not args.no_search:
        variants["search on"] = base + ["suites.gemm.search.enabled=true"]
    return variants


def print_sweep_top(dtype: str, points: list[_sweep.SweepPoint], count: int = 8) -> None:
    print(f"  {dtype}: {len(points)} shapes timed; top {count} by median TFLOPS:")
    for p in points[:count]:
        print(f"    {p.m:>5} x {p.n:>5} x {p.k:>5}  median {p.tflops:.3f}  best {p.best_tflops:.3f}")
    worst = points[-1]
    print(f"    (slowest: {worst.m} x {worst.n} x {worst.k} at {worst.tflops:.3f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--max-gflop", type=float, default=20.0, help="skip sweep shapes above this 2MNK")
    parser.add_argument("--budget-s", type=float, default=120.0, help="sweep time per dtype (shapes in random order)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per sweep shape (median)")
    parser.add_argument("--confirm", type=int, default=6, help="leading sweep shapes re-timed in phase 3")
    parser.add_argument("--no-search", action="store_true", help="harness with its guided search off only")
    parser.add_argument("--keep", type=Path, help="keep the harness run folders under this folder")
    parser.add_argument("--quick", action="store_true", help="coarse grid, no extras, search off only")
    args = parser.parse_args(argv)
    grid, extras = (_sweep.QUICK_GRID, ()) if args.quick else (_sweep.GRID, _sweep.EXTRA_SHAPES)
    if args.quick:
        args.no_search, args.max_gflop, args.confirm, args.budget_s = True, min(args.max_gflop, 10.0), 3, 45.0

    print(f"CPU torch {torch.__version__}, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}")
    shapes = _sweep.grid_shapes(grid, extras, args.max_gflop)
    sweep: dict[str, list[_sweep.SweepPoint]] = {}
    print(f"1. brute-force sweep: {len(shapes)} shapes per dtype (grid {list(grid)}, <= {args.max_gflop} GFLOP)")
    for dtype in DTYPES:
        started = time.time()
        sweep[dtype] = _sweep.sweep(dtype, shapes, runs=args.runs, budget_s=args.budget_s)
        print_sweep_top(dtype, sweep[dtype])
        print(f"    {time.time() - started:.0f} s")

    print("2. harness (bench run --suite %s --suites gemm --dtypes %s)" % (args.suite, ",".join(DTYPES)))
    harness: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        for name, sets in harness_variants(args).items():
            run = run_harness(args.suite, DTYPES, sets, folder / name.replace(" ", "_"))
            harness[name] = run
            peaks = run["summary"]["gemm_peak"]
            print(f"  {name} ({run['_wall_s']:.0f} s, {len(run['measurements'])} measurements, "
                  f"{len(run['skips'])} skips):")
            for dtype in DTYPES:
                peak = peaks.get(dtype)
                if peak:
                    print(f"    {dtype}: {peak['value']:.3f} {peak['unit']} at {measured_shape(run, peak['measurement_id'])}")
                shapes = [f"{m['shape']['m']}x{m['shape']['n']}x{m['shape']['k']}={m['throughput']['value']:.3f}"
                          for m in run["measurements"] if m["dtype"] == dtype and m["status"] == "ok"]
                print(f"      all {dtype}: {', '.join(shapes)}")

    print(f"3. confirm: sweep's top {args.confirm} and the harness's peak shapes re-timed round-robin")
    all_passed = True
    for dtype in DTYPES:
        harness_shapes = {measured_shape(run, run["summary"]["gemm_peak"][dtype]["measurement_id"])
                          for run in harness.values() if dtype in run["summary"]["gemm_peak"]}
        candidates = list(dict.fromkeys([p.shape for p in sweep[dtype][:args.confirm]] + sorted(harness_shapes)))
        confirmed = {p.shape: p for p in _sweep.confirm(dtype, candidates)}
        sweep_best = sweep[dtype][0]
        confirmed_sweep_best = max((confirmed[p.shape] for p in sweep[dtype][:args.confirm]), key=lambda p: p.tflops)
        print(f"  {dtype}: sweep best {sweep_best.tflops:.3f} TFLOPS at {sweep_best.shape}; "
              f"confirmed sweep best {confirmed_sweep_best.tflops:.3f} at {confirmed_sweep_best.shape}")
        for name, run in harness.items():
            peak = run["summary"]["gemm_peak"].get(dtype)
            if not peak:
                print(f"    {name}: no {dtype} peak")
                all_passed = False
                continue
            shape = measured_shape(run, peak["measurement_id"])
            ratio = peak["value"] / sweep_best.tflops
            shape_ratio = confirmed[shape].tflops / confirmed_sweep_best.tflops
            passed = ratio >= THRESHOLD
            all_passed = all_passed and passed
            print(f"    {name}: harness {peak['value']:.3f} at {shape} -> ratio {ratio:.3f} "
                  f"{'PASS' if passed else 'FAIL'} (>= {THRESHOLD:.0%}); same shapes re-timed together: "
                  f"{confirmed[shape].tflops:.3f} vs {confirmed_sweep_best.tflops:.3f} = {shape_ratio:.3f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
