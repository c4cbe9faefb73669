"""`bench specs [NAME] [--profile P] [--json]`: the device specification database with computed
TPP, performance density, DRAM bandwidth and the classification under each (or one) profile.

NAME is an id, a name or a driver name, in any case, or the start of one: `bench specs H100`
lists the three H100 parts, `bench specs h200-nvl` shows one. Estimated values carry their range,
and the classification says when a conclusion would change across it.

Examples:
  bench specs                          # every part, every profile
  bench specs h200 --profile us-2026-01
  bench specs "NVIDIA A100-SXM4-40GB" --json
"""

from __future__ import annotations

import argparse
import json
import os

from bench import render
from bench.cli import common_args
from bench.errors import UsageError
from bench.rules import profiles, specs


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("specs", help="declared device specs, TPP and export-control classification",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="a device (id, name, driver name or its start), 'cpu' for this host, "
                                                "or a spec file")
    common_args.add_profile(parser, help="classify under this profile only (id or file); default: all")
    common_args.add_format(parser, json_help="one JSON document: devices, profiles (same as --format json)")
    return parser


def _selected(name, database) -> list:
    if not name:
        return database.devices
    if name.lower() == specs.CPU_SPEC_ID or name.endswith((".yaml", ".yml", ".json")) or os.path.exists(name):
        return [specs.load_declared(name, database)]
    hits = database.lookup(name)
    if not hits:
        database.get(name)  # raises the one-line "no device ... known: ..." error
        raise UsageError(f"no device {name!r}")
    return hits


def spec_row(spec, database, chosen_profiles) -> dict:
    """Everything `bench specs --json` says about one part (also used by other commands)."""
    derived = database.derived_for_spec(spec) if database else None
    return {**spec.to_dict(),
            "performance_density_range": spec.performance_density_range,
            "tpp_readings": spec.tpp_readings(),
            "derived": None if derived is None else {
                "architecture": derived.architecture, "units": derived.units, "clock_mhz": derived.clock_mhz,
                "tops_by_dtype": derived.tops_by_dtype, "tpp": derived.tpp, "source": derived.source},
            "classification": {p.id: _classification(spec, p) for p in chosen_profiles}}


def run(args) -> int:
    database = specs.load_database()
    chosen = _selected(args.name, database)
    chosen_profiles = [profiles.load_profile(args.profile)] if args.profile else profiles.list_profiles()
    output_format = common_args.output_format(args)
    rows = [spec_row(spec, database, chosen_profiles) for spec in chosen]
    if output_format == "json":
        document = {"devices": rows, "profiles": [p.id for p in chosen_profiles]}
        if args.name and len(chosen) > 1:
            document["query"] = {"name": args.name, "matches": [s.id for s in chosen]}
        print(json.dumps(document, indent=2, default=str))
        return 0
    if len(chosen) == 1 and args.name and output_format == "text":
        print(_detail(rows[0], chosen[0]))
        others = [s.id for s in database.devices if s.starts_with(args.name) and s.id != chosen[0].id]
        if others:
            print(f"  also starting with {args.name!r}: {', '.join(others)}")
        return 0
    if args.name and len(chosen) > 1 and output_format == "text":
        print(f"{len(chosen)} parts match {args.name!r}; `bench specs ID` shows one in full.")
    common_args.print_tables([spec_table(rows, chosen_profiles)], output_format)
    return 0


def _classification(spec, profile) -> dict:
    result = profiles.classify_spec(spec, profile)
    factors = profiles.sensitivity(spec, profile)
    return {"conforms": result.conforms, "label": result.label, "matched": result.matched,
            "criteria_met": result.criteria_met, "exempted_by": result.exempted_by,
            "undetermined": result.undetermined, "short": result.short(),
            "depends_on": [f["input"] for f in factors if f["changes"]], "sensitivity": factors}


