"""`bench sign RUN_DIR --key KEY`: sign every file of a results folder (in-toto Statement in DSSE)."""

from __future__ import annotations

import argparse

from bench.cli import common_args
from bench.errors import EXIT_OK
from bench.evidence.signing import build_manifest, countersign_run, sign_run


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sign", help="sign a results folder (Ed25519, in-toto/DSSE)",
        description="Hash every file of RUN_DIR (SHA-256) into an in-toto Statement, sign it with KEY "
                    "and write signature.dsse.json into RUN_DIR, replacing an earlier one.",
        **common_args.examples("sign"))
    parser.add_argument("run_dir", metavar="RUN_DIR", help="results folder with run.json")
    parser.add_argument("--key", required=True, metavar="KEY", help="Ed25519 private key (PEM, mode 0600)")
    parser.add_argument("--countersign", action="store_true",
                        help="add this key's signature to the existing one (e.g. the authorizer after the operator)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.countersign:
        envelope = countersign_run(args.run_dir, args.key)
        print(f"countersigned {args.run_dir} -> {envelope}")
        return EXIT_OK
    envelope = sign_run(args.run_dir, args.key)
    files = build_manifest(args.run_dir)
    print(f"signed {len(files)} files in {args.run_dir} -> {envelope}")
    return EXIT_OK
