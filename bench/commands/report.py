"""`bench report RUN_DIR [--format html|md|all] [--out DIR] [--profile P [--declared NAME]]`:
a self-contained report.html (figures inline, no network) and report.md from a stored run."""

from __future__ import annotations

import argparse
from typing import Any

from bench.commands import common_args
from bench.errors import EXIT_OK

FORMATS = ("html", "md", "all")  # bench.report.FORMATS; matplotlib loads only when a report is made


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="write report.html and report.md for a run folder", description=__doc__,
                              **common_args.examples("report"))
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `bench run`")
    p.add_argument("--format", choices=FORMATS, default="all", help="html, md or all (default: all)")
    p.add_argument("--out", help="folder to write into (default: the run folder)")
    common_args.add_verdict_options(
        p, profile_help="include a verdict against this profile (else one stored by `bench check`, if any)",
        declared_help="with --profile: declared spec (database name or YAML file)")
    return p


def run(args: argparse.Namespace) -> int:
    from bench.report import write_report

    verdict = None
    if args.profile:
        from bench.verdict import check_run

        verdict = check_run(args.run_dir, profile=args.profile, declared=args.declared, rule=args.decision_rule).to_dict()
    for path in write_report(args.run_dir, args.format, args.out, verdict):
        print(path)
    return EXIT_OK
