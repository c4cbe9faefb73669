"""`bench verify RUN_DIR --pubkey KEY`: signature, signer, every file digest, every derived number, verdict.

Exit 0 verified: the signature is valid, made by a key given with --pubkey, every file digest matches and
every number re-derives from the raw samples. Exit 1 anything else: a finding, an unauthenticated signer
(no --pubkey; accepted only with --allow-unauthenticated) or an unsigned run (only with --allow-unsigned).
Exit 2 usage or input error (a missing folder, an unreadable or non-Ed25519 public key)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from bench.cli import common_args
from bench.errors import EXIT_CHECK_FAILED, EXIT_OK
from bench.evidence.signing import Verification, verify_run

UNAUTHENTICATED_BANNER = ("SIGNER NOT AUTHENTICATED (--allow-unauthenticated): the envelope's own key was used; "
                          "this proves the files are unchanged since signing, not who signed them")
UNSIGNED_BANNER = "UNSIGNED RUN ACCEPTED (--allow-unsigned): numbers re-derive, but integrity and origin are unchecked"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify", help="verify a signed results folder and recompute its numbers",
        description="Check the signature and every file digest of RUN_DIR, then recompute every derived number "
                    "and the verdict from the raw samples. Exit 0 only when the signer is authenticated by a "
                    "--pubkey you give; without one the envelope's own key proves integrity, not who signed.",
        **common_args.examples("verify"))
    parser.add_argument("run_dir", metavar="RUN_DIR", help="results folder with run.json")
    parser.add_argument("--pubkey", metavar="KEY", action="append",
                        help="a signer's Ed25519 public key (PEM); repeat to require several (operator, authorizer)")
    parser.add_argument("--allow-unauthenticated", action="store_true",
                        help="without --pubkey, exit 0 when integrity holds (the output says the signer is unknown)")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="exit 0 for an unsigned run whose numbers recompute (the output says it is unsigned)")
    common_args.add_json(parser, "print the result as JSON")
    return parser


def _as_dict(result: Verification) -> dict:
    data = dataclasses.asdict(result)
    data.update(run_dir=str(result.run_dir), ok=result.ok, integrity_ok=result.integrity_ok, status=result.status)
    return data


def outcome(result: Verification, allow_unauthenticated: bool, allow_unsigned: bool) -> tuple[bool, str | None]:
    """(passed, banner): the banner is the first line when passing rests on something the user accepted."""
    if not result.signed:
        passed = allow_unsigned and not result.recompute_findings
        return passed, UNSIGNED_BANNER if passed else None
    if result.ok:
        return True, None
    if allow_unauthenticated and result.integrity_ok and not result.signer_authenticated:
        return True, UNAUTHENTICATED_BANNER
    return False, None


def run(args: argparse.Namespace) -> int:
    result = verify_run(args.run_dir, args.pubkey)
    passed, banner = outcome(result, args.allow_unauthenticated, args.allow_unsigned)
    if args.json:
        print(json.dumps(_as_dict(result) | {"passed": passed, "accepted": banner}, indent=2))
        return EXIT_OK if passed else EXIT_CHECK_FAILED
    if banner:
        print(banner)
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
