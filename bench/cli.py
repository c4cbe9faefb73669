"""The `bench` command line: the only place that prints to the terminal and chooses an exit code.

Exit codes: 0 success, 1 a check did not pass, 2 usage or input error, 3 inconclusive.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench import __version__
from bench.commands import COMMANDS
from bench.errors import EXIT_USAGE, BenchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="accelbench: measure accelerator throughput and bandwidth, and judge them against export-control rules.",
    )
    parser.add_argument("--version", action="version", version=f"accelbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"bench.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its usage line
        return EXIT_USAGE if exc.code else 0
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
    except BenchError as exc:
        print(f"bench {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted", file=sys.stderr)
        return 3
