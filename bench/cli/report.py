"""`bench report RUN_DIR [--format html|md|all] [--out DIR] [--profile P [--declared NAME]]`:
a self-contained report.html (figures inline, no network) and report.md from a stored run or lot.

A lot folder (`bench run --plan ...`) gets the lot table `bench fleet` prints, then one section per
unit. A signed folder is never written into: the report goes to FOLDER-report/ beside it (or --out
outside it). Report before `bench sign` to have the signature cover the report.

Examples:
  bench report results/demo-lot
  bench report results/run-1 --profile us-2026-01 --format html
  bench report results/signed-run --out /tmp/review"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.errors import EXIT_OK
from bench.lab.multiunit import unit_runs
from bench.present.report import destination, write_report
from bench.rules.verdict import check_run, read_run

FORMATS = ("html", "md", "all")  # bench.present.report.FORMATS; matplotlib loads only when a report is made


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="write report.html and report.md for a run or lot folder",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run or lot folder written by `bench run`")
    p.add_argument("--format", choices=FORMATS, default="all", help="html, md or all (default: all)")
    p.add_argument("--out", help="folder to write into (default: the run folder; RUN_DIR-report/ beside a signed one)")
    p.add_argument("--profile", help="include a verdict against this profile (else one stored by `bench check`, if any)")
    p.add_argument("--declared", help="with --profile: declared spec (database name or YAML file)")
    p.add_argument("--decision-rule", choices=("simple", "guarded"), default="guarded",
                   help="with --profile: guarded (guard band w = U, the default) or simple (w = 0)")
    return p


def _verdicts(args: argparse.Namespace) -> Any:
    """With --profile: the verdict of the run, or {unit label: verdict} for a lot."""
    if not args.profile:
        return None
    units = unit_runs(read_run(args.run_dir))
    if units:
        return {label: check_run(unit, profile=args.profile, declared=args.declared, rule=args.decision_rule).to_dict()
                for label, unit in units}
    return check_run(args.run_dir, profile=args.profile, declared=args.declared, rule=args.decision_rule).to_dict()


def run(args: argparse.Namespace) -> int:
    _, note = destination(args.run_dir, args.out)  # refuses an --out inside a signed folder before any work
    if note:
        print(f"bench report: {note}", file=sys.stderr)
    for path in write_report(args.run_dir, args.format, args.out, _verdicts(args), profile=args.profile):
        print(path)
    return EXIT_OK
