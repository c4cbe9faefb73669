"""Streams: the harness's copy, add and triad against the same loops compiled from C (OpenMP).

Acceptance (issue 14 goal 2): each harness median >= 95 % of the C median at the same array size,
threads and dtype (fp32), STREAM byte counting; best against best is printed too.

Size: the suite's own DRAM array size on this device (bench.kernels.stream.dram_array_bytes with
the run's first probe), or --mib. The C source is benchmarks/c/stream.c, compiled here with
`gcc -O3 -march=native -fopenmp` into a temporary folder. Two comparisons per kernel:

1. separate processes, interleaved in rounds: one C process (first touch in parallel, `--repeats`
   passes, every pass timed) then one harness measurement (StreamKernel + bench.measure.policy.measure with
   the suite's timing); pooled medians and bests;
2. paired (the verdict): the same C loop loaded as a shared library (it then uses torch's libgomp
   thread pool) runs on the harness kernel's own tensors, alternating one C pass and one harness
   step; the median of the per-pair ratios. Both see the same background load.

    python benchmarks/stream_vs_c.py [--suite quick|default] [--quick] [--mib 256]

Not a test; prints figures and PASS/FAIL per kernel, exit 0 when every kernel passes.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from bench.analysis import metrics
from bench.devices.cpu import CpuBackend
from bench.kernels import stream
from bench.measure import probe as device_probe
from bench.measure.config import load_suite_config, timing_policy
from bench.measure.policy import measure

C_SOURCE = Path(__file__).resolve().parent / "c" / "stream.c"
THRESHOLD = 0.95
KERNELS = ("copy", "add", "triad")


def compile_stream(folder: Path) -> tuple[Path, Path]:
    """(program, shared library) built from benchmarks/c/stream.c."""
    compiler = shutil.which("gcc")
    if compiler is None:
        sys.exit("gcc not found: the C reference cannot be built")
    flags = [compiler, "-O3", "-march=native", "-fopenmp", str(C_SOURCE)]
    binary, library = folder / "stream", folder / "stream.so"
    subprocess.run(flags + ["-o", str(binary)], check=True)
    subprocess.run(flags + ["-shared", "-fPIC", "-DSTREAM_LIBRARY_ONLY", "-o", str(library)], check=True)
    return binary, library


def c_seconds(binary: Path, kernel: str, elements: int, repeats: int, threads: int) -> list[float]:
    """Per-pass seconds of `repeats` passes in one fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([str(binary), kernel, str(elements), str(repeats)], env=env, check=True,
                          capture_output=True, text=True)
    return [float(line) for line in done.stdout.split()]


def harness_kernel(kernel: str, elements: int, backend: CpuBackend, seed: int) -> stream.StreamKernel:
    case = stream._case(kernel, "fp32", elements, backend.info().last_level_cache_bytes or 1, "dram")
    return stream.StreamKernel(case, backend, seed=seed)


def harness_seconds(kernel: str, elements: int, config: dict, backend: CpuBackend) -> list[float]:
    """Per-iteration samples of the harness's own measurement (the suite's timing policy)."""
    k = harness_kernel(kernel, elements, backend, config["seed"])
    k.setup()
    try:
        timing = measure(k.step, backend.clock(), timing_policy(config, "stream"))
        if not k.check().passed:
            sys.exit(f"harness {kernel} check failed")
        return timing.samples_s
    finally:
        k.teardown()


def c_step(library: ctypes.CDLL, kernel: str, k: stream.StreamKernel) -> Callable[[], None]:
    """The C loop on the harness kernel's tensors, with the harness's argument order."""
    ptr = lambda t: ctypes.c_void_p(t.data_ptr())  # noqa: E731
    if kernel == "copy":  # harness: c.copy_(a)
        return lambda: library.stream_copy(ptr(k.c), ptr(k.a), ctypes.c_long(k.elements))
    if kernel == "add":  # harness: c = a + b
        return lambda: library.stream_add(ptr(k.c), ptr(k.a), ptr(k.b), ctypes.c_long(k.elements))
    return lambda: library.stream_triad(ptr(k.a), ptr(k.b), ptr(k.c), ctypes.c_long(k.elements),
                                        ctypes.c_float(stream.SCALAR))


def paired_seconds(library: ctypes.CDLL, kernel: str, elements: int, backend: CpuBackend,
                   pairs: int) -> tuple[list[float], list[float]]:
    """(C seconds, harness seconds) of `pairs` alternating passes over the same tensors."""
    k = harness_kernel(kernel, elements, backend, 0)
    k.setup()
    try:
        run_c = c_step(library, kernel, k)
        for _ in range(3):  # warm both
            run_c()
            k.step()
        c_times: list[float] = []
        h_times: list[float] = []
        for _ in range(pairs):
            for step, times in ((run_c, c_times), (k.step, h_times)):
                start = time.perf_counter_ns()
                step()
                times.append((time.perf_counter_ns() - start) * 1e-9)
        if not k.check().passed:
            sys.exit(f"harness {kernel} check failed after the paired passes")
        return c_times, h_times
    finally:
        k.teardown()


