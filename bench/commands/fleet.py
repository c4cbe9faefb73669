"""`bench fleet RUN_DIR... [--manifest FILE] [--json]`: lot table, outliers and manifest reconciliation.

Exit 0 every unit ok, 1 any outlier, missing, unexpected or duplicate serial, or failing unit."""

from __future__ import annotations

import argparse
import json

from bench.commands import common_args
from bench.errors import EXIT_CHECK_FAILED, EXIT_OK
from bench.fleet import DEFAULT_SPREAD, aggregate, load_manifest, render_markdown


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fleet", help="aggregate many units into a shipment-lot summary",
        description="Per-unit verdicts and metrics, lot min/median/max, each unit's deviation from the lot "
                    "median (flagged beyond --spread) and, with --manifest, every expected serial measured once.",
        **common_args.examples("fleet"))
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="results folders, one or more units each")
    parser.add_argument("--manifest", metavar="FILE", help="lot manifest YAML: expected serials or UUIDs")
    parser.add_argument("--spread", type=float, default=None,
                        help=f"flag units further than this fraction from the lot median (default {DEFAULT_SPREAD})")
    common_args.add_profile(parser, help="judge units without a stored verdict under this threshold profile (e.g. us-2026-01)")
    parser.add_argument("--no-signatures", action="store_true", help="skip checking each run's signature")
    common_args.add_json(parser, "print the lot report as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest) if args.manifest else None
    report = aggregate(args.run_dirs, manifest=manifest, spread=args.spread,
                       check_signatures=not args.no_signatures, profile=args.profile)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(render_markdown(report), end="")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED
