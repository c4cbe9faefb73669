"""torch.distributed for accelbench: launch detection (torchrun, Slurm srun), process-group set-up,
and gathering every rank's unit result to rank 0 without hanging on a rank that failed.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. Under Slurm's `srun`
the rank comes from SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID; MASTER_ADDR and MASTER_PORT
must be exported by the batch script (e.g. the first host of `scontrol show hostnames`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import traceback
from typing import Any, Mapping

from bench.errors import UsageError

# Collective backend per device kind: NCCL (RCCL on ROCm builds answers to "nccl"), HCCL, XCCL, gloo.
COLLECTIVE_BACKENDS = {"cuda": "nccl", "rocm": "nccl", "npu": "hccl", "xpu": "xccl", "cpu": "gloo", "mps": "gloo"}
TORCH_DEVICE_TYPES = {"cuda": "cuda", "rocm": "cuda", "npu": "npu", "xpu": "xpu"}  # torch spells ROCm `cuda`
DEFAULT_TIMEOUT_S = 600.0


@dataclasses.dataclass(frozen=True)
class Launch:
    """Where this process sits in a multi-process launch."""

    rank: int
    world_size: int
    local_rank: int
    launcher: str  # "torchrun" or "slurm"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int_env(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise UsageError(f"environment variable {name}={env[name]!r} is not an integer") from None


def detect_launch(env: Mapping[str, str] | None = None) -> Launch | None:
    """The launch this process belongs to, or None for a plain single process."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        world = _int_env(env, "WORLD_SIZE")
        local = _int_env(env, "LOCAL_RANK") if "LOCAL_RANK" in env else _int_env(env, "RANK")
        launch = Launch(_int_env(env, "RANK"), world, local, "torchrun")
    elif "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        world = _int_env(env, "SLURM_NTASKS")
        local = _int_env(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        launch = Launch(_int_env(env, "SLURM_PROCID"), world, local, "slurm")
    else:
        return None
    if world <= 1:
        return None
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not env.get(name)]
    if missing:
        raise UsageError(f"{launch.launcher} launch (rank {launch.rank} of {world}) but {', '.join(missing)} "
                         "not set; under srun export MASTER_ADDR (first host) and MASTER_PORT (a free port)")
    return launch


def collective_backend(device_kind: str) -> str:
    return COLLECTIVE_BACKENDS.get(device_kind, "gloo")


def group_options(device_kind: str, device_index: int | None, init_function: Any) -> dict[str, Any]:
    """`device_id=` for init_process_group where this torch has it (2.3+) and the rank has an
    accelerator: the group binds to that device instead of guessing `rank % device count`."""
    import inspect

    import torch

    torch_type = TORCH_DEVICE_TYPES.get(device_kind)
    if torch_type is None or device_index is None:
        return {}
    if "device_id" not in inspect.signature(init_function).parameters:
        return {}
    return {"device_id": torch.device(torch_type, device_index)}


def init(launch: Launch, device_kind: str, timeout_s: float = DEFAULT_TIMEOUT_S,
         device_index: int | None = None) -> str:
    """Initialise the default process group for this launch; returns the backend name."""
    import torch.distributed as dist

    backend = collective_backend(device_kind)
    os.environ.setdefault("RANK", str(launch.rank))
    os.environ.setdefault("WORLD_SIZE", str(launch.world_size))
    os.environ.setdefault("LOCAL_RANK", str(launch.local_rank))
    dist.init_process_group(backend=backend, rank=launch.rank, world_size=launch.world_size,
                            timeout=dt.timedelta(seconds=timeout_s),
                            **group_options(device_kind, device_index, dist.init_process_group))
    return backend


def world() -> tuple[int, int, str | None]:
    """(rank, world size, backend) of the initialised process group, else (0, 1, None)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1, None
    return dist.get_rank(), dist.get_world_size(), str(dist.get_backend())


class Control:
    """A gloo group beside the default one, for objects, barriers and failure detection: gloo
    carries Python objects on every backend and has `monitored_barrier`, which names absent ranks."""

    def __init__(self, timeout_s: float):
        import torch.distributed as dist

        self.dist = dist
        self.timeout = dt.timedelta(seconds=timeout_s)
        self.group = dist.new_group(backend="gloo", timeout=self.timeout)
        global _control
        _control = self

    def broadcast(self, value: Any) -> Any:
        box = [value]
        self.dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def all_gather(self, value: Any) -> list[Any]:
        out: list[Any] = [None] * self.dist.get_world_size()
        self.dist.all_gather_object(out, value, group=self.group)
        return out

    def gather(self, record: dict[str, Any], world_size: int) -> tuple[list[dict[str, Any] | None], list[str]]:
        """Every rank's record on rank 0 (None elsewhere), and problems met on the way: a rank
        that never arrives is named by the monitored barrier and given None, not waited on."""
        problems = []
        try:
            self.dist.monitored_barrier(group=self.group, timeout=self.timeout, wait_all_ranks=True)
        except RuntimeError as exc:
            problems.append(f"barrier before gather failed: {first_line(exc)}")
            return [record] + [None] * (world_size - 1) if self.dist.get_rank() == 0 else [], problems
        records: list[Any] = [None] * world_size if self.dist.get_rank() == 0 else []
        try:
            self.dist.gather_object(record, records if self.dist.get_rank() == 0 else None, dst=0, group=self.group)
        except RuntimeError as exc:
            problems.append(f"gather failed: {first_line(exc)}")
            records = [record] + [None] * (world_size - 1) if self.dist.get_rank() == 0 else []
        return records, problems


_control: Control | None = None  # the launch's control group, once made


def agree_on_skip(reason: str | None, all_gather: Any = None) -> str | None:
    """Every rank runs a collective case or none does (X5): the ranks exchange their preflight
    reasons, and one rank's reason to skip becomes every rank's. Outside a launch: `reason`."""
    if all_gather is None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or _control is None:
            return reason
        all_gather = _control.all_gather
    reasons = all_gather(reason)
    blocking = [(rank, why) for rank, why in enumerate(reasons) if why]
    if reason or not blocking:
        return reason
    rank, why = blocking[0]
    return f"skipped on every rank: rank {rank} cannot run it ({why})"


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def error_record(rank: int, exc: BaseException) -> dict[str, Any]:
    """What a rank sends instead of its result when its measurement raised."""
    return {"status": "failed", "rank": rank, "host": socket.gethostname(),
            "error": f"{type(exc).__name__}: {first_line(exc)}",
            "traceback_tail": traceback.format_exc().strip().splitlines()[-8:]}


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