def _num(value, fmt="{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _flags(row) -> str:
    flags = ""
    flags += "A" if row["die_area_range"] else ""
    flags += "B" if row["dram_bandwidth_range"] else ""
    flags += "R" if len(row["tpp_readings"]) > 1 else ""
    flags += "E" if row["estimate"] else ""
    return flags or "-"


SPEC_NOTE = ("TPP = dense peak TOPS x input bit length, max over data types (computed from the per-dtype peaks). "
             "PD = TPP / applicable die area. 'derived' = units x clock x ops/clock. "
             "~ = estimate or conflicting sources (a range is recorded). flags: A die area is a range, "
             "B DRAM bandwidth is a range, R another TPP reading exists, E the whole spec is an estimate. "
             "* = this conclusion changes across an estimated range (`bench specs ID` says where).")


def spec_table(rows, chosen_profiles) -> render.Table:
    """One line per part with its classification under each profile, nothing cut off."""
    columns = ["id", "name", "TPP", "set by", "derived TPP", "PD", "DRAM BW (GB/s)", "confidence", "flags"]
    columns += [p.id for p in chosen_profiles]
    lines = []
    for row in rows:
        pd = _num(row["performance_density"], "{:.2f}") + ("~" if row["die_area_estimate"] and row["performance_density"] else "")
        bw = _num(row["dram_bandwidth_gbps"]) + ("~" if row["dram_bandwidth_range"] else "")
        line = [row["id"], row["name"], _num(row["tpp"]), row["tpp_dtype"] or "-",
                _num(row["derived"] and row["derived"]["tpp"]), pd, bw, row["confidence"], _flags(row)]
        for p in chosen_profiles:
            result = row["classification"][p.id]
            line.append(result["short"] + ("*" if result["depends_on"] else ""))
        lines.append(line)
    align = ["l", "l", "r", "l", "r", "r", "r", "l", "l"] + ["l"] * len(chosen_profiles)
    return render.Table(columns, lines, align=align, note=SPEC_NOTE)


def _range_text(low_high, fmt="{:,.0f}") -> str:
    return f"{fmt.format(low_high[0])}–{fmt.format(low_high[1])}" if low_high else ""


def _detail(row, spec) -> str:
    lines = [f"{spec.name} ({spec.id}) — {spec.vendor}, {spec.architecture}; confidence {spec.confidence}"
             + (" [the whole spec is an estimate]" if spec.estimate else "")]
    readings = row["tpp_readings"]
    lines.append(f"  TPP {row['tpp']:,.1f} (set by {row['tpp_dtype']}; the reading every verdict uses)")
    for reading in readings[1:]:
        lines.append(f"    other reading: TPP {reading['tpp']:,.1f} — {reading['reading']}")
    area = f"{_num(spec.die_area_mm2, '{:,.1f}')} mm²"
    if spec.die_area_range:
        area += f", estimate, range {_range_text(spec.die_area_range)} mm²"
    if spec.die_area_basis:
        area += f"; counts: {spec.die_area_basis}"
    pd = _num(row["performance_density"], "{:.2f}")
    if row["performance_density_range"]:
        pd += f" (range {_range_text(row['performance_density_range'], '{:.2f}')})"
    lines.append(f"  performance density {pd}; applicable die area {area}")
    bandwidth = f"{_num(spec.dram_bandwidth_gbps)} GB/s"
    if spec.dram_bandwidth_range:
        bandwidth += f" ({spec.dram_bandwidth_basis}; range {_range_text(spec.dram_bandwidth_range)} GB/s)"
    lines.append(f"  memory {_num(spec.memory_gib, '{:g}')} GiB at {bandwidth} (datasheet peak, all stacks); "
                 f"interconnect {spec.interconnect_kind or '-'} {_num(spec.bidirectional_io_gbps)} GB/s bidirectional; "
                 f"datacenter: {spec.datacenter}")
    lines.append("  dense peaks (1e12 op/s):")
    for peak in spec.peaks:
        acc = f", {peak.accumulate} accumulate" if peak.accumulate else ""
        lines.append(f"    {peak.dtype:9} {peak.tops:>10,.2f} ({peak.unit}{acc}) -> TPP {peak.tpp:,.0f}   [{peak.source}]")
    if row["derived"]:
        d = row["derived"]
        lines.append(f"  derived: {d['units']} units x {d['clock_mhz']:g} MHz ({d['architecture']}) -> TPP {d['tpp']:,.0f}")
    for label, result in row["classification"].items():
        text = f"  {label}: {result['label']}" + (f" [{result['short']}]" if result["short"] != "none" else "")
        hidden = [c for c in result["criteria_met"] if c not in result["matched"]]
        if hidden:
            reason = f"exempted by {', '.join(result['exempted_by'])}" if result["exempted_by"] else "a higher paragraph applies"
            text += f" (criteria of {', '.join(hidden)} also met; {reason})"
        lines.append(text)
        lines += [f"      {profiles.describe_factor(f)}" for f in result["sensitivity"]]
    if spec.notes:
        lines.append(f"  notes: {spec.notes}")
    lines.append("  sources:")
    used = {peak.source for peak in spec.peaks} | set(spec.field_sources.values())
    lines += [f"    {key}: {text}" for key, text in spec.sources.items() if key in used]
    return "\n".join(lines)
