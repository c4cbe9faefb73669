"""The multi-unit side of `bench run` and the checks every run passes before its first kernel:
test plans (--plan), every device of a node (bench.lab.node), torchrun / srun ranks (bench.lab.ranks).
Not a command of its own; bench/cli/run.py calls it. Only this layer prints."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Iterator

from bench import render
from bench.analysis.summary import build_summary
from bench.devices import select
from bench.devices.base import Backend
from bench.devices.registry import parse_device
from bench.errors import EXIT_CHECK_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, ResultsError, UsageError
from bench.lab import multiunit, node, ranks, run_folder
from bench.lab.multiunit import UnitSpec
from bench.lab.plan import load_plan, validate_against_config
from bench.lab.request import RunRequest
from bench.measure import distributed
from bench.measure.config import load_suite_config
from bench.measure.config import select as select_suites
from bench.measure.results import RunWriter, new_run_id
from bench.measure.runner import Runner, RunOptions, host_record, new_run
from bench.present.progress import LineObserver, QuietObserver
from bench.record.folder import RUN_FILE, RunFolder, safe_label
from bench.rules.profiles import load_profile
from bench.rules.specs import load_declared
from bench.rules.verdict import check_run

DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


def add_arguments(p: argparse.ArgumentParser) -> None:
    defaults = RunRequest()
    p.add_argument("--plan", help="test plan YAML: suites, dtypes, device, profile, decision rule, manifest "
                                  "(its SHA-256 goes into every run.json)")
    p.add_argument("--parallel", action="store_true",
                   help="with several devices (e.g. cuda:all): measure them all at once, as in production")
    p.add_argument("--stand-ins", type=int, default=defaults.stand_ins, metavar="N",
                   help="CPU only: measure N CPU processes standing in for N units (labelled stand-in)")
    p.add_argument("--dist-timeout", type=float, default=defaults.dist_timeout, metavar="S",
                   help=f"torchrun/srun: seconds before a collective or the gather gives up on a rank "
                        f"(default {defaults.dist_timeout:g})")
    p.add_argument("--worker-timeout", type=float, default=defaults.worker_timeout, metavar="S",
                   help="several devices: kill and record a worker that runs longer than this")
    # The wire format from a parent to its workers (bench.lab.request.UnitRole), hidden from --help.
    for name in ("--unit-label", "--parent-run-id", "--label-note", "--assigned-serial", "--physical-device"):
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--stand-in", action="store_true", help=argparse.SUPPRESS)


# --- before the first kernel ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Setup:
    """What a validated request resolved to: the suite config and either units or one backend."""

    config: dict[str, Any]
    specs: list[UnitSpec] | None = None
    backend: Backend | None = None


def apply_plan(request: RunRequest) -> RunRequest:
    """The request with its plan applied; a plan that does not validate stops here."""
    if not request.plan_path:
        return request
    plan = load_plan(request.plan_path)
    applied = plan.apply(request)
    validate_against_config(plan)
    return applied


def resolved_config(request: RunRequest) -> dict[str, Any]:
    return select_suites(load_suite_config(request.suite, list(request.overrides)), request.suites, request.dtypes)


def check_verdict_options(request: RunRequest) -> None:
    """--profile and --declared load now, so a typo never costs a measured run."""
    if request.declared and not request.profile:
        raise UsageError("--declared is judged against a profile: add --profile PROFILE (e.g. us-2026-01)")
    if request.profile:
        load_profile(request.profile)
    if request.declared:
        load_declared(request.declared)


def check_output(request: RunRequest) -> None:
    if request.out:
        run_folder.check_out(Path(request.out), request.force)
    else:
        run_folder.check_out(Path(request.results_dir), force=True, contents=False, option="--results-dir")


def prepare(request: RunRequest) -> Setup:
    """Every option checked (config, profile, declared spec, output folder, device) and resolved."""
    config = resolved_config(request)
    check_verdict_options(request)
    check_output(request)
    specs = stand_in_specs(request)
    if specs:
        return Setup(config, specs)
    backends = select(request.device)
    if len(backends) > 1 and not request.unit:
        return Setup(config, [device_spec(backend.info()) for backend in backends])
    if len(backends) != 1:
        raise UsageError(f"--device {request.device} names {len(backends)} devices; a unit worker measures one")
    _say_fallback(request, backends[0])
    return Setup(config, None, backends[0])


def _say_fallback(request: RunRequest, backend: Backend) -> None:
    if parse_device(request.device)[0] == "auto" and backend.cached_info().backend == "cpu":
        reason = backend.auto_fallback_reason or "no accelerator found"
        print(f"bench run: --device auto: {reason}; measuring the CPU", file=sys.stderr)


def claim(run_dir: Path, request: RunRequest) -> run_folder.FolderLock:
    lock = run_folder.claim(run_dir, request.force)
    if lock.removed:
        print(f"bench run: --force: removed {', '.join(lock.removed)} of the run replaced in {run_dir}", file=sys.stderr)
    return lock


# --- interrupts ----------------------------------------------------------------------------------------

def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """SIGTERM (Slurm, `timeout`, a container stop) handled like Ctrl-C, in the main thread. SIGINT
    too, explicitly: a process started in the background by a shell without job control inherits
    SIGINT ignored, and Python then leaves it ignored, so a lot's parent could not stop its workers."""
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
                signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a final record is written, so an interrupt cannot leave it
    `running`; a signal that came meanwhile is raised afterwards."""
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        raise KeyboardInterrupt(signal.Signals(pending[0]).name)


def close_interrupted(writer: RunWriter) -> None:
    """After an interrupt the run.json says `incomplete` or `complete`, never `running`."""
    with shielded(), contextlib.suppress(OSError):
        if writer.run.get("status") == "running":
            writer.run["summary"] = build_summary(writer.run)
            writer.finish("incomplete", interrupted="interrupted (Ctrl-C or SIGTERM)")
        else:
            writer.finish(writer.run["status"])


def disk_error(exc: OSError, path: Path) -> ResultsError | None:
    """A full or failing disk as one line, naming what is still on disk."""
    if exc.errno not in DISK_ERRORS:
        return None
    try:
        kept = len(json.loads(path.read_text()).get("measurements", []))
        note = f"the last good {path} is kept ({kept} measurement(s))"
    except (OSError, ValueError):
        note = f"{path} could not be read back"
    return ResultsError(f"cannot write results: {exc.strerror or exc} ({exc.filename or path}); {note}")


# --- one unit's run.json ----------------------------------------------------------------------

def prepare_unit(run: dict[str, Any], request: RunRequest) -> None:
    """Plan record, unit block and stand-in labels in a unit's run dict, before measuring."""
    if request.plan:
        run["plan"] = request.plan.record()
    role = request.unit
    if role or request.stand_in:
        spec = UnitSpec(role.label if role else "unit", (role and role.physical_device) or request.device,
                        request.stand_in, role.note if role else None, role.assigned_serial if role else None)
        multiunit.mark_unit(run, spec, (role and role.parent_run_id) or run["run_id"])
    if role and role.physical_device:  # the worker measured kind:0 of what it was shown
        kind = role.physical_device.split(":")[0]
        variable = node.VISIBILITY_ENV.get(kind)
        run["device"].setdefault("extra", {}).update(
            unit_device=role.physical_device, visible_devices={variable: os.environ.get(variable)} if variable else None)


