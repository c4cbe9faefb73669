"""`bench compare RUN_A RUN_B [...] [--fail-on-regression PCT] [--json]`: every measurement the runs
share, with ratio and significance; the first run is the baseline. Exit 1 with --fail-on-regression
when a significant drop exceeds PCT percent."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.commands import common_args
from bench.compare import compare_paths, render_text
from bench.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compare", help="compare runs measurement by measurement", description=__doc__,
                              **common_args.examples("compare"))
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders; the first is the baseline")
    p.add_argument("--fail-on-regression", type=float, metavar="PCT",
                   help="exit 1 if any significant regression is larger than PCT percent")
    common_args.add_json(p, "print the comparisons as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    if args.fail_on_regression is not None and args.fail_on_regression < 0:
        raise UsageError("--fail-on-regression takes a percentage >= 0")
    comparisons = compare_paths(args.runs)
    failing = []
    if args.fail_on_regression is not None:
        for c in comparisons:
            failing += [f"{c.b}: {row.id} {row.change_pct:+.1f}%" for row in c.regressions(args.fail_on_regression).itertuples()]
    if args.json:
        print(json.dumps({"comparisons": [c.to_dict() for c in comparisons], "threshold_pct": args.fail_on_regression,
                          "failing": failing}, indent=1, default=str))
    else:
        print("\n\n".join(render_text(c) for c in comparisons))
        if args.fail_on_regression is not None:
            print(f"\n{len(failing)} significant regression(s) beyond {args.fail_on_regression:g}%"
                  + "".join(f"\n  {line}" for line in failing))
    return EXIT_CHECK_FAILED if failing else EXIT_OK
