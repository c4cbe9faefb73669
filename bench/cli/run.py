"""`bench run`: measure the suites on a device and write a results folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench import render
from bench.analysis.health import health_text
from bench.cli import common_args, run_units
from bench.errors import EXIT_CHECK_FAILED, EXIT_INCONCLUSIVE, EXIT_OK
from bench.lab.request import RunRequest
from bench.measure import distributed
from bench.measure.results import RUN_FILE, RunWriter, new_run_id
from bench.measure.runner import Runner, RunOptions, new_run
from bench.present.ci_outputs import write_run_exports
from bench.present.progress import make_observer
from bench.rules.verdict import check_run, render_verdict, save_verdict

DEFAULTS = RunRequest()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="measure GEMM, attention and memory streams on a device",
                              description="Measure the suites on a device; write results/<run-id>/run.json.",
                              **common_args.examples("run"))
    common_args.add_device(p, DEFAULTS.device)
    p.add_argument("--suite", default=DEFAULTS.suite, help="quick, default, full, or a YAML path (default: default)")
    p.add_argument("--suites", help="comma-separated subset of the config's suites, e.g. gemm,stream")
    p.add_argument("--dtypes", help="comma-separated subset of dtypes for gemm and attention, e.g. bf16,fp32")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set suites.gemm.shapes=[[4096,4096,4096]] (repeatable)")
    p.add_argument("--results-dir", default=DEFAULTS.results_dir, help="parent folder of run folders (default: ./results)")
    p.add_argument("--out", help="exact run folder to write (overrides --results-dir/<run-id>); must be new or empty")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty --out folder (its old signature and verdict are removed)")
    common_args.add_verdict_options(p, profile_help="after measuring, run `bench check` against this threshold profile",
                                    declared_help="with --profile: declared spec (database name or YAML file)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    common_args.add_json(p, "print the run summary as JSON instead of tables")
    run_units.add_arguments(p)  # --plan, --parallel, --stand-ins, torchrun/srun options
    return p


def run(args: argparse.Namespace) -> int:
    request = run_units.apply_plan(RunRequest.from_args(args, ("bench", *sys.argv[1:])))
    launch = distributed.detect_launch()
    if launch and not request.unit:
        return run_units.run_ranks(request, launch)
    with run_units.interrupts_as_keyboard():
        setup = run_units.prepare(request)  # every option checked here, before the first kernel
        if setup.specs:
            return run_units.run_node(request, setup)
        return _run_one(request, setup)


def _run_one(request: RunRequest, setup: run_units.Setup) -> int:
    run_dir = Path(request.out) if request.out else Path(request.results_dir) / new_run_id(
        setup.backend.cached_info().torch_device)
    try:
        return _measure_one(request, setup, run_dir)
    except OSError as exc:  # a full or failing disk: one line, and what is still on disk
        error = run_units.disk_error(exc, run_dir / RUN_FILE)
        if error is None:
            raise
        raise error from None


def _measure_one(request: RunRequest, setup: run_units.Setup, run_dir: Path) -> int:
    backend, config = setup.backend, setup.config
    label = backend.cached_info().torch_device
    run_id = run_dir.name if not request.out else new_run_id(label)
    options = RunOptions(command=list(request.command))
    with run_units.claim(run_dir, request):
        writer = RunWriter(run_dir, new_run(run_id, backend, config, options))
        run_units.prepare_unit(writer.run, request)
        writer.flush()
        observer = make_observer(request.quiet, request.json, sys.stderr, config)
        print(f"accelbench: {backend.cached_info().name} ({label}), suite {config['name']} -> {run_dir}",
              file=sys.stderr)
        try:
            result = Runner(backend, config, writer, observer, options).run()
        except KeyboardInterrupt:
            observer.close()
            run_units.close_interrupted(writer)
            kept = len(writer.run["measurements"])
            print(f"bench run: interrupted; {kept} measurement(s) kept in {writer.path} "
                  f"(status {writer.run.get('status')})", file=sys.stderr)
            return EXIT_INCONCLUSIVE
        observer.close()
        code = EXIT_OK if result["summary"]["counts"]["failed_checks"] == 0 else EXIT_CHECK_FAILED
        write_run_exports(run_dir, result)
        if request.json:
            print(json.dumps({"run_dir": str(run_dir), "summary": result["summary"]}, indent=1, default=str))
        else:
            print(render.summary_text(result))
            print(health_text(result))
        if request.profile:
            code = max(code, _check(run_dir, request, writer if request.plan or request.unit else None))
    print(f"Results: {run_dir}", file=sys.stderr if request.json else sys.stdout)
    return code


def _check(run_dir: Path, request: RunRequest, writer: RunWriter | None = None) -> int:
    verdict = check_run(run_dir, profile=request.profile, declared=request.declared, rule=request.decision_rule)
    if writer is not None:  # plan and unit runs keep their verdict in run.json
        run_units.store_verdict(writer, verdict, request)
    else:
        save_verdict(run_dir, verdict)
    print()
    print(render_verdict(verdict))
    return verdict.exit_code
