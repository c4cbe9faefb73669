"""The multi-unit side of `bench run`: test plans (--plan), every device of a node (cuda:all,
CPU stand-ins) and torchrun / srun ranks. Not a command of its own; bench/commands/run.py calls it."""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys
from pathlib import Path
from typing import Any

from bench import distributed, multiunit, render
from bench.config import load_suite_config
from bench.devices import select
from bench.devices.registry import parse_device
from bench.errors import EXIT_CHECK_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, UsageError
from bench.multiunit import UnitSpec
from bench.plan import Plan, load_plan, validate_against_config
from bench.record.folder import RunFolder
from bench.results import new_run_id
from bench.runner import host_record

PLAN_FIXED = {"suite": "default", "set": [], "suites": None, "dtypes": None, "profile": None, "declared": None,
              "decision_rule": "guarded"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", help="test plan YAML: suites, dtypes, device, profile, decision rule, manifest "
                                  "(its SHA-256 goes into every run.json)")
    p.add_argument("--parallel", action="store_true",
                   help="with several devices (e.g. cuda:all): measure them all at once, as in production")
    p.add_argument("--stand-ins", type=int, default=0, metavar="N",
                   help="CPU only: measure N CPU processes standing in for N units (labelled stand-in)")
    p.add_argument("--dist-timeout", type=float, default=distributed.DEFAULT_TIMEOUT_S, metavar="S",
                   help=f"torchrun/srun: seconds before a collective or the gather gives up on a rank "
                        f"(default {distributed.DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--worker-timeout", type=float, default=None, metavar="S",
                   help="several devices: kill and record a worker that runs longer than this")
    for name in ("--unit-label", "--parent-run-id", "--label-note", "--assigned-serial"):  # set by the parent
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--stand-in", action="store_true", help=argparse.SUPPRESS)


# --- plan ------------------------------------------------------------------------------------

def apply_plan(args: argparse.Namespace) -> Plan | None:
    """Load the plan and put its choices into args; refuse command-line options the plan fixes."""
    if not args.plan:
        return None
    plan = load_plan(args.plan)
    clashing = [f"--{k.replace('_', '-')}" for k, default in PLAN_FIXED.items() if getattr(args, k) != default]
    if clashing and not args.unit_label:
        raise UsageError(f"--plan fixes what is measured; drop {', '.join(clashing)} or edit {plan.path}")
    validate_against_config(plan)
    args.suite, args.set = plan.suite, list(plan.overrides)
    args.suites = ",".join(plan.suites) or None
    args.dtypes = ",".join(plan.dtypes) or None
    args.profile, args.declared, args.decision_rule = plan.profile, plan.declared, plan.decision_rule
    if plan.device and args.device == "auto":
        args.device = plan.device
    args.parallel = args.parallel or plan.parallel
    return plan


def passthrough(args: argparse.Namespace) -> list[str]:
    """Options a worker needs to measure exactly what the parent would."""
    if args.plan:
        return ["--plan", args.plan]
    out = ["--suite", args.suite]
    for item in args.set:
        out += ["--set", item]
    for flag, value in (("--suites", args.suites), ("--dtypes", args.dtypes), ("--profile", args.profile),
                        ("--declared", args.declared)):
        if value:
            out += [flag, value]
    return out + ["--decision-rule", args.decision_rule]


# --- one unit's run.json ----------------------------------------------------------------------

def prepare_unit(run: dict[str, Any], args: argparse.Namespace, plan: Plan | None) -> None:
    """Plan record, unit block and stand-in labels in a unit's run dict, before measuring."""
    if plan:
        run["plan"] = plan.record()
    if args.unit_label or args.stand_in:
        spec = UnitSpec(args.unit_label or "unit", args.device, args.stand_in, args.label_note, args.assigned_serial)
        multiunit.mark_unit(run, spec, args.parent_run_id or run["run_id"])


def store_verdict(writer: Any, verdict: Any, args: argparse.Namespace) -> None:
    """Keep the verdict in the unit's run.json, with the parameters `bench verify` re-runs it with."""
    writer.run["verdict"] = {**verdict.to_dict(), "parameters": {
        "profile": args.profile, "declared": args.declared, "rule": args.decision_rule}}
    writer.flush()


# --- which units ------------------------------------------------------------------------------

