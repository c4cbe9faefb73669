"""Every device of one node as its own worker process (`--device cuda:all`, CPU stand-ins).

Each worker is `python -m bench run` with a request derived from the parent's
(`RunRequest.for_unit(...).worker_argv()`) and an environment in which it sees only its own
device (CUDA_VISIBLE_DEVICES=GPU-<uuid>, HIP_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES /
ZE_AFFINITY_MASK=<index>), so it measures `kind:0` and its timing events, its context and its
allocations are all on that one device. Processes are started through a `Spawner`, so tests
run the orchestration with a fake one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Protocol

from bench.errors import UsageError
from bench.lab.multiunit import UnitSpec, read_unit, unit_record
from bench.lab.request import RunRequest, UnitRole
from bench.record.folder import LOG_FILE

TAIL_LINES = 12
INTERRUPT_GRACE_S = 30.0  # how long an interrupted worker gets to close its run.json
VISIBILITY_ENV = {"cuda": "CUDA_VISIBLE_DEVICES", "rocm": "HIP_VISIBLE_DEVICES",
                  "npu": "ASCEND_RT_VISIBLE_DEVICES", "xpu": "ZE_AFFINITY_MASK"}
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "SLURM_PROCID",
              "SLURM_NTASKS", "SLURM_LOCALID")  # a worker is a single process, never a rank


class Process(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...
    def send_signal(self, sig: int) -> None: ...


class Spawner(Protocol):
    def __call__(self, argv: list[str], env: dict[str, str], log: Any) -> Process: ...


def popen_spawner(argv: list[str], env: dict[str, str], log: Any) -> Process:
    # A session of its own: a terminal's Ctrl-C reaches the parent only, which passes it on once.
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


class UnitObserver(Protocol):
    def unit_started(self, spec: UnitSpec) -> None: ...
    def unit_finished(self, spec: UnitSpec, record: dict[str, Any]) -> None: ...


class QuietUnits:
    def unit_started(self, spec: UnitSpec) -> None: ...
    def unit_finished(self, spec: UnitSpec, record: dict[str, Any]) -> None: ...


class LineUnits:
    def __init__(self, stream: Any = sys.stderr):
        self.stream = stream

    def unit_started(self, spec: UnitSpec) -> None:
        print(f"  unit {spec.label} ({spec.device}) started", file=self.stream)

    def unit_finished(self, spec: UnitSpec, record: dict[str, Any]) -> None:
        print(f"  unit {spec.label}: {record['status']} (exit {record.get('exit_code')})", file=self.stream)


# --- which device a worker sees -----------------------------------------------------------------

def visible_id(kind: str, index: int, uuid: str | None, env: Mapping[str, str]) -> str | None:
    """The value that makes device `kind:index` (as this process numbers it) a worker's only one.
    CUDA takes the UUID (stable whatever the order); the others an index, translated through a
    list this process was itself given."""
    name = VISIBILITY_ENV.get(kind)
    if name is None:
        return None
    if kind == "cuda" and uuid:
        return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
    inherited = [part.strip() for part in env.get(name, "").split(",") if part.strip()]
    if not inherited:
        return str(index)
    if index >= len(inherited):
        raise UsageError(f"{kind}:{index} is not in {name}={env[name]}")
    return inherited[index]


def worker_device(spec: UnitSpec) -> str:
    """The device a worker names: index 0 when its environment shows it only its own device."""
    return f"{spec.device.split(':')[0]}:0" if spec.visible is not None else spec.device


def worker_env(spec: UnitSpec, base: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in base.items() if key not in LAUNCH_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    name = VISIBILITY_ENV.get(spec.device.split(":")[0])
    if name and spec.visible is not None:
        env[name] = spec.visible
    return env


def worker_request(request: RunRequest, spec: UnitSpec, run_dir: Path, parent_run_id: str) -> RunRequest:
    role = UnitRole(spec.label, parent_run_id, spec.label_note, spec.assigned_serial, spec.stand_in,
                    spec.device if spec.visible is not None else None)
    return request.for_unit(role, worker_device(spec), str(run_dir / spec.run_dir))


def worker_command(request: RunRequest, spec: UnitSpec, run_dir: Path, parent_run_id: str) -> list[str]:
    return [sys.executable, "-m", "bench", "run", *worker_request(request, spec, run_dir, parent_run_id).worker_argv()]


# --- running the workers --------------------------------------------------------------------------

def _tail(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    except OSError:
        return []


class NodeRun:
    """Start one worker per unit (all at once with request.parallel), wait for each, and collect
    their unit records in spec order. A worker that fails or times out is recorded and never
    stops the others; an interrupt stops them all and keeps what each one measured."""

    def __init__(self, request: RunRequest, specs: list[UnitSpec], run_dir: Path, parent_run_id: str,
                 observer: UnitObserver, spawn: Spawner | None = None, env: Mapping[str, str] | None = None):
        self.request, self.specs, self.run_dir, self.parent_run_id = request, specs, run_dir, parent_run_id
        self.observer, self.spawn = observer, spawn or popen_spawner
        self.env = dict(os.environ if env is None else env)
        self.records: dict[str, dict[str, Any]] = {}
        self.running: list[tuple[UnitSpec, Process, Any]] = []
        self.interrupted = False

    def run(self) -> list[dict[str, Any]]:
        try:
            for spec in self.specs:
                self._start(spec)
                if not self.request.parallel:
                    self._wait_first()
            while self.running:
                self._wait_first()
        except KeyboardInterrupt:
            self.interrupted = True
            self._stop_all()
        return [self.records.get(spec.label) or self._not_started(spec) for spec in self.specs]

    def _start(self, spec: UnitSpec) -> None:
        folder = self.run_dir / spec.run_dir
        folder.mkdir(parents=True, exist_ok=True)
        log = (folder / LOG_FILE).open("w")
        self.observer.unit_started(spec)
        argv = worker_command(self.request, spec, self.run_dir, self.parent_run_id)
        self.running.append((spec, self.spawn(argv, worker_env(spec, self.env), log), log))

    def _wait_first(self) -> None:
        self._wait(*self.running[0])
        self.running.pop(0)  # only once recorded: an interrupt meanwhile still finds it running

    def _wait(self, spec: UnitSpec, process: Process, log: Any, timeout: float | None = None,
              error: str | None = None) -> None:
        limit = self.request.worker_timeout if timeout is None else timeout
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            error = error or f"worker timed out after {limit:g} s and was killed"
        self._record(spec, code, log, error)

    def _record(self, spec: UnitSpec, code: int | None, log: Any, error: str | None) -> None:
        log.close()
        folder = self.run_dir / spec.run_dir
        self.records[spec.label] = unit_record(spec, read_unit(folder), code, _tail(folder / LOG_FILE), error)
        self.observer.unit_finished(spec, self.records[spec.label])

    def _stop_all(self) -> None:
        """Ask every running worker to close its record (SIGINT), then collect what it kept."""
        for _, process, _ in self.running:
            try:
                process.send_signal(signal.SIGINT)
            except OSError:
                pass
        for spec, process, log in self.running:
            try:
                self._wait(spec, process, log, INTERRUPT_GRACE_S, "interrupted")
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                process.kill()
                self._record(spec, process.wait(), log, "interrupted")
        self.running = []

    def _not_started(self, spec: UnitSpec) -> dict[str, Any]:
        return unit_record(spec, None, None, [], "not started: the run was interrupted")
