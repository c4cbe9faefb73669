"""`bench fleet RUN_DIR... --pubkey KEY [--manifest FILE] [--json]`: lot table, outliers, manifest reconciliation.

Exit 0 lot OK: every unit signed by a --pubkey key and verified, identified, with a passing verdict that
re-derives from its samples. Exit 1 NOT OK: a failing verdict, evidence that does not hold (signature,
digest, numbers), an outlier, a missing, unexpected or duplicate serial. Exit 3 UNDECIDED: nothing fails
but a unit has no verdict, an inconclusive one, no serial, or no authenticated signature. Exit 2 input error."""

from __future__ import annotations

import argparse
import json

from bench.cli import common_args
from bench.lab.fleet import DEFAULT_SPREAD, aggregate, load_manifest, render_markdown, render_text


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fleet", help="aggregate many units into a shipment-lot summary",
        description="Verify every unit (signature with --pubkey, digests, numbers), then per-unit verdicts and "
                    "metrics, lot min/median/max, each unit's deviation from the lot median (from 3 units; flagged "
                    "beyond --spread plus the unit's own uncertainty) and, with --manifest, every expected serial "
                    "measured once.",
        **common_args.examples("fleet"))
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="results folders, one or more units each")
    parser.add_argument("--manifest", metavar="FILE", help="lot manifest YAML: expected serials or UUIDs")
    parser.add_argument("--spread", type=float, default=None,
                        help=f"flag units further than this fraction from the lot median (default {DEFAULT_SPREAD})")
    common_args.add_profile(parser, help="judge units without a stored verdict under this threshold profile (e.g. us-2026-01)")
    parser.add_argument("--pubkey", metavar="KEY", action="append",
                        help="the lab's Ed25519 public key (PEM); every unit must be signed with it (repeat for several)")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="count unsigned or unauthenticated units whose numbers re-derive (the output says so first)")
    common_args.add_format(parser, default="md", json_help="print the lot report as JSON (same as --format json)")
    return parser


def run(args: argparse.Namespace) -> int:
    output_format = common_args.output_format(args)
    manifest = load_manifest(args.manifest) if args.manifest else None
    report = aggregate(args.run_dirs, manifest=manifest, spread=args.spread, public_keys=args.pubkey,
                       allow_unsigned=args.allow_unsigned, profile=args.profile)
    if output_format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(render_markdown(report) if output_format == "md" else render_text(report), end="")
    return report.exit_code
