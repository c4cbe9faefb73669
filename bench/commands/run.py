"""`bench run`: measure the suites on a device and write a results folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench import distributed, render
from bench.ci_outputs import write_run_exports
from bench.commands import run_units
from bench.config import load_suite_config
from bench.devices import select
from bench.errors import EXIT_CHECK_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, UsageError
from bench.health import health_text
from bench.progress import make_observer
from bench.results import RunWriter, new_run_id
from bench.runner import Runner, RunOptions, new_run


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="measure GEMM, attention and memory streams on a device",
                              description="Measure the suites on a device; write results/<run-id>/run.json.")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, rocm, npu, xpu, mps; with :N for one index")
    p.add_argument("--suite", default="default", help="quick, default, full, or a YAML path (default: default)")
    p.add_argument("--suites", help="comma-separated subset of the config's suites, e.g. gemm,stream")
    p.add_argument("--dtypes", help="comma-separated subset of dtypes for gemm and attention, e.g. bf16,fp32")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set suites.gemm.shapes=[[4096,4096,4096]] (repeatable)")
    p.add_argument("--results-dir", default="results", help="parent folder of run folders (default: ./results)")
    p.add_argument("--out", help="exact run folder to write (overrides --results-dir/<run-id>)")
    p.add_argument("--profile", help="after measuring, run `bench check` against this threshold profile")
    p.add_argument("--declared", help="with --profile: declared spec (database name or YAML file)")
    p.add_argument("--decision-rule", choices=("simple", "guarded"), default="guarded")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON instead of tables")
    run_units.add_arguments(p)  # --plan, --parallel, --stand-ins, torchrun/srun options
    return p


def _apply_filters(config: dict[str, Any], args: argparse.Namespace) -> None:
    if args.suites:
        wanted = [s.strip() for s in args.suites.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in config["suites"]]
        if unknown:
            raise UsageError(f"--suites: {', '.join(unknown)} not in config {config['name']} "
                             f"(it has {', '.join(config['suites'])})")
        config["suites"] = {name: config["suites"][name] for name in wanted}
    if args.dtypes:
        wanted = [d.strip() for d in args.dtypes.split(",") if d.strip()]
        known = {d for name in ("gemm", "attention") for d in config["suites"].get(name, {}).get("dtypes", [])}
        unknown = [d for d in wanted if d not in known]
        if unknown:
            raise UsageError(f"--dtypes: unknown or not configured: {', '.join(unknown)} (configured: {', '.join(sorted(known))})")
        for name in ("gemm", "attention"):
            if name in config["suites"]:
                kept = [d for d in config["suites"][name]["dtypes"] if d in wanted]
                if kept:
                    config["suites"][name]["dtypes"] = kept
                else:
                    del config["suites"][name]


def run(args: argparse.Namespace) -> int:
    plan = run_units.apply_plan(args)  # a plan that does not validate stops here, before anything runs
    launch = distributed.detect_launch()
    if launch and not args.unit_label:
        return run_units.run_rank(args, plan, launch)
    specs = run_units.unit_specs(args, plan)
    if specs:
        return run_units.run_node(args, plan, specs)
    config = load_suite_config(args.suite, args.set)
    _apply_filters(config, args)
    backends = select(args.device)
    if len(backends) != 1:
        raise UsageError(f"--device {args.device} names {len(backends)} devices; `bench run` measures one at a time here")
    backend = backends[0]
    label = backend.cached_info().torch_device
    run_id = new_run_id(label)
    run_dir = Path(args.out) if args.out else Path(args.results_dir) / run_id
    options = RunOptions(command=["bench", *sys.argv[1:]])
    writer = RunWriter(run_dir, new_run(run_id, backend, config, options))
    run_units.prepare_unit(writer.run, args, plan)
    writer.flush()
    observer = make_observer(args.quiet, args.json, sys.stderr, config)
    print(f"accelbench: {backend.cached_info().name} ({label}), suite {config['name']} -> {run_dir}", file=sys.stderr)
    try:
        result = Runner(backend, config, writer, observer, options).run()
    except KeyboardInterrupt:
        observer.close()
        kept = len(writer.run["measurements"])
        print(f"bench run: interrupted; {kept} measurement(s) kept in {writer.path} (marked incomplete)", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    observer.close()
    code = EXIT_OK if result["summary"]["counts"]["failed_checks"] == 0 else EXIT_CHECK_FAILED
    write_run_exports(run_dir, result)
    if args.json:
        print(json.dumps({"run_dir": str(run_dir), "summary": result["summary"]}, indent=1, default=str))
    else:
        print(render.summary_text(result))
        print(health_text(result))
    if args.profile:
        code = max(code, _check(run_dir, args, writer if plan or args.unit_label else None))
    print(f"Results: {run_dir}", file=sys.stderr if args.json else sys.stdout)
    return code


def _check(run_dir: Path, args: argparse.Namespace, writer: RunWriter | None = None) -> int:
    from bench.verdict import check_run, render_verdict, save_verdict

    verdict = check_run(run_dir, profile=args.profile, declared=args.declared, rule=args.decision_rule)
    if writer is not None:  # plan and unit runs keep their verdict in run.json
        run_units.store_verdict(writer, verdict, args)
    else:
        save_verdict(run_dir, verdict)
    print()
    print(render_verdict(verdict))
    return verdict.exit_code