def gbs(nbytes: int, seconds: list[float]) -> tuple[float, float]:
    """(median GB/s, best GB/s)."""
    return metrics.gb_per_second(nbytes, statistics.median(seconds)), metrics.gb_per_second(nbytes, min(seconds))


def compare(kernel: str, elements: int, config: dict, backend: CpuBackend, binary: Path, library: ctypes.CDLL,
            args: argparse.Namespace, threads: int) -> dict[str, Any]:
    reads, writes = stream.WEIGHTS[kernel]
    nbytes = (reads + writes) * elements * 4
    c_all: list[float] = []
    h_all: list[float] = []
    for _ in range(args.rounds):
        c_all += c_seconds(binary, kernel, elements, args.repeats, threads)
        h_all += harness_seconds(kernel, elements, config, backend)
    pair_c, pair_h = paired_seconds(library, kernel, elements, backend, args.pairs)
    (c_med, c_best), (h_med, h_best) = gbs(nbytes, c_all), gbs(nbytes, h_all)
    (pc_med, pc_best), (ph_med, ph_best) = gbs(nbytes, pair_c), gbs(nbytes, pair_h)
    return {"kernel": kernel, "c_median": c_med, "c_best": c_best, "h_median": h_med, "h_best": h_best,
            "pair_c_median": pc_med, "pair_c_best": pc_best, "pair_h_median": ph_med, "pair_h_best": ph_best,
            "paired_ratio": statistics.median(c / h for c, h in zip(pair_c, pair_h))}


def array_elements(args: argparse.Namespace, config: dict, backend: CpuBackend) -> int:
    if args.mib:
        return args.mib * 2**20 // 4
    found = device_probe.probe(backend.torch_device, backend.clock())
    return stream.dram_array_bytes(config["suites"]["stream"], backend.info(), found) // 4


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    config = load_suite_config(args.suite)
    backend = CpuBackend()
    info = backend.info()
    threads = torch.get_num_threads()
    elements = array_elements(args, config, backend)
    print(f"CPU: {info.name} ({info.architecture}); LLC {info.last_level_cache_bytes / 2**20:.0f} MiB; "
          f"torch {torch.__version__}, {threads} threads; {elements * 4 / 2**20:.0f} MiB per array (fp32); "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        binary, library_path = compile_stream(Path(folder))
        library = ctypes.CDLL(str(library_path))
        for kernel in args.kernels.split(","):
            rows.append(compare(kernel, elements, config, backend, binary, library, args, threads))
    return rows


def print_rows(rows: list[dict[str, Any]]) -> bool:
    print(f"{'kernel':6s} | {'C med':>7s} {'C best':>7s} | {'harn med':>8s} {'harn best':>9s} | "
          f"{'med ratio':>9s} {'best ratio':>10s} | {'paired C':>8s} {'paired h':>8s} {'paired ratio':>12s}")
    passed = True
    for r in rows:
        ok = r["paired_ratio"] >= THRESHOLD
        passed &= ok
        print(f"{r['kernel']:6s} | {r['c_median']:7.2f} {r['c_best']:7.2f} | {r['h_median']:8.2f} {r['h_best']:9.2f} | "
              f"{r['h_median'] / r['c_median']:9.3f} {r['h_best'] / r['c_best']:10.3f} | {r['pair_c_median']:8.2f} "
              f"{r['pair_h_median']:8.2f} {r['paired_ratio']:12.3f} {'PASS' if ok else 'FAIL'}")
    print(f"GB/s (STREAM bytes). Verdict: paired median ratio >= {THRESHOLD:.0%} per kernel; load average now "
          f"{os.getloadavg()[0]:.2f}")
    return passed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default="default", help="suite whose stream config sets size and timing")
    p.add_argument("--kernels", default=",".join(KERNELS))
    p.add_argument("--mib", type=int, default=0, help="array size in MiB instead of the suite's")
    p.add_argument("--rounds", type=int, default=3, help="interleaved C/harness rounds per kernel")
    p.add_argument("--repeats", type=int, default=20, help="C passes per round")
    p.add_argument("--pairs", type=int, default=40, help="alternating C/harness passes, paired view")
    p.add_argument("--quick", action="store_true", help="1 round of 10 C passes, 15 pairs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rounds, args.repeats, args.pairs = 1, 10, 15
    return 0 if print_rows(run(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
