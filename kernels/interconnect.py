"""Collectives across ranks (nccl-tests style): all-reduce, all-gather, reduce-scatter, broadcast.

Message size S follows nccl-tests: the whole buffer (all-reduce, broadcast), the gathered output
(all-gather), the input before scattering (reduce-scatter). algbw = S / time; busbw = algbw x
factor (bench.analysis.metrics.bus_bandwidth_factor), comparable to one rank's link rate.

Runs only inside an initialised process group with more than one rank (torchrun / srun); else
cases() yields one explicit Skip for the suite, saying how to launch ranks. Timing is in lockstep: all ranks run the same
fixed numbers of warm-up and timed iterations (an adaptive stop rule would let ranks disagree on
how many collectives to issue, and hang), and each sample is the slowest rank's.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, ContextManager, Iterable

import torch

from bench.analysis import metrics, stats
from bench.devices.base import Backend, DeviceInfo
from bench.devices.timing import Clock, Hook
from bench.errors import MeasurementError
from bench.kernels.base import LOCKSTEP, TORCH_DTYPES, Case, CheckResult, Kernel, Skip
from bench.measure.config_schema import BYTES_MAX, TIMING_SCHEMA, Bounded, Schema, choice, list_from, seconds
from bench.measure.distributed import world
from bench.measure.policy import Timing, TimingPolicy
from bench.measure.probe import DeviceProbe

OPS = metrics.COLLECTIVES
DTYPES = ("fp64", "fp32", "bf16", "fp16")
WARMUP_ITERATIONS = 5  # fixed, identical on every rank
ONE_RANK = ("interconnect needs more than one rank: launch with torchrun or srun "
            "(e.g. torchrun --nproc-per-node 2 -m bench run ...)")

# The suite's config (declared on its registry Suite; bench/measure/config.py validates it).
CONFIG_SCHEMA: Schema = {
    "ops": list_from(OPS, "collectives"),
    "sizes_bytes": Bounded(1, BYTES_MAX, integer=True, each=True),
    "dtype": choice(DTYPES),
    "max_iteration_s": seconds(),
    "timing": TIMING_SCHEMA,
}
DEFAULTS: dict[str, Any] = {"ops": list(OPS), "dtype": "fp32", "max_iteration_s": 2.0, "timing": {}}
REQUIRED = ("sizes_bytes",)


def _world() -> tuple[int, int, str | None]:
    return world()


def message_bytes(requested: int, dtype: str, world_size: int) -> int:
    """The requested size rounded down to whole elements split evenly across ranks (at least one each)."""
    itemsize = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    step = itemsize * max(world_size, 1)
    return max(step, requested // step * step)


def cases(config: dict[str, Any], info: DeviceInfo, probe: DeviceProbe | None = None) -> Iterable[Case | Skip]:
    _, world_size, backend = _world()
    if world_size < 2:  # one skip for the whole suite, naming the collectives it would have run
        yield Skip(Case("interconnect", "collectives", config["dtype"], (("bytes", 0),),
                        (("world_size", world_size), ("ops", ",".join(config["ops"])))), ONE_RANK)
        return
    for op in config["ops"]:
        for requested in config["sizes_bytes"]:
            size = message_bytes(requested, config["dtype"], world_size)
            yield Case("interconnect", op, config["dtype"], (("bytes", size),),
                       (("world_size", world_size), ("backend", backend or "none")))


class CollectiveKernel(Kernel):
    unit = "GB/s"
    strategy = LOCKSTEP  # every rank must issue it the same number of times

    def __init__(self, case: Case, backend: Backend, seed: int = 0):
        super().__init__(case, backend, seed)
        self.op = case.kernel
        self.nbytes = case.shape_dict["bytes"]
        self.dtype = TORCH_DTYPES[case.dtype]
        self.itemsize = torch.empty((), dtype=self.dtype).element_size()
        self.rank, self.world_size, self.dist_backend = _world()
        self.samples_s: list[float] = []

    def flops(self) -> int:
        return 0

    def bytes_moved(self) -> int:
        return self.nbytes

    def required_bytes(self) -> int:
        return 2 * self.nbytes

    @property
    def elements(self) -> int:
        return self.nbytes // self.itemsize

    @property
    def chunk(self) -> int:
        return self.elements // self.world_size

    def setup(self) -> None:
        if self.world_size < 2:  # cases() yields a Skip instead; this guards a kernel made by hand
            raise MeasurementError(ONE_RANK)
        import torch.distributed as dist

        self.dist = dist
        self._allocate(fill=0.0)

    def _allocate(self, fill: float) -> None:
        full = torch.full((self.elements,), fill, dtype=self.dtype, device=self.device)
        part = torch.full((self.chunk,), fill, dtype=self.dtype, device=self.device)
        if self.op == "all_gather":
            self.input, self.output = part, full
        elif self.op == "reduce_scatter":
            self.input, self.output = full, part
        else:
            self.input = self.output = full

    def step(self) -> Any:
        if self.op == "all_reduce":
            self.dist.all_reduce(self.input)
        elif self.op == "all_gather":
            self.dist.all_gather_into_tensor(self.output, self.input)
        elif self.op == "reduce_scatter":
            self.dist.reduce_scatter_tensor(self.output, self.input)
        else:
            self.dist.broadcast(self.input, src=0)

    def measure(self, clock: Clock, policy: TimingPolicy, flush: Hook | None = None,
                window: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                max_iteration_s: float | None = None, on_samples: Callable[[int], None] | None = None) -> Timing:
        """LOCKSTEP: fixed counts on every rank: warm-up, one calibration sample (slowest rank's), then
        `policy.samples` samples; each sample's time is the maximum over ranks. No cache flush, no
        adaptive stop and no running count: each would let the ranks' call sequences differ."""
        self.dist.barrier()
        clock.time_samples(self.step, WARMUP_ITERATIONS, 1)
        probe = self._slowest(clock.time_samples(self.step, 1, 1))[0]
        iterations = max(1, min(policy.max_iterations, math.ceil(policy.min_sample_s / probe))) if probe > 0 else 1
        with window():
            totals = self._slowest(clock.time_samples(self.step, iterations, policy.samples))
        self.samples_s = [t / iterations for t in totals]
        warmup = {"samples": 1, "seconds": probe, "stable": True, "iterations": WARMUP_ITERATIONS,
                  "note": "fixed warm-up count: ranks run in lockstep"}
        return Timing(samples_s=self.samples_s, iterations=iterations, warmup=warmup,
                      stop_reason=f"fixed {policy.samples} samples (collective: every rank the same count)",
                      clock=clock.name, resolution_s=clock.resolution_s)

    def _slowest(self, totals: list[float]) -> list[float]:
        values = torch.tensor(totals, dtype=torch.float64, device=self.device)
        self.dist.all_reduce(values, op=self.dist.ReduceOp.MAX)
        return [float(v) for v in values.cpu()]

    def check(self) -> CheckResult:
        """Known values: rank r contributes r + 1 (all-reduce, reduce-scatter sum to n(n+1)/2;
        all-gather's chunk i holds i + 1); broadcast sends 7 from rank 0."""
        n, r = self.world_size, self.rank
        self._allocate(fill=float(r + 1) if self.op != "broadcast" else (7.0 if r == 0 else 0.0))
        self.step()
        self.backend.synchronize()
        got = self.output.to("cpu", torch.float64)
        if self.op in ("all_reduce", "reduce_scatter"):
            expected = torch.full_like(got, n * (n + 1) / 2)
        elif self.op == "all_gather":
            expected = torch.arange(1, n + 1, dtype=torch.float64).repeat_interleave(self.chunk)
        else:
            expected = torch.full_like(got, 7.0)
        error = float((got - expected).abs().max())
        tolerance = float(torch.finfo(self.dtype).eps) * n * (n + 1)
        return CheckResult(error <= tolerance, error, tolerance,
                           f"{self.op} of known values over {n} ranks: max |error| {error:.3g}")

    def record(self) -> dict[str, Any]:
        factor = metrics.bus_bandwidth_factor(self.op, self.world_size)
        out: dict[str, Any] = {"op": self.op, "world_size": self.world_size, "backend": self.dist_backend,
                               "factor": factor, "message_bytes": self.nbytes}
        if self.samples_s:
            algbw = metrics.algorithm_bandwidth(self.nbytes, stats.summarize(self.samples_s)["median"])
            out.update(algbw=algbw, busbw=metrics.bus_bandwidth(algbw, self.op, self.world_size))
        return out


def make_kernel(case: Case, backend: Backend, seed: int = 0) -> Kernel:
    return CollectiveKernel(case, backend, seed)