def unit_specs(args: argparse.Namespace, plan: Plan | None) -> list[UnitSpec] | None:
    """The units of a multi-unit run, or None for the ordinary single-device run."""
    if args.unit_label:
        return None
    kind, _ = parse_device(args.device)
    stand_ins = list(plan.stand_ins) if plan else []
    if args.stand_ins and stand_ins:
        raise UsageError("--stand-ins: the plan's manifest already names its stand-in units")
    if args.stand_ins < 0:
        raise UsageError("--stand-ins must be >= 0")
    if (stand_ins or args.stand_ins) and kind != "cpu":
        raise UsageError("stand-in units are CPU processes: use --device cpu")
    if stand_ins:
        return [UnitSpec(unit.label or f"cpu-{i}", "cpu", True, unit.note or multiunit.stand_in_note(i),
                         unit.unit_id) for i, unit in enumerate(stand_ins)]
    if args.stand_ins >= 2:
        return [UnitSpec(f"cpu-{i}", "cpu", True, multiunit.stand_in_note(i)) for i in range(args.stand_ins)]
    backends = select(args.device)
    if len(backends) < 2:
        return None
    specs = []
    for backend in backends:
        info = backend.info()
        label = info.torch_device.replace(":", "-")
        specs.append(UnitSpec(label, f"{info.backend}:{info.index if info.index is not None else 0}"))
    return specs


def _resolved_config(args: argparse.Namespace) -> dict[str, Any]:
    from bench.commands.run import _apply_filters

    config = load_suite_config(args.suite, list(args.set))
    _apply_filters(config, args)
    return config


def _print_units(node: dict[str, Any], run_dir: Path) -> None:
    rows = []
    for unit in node["units"]:
        summary = unit.get("summary") or {}
        tpp = (summary.get("effective_tpp") or {}).get("max")
        bw = (summary.get("effective_dram_bandwidth") or {}).get("value")
        busbw = ((summary.get("interconnect") or {}).get("all_reduce") or {}).get("busbw")
        rows.append([unit["unit"], unit.get("device_spec") or "-", unit["status"],
                     "yes" if unit.get("stand_in") else "no",
                     "-" if tpp is None else f"{tpp:,.0f}", "-" if bw is None else f"{bw:,.1f}",
                     "-" if busbw is None else f"{busbw:,.2f}", (unit.get("verdict") or {}).get("verdict") or "-",
                     unit.get("error") or ""])
    print(render.table(["unit", "device", "status", "stand-in", "eff. TPP", "DRAM GB/s", "all-reduce busbw GB/s",
                        "verdict", "error"], rows))
    for unit in node["units"]:
        if unit.get("label_note"):
            print(f"LABEL {unit['unit']}: {unit['label_note']}")
        for line in unit.get("output_tail") or []:
            print(f"  {unit['unit']} | {line}", file=sys.stderr)
    print(f"Results: {run_dir} ({len(node['units'])} units, status {node['status']})")


def _exit_code(node: dict[str, Any]) -> int:
    code = EXIT_OK
    for unit in node["units"]:
        if unit["status"] != "complete":
            code = max(code, EXIT_INCONCLUSIVE)
        elif unit.get("exit_code") not in (None, 0):
            code = max(code, unit["exit_code"])
        elif (unit.get("summary") or {}).get("counts", {}).get("failed_checks"):
            code = max(code, EXIT_CHECK_FAILED)
    return code


# --- several devices of one node: one worker process each ---------------------------------------

def run_node(args: argparse.Namespace, plan: Plan | None, specs: list[UnitSpec]) -> int:
    config = _resolved_config(args)
    kind = specs[0].device.split(":")[0]
    run_id = new_run_id(f"{kind}-x{len(specs)}")
    run_dir = Path(args.out) if args.out else Path(args.results_dir) / run_id
    mode = "parallel" if args.parallel else "sequential"
    node = multiunit.node_run(run_id, ["bench", *sys.argv[1:]], config, plan.record() if plan else None,
                              f"workers ({mode})", host_record())
    RunFolder(run_dir).write_run(node)
    print(f"accelbench: {len(specs)} units ({', '.join(s.label for s in specs)}), {mode}, suite {config['name']} "
          f"-> {run_dir}", file=sys.stderr)
    progress = (lambda line: None) if args.quiet else (lambda line: print(f"  {line}", file=sys.stderr))
    units = multiunit.run_workers(specs, run_dir, run_id, passthrough(args), args.parallel, progress,
                                  args.worker_timeout)
    node = multiunit.finish_node(run_dir, node, units)
    _print_units(node, run_dir)
    return _exit_code(node)


# --- torchrun / srun: this process is one rank -------------------------------------------------------