def store_verdict(writer: Any, verdict: Any, request: RunRequest) -> None:
    """Keep the verdict in the unit's run.json, with the parameters `bench verify` re-runs it with."""
    writer.run["verdict"] = {**verdict.to_dict(), "parameters": {
        "profile": request.profile, "declared": request.declared, "rule": request.decision_rule}}
    writer.flush()


# --- which units ------------------------------------------------------------------------------

def stand_in_specs(request: RunRequest) -> list[UnitSpec] | None:
    """CPU processes standing in for units (--stand-ins N, or the plan's stand_in units), if any."""
    if request.unit:
        return None
    kind, _ = parse_device(request.device)
    stand_ins = list(request.plan.stand_ins) if request.plan else []
    if request.stand_ins and stand_ins:
        raise UsageError("--stand-ins: the plan's manifest already names its stand-in units")
    if (stand_ins or request.stand_ins) and kind != "cpu":
        raise UsageError("stand-in units are CPU processes: use --device cpu")
    if stand_ins:
        return [UnitSpec(safe_label(unit.label or f"cpu-{i}"), "cpu", True,
                         unit.note or multiunit.stand_in_note(i), unit.unit_id) for i, unit in enumerate(stand_ins)]
    if request.stand_ins >= 2:
        return [UnitSpec(f"cpu-{i}", "cpu", True, multiunit.stand_in_note(i)) for i in range(request.stand_ins)]
    return None


