"""`bench specs [NAME] [--profile P] [--json]`: the device specification database with computed
TPP, performance density, DRAM bandwidth and the classification under each (or one) profile."""

from __future__ import annotations

import argparse
import json

from bench import profiles, specs
from bench.commands import common_args


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("specs", help="declared device specs, TPP and export-control classification",
                                   description=__doc__, **common_args.examples("specs"))
    parser.add_argument("name", nargs="?", help="one device (id, name or driver name), or 'cpu' for this host")
    common_args.add_profile(parser, help="classify under this profile only (id or file); default: all")
    common_args.add_json(parser)
    return parser


def _selected(args, database):
    if not args.name:
        return database.devices
    return [specs.load_declared(args.name, database)]


def run(args) -> int:
    database = specs.load_database()
    chosen = _selected(args, database)
    chosen_profiles = [profiles.load_profile(args.profile)] if args.profile else profiles.list_profiles()
    rows = []
    for spec in chosen:
        derived = database.derived_for_spec(spec)
        rows.append({**spec.to_dict(), "derived": None if derived is None else {
                         "architecture": derived.architecture, "units": derived.units, "clock_mhz": derived.clock_mhz,
                         "tops_by_dtype": derived.tops_by_dtype, "tpp": derived.tpp, "source": derived.source},
                     "classification": {p.id: _classification(spec, p) for p in chosen_profiles}})
    if args.json:
        print(json.dumps({"devices": rows, "profiles": [p.id for p in chosen_profiles]}, indent=2, default=str))
        return 0
    if args.name:
        print(_detail(rows[0], chosen[0]))
    else:
        print(_table(rows, chosen_profiles))
    return 0


def _classification(spec, profile) -> dict:
    result = profiles.classify_spec(spec, profile)
    return {"conforms": result.conforms, "label": result.label, "matched": result.matched,
            "exempted_by": result.exempted_by, "undetermined": result.undetermined, "short": result.short()}


def _num(value, fmt="{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _table(rows, chosen_profiles) -> str:
    head = f"{'id':13} {'name':32} {'TPP':>8} {'set by':8} {'derived':>8} {'PD':>6} {'BW GB/s':>8} {'conf':6}"
    head += "".join(f" {p.id:>22}" for p in chosen_profiles)
    lines = [head]
    for row in rows:
        pd = _num(row["performance_density"], "{:.2f}") + ("~" if row["die_area_estimate"] and row["performance_density"] else "")
        line = (f"{row['id']:13} {row['name'][:32]:32} {_num(row['tpp']):>8} {row['tpp_dtype'] or '-':8} "
                f"{_num(row['derived'] and row['derived']['tpp']):>8} {pd:>6} {_num(row['dram_bandwidth_gbps']):>8} "
                f"{row['confidence']:6}")
        line += "".join(f" {row['classification'][p.id]['short'][:22]:>22}" for p in chosen_profiles)
        lines.append(line)
    lines.append("TPP = dense peak TOPS x input bit length, max over data types (computed from the per-dtype peaks). "
                 "PD = TPP / applicable die area (~ = area is an estimate). 'derived' = units x clock x ops/clock.")
    return "\n".join(lines)


def _detail(row, spec) -> str:
    lines = [f"{spec.name} ({spec.id}) — {spec.vendor}, {spec.architecture}; confidence {spec.confidence}"
             + (" [estimate]" if spec.estimate else ""),
             f"  TPP {row['tpp']:,.1f} (set by {row['tpp_dtype']}), performance density {_num(row['performance_density'], '{:.2f}')}"
             f" (die area {_num(spec.die_area_mm2, '{:.1f}')} mm²{', estimate' if spec.die_area_estimate else ''})",
             f"  memory {_num(spec.memory_gib, '{:g}')} GiB at {_num(spec.dram_bandwidth_gbps)} GB/s; interconnect "
             f"{spec.interconnect_kind or '-'} {_num(spec.bidirectional_io_gbps)} GB/s bidirectional; "
             f"datacenter: {spec.datacenter}", "  dense peaks (1e12 op/s):"]
    for peak in spec.peaks:
        acc = f", {peak.accumulate} accumulate" if peak.accumulate else ""
        lines.append(f"    {peak.dtype:9} {peak.tops:>10,.2f} ({peak.unit}{acc}) -> TPP {peak.tpp:,.0f}   [{peak.source}]")
    if row["derived"]:
        d = row["derived"]
        lines.append(f"  derived: {d['units']} units x {d['clock_mhz']:g} MHz ({d['architecture']}) -> TPP {d['tpp']:,.0f}")
    for label, result in row["classification"].items():
        lines.append(f"  {label}: {result['label']}" + (f" [{result['short']}]" if result["short"] != "none" else ""))
    if spec.notes:
        lines.append(f"  notes: {spec.notes}")
    lines.append("  sources:")
    used = {peak.source for peak in spec.peaks} | set(spec.field_sources.values())
    lines += [f"    {key}: {text}" for key, text in spec.sources.items() if key in used]
    return "\n".join(lines)
