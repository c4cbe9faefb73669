"""`bench check RUN_DIR [--profile P] [--declared NAME|FILE] [--decision-rule simple|guarded] [--json]`:
the export-control verdict for a measured run. Exit 0 conforms, 1 does not, 3 inconclusive, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys

from bench.cli import common_args
from bench.errors import EXIT_INCONCLUSIVE, BenchError
from bench.lab.multiunit import unit_runs
from bench.present.ci_outputs import check_writable, junit_xml, markdown_summary, write_output
from bench.rules.verdict import check_run, read_run, render_verdict, save_verdict


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("check", help="verdict for a measured run against a threshold profile",
                                   description=__doc__, **common_args.examples("check"))
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `bench run` (or its run.json)")
    common_args.add_verdict_options(parser, profile_default=common_args.DEFAULT_PROFILE)
    common_args.add_format(parser, json_help="print one JSON document with `verdict` and `criteria` (same as --format json)")
    parser.add_argument("--junit", metavar="PATH", help="also write the criteria as JUnit XML (one testcase per criterion)")
    parser.add_argument("--summary-md", metavar="PATH", help="also write a Markdown job summary (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--max-relative-u", type=float, metavar="FRACTION",
                        help="a case whose relative expanded uncertainty U/value is above this cannot set the headline "
                             "TPP or bandwidth (default: the run summary's, 0.25)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not store the verdict as RUN_DIR/verdict.json (never stored in a signed folder)")
    return parser


def run(args) -> int:
    args.output_format = common_args.output_format(args)
    args.json = args.output_format == "json"
    for path, option in ((args.junit, "--junit"), (args.summary_md, "--summary-md")):
        if path:
            check_writable(path, option)  # before judging: an output that cannot be written is a usage error
    units = unit_runs(read_run(args.run_dir))
    if units:
        return _run_units(args, units)
    verdict = check_run(args.run_dir, profile=args.profile, declared=args.declared, rule=args.decision_rule,
                        max_relative_u=args.max_relative_u)
    _write_ci_outputs(args, verdict)
    saved = None if args.no_save else _save(args.run_dir, verdict)
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2, default=str))
    else:
        print(render_verdict(verdict, args.output_format))
        if saved:
            print(f"Verdict stored: {saved}")
    return verdict.exit_code


def _save(run_dir: str, verdict):
    """Store verdict.json; a folder that cannot take it loses nothing (the verdict is printed) and says why."""
    try:
        return save_verdict(run_dir, verdict)
    except OSError as exc:
        print(f"bench check: warning: verdict.json not stored in {run_dir} ({exc.strerror or exc})", file=sys.stderr)
        return None


def _write_ci_outputs(args, verdict) -> None:
    for path, option in ((args.junit, "--junit"), (args.summary_md, "--summary-md")):
        if path:
            check_writable(path, option)
    if args.junit:
        write_output(args.junit, junit_xml(verdict.to_dict()), "--junit")
    if args.summary_md:  # append: GitHub's step summary file is shared by steps
        write_output(args.summary_md, markdown_summary(read_run(args.run_dir), verdict.to_dict()), "--summary-md",
                     append=True)


def _run_units(args, units) -> int:
    """A multi-unit run folder: one verdict per unit; the exit code is the worst of them."""
    code, results = 0, {}
    for label, unit in units:
        try:
            verdict = check_run(unit, profile=args.profile, declared=args.declared, rule=args.decision_rule,
                                max_relative_u=args.max_relative_u)
        except BenchError as exc:
            results[label] = {"error": str(exc)}
            code = max(code, EXIT_INCONCLUSIVE)
            if not args.json:
                print(f"== unit {label}: no verdict: {exc}\n")
            continue
        results[label] = verdict.to_dict()
        code = max(code, verdict.exit_code)
        if not args.json:
            print(f"== unit {label}\n{render_verdict(verdict, args.output_format)}\n")
    if args.json:
        print(json.dumps({"units": results}, indent=2, default=str))
    return code
