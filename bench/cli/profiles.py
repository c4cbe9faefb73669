"""`bench profiles [list | show PROFILE] [--json]`: the threshold profiles a verdict can be judged
against, and each one's criteria in words (every edge marked strict or inclusive), exemptions,
citation and notes.

Examples:
  bench profiles                     # one line per profile
  bench profiles show us-2026-01-tariff
  bench profiles show ./my-rule.yaml --json
"""

from __future__ import annotations

import argparse
import json

from bench import render
from bench.cli import common_args
from bench.errors import UsageError
from bench.rules import profiles


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("profiles", help="list threshold profiles, or show one's criteria",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    parser.add_argument("profile", nargs="?", help="for `show`: a profile id or a profile file")
    common_args.add_format(parser, json_help="print JSON (same as --format json)")
    return parser


def run(args) -> int:
    output_format = common_args.output_format(args)
    if args.action == "show":
        if not args.profile:
            raise UsageError("`bench profiles show` needs a profile id or file (see `bench profiles`)")
        profile = profiles.load_profile(args.profile)
        if output_format == "json":
            print(json.dumps(profile_document(profile), indent=2, default=str))
        elif output_format == "md":
            common_args.print_tables([criteria_table(profile)], "md")
        else:
            print(show(profile))
        return 0
    if args.profile:
        raise UsageError(f"`bench profiles list` takes no profile; did you mean `bench profiles show {args.profile}`?")
    found = profiles.list_profiles()
    if output_format == "json":
        print(json.dumps([{"id": p.id, "title": p.title, "effective": p.effective, "path": p.path} for p in found],
                         indent=2))
    else:
        note = ("`bench profiles show ID` prints a profile's criteria; user profiles are read from "
                f"${profiles.PROFILE_ENV} or a file path.")
        table = render.Table(["id", "effective", "title"], [[p.id, p.effective, p.title] for p in found],
                             align=["l", "l", "l"], note=note)
        common_args.print_tables([table], output_format)
    return 0


def leaf_text(leaf) -> str:
    """A criterion in words with the metric's human name: 'DRAM bandwidth less than 6,500 GB/s (strict: ...)'."""
    text = leaf.explain()
    if leaf.flag or not leaf.metric or not text.startswith(leaf.metric):
        return text
    unit = render.unit_text(leaf.unit)
    edge = text[text.index(" ("):] if " (" in text else ""
    return (f"{render.metric(leaf.metric).name} {profiles.OP_WORDS[leaf.op]} {leaf.value:,.10g}"
            f"{' ' + unit if unit else ''}{edge}")


def criteria_table(profile) -> render.Table:
    """Every class's and exemption's criteria, one row each, in words."""
    rows = []
    for kind, rules in (("class", profile.classes), ("exemption", profile.exemptions)):
        for rule in rules:
            joiner = "all of" if rule.when.join == "all" else "any of"
            unless = " or ".join(rule.unless) or "-"
            rows += [[rule.id, kind, joiner, leaf_text(leaf), unless] for leaf in rule.when.leaves()]
    return render.Table(["rule", "kind", "join", "criterion", "unless"], rows, align=["l"] * 5,
                        title=f"{profile.id}: {profile.title}", note=f"effective {profile.effective}; file: {profile.path}")


def _rule_document(rule) -> dict:
    return {"id": rule.id, "description": rule.description, "source": rule.source, "item": rule.item,
            "unless": list(rule.unless), "join": rule.when.join,
            "criteria": [{"text": leaf.explain(), "metric": leaf.metric, "op": leaf.op, "value": leaf.value,
                          "unit": leaf.unit, "edge": leaf.edge, "flag": leaf.flag, "equals": leaf.equals}
                         for leaf in rule.when.leaves()]}


def profile_document(profile) -> dict:
    return {"id": profile.id, "title": profile.title, "citation": dict(profile.citation),
            "effective": profile.effective, "destinations": profile.destinations,
            "conforms_when": profile.conforms_when, "labels": dict(profile.labels),
            "classes": [_rule_document(r) for r in profile.classes],
            "exemptions": [_rule_document(r) for r in profile.exemptions],
            "notes": list(profile.notes), "path": profile.path}


def _rule_lines(rule) -> list[str]:
    head = f"  {rule.id}: {rule.description}"
    if rule.item != "accelerator":
        head += f" [applies to: {rule.item}]"
    lines = [head]
    if rule.source:
        lines.append(f"      rule text: {rule.source}")
    joiner = "all of" if rule.when.join == "all" else "any of"
    lines.append(f"      {joiner}:")
    lines += [f"        - {leaf_text(leaf)}" for leaf in rule.when.leaves()]
    if rule.unless:
        lines.append(f"      unless {' or '.join(rule.unless)} applies (that paragraph controls)")
    return lines


def show(profile) -> str:
    meaning = ("the item conforms when no class applies (classes are controlled regions)"
               if profile.conforms_when == "outside" else
               "the item conforms when a class applies (classes are permitted regions)")
    lines = [f"{profile.id}: {profile.title}", f"  effective {profile.effective}; destinations: {profile.destinations or '-'}"]
    lines += [f"  {key}: {value}" for key, value in profile.citation.items()]
    lines.append(f"  reading: {meaning}")
    lines.append("classes:")
    for rule in profile.classes:
        lines += _rule_lines(rule)
    if profile.exemptions:
        lines.append("exemptions (take the item out of every class):")
        for rule in profile.exemptions:
            lines += _rule_lines(rule)
    if profile.notes:
        lines.append("notes:")
        lines += [f"  - {note}" for note in profile.notes]
    lines.append(f"file: {profile.path}")
    return "\n".join(lines)