def device_spec(info: Any, env: dict[str, str] | None = None) -> UnitSpec:
    """One accelerator of this node as a unit whose worker sees only it."""
    index = info.index if info.index is not None else 0
    visible = node.visible_id(info.backend, index, (info.extra or {}).get("uuid"), os.environ if env is None else env)
    return UnitSpec(info.torch_device.replace(":", "-"), f"{info.backend}:{index}", visible=visible)


def _print_units(record: dict[str, Any], run_dir: Path) -> None:
    rows = []
    for unit in record["units"]:
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
    for unit in record["units"]:
        if unit.get("label_note"):
            print(f"LABEL {unit['unit']}: {unit['label_note']}")
        for line in unit.get("output_tail") or []:
            print(f"  {unit['unit']} | {line}", file=sys.stderr)
    print(f"Results: {run_dir} ({len(record['units'])} units, status {record['status']})")


def exit_code(record: dict[str, Any]) -> int:
    code = EXIT_OK
    for unit in record["units"]:
        if unit["status"] != "complete":
            code = max(code, EXIT_INCONCLUSIVE)
        elif unit.get("exit_code") not in (None, 0):
            code = max(code, unit["exit_code"])
        elif (unit.get("summary") or {}).get("counts", {}).get("failed_checks"):
            code = max(code, EXIT_CHECK_FAILED)
    return code


def _finish_node(run_dir: Path, record: dict[str, Any], units: list[dict[str, Any]], problems: list[str]) -> dict[str, Any]:
    with shielded():
        return multiunit.finish_node(run_dir, record, units, problems)


# --- several devices of one node: one worker process each ---------------------------------------

def run_node(request: RunRequest, setup: Setup) -> int:
    specs = setup.specs or []
    kind = specs[0].device.split(":")[0]
    run_id = new_run_id(f"{kind}-x{len(specs)}")
    run_dir = Path(request.out) if request.out else Path(request.results_dir) / run_id
    try:
        return _run_node(request, setup, specs, run_id, run_dir)
    except OSError as exc:
        error = disk_error(exc, run_dir / RUN_FILE)
        if error is None:
            raise
        raise error from None


def _run_node(request: RunRequest, setup: Setup, specs: list[UnitSpec], run_id: str, run_dir: Path) -> int:
    mode = "parallel" if request.parallel else "sequential"
    with claim(run_dir, request):
        record = multiunit.node_run(run_id, list(request.command), setup.config,
                                    request.plan.record() if request.plan else None, f"workers ({mode})", host_record())
        RunFolder(run_dir).write_run(record)
        print(f"accelbench: {len(specs)} units ({', '.join(s.label for s in specs)}), {mode}, "
              f"suite {setup.config['name']} -> {run_dir}", file=sys.stderr)
        workers = node.NodeRun(request, specs, run_dir, run_id, node.QuietUnits() if request.quiet else node.LineUnits())
        units = workers.run()
        problems = ["interrupted (Ctrl-C or SIGTERM): the units' measurements so far are kept"] if workers.interrupted else []
        record = _finish_node(run_dir, record, units, problems)
    _print_units(record, run_dir)
    return EXIT_INCONCLUSIVE if workers.interrupted else exit_code(record)


