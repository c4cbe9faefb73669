"""torchrun / srun: this process is one rank of a multi-unit run.

Rank 0 names the run and its folder; every rank measures its own unit into units/rank<N>/;
rank 0 gathers the records into the node's run.json. Two rules keep a launch from hanging:
each rank sees only its own device (the visibility variable of bench.lab.node, set before the
device runtime starts, then `kind:0`), and the ranks agree after preflight (device, config,
output folder) whether everyone can measure: if one rank cannot, none enters a collective and
each records why. The process group is reached through a `Comm`, so tests use a fake one."""

from __future__ import annotations

import dataclasses
import importlib.util
import socket
from pathlib import Path
from typing import Any, Mapping, Protocol

from bench.errors import UsageError
from bench.lab import multiunit
from bench.lab.multiunit import UnitSpec
from bench.lab.node import VISIBILITY_ENV
from bench.lab.request import RunRequest
from bench.measure import distributed
from bench.record.folder import safe_label


class Comm(Protocol):
    """The control group: Python objects between ranks (bench.measure.distributed.Control)."""

    def broadcast(self, value: Any) -> Any: ...
    def all_gather(self, value: Any) -> list[Any]: ...
    def gather(self, record: dict[str, Any], world_size: int) -> tuple[list[dict[str, Any] | None], list[str]]: ...


class RankWork(Protocol):
    """What one rank measures: `prepare` is the preflight (raises when this rank cannot measure)."""

    def prepare(self, spec: UnitSpec, unit_dir: Path, run_id: str) -> None: ...
    def measure(self) -> dict[str, Any]: ...


def launch_kind(device_kind: str, torch_module: Any = None) -> str:
    """The accelerator kind of a rank before its runtime starts (asking torch for a device count
    would start CUDA and fix its visible devices): the named kind, else what torch was built for."""
    if device_kind != "auto":
        return device_kind
    if torch_module is None:
        import torch as torch_module
    if getattr(torch_module.version, "hip", None):
        return "rocm"
    if getattr(torch_module.version, "cuda", None):
        return "cuda"
    if importlib.util.find_spec("torch_npu") is not None:
        return "npu"
    return "auto"


def rank_visibility(kind: str, local_rank: int, env: Mapping[str, str]) -> tuple[dict[str, str], int | None]:
    """(environment to set, device index this rank then uses). A launcher that already gave the
    rank one device (srun --gpus-per-task=1) is left alone."""
    name = VISIBILITY_ENV.get(kind)
    if name is None:
        return {}, None if kind in ("cpu", "auto") else local_rank
    inherited = [part.strip() for part in env.get(name, "").split(",") if part.strip()]
    if len(inherited) == 1:
        return {}, 0
    if not inherited:
        return {name: str(local_rank)}, 0
    if local_rank >= len(inherited):
        raise UsageError(f"local rank {local_rank} but {name}={env[name]} lists {len(inherited)} devices")
    return {name: inherited[local_rank]}, 0


def rank_spec(launch: distributed.Launch, kind: str, hosts: list[Any], visible: str | None = None) -> UnitSpec:
    label = f"rank{launch.rank}"
    if kind != "cpu":
        return UnitSpec(label, f"{kind}:{launch.local_rank}", visible=visible)
    first = hosts.index(hosts[launch.rank])
    if first == launch.rank:
        note = f"CPU stand-in: rank {launch.rank} measures the CPU of host {hosts[launch.rank]}, not an accelerator"
    else:
        note = (f"CPU stand-in: rank {launch.rank} shares host {hosts[launch.rank]}'s CPU with rank {first}; "
                "it simulates a further unit and its numbers are not independent")
    return UnitSpec(label, "cpu", True, note)


def _failure(rank: int, error: str) -> dict[str, Any]:
    return {"status": "failed", "rank": rank, "host": socket.gethostname(), "error": error, "traceback_tail": []}


def run_rank(request: RunRequest, launch: distributed.Launch, kind: str, comm: Comm, work: RankWork,
             new_run_id: Any, visible: str | None = None,
             claim: Any = None) -> tuple[Path, str, list[dict[str, Any] | None], list[str]]:
    """Measure this rank's unit; returns (run folder, run id, records, problems), the records
    being every rank's on rank 0 and empty elsewhere. Rank 0 claims the folder (`claim(path)`);
    when it cannot, every rank stops with the same UsageError instead of waiting for it."""
    shared = None
    if launch.is_main:
        run_id = new_run_id(f"{kind}-ranks{launch.world_size}")
        folder = request.out or str(Path(request.results_dir) / run_id)
        try:
            if claim is not None:
                claim(Path(folder))
            shared = (run_id, folder, None)
        except UsageError as exc:
            shared = (run_id, folder, str(exc))
    run_id, run_dir_text, refused = comm.broadcast(shared)
    if refused:
        raise UsageError(refused if launch.is_main else f"rank 0 refused the output folder: {refused}")
    run_dir = Path(run_dir_text)
    spec = rank_spec(launch, kind, comm.all_gather(socket.gethostname()), visible)
    failure: dict[str, Any] | None = None
    try:
        work.prepare(spec, run_dir / spec.run_dir, run_id)
    except Exception as exc:  # noqa: BLE001 - reported to every rank, then in rank 0's record
        failure = distributed.error_record(launch.rank, exc)
    record = _agreed(launch, comm, failure, work)
    records, problems = comm.gather({**record, "_spec": dataclasses.asdict(spec)}, launch.world_size)
    return run_dir, run_id, records, problems


def _agreed(launch: distributed.Launch, comm: Comm, failure: dict[str, Any] | None, work: RankWork) -> dict[str, Any]:
    """Every rank, failed or not, says whether it passed preflight; a rank measures only when all
    did, so no rank waits in a collective for one that never comes (X5)."""
    try:
        verdicts = comm.all_gather(failure["error"] if failure else None)
    except RuntimeError as exc:
        return failure or _failure(launch.rank, "not measured: ranks could not agree after preflight "
                                                f"({distributed.first_line(exc)})")
    if failure:
        return failure
    failed = [f"rank {rank}: {why}" for rank, why in enumerate(verdicts) if why]
    if failed:
        return _failure(launch.rank, "not measured: another rank failed preflight (" + "; ".join(failed) + ")")
    try:
        return work.measure()
    except Exception as exc:  # noqa: BLE001 - reported to rank 0 instead of a result, never a hang
        return distributed.error_record(launch.rank, exc)


def rank_unit(run_dir: Path, rank: int, record: dict[str, Any] | None, problems: list[str]) -> dict[str, Any]:
    """The node's entry for one rank (rank 0 writes remote ranks' folders, which may be on another disk)."""
    if record is None:
        return multiunit.unit_record(UnitSpec(f"rank{rank}", "unknown"), None, None, [],
                                     "no result received from this rank: "
                                     + ("; ".join(problems) or "it did not reach the gather"))
    record = dict(record)
    spec = UnitSpec(**record.pop("_spec"))
    safe_label(spec.label)  # a folder under units/, whatever a remote rank sent
    if record.get("status") == "failed" and "error" in record:
        return multiunit.unit_record(spec, None, None, record.get("traceback_tail") or [], record["error"])
    multiunit.write_unit(run_dir / spec.run_dir, record)
    return multiunit.unit_record(spec, record, None, [])
