"""`bench compare BASELINE RUN [RUN...]`: each run against the baseline, measurement by measurement,
with a rank test on the raw samples; a CI gate with --fail-on-regression.

Examples:
  bench compare results/base results/new
  bench compare base new --fail-on-regression 5 --summary-md "$GITHUB_STEP_SUMMARY"
  bench compare base new --baseline-repeat base-again --fail-on-regression 5
  bench compare base new --fail-on-regression 5 --gate all --format json

Exit 0 pass (or no gate), 1 a gated regression beyond PCT or a baseline headline metric missing
from the run, 2 usage or input error, 3 inconclusive (the runs share no gated measurement)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bench import render
from bench.errors import UsageError
from bench.present.ci_outputs import check_writable, write_output
from bench.present.compare import DEFAULT_ALPHA, DEFAULT_GATE, GATES, compare_paths, render_markdown, render_text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compare", help="compare runs measurement by measurement (a CI gate)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders; the first is the baseline")
    p.add_argument("--fail-on-regression", type=float, metavar="PCT",
                   help="exit 1 if a gated measurement is significantly slower by more than PCT percent")
    p.add_argument("--baseline-repeat", action="append", default=[], metavar="RUN_DIR",
                   help="another run of the baseline's code on the same machine (repeatable; e.g. measured after "
                        "the new run, A B A): a drop must also exceed the spread between the baseline runs")
    p.add_argument("--gate", choices=GATES, default=DEFAULT_GATE,
                   help="what the gate covers: headline (effective TPP, TPP per dtype, DRAM bandwidth), "
                        f"large (headline plus each kernel's large shapes; default {DEFAULT_GATE}) or all")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, metavar="P",
                   help=f"significance level of the rank test (default {DEFAULT_ALPHA:g})")
    p.add_argument("--fail-on-missing", action=argparse.BooleanOptionalAction, default=True,
                   help="exit 1 when a headline metric of the baseline is missing from a run (default on)")
    render.add_format_option(p)
    p.add_argument("--json", action="store_const", const="json", dest="output_format", help="same as --format json")
    p.add_argument("--summary-md", metavar="PATH",
                   help="also append the Markdown summary to PATH (e.g. $GITHUB_STEP_SUMMARY)")
    return p


def run(args: argparse.Namespace) -> int:
    threshold = args.fail_on_regression
    if threshold is not None and not threshold >= 0:
        raise UsageError("--fail-on-regression takes a percentage >= 0")
    if args.summary_md:
        check_writable(args.summary_md, "--summary-md")
    comparisons = compare_paths(args.runs, gate=args.gate, alpha=args.alpha, repeats=args.baseline_repeat)
    gates = [c.gate(threshold, args.fail_on_missing) for c in comparisons]
    markdown = render_markdown(comparisons, threshold, args.fail_on_missing)
    if args.summary_md:
        write_output(args.summary_md, markdown, "--summary-md", append=True)
    if args.output_format == "json":
        _emit(json.dumps({"comparisons": [c.to_dict(threshold, args.fail_on_missing) for c in comparisons],
                          "threshold_pct": threshold, "failing": [r for g in gates for r in g.reasons]},
                         indent=1, allow_nan=False) + "\n")
    elif args.output_format == "md":
        _emit(markdown)
    else:
        _emit("\n\n".join(render_text(c, threshold, args.fail_on_missing) for c in comparisons) + "\n")
    outcomes = {g.outcome for g in gates}
    worst = next(o for o in ("fail", "inconclusive", "pass") if o in outcomes)
    return next(g.exit_code for g in gates if g.outcome == worst)


def _emit(text: str) -> None:
    """Print; a reader that stops early (`| head`) is not an error (Python's documented recipe)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
