"""Guided peak search (bench/analysis/search.py) vs a wide brute-force torch.matmul sweep on this CPU.

Acceptance (issue 4): per dtype, the search's best shape reaches within 2% of the sweep's best
in at most a quarter of the sweep's time. Both use the same timer (benchmarks/_sweep.py:
time_matmul, median of a few runs after a short warm-up). The search gets the same size range
(multiples of 64 inside it, CPU tile) and a time budget of a fifth of the sweep's time (its last
trial may run past the budget; the acceptance bound is a quarter).

Every figure is TFLOPS from the fastest of `--runs` runs (see rate()). Single timings on a shared
host are still noisy, so the two winners (plus the sweep's next best) are
then re-timed round-robin (_sweep.confirm): the verdict compares the confirmed figures; raw
figures are printed too.

    python benchmarks/peak_search.py              # fp32 and bf16, M, N, K in 256..2048 step 256 (512 shapes each)
    python benchmarks/peak_search.py --quick      # smaller grid
    python benchmarks/peak_search.py --json out.json

Not a test. Exit 0 when every dtype passes, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _sweep  # noqa: E402

from bench.analysis import search  # noqa: E402

GRID = tuple(range(256, 2049, 256))  # 8 sizes: 512 shapes per dtype
QUICK_GRID = (256, 512, 1024, 2048)


def rate(point: _sweep.SweepPoint) -> float:
    """TFLOPS from the fastest run: interference on a shared host only ever adds time, so the minimum
    ranks shapes far more stably than the median there. Sweep and search use the same estimator."""
    return point.best_tflops


def run_dtype(dtype: str, grid: tuple[int, ...], runs: int, max_gflop: float, max_trials: int = 60,
              patience: int = 16) -> dict:
    shapes = _sweep.grid_shapes(grid, extra=(), max_gflop=max_gflop)
    began = time.perf_counter()
    swept = sorted(_sweep.sweep(dtype, shapes, runs=runs, warmup_s=0.02), key=rate, reverse=True)
    sweep_s = time.perf_counter() - began

    space = search.ShapeSpace(tile=64, min_size=min(grid), max_size=max(grid),
                              compute_units=torch.get_num_threads())
    # A fifth of the sweep's time: the last trial may run past the budget, the acceptance bound is a quarter.
    budget = search.SearchBudget(max_trials=max_trials, max_seconds=sweep_s / 5, patience=patience,
                                 min_improvement=0.01)

    def evaluate(shape):
        if 2 * shape[0] * shape[1] * shape[2] > max_gflop * 1e9:
            return None  # same work cap as the sweep
        return rate(_sweep.time_matmul(dtype, shape, runs=runs, warmup_s=0.02))

    record = search.search(evaluate, space, budget)
    confirmed = _sweep.confirm(dtype, {record.best_shape, *(p.shape for p in swept[:2])}, rounds=7, runs=5)
    by_shape = {p.shape: rate(p) for p in confirmed}
    sweep_confirmed = max(by_shape[p.shape] for p in swept[:2])
    search_confirmed = by_shape[record.best_shape]
    return {
        "dtype": dtype, "sweep": {"shapes": len(shapes), "seconds": sweep_s, "best_shape": swept[0].shape,
                                  "best_tflops": rate(swept[0])},
        "search": {"trials": record.measured_trials, "seconds": record.elapsed_s, "stop_reason": record.stop_reason,
                   "best_shape": record.best_shape, "best_tflops": record.best_value},
        "confirmed": {"sweep_best_tflops": sweep_confirmed, "search_best_tflops": search_confirmed,
                      "ratio": search_confirmed / sweep_confirmed},
        "time_ratio": record.elapsed_s / sweep_s,
        "passed": search_confirmed >= 0.98 * sweep_confirmed and record.elapsed_s <= sweep_s / 4,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-gflop", type=float, default=20.0)
    parser.add_argument("--max-trials", type=int, default=60)
    parser.add_argument("--patience", type=int, default=16, help="refinement trials without a 1%% gain before stopping")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    grid = QUICK_GRID if args.quick else GRID
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, grid {grid}")
    results = []
    for dtype in args.dtypes.split(","):
        r = run_dtype(dtype, grid, args.runs, args.max_gflop, args.max_trials, args.patience)
        results.append(r)
        s, q, c = r["sweep"], r["search"], r["confirmed"]
        print(f"{dtype}: sweep {s['shapes']} shapes in {s['seconds']:.1f} s, best {s['best_tflops']:.4f} TFLOPS at "
              f"{s['best_shape']}; search {q['trials']} trials in {q['seconds']:.1f} s ({r['time_ratio']:.0%} of the "
              f"sweep), best {q['best_tflops']:.4f} at {q['best_shape']} [{q['stop_reason']}]")
        print(f"  confirmed (round-robin re-timing): search best {c['search_best_tflops']:.4f} vs sweep best "
              f"{c['sweep_best_tflops']:.4f} TFLOPS = {c['ratio']:.1%} -> {'PASS' if r['passed'] else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=list))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
