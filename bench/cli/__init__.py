"""The `bench` command line: the only place that prints to the terminal and chooses an exit code.

Exit codes: 0 success, 1 a check did not pass, 2 usage or input error, 3 inconclusive.

Start-up stays cheap: the parser lists every command from bench.cli.COMMANDS but imports only
the module of the command on the command line (the one dynamic import of a project module, by
design), so `bench --help` imports neither torch nor any optional library.

One module per sub-command lives beside this file. Each exposes `add_parser(subparsers)` and
`run(args) -> int`. To add a command: write bench/cli/<name>.py and add its name and one-line
help to COMMANDS below; tests/test_lean.py checks that the line equals the module's own.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from bench import __version__
from bench.errors import EXIT_USAGE, BenchError, MissingDependency

COMMANDS: dict[str, str] = {
    "run": "measure GEMM, attention and memory streams on a device",
    "devices": "list the devices present",
    "doctor": "check that this machine is ready to measure",
    "keygen": "create an Ed25519 key pair for signing results",
    "sign": "sign a results folder (Ed25519, in-toto/DSSE)",
    "verify": "verify a signed results folder and recompute its numbers",
    "fleet": "aggregate many units into a shipment-lot summary",
    "specs": "declared device specs, TPP and export-control classification",
    "profiles": "list threshold profiles, or show one's criteria",
    "check": "verdict for a measured run against a threshold profile",
    "report": "write report.html and report.md for a run or lot folder",
    "compare": "compare runs measurement by measurement (a CI gate)",
}

# Third-party libraries some commands need that a lean install (torch, numpy, pyyaml) may lack,
# with the pip package that provides each.
OPTIONAL_LIBRARIES: dict[str, str] = {
    "cryptography": "cryptography",
    "matplotlib": "matplotlib",
    "pandas": "pandas",
    "rich": "rich",
    "pytest_benchmark": "pytest-benchmark",
    "pynvml": "nvidia-ml-py",
    "amdsmi": "amdsmi",
}

DESCRIPTION = ("accelbench: measure accelerator throughput and bandwidth, and judge them against "
               "export-control rules.")


def missing_dependency(exc: ModuleNotFoundError, command: str) -> MissingDependency | None:
    """The one-line error for an optional library a command needs, or None for any other import."""
    root = (exc.name or "").split(".")[0]
    if root not in OPTIONAL_LIBRARIES:
        return None
    package = OPTIONAL_LIBRARIES[root]
    return MissingDependency(f"needs {root}, which is not installed here (pip install {package})")


def load_command(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"bench.cli.{name}")
    except ModuleNotFoundError as exc:
        error = missing_dependency(exc, name)
        if error is None:
            raise
        raise error from None


def requested_command(argv: list[str]) -> str | None:
    """The sub-command named on the command line (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the full sub-parser of `command` (imported) and one-line stubs for the rest;
    with command=None every command's module is imported and fully defined."""
    parser = argparse.ArgumentParser(prog="bench", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"accelbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if command is None or name == command:
            module = load_command(name)
            module.add_parser(subparsers).set_defaults(handler=module.run)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def _stub_parser() -> argparse.ArgumentParser:
    """Top-level help and usage errors: every command listed, none imported."""
    return build_parser(command="")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = requested_command(argv)
    try:
        parser = build_parser(command) if command else _stub_parser()
    except MissingDependency as exc:
        print(f"bench {command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its usage line
        return EXIT_USAGE if exc.code else 0
    if not getattr(args, "handler", None):
        print("bench: error: no command given (bench --help lists them)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
    except BenchError as exc:
        _error(args.command, str(exc))
        return exc.exit_code
    except BrokenPipeError:  # `bench ... | head`: the reader left; end quietly
        _silence_stdout()
        return 0
    except OSError as exc:  # an output that cannot be written, a place that cannot be read
        place = f" {exc.filename}" if exc.filename else ""
        _error(args.command, f"{exc.strerror or type(exc).__name__}:{place}")
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        error = missing_dependency(exc, args.command)
        if error is None:
            raise
        _error(args.command, str(error))
        return error.exit_code
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted", file=sys.stderr)
        return 3


def _error(command: str, message: str) -> None:
    """One line on stderr; a path that is not valid UTF-8 is shown escaped instead of crashing the print."""
    line = f"bench {command}: error: {message}".encode("utf-8", "backslashreplace").decode("utf-8")
    print(line.replace("\n", " "), file=sys.stderr)


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