def run_rank(args: argparse.Namespace, plan: Plan | None, launch: distributed.Launch) -> int:
    from bench.progress import LineObserver, QuietObserver
    from bench.results import RunWriter
    from bench.runner import Runner, RunOptions, new_run

    kind, _ = parse_device(args.device)
    if kind == "auto":
        kind = select("auto")[0].info().backend
    config = _resolved_config(args)  # every rank validates; a bad config fails everywhere at once
    backend_name = distributed.init(launch, kind, args.dist_timeout)
    control = distributed.Control(args.dist_timeout)
    try:
        if launch.is_main:
            run_id = new_run_id(f"{kind}-ranks{launch.world_size}")
            shared = (run_id, str(Path(args.out) if args.out else Path(args.results_dir) / run_id))
        run_id, run_dir_text = control.broadcast(shared if launch.is_main else None)
        run_dir = Path(run_dir_text)
        hosts = [None] * launch.world_size
        control.dist.all_gather_object(hosts, socket.gethostname(), group=control.group)
        spec = _rank_spec(launch, kind, hosts)
        try:
            backend = select(spec.device)[0]
            options = RunOptions(command=["bench", *sys.argv[1:]])
            unit_dir = run_dir / spec.run_dir
            writer = RunWriter(unit_dir, new_run(f"{run_id}-rank{launch.rank}", backend, config, options))
            writer.run["distributed"] = {"rank": launch.rank, "world_size": launch.world_size,
                                         "local_rank": launch.local_rank, "launcher": launch.launcher,
                                         "backend": backend_name}
            if plan:
                writer.run["plan"] = plan.record()
            multiunit.mark_unit(writer.run, spec, run_id)
            writer.flush()
            observer = LineObserver(config=config) if launch.is_main and not (args.quiet or args.json) else QuietObserver()
            if launch.is_main:
                print(f"accelbench: {launch.world_size} ranks ({backend_name}), suite {config['name']} -> {run_dir}",
                      file=sys.stderr)
            Runner(backend, config, writer, observer, options).run()
            if args.profile:
                from bench.verdict import check_run

                store_verdict(writer, check_run(writer.run, profile=args.profile, declared=args.declared,
                                                rule=args.decision_rule), args)
            record: dict[str, Any] = writer.run
        except Exception as exc:  # reported to rank 0 instead of a result, never a hang
            record = distributed.error_record(launch.rank, exc)
        record = {**record, "_spec": dataclasses.asdict(spec)}
        records, problems = control.gather(record, launch.world_size)
        if not launch.is_main:
            return EXIT_OK if record.get("status") == "complete" else EXIT_INCONCLUSIVE
        node = multiunit.node_run(run_id, ["bench", *sys.argv[1:]], config, plan.record() if plan else None,
                                  f"torch.distributed ({launch.launcher}, {backend_name}, {launch.world_size} ranks)",
                                  host_record())
        units = [_rank_unit(run_dir, rank, rec, problems) for rank, rec in enumerate(records)]
        node = multiunit.finish_node(run_dir, node, units, problems)
        _print_units(node, run_dir)
        return _exit_code(node)
    finally:
        distributed.shutdown()


def _rank_spec(launch: distributed.Launch, kind: str, hosts: list[str | None]) -> UnitSpec:
    device = "cpu" if kind == "cpu" else f"{kind}:{launch.local_rank}"
    label = f"rank{launch.rank}"
    if kind != "cpu":
        return UnitSpec(label, device)
    first = hosts.index(hosts[launch.rank])
    if first == launch.rank:
        note = f"CPU stand-in: rank {launch.rank} measures the CPU of host {hosts[launch.rank]}, not an accelerator"
    else:
        note = (f"CPU stand-in: rank {launch.rank} shares host {hosts[launch.rank]}'s CPU with rank {first}; "
                "it simulates a further unit and its numbers are not independent")
    return UnitSpec(label, device, True, note)


def _rank_unit(run_dir: Path, rank: int, record: dict[str, Any] | None, problems: list[str]) -> dict[str, Any]:
    if record is None:
        spec = UnitSpec(f"rank{rank}", "unknown")
        return multiunit.unit_record(spec, None, None, [], "no result received from this rank: "
                                     + ("; ".join(problems) or "it did not reach the gather"))
    spec = UnitSpec(**record.pop("_spec"))
    if record.get("status") == "failed" and "error" in record:
        return multiunit.unit_record(spec, None, None, record.get("traceback_tail") or [], record["error"])
    multiunit.write_unit(run_dir / spec.run_dir, record)  # remote ranks' folders may be on another disk
    return multiunit.unit_record(spec, record, None, [])
