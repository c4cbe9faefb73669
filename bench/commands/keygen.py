"""`bench keygen`: create an Ed25519 signing key pair for `bench sign`."""

from __future__ import annotations

import argparse

from bench.commands import common_args
from bench.errors import EXIT_OK
from bench.signing import generate_keys

DEFAULT_KEY = "accelbench-ed25519.key"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "keygen", help="create an Ed25519 key pair for signing results",
        description="Write a private key (PEM, mode 0600) and its public key (PATH.pub). "
                    "Keep the private key out of results folders; give the .pub file to whoever verifies.",
        **common_args.examples("keygen"))
    parser.add_argument("--out", default=DEFAULT_KEY, metavar="PATH",
                        help=f"private key file (default {DEFAULT_KEY}); the public key goes to PATH.pub")
    parser.add_argument("--force", action="store_true", help="replace existing key files")
    return parser


def run(args: argparse.Namespace) -> int:
    keys = generate_keys(args.out, overwrite=args.force)
    print(f"private key: {keys.private_path} (mode 0600; never put it in a results folder)")
    print(f"public key:  {keys.public_path}")
    print(f"key id:      {keys.key_id}")
    return EXIT_OK
