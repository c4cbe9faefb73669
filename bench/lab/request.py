"""What one `bench run` was asked to do, as a frozen value.

`bench run` turns its argparse Namespace into a RunRequest once (`RunRequest.from_args`) and
hands only that on; a test plan makes a new request (`Plan.apply`), never edits one. A worker
process of a multi-unit run receives its request as argv (`worker_argv`), which parses back to
an equal request."""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from bench.errors import UsageError
from bench.measure.distributed import DEFAULT_TIMEOUT_S

DEFAULT_DIST_TIMEOUT_S = DEFAULT_TIMEOUT_S
DECISION_RULES = ("simple", "guarded")
# What a test plan fixes; a command line that sets any of these beside --plan is refused.
PLAN_FIXED = ("suite", "overrides", "suites", "dtypes", "profile", "declared", "decision_rule")
FLAGS = {"overrides": "--set"}  # request field -> option, where the names differ
DEVICE_PATTERN = re.compile(r"[a-z]+(?::(?:[0-9]+|all))?", re.ASCII)


def flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def check_device_syntax(text: str) -> str:
    """`kind`, `kind:N` or `kind:all` in ASCII (`cpu:²` is refused here, not deep in int())."""
    spec = text.strip().lower()
    if not DEVICE_PATTERN.fullmatch(spec):
        raise UsageError(f"--device {ascii(text)[1:-1]}: expected auto, KIND, KIND:N or KIND:all "
                         "(e.g. cpu, cuda:1, cuda:all), N in ASCII digits")
    return spec


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@dataclasses.dataclass(frozen=True)
class UnitRole:
    """Set by the parent of a multi-unit run on each worker it starts: which unit this process is."""

    label: str
    parent_run_id: str | None = None
    note: str | None = None
    assigned_serial: str | None = None
    stand_in: bool = False
    physical_device: str | None = None  # the parent's name for the device (cuda:3) when the worker sees cuda:0


@dataclasses.dataclass(frozen=True)
class RunRequest:
    device: str = "auto"
    suite: str = "default"
    overrides: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    results_dir: str = "results"
    out: str | None = None
    force: bool = False
    profile: str | None = None
    declared: str | None = None
    decision_rule: str = "guarded"
    quiet: bool = False
    json: bool = False
    plan_path: str | None = None
    parallel: bool = False
    stand_ins: int = 0
    dist_timeout: float = DEFAULT_DIST_TIMEOUT_S
    worker_timeout: float | None = None
    unit: UnitRole | None = None
    stand_in: bool = False  # a single-process CPU stand-in (set by the parent)
    plan: Any = None  # bench.lab.plan.Plan once applied
    command: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: tuple[str, ...] | list[str] = ()) -> "RunRequest":
        unit = None
        if args.unit_label:
            unit = UnitRole(args.unit_label, args.parent_run_id, args.label_note, args.assigned_serial,
                            bool(args.stand_in), args.physical_device)
        request = cls(device=check_device_syntax(args.device), suite=args.suite, overrides=tuple(args.set),
                      suites=_csv(args.suites), dtypes=_csv(args.dtypes), results_dir=args.results_dir,
                      out=args.out, force=args.force, profile=args.profile, declared=args.declared,
                      decision_rule=args.decision_rule, quiet=args.quiet, json=args.json, plan_path=args.plan,
                      parallel=args.parallel, stand_ins=args.stand_ins, dist_timeout=args.dist_timeout,
                      worker_timeout=args.worker_timeout, unit=unit, stand_in=bool(args.stand_in),
                      command=tuple(command))
        request.check_numbers()
        return request

    def check_numbers(self) -> None:
        if self.stand_ins < 0:
            raise UsageError("--stand-ins must be >= 0")
        if not 0 < self.dist_timeout <= 86400:
            raise UsageError(f"--dist-timeout {self.dist_timeout:g}: expected seconds in (0, 86400]")
        if self.worker_timeout is not None and not 0 < self.worker_timeout <= 7 * 86400:
            raise UsageError(f"--worker-timeout {self.worker_timeout:g}: expected seconds in (0, 604800]")

    def clashes_with_plan(self) -> list[str]:
        """Options set on the command line that a plan fixes (compared with this class's defaults)."""
        defaults = type(self)()
        return [flag(name) for name in PLAN_FIXED if getattr(self, name) != getattr(defaults, name)]

    def for_unit(self, role: UnitRole, device: str, out: str) -> "RunRequest":
        """The request a worker process runs for one unit of this (parent) request."""
        return dataclasses.replace(self, unit=role, device=device, out=out, stand_in=role.stand_in, quiet=True,
                                   json=False, stand_ins=0, parallel=False, force=True, command=())

    def worker_argv(self) -> list[str]:
        """Arguments after `bench run` that rebuild this request in another process. With a plan,
        the plan's path alone carries what the plan fixes (the worker applies it again)."""
        argv = ["--device", self.device]
        if self.out:
            argv += ["--out", self.out]
        else:
            argv += ["--results-dir", self.results_dir]
        if self.plan_path:
            argv += ["--plan", self.plan_path]
        else:
            argv += ["--suite", self.suite]
            for item in self.overrides:
                argv += ["--set", item]
            for name in ("suites", "dtypes"):
                if getattr(self, name):
                    argv += [flag(name), ",".join(getattr(self, name))]
            for name in ("profile", "declared"):
                if getattr(self, name):
                    argv += [flag(name), getattr(self, name)]
            argv += ["--decision-rule", self.decision_rule]
        argv += _switches(self)
        if self.worker_timeout is not None:
            argv += ["--worker-timeout", repr(self.worker_timeout)]
        if self.dist_timeout != DEFAULT_DIST_TIMEOUT_S:
            argv += ["--dist-timeout", repr(self.dist_timeout)]
        return argv + _role_argv(self.unit)


def _switches(request: RunRequest) -> list[str]:
    names = ("force", "quiet", "json", "parallel", "stand_in")
    out = [flag(name) for name in names if getattr(request, name)]
    return out + (["--stand-ins", str(request.stand_ins)] if request.stand_ins else [])


def _role_argv(role: UnitRole | None) -> list[str]:
    if role is None:
        return []
    argv = ["--unit-label", role.label]
    for option, value in (("--parent-run-id", role.parent_run_id), ("--label-note", role.note),
                          ("--assigned-serial", role.assigned_serial), ("--physical-device", role.physical_device)):
        if value:
            argv += [option, value]
    return argv
