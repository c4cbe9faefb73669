"""`bench report RUN_DIR [--format html|md|all] [--out DIR] [--profile P [--declared NAME]]`:
a self-contained report.html (figures inline, no network) and report.md from a stored run."""

from __future__ import annotations

import argparse
from typing import Any

from bench.errors import EXIT_OK
from bench.report import write_report
from bench.verdict import check_run

FORMATS = ("html", "md", "all")  # bench.report.FORMATS; matplotlib loads only when a report is made


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="write report.html and report.md for a run folder", description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `bench run`")
    p.add_argument("--format", choices=FORMATS, default="all", help="html, md or all (default: all)")
    p.add_argument("--out", help="folder to write into (default: the run folder)")
    p.add_argument("--profile", help="include a verdict against this profile (else one stored by `bench check`, if any)")
    p.add_argument("--declared", help="with --profile: declared spec (database name or YAML file)")
    p.add_argument("--decision-rule", choices=("simple", "guarded"), default="guarded")
    return p


def run(args: argparse.Namespace) -> int:
    verdict = None
    if args.profile:
        verdict = check_run(args.run_dir, profile=args.profile, declared=args.declared, rule=args.decision_rule).to_dict()
    for path in write_report(args.run_dir, args.format, args.out, verdict):
        print(path)
    return EXIT_OK
