"""`bench doctor [--device D] [--json]`: is this machine ready to measure? One table, exit 0/1."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from bench.devices import readiness

MARK = {readiness.OK: "ok", readiness.WARN: "WARN", readiness.FAIL: "FAIL", readiness.SKIP: "-"}
DETAIL_WIDTH = 96


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("doctor", help="check that this machine is ready to measure",
                              description="Readiness check for a new server (under a minute): torch build, driver, "
                                          "vendor library, devices, first-call latency per dtype, timing events, "
                                          "int8/fp8 layouts, TF32, SDPA backends, throttling, other processes.")
    p.add_argument("--device", default="auto", help="device to check: auto, cpu, cuda:1, rocm:0, npu:0, ... (default auto)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    return p


def render(checks: list[readiness.Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  status  detail", f"{'-' * width}  ------  {'-' * 6}"]
    for check in checks:
        wrapped = textwrap.wrap(check.detail, DETAIL_WIDTH) or [""]
        lines.append(f"{check.name.ljust(width)}  {MARK[check.status].ljust(6)}  {wrapped[0]}")
        lines += [f"{' ' * width}  {' ' * 6}  {more}" for more in wrapped[1:]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    backend, checks = readiness.diagnose(args.device)
    ready = readiness.passed(checks)
    if args.json:
        device = backend.cached_info().torch_device if backend else None
        print(json.dumps({"device": device, "ready": ready, "checks": [c.to_dict() for c in checks]}, indent=1, default=str))
    else:
        print(render(checks))
        print(f"\n{'ready' if ready else 'NOT ready'}: {sum(c.status == readiness.FAIL for c in checks)} failed, "
              f"{sum(c.status == readiness.WARN for c in checks)} warnings")
    return 0 if ready else 1
