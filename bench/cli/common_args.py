"""Options that several commands share, defined once, and each command's help examples.

Light on purpose (argparse, and bench.render/bench.errors, which import only the standard library):
`bench --help` imports it for every command."""

from __future__ import annotations

import argparse
from typing import Any

from bench import render
from bench.errors import UsageError

DECISION_RULES = ("simple", "guarded")  # bench.lab.request.DECISION_RULES, bench.rules.verdict.RULES
DEFAULT_PROFILE = "us-2026-01"

EXAMPLES = {  # specs, compare, keygen and report keep their examples in their descriptions
    "run": """\
examples:
  bench run --suite quick                       # a few minutes on any machine
  bench run --device cuda:all --parallel --profile us-2026-01 --declared "NVIDIA H20"
  bench run --plan examples/plan-cpu-two-units.yaml --out results/lot-7""",
    "check": """\
examples:
  bench check results/<run-id>                          # default profile, auto-matched spec
  bench check results/<run-id> --profile us-2023-10 --declared "NVIDIA H100 SXM"
  bench check results/<run-id> --json --junit check.xml --no-save""",
    "verify": """\
examples:
  bench verify results/<run-id> --pubkey lab.pub
  bench verify results/lot-7 --pubkey lab.pub --json
  bench verify results/<run-id> --allow-unauthenticated    # integrity only: says so first""",
    "fleet": """\
examples:
  bench fleet results/lot-7 --pubkey lab.pub --manifest manifest.yaml
  bench fleet results/unit-a results/unit-b --pubkey lab.pub --profile us-2026-01 --json
  bench fleet results/unit-* --allow-unsigned               # unsigned units count: says so first""",
    "sign": """\
examples:
  bench sign results/<run-id> --key ~/.config/accelbench/keys/lab.key
  bench sign results/<run-id> --key lab.key --countersign""",
    "devices": """\
examples:
  bench devices
  bench devices --json""",
}


def examples(command: str) -> dict[str, Any]:
    """Keyword arguments for `subparsers.add_parser(...)` that add the command's examples."""
    text = EXAMPLES.get(command)
    return {"epilog": text, "formatter_class": argparse.RawDescriptionHelpFormatter} if text else {}


def add_device(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument("--device", default=default,
                   help="auto (default), cpu, cuda, rocm, npu, xpu, mps; with :N for one index or :all for every one")


def add_profile(p: argparse.ArgumentParser, default: str | None = None, help: str | None = None) -> None:
    p.add_argument("--profile", default=default, metavar="PROFILE",
                   help=help or (f"threshold profile id or YAML file (default: {default})" if default
                                 else "threshold profile id or YAML file"))


def add_declared(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--declared", metavar="NAME|FILE",
                   help=help or "declared spec: a database name or a YAML file in the database format "
                                "(default: auto-match the detected device)")


def add_decision_rule(p: argparse.ArgumentParser, default: str = "guarded") -> None:
    p.add_argument("--decision-rule", choices=DECISION_RULES, default=default,
                   help="guarded: guard band w = U, non-binary (default); simple: w = 0")


def add_json(p: argparse.ArgumentParser, help: str = "print one JSON document") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_verdict_options(p: argparse.ArgumentParser, profile_default: str | None = None,
                        profile_help: str | None = None, declared_help: str | None = None) -> None:
    """--profile, --declared and --decision-rule, as `run`, `check` and `report` take them."""
    add_profile(p, profile_default, profile_help)
    add_declared(p, declared_help)
    add_decision_rule(p)


FORMATS = render.FORMATS


def add_format(p: argparse.ArgumentParser, default: str = "text", json_help: str = "same as --format json") -> None:
    """`--format text|md|json` for a command whose output is a table, with `--json` kept as its alias."""
    p.add_argument("--format", choices=FORMATS, default=None, dest="output_format",
                   help=f"text for a terminal (default {default}), md for a job summary or PR comment, json for scripts")
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(format_default=default)


def output_format(args: argparse.Namespace) -> str:
    """The format asked for: --json is --format json; the two may not disagree."""
    chosen = getattr(args, "output_format", None)
    if getattr(args, "json", False):
        if chosen not in (None, "json"):
            raise UsageError(f"--json and --format {chosen} disagree; give one of them")
        return "json"
    return chosen or getattr(args, "format_default", "text")


def print_tables(tables: list, output_format: str) -> None:
    """Print tables in the chosen format. Terminal text is laid out at least as wide as its widest
    row, so no cell is folded or cut (a narrow terminal wraps the lines instead)."""
    if output_format == "text":
        print(render.to_text(tables, width=max(render.terminal_width(), render.natural_width(tables))))
    else:
        print(render.render(tables, output_format), end="" if output_format == "md" else "\n")