# --- torchrun / srun: this process is one rank -------------------------------------------------------

class RunnerWork:
    """One rank's measurement with the ordinary Runner (bench.lab.ranks.RankWork)."""

    def __init__(self, request: RunRequest, config: dict[str, Any], launch: distributed.Launch, kind: str,
                 device_index: int | None, backend_name: str):
        self.request, self.config, self.launch, self.kind = request, config, launch, kind
        self.device_index, self.backend_name = device_index, backend_name
        self.writer: RunWriter | None = None

    def prepare(self, spec: UnitSpec, unit_dir: Path, run_id: str) -> None:
        device = spec.device if self.device_index is None or spec.stand_in else f"{self.kind}:{self.device_index}"
        self.backend = select(device)[0]
        self.options = RunOptions(command=list(self.request.command))
        self.writer = RunWriter(unit_dir, new_run(f"{run_id}-rank{self.launch.rank}", self.backend, self.config,
                                                  self.options))
        launch = self.launch
        self.writer.run["distributed"] = {"rank": launch.rank, "world_size": launch.world_size,
                                          "local_rank": launch.local_rank, "launcher": launch.launcher,
                                          "backend": self.backend_name}
        if self.request.plan:
            self.writer.run["plan"] = self.request.plan.record()
        multiunit.mark_unit(self.writer.run, spec, run_id)
        self.writer.flush()

    def measure(self) -> dict[str, Any]:
        assert self.writer is not None
        quiet = self.request.quiet or self.request.json or not self.launch.is_main
        observer = QuietObserver() if quiet else LineObserver(config=self.config)
        if self.launch.is_main:
            print(f"accelbench: {self.launch.world_size} ranks ({self.backend_name}), suite {self.config['name']}",
                  file=sys.stderr)
        try:
            Runner(self.backend, self.config, self.writer, observer, self.options).run()
        except KeyboardInterrupt:  # still reach the gather, so rank 0 records what this rank measured
            close_interrupted(self.writer)
            return self.writer.run
        if self.request.profile:
            verdict = check_run(self.writer.run, profile=self.request.profile, declared=self.request.declared,
                                rule=self.request.decision_rule)
            store_verdict(self.writer, verdict, self.request)
        return self.writer.run


def run_ranks(request: RunRequest, launch: distributed.Launch) -> int:
    kind = ranks.launch_kind(parse_device(request.device)[0])
    visibility, index = ranks.rank_visibility(kind, launch.local_rank, os.environ)
    os.environ.update(visibility)  # before the device runtime starts: this rank sees its own device only
    config = resolved_config(request)  # every rank validates; a bad config fails everywhere at once
    check_verdict_options(request)
    if kind == "auto":
        kind = select("auto")[0].info().backend
    backend_name = distributed.init(launch, kind, request.dist_timeout, index)
    control = distributed.Control(request.dist_timeout)
    work = RunnerWork(request, config, launch, kind, index, backend_name)
    locks: list[run_folder.FolderLock] = []

    def claim_top(run_dir: Path) -> None:
        locks.append(claim(run_dir, request))

    try:
        with interrupts_as_keyboard():
            run_dir, run_id, records, problems = ranks.run_rank(
                request, launch, kind, control, work, new_run_id, next(iter(visibility.values()), None), claim_top)
        if not launch.is_main:
            status = work.writer.run.get("status") if work.writer else None
            return EXIT_OK if status == "complete" else EXIT_INCONCLUSIVE
        mode = f"torch.distributed ({launch.launcher}, {backend_name}, {launch.world_size} ranks)"
        record = multiunit.node_run(run_id, list(request.command), config,
                                    request.plan.record() if request.plan else None, mode, host_record())
        units = [ranks.rank_unit(run_dir, rank, rec, problems) for rank, rec in enumerate(records)]
        record = _finish_node(run_dir, record, units, problems)
        _print_units(record, run_dir)
        return exit_code(record)
    finally:
        for lock in locks:
            lock.release()
        distributed.shutdown()
