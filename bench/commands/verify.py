"""`bench verify RUN_DIR [--pubkey KEY]`: signature, every file digest, every derived number, verdict.

Exit 0 verified, 1 verification failed (or unsigned), 2 usage or input error."""

from __future__ import annotations

import argparse
import dataclasses
import json

from bench.commands import common_args
from bench.errors import EXIT_CHECK_FAILED, EXIT_OK
from bench.signing import Verification, verify_run


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify", help="verify a signed results folder and recompute its numbers",
        description="Check the signature and every file digest of RUN_DIR, then recompute every derived "
                    "number and the verdict from the raw samples. Without --pubkey the key embedded in the "
                    "envelope is used: that proves integrity, not who signed.",
        **common_args.examples("verify"))
    parser.add_argument("run_dir", metavar="RUN_DIR", help="results folder with run.json")
    parser.add_argument("--pubkey", metavar="KEY", action="append",
                        help="a signer's Ed25519 public key (PEM); repeat to require several (operator, authorizer)")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="exit 0 for an unsigned run whose numbers recompute (still labelled unsigned)")
    common_args.add_json(parser, "print the result as JSON")
    return parser


def _as_dict(result: Verification) -> dict:
    data = dataclasses.asdict(result)
    data.update(run_dir=str(result.run_dir), ok=result.ok, status=result.status)
    return data


def _passed(result: Verification, allow_unsigned: bool) -> bool:
    if not result.signed:
        return allow_unsigned and not result.recompute_findings
    return result.ok


def run(args: argparse.Namespace) -> int:
    result = verify_run(args.run_dir, args.pubkey)
    passed = _passed(result, args.allow_unsigned)
    if args.json:
        print(json.dumps(_as_dict(result) | {"passed": passed}, indent=2))
        return EXIT_OK if passed else EXIT_CHECK_FAILED
    print(f"{result.run_dir}: {result.status}")
    for label in result.labels:
        print(f"  LABEL: {label}")
    if result.signed:
        signer = "authenticated (--pubkey)" if result.signer_authenticated else "UNAUTHENTICATED (embedded key)"
        print(f"  key {str(result.key_id)[:16]}  signer {signer}  signed at {result.signed_at}  "
              f"files checked {result.files_checked}")
    for finding in result.findings + result.recompute_findings:
        print(f"  DIFFERS: {finding}")
    for note in result.notes:
        print(f"  note: {note}")
    print("VERIFIED" if passed else "VERIFICATION FAILED")
    return EXIT_OK if passed else EXIT_CHECK_FAILED
