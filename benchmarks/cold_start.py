"""Cold start of the data-only commands against a bare `python -c "import yaml"`.

    python benchmarks/cold_start.py [--repeats 7]

Each command runs in a fresh interpreter; the best of N wall times is reported (the least disturbed
by other load), with the ratio to the yaml baseline and the machine named. The goal from issue 11:
`bench specs` under 0.5 s on the CI machine. Nothing here asserts: speed goals are printed, not tested.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_RUN = ROOT / "tests" / "data" / "cpu_sweep_run.json"
BENCH = "import sys; from bench.cli import main; sys.exit(main(sys.argv[1:]))"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def isa_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "sve") if f in flags)
    except OSError:
        pass
    return "?"


def best_of(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accelbench-cold-"))
    try:
        shutil.copy(REFERENCE_RUN, folder / "run.json")
        cases = {
            'python -c "import yaml"': [sys.executable, "-c", "import yaml"],
            "bench --help": [sys.executable, "-c", BENCH, "--help"],
            "bench specs": [sys.executable, "-c", BENCH, "specs"],
            "bench verify RUN": [sys.executable, "-c", BENCH, "verify", str(folder)],
            "bench check RUN": [sys.executable, "-c", BENCH, "check", str(folder), "--no-save"],
        }
        print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs; {isa_flags()}); "
              f"load average {os.getloadavg()[0]:.1f}; Python {platform.python_version()}")
        print(f"best of {args.repeats} cold starts, each in a fresh interpreter")
        baseline = None
        for label, argv in cases.items():
            seconds = best_of(argv, args.repeats)
            baseline = baseline or seconds
            print(f"  {label:<26} {seconds:7.3f} s   {seconds / baseline:5.1f} x import yaml")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
