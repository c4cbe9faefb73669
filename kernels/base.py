"""The interface shared by every suite: Case, Skip, Kernel, and the Suite the registry holds.

A Kernel is one case (suite, kernel, dtype, shape) on one backend. It declares its work
(flops / bytes_moved) beside itself, allocates seeded inputs in setup(), runs one iteration in
step(), and checks its own output in check() after timing: a fast wrong answer fails. It also
declares how it is timed (`strategy`, `measure`) and whether its dtype needs the backend's support.

A Suite is what the runner knows of a suite: its fixed cases (or explicit skips), a kernel per
case, and optional follow-ups that depend on the results so far (GEMM: the peak search, data
patterns and perturbed variants), driven through a FollowupContext the runner provides."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from typing import Any, Callable, ContextManager, Iterable, Mapping, Protocol

import torch

from bench.devices.base import Backend, DeviceInfo
from bench.devices.timing import Clock, Hook
from bench.measure.policy import Timing, TimingPolicy, measure
from bench.measure.probe import DeviceProbe

TORCH_DTYPES = {
    "fp64": torch.float64,
    "fp32": torch.float32,
    "tf32": torch.float32,  # fp32 storage, TF32 tensor-core math
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp8_e4m3": torch.float8_e4m3fn,
    "int8": torch.int8,
}

# Input data: normal (the standard) or low-entropy patterns that show data-dependent clocks/power.
INPUT_DISTRIBUTIONS = ("normal", "zeros", "ones")


@dataclasses.dataclass(frozen=True)
class Case:
    suite: str
    kernel: str
    dtype: str
    shape: tuple[tuple[str, int], ...]  # ordered (name, size) pairs, hashable
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def shape_dict(self) -> dict[str, int]:
        return dict(self.shape)

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def id(self) -> str:
        shape = ",".join(f"{k}={v}" for k, v in self.shape)
        extra = "".join(f",{k}={v}" for k, v in self.params)
        return f"{self.suite}/{self.kernel}/{self.dtype}/{shape}{extra}"


@dataclasses.dataclass(frozen=True)
class Skip:
    """A case a suite knows it cannot run here, yielded by cases() in its place: the runner records
    it as a skip with `reason` (which should say what would make it run) and allocates nothing."""

    case: Case
    reason: str


@dataclasses.dataclass(frozen=True)
class CheckResult:
    passed: bool
    max_error: float
    tolerance: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ADAPTIVE, LOCKSTEP = "adaptive", "lockstep"  # Kernel.strategy


class Kernel(abc.ABC):
    unit = "TFLOPS"  # or "TOPS" (integer) or "GB/s"
    # How the kernel is timed (NVBench declares measure_cold / measure_hot the same way):
    # ADAPTIVE: bench.measure.policy.measure's warm-up and stop rule over step(), each process on its own.
    # LOCKSTEP: every rank runs the same fixed counts (collectives); the ranks agree on every skip,
    # and none is skipped from a rate predicted on one rank alone. Such a kernel overrides measure().
    strategy = ADAPTIVE
    # True when the backend may lack the dtype's arithmetic (Backend.unsupported_reason is asked
    # before the kernel allocates anything: a skip that names the missing unit, not a torch error).
    needs_dtype_support = False

    def __init__(self, case: Case, backend: Backend, seed: int = 0):
        self.case = case
        self.backend = backend
        self.device = backend.torch_device
        self.seed = seed

    # -- work, declared beside the kernel ---------------------------------------
    @abc.abstractmethod
    def flops(self) -> int: ...

    @abc.abstractmethod
    def bytes_moved(self) -> int: ...

    @abc.abstractmethod
    def required_bytes(self) -> int:
        """Device memory the inputs and outputs need, checked before allocating."""

    def work(self) -> dict[str, int]:
        """Both work counts as stored in a measurement (bench.analysis.metrics.work_key picks the one its unit rates)."""
        return {"flops": self.flops(), "bytes": self.bytes_moved()}

    # -- life cycle ---------------------------------------------------------------
    @abc.abstractmethod
    def setup(self) -> None: ...

    @abc.abstractmethod
    def step(self) -> Any: ...

    @abc.abstractmethod
    def check(self) -> CheckResult: ...

    def record(self) -> dict[str, Any]:
        """Extra parameters worth keeping with the measurement (e.g. which SDPA backend ran)."""
        return {}

    def alternatives(self) -> dict[str, Callable[[], None]]:
        """Ways to run the same case (name -> select it), known after setup(): the runner times each
        briefly (bench.measure.policy.fastest), selects the fastest and measures that. Empty: one way only."""
        return {}

    def measure(self, clock: Clock, policy: TimingPolicy, flush: Hook | None = None,
                window: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                max_iteration_s: float | None = None, on_samples: Callable[[int], None] | None = None) -> Timing:
        """Time step() after setup(): the ADAPTIVE strategy (bench.measure.policy.measure). `flush` runs before
        each sample, `window()` wraps the sampling phase, `on_samples(n)` hears the running count."""
        return measure(self.step, clock, policy, flush, window=window, max_iteration_s=max_iteration_s,
                       on_samples=on_samples)

    def teardown(self) -> None:
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                setattr(self, name, None)

    # -- helpers -------------------------------------------------------------------
    def generator(self) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed)
        return gen

    def normal(self, *shape: int, dtype: torch.dtype = torch.float32, gen: torch.Generator) -> torch.Tensor:
        """Fresh normally distributed values (never zeros: data-dependent clocks are real)."""
        return torch.randn(*shape, generator=gen, device=self.device, dtype=torch.float32).to(dtype)

    @property
    def input_distribution(self) -> str:
        """"normal" unless the case asks for a low-entropy pattern (params input_distribution=zeros|ones)."""
        return self.case.params_dict.get("input_distribution", "normal")

    def inputs(self, *shape: int, dtype: torch.dtype = torch.float32, gen: torch.Generator) -> torch.Tensor:
        """Input values in the case's distribution: normal(0, 1), all zeros or all ones."""
        if self.input_distribution == "normal":
            return self.normal(*shape, dtype=dtype, gen=gen)
        fill = 0.0 if self.input_distribution == "zeros" else 1.0
        return torch.full(shape, fill, device=self.device, dtype=torch.float32).to(dtype)


# -- suites ---------------------------------------------------------------------------------------

class FollowupContext(Protocol):
    """What a suite's follow-ups see of the run (implemented by bench.measure.runner)."""

    @property
    def backend(self) -> Backend: ...

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def config(self) -> Mapping[str, Any]:
        """The suite's own config, defaults merged."""

    @property
    def run_id(self) -> str:
        """The run's id: what keys a reproducible random draw (e.g. perturbed variants)."""

    def measurements(self) -> list[dict[str, Any]]:
        """The run's measurements so far (every suite's), in order. Read only."""

    def measure(self, case: Case, timing: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Run one more case now (numbered after the fixed ones); `timing` overrides fields of the suite's
        timing policy. The measurement, or None when the case was skipped (the skip is recorded)."""

    def record_search(self, name: str, record: dict[str, Any]) -> None:
        """Store a peak-search record (bench.analysis.search) under run["searches"][name] and flush the run."""


FIXED, SEARCH, VARIANTS = "fixed", "search", "variants"  # the phases of a run, as progress counts them


@dataclasses.dataclass(frozen=True)
class FollowupBound:
    """At most how many follow-up cases a suite adds for one dtype, by phase (bench.present.progress
    counts them and bounds its ETA): the search's trials (and its time cap), the search's best trial
    measured again with the suite's timing, and the other variants (patterns, perturbed shapes, ...)."""

    search_trials: int = 0
    search_seconds: float = 0.0
    others: int = 0
    search_confirm: int = 0

    @property
    def cases(self) -> int:
        return self.search_trials + self.search_confirm + self.others


CasesFunction = Callable[[dict[str, Any], DeviceInfo, DeviceProbe | None], Iterable[Case | Skip]]
KernelFactory = Callable[..., Kernel]  # (case, backend, seed=0) -> Kernel
Followups = Callable[[FollowupContext], None]
FollowupBounds = Callable[[Mapping[str, Any]], dict[str, FollowupBound]]  # suite config -> dtype -> bound


def no_followups(context: FollowupContext) -> None:
    """The default: a suite whose cases are all known before the run."""


def no_followup_bound(config: Mapping[str, Any]) -> dict[str, FollowupBound]:
    """The default: no follow-ups, so none to count."""
    return {}


def fixed_phase(case: Case) -> str:
    """The default phase of a case: FIXED (a follow-up the bound does not count is counted as found)."""
    return FIXED


@dataclasses.dataclass(frozen=True)
class Suite:
    """One registry entry (kernels/registry.py). The runner measures every suite's `cases` first, in
    config order, then calls each suite's `followups` with the run so far, in the same order.

    The suite owns its config: `config_schema` (key -> nested schema, Bounded or (check, text) rule;
    bench/measure/config_schema.py has the leaves), the `defaults` merged under the file's keys, and the
    `required` keys. `followup_bound(config)` says per dtype at most how many follow-ups may come, for
    the progress count (`config` there may be hand-built, without the defaults), and `phase(case)` which
    of the bound's phases a case is in: FIXED, SEARCH or VARIANTS."""

    cases: CasesFunction
    make_kernel: KernelFactory
    followups: Followups = no_followups
    config_schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    required: tuple[str, ...] = ()
    followup_bound: FollowupBounds = no_followup_bound
    phase: Callable[[Case], str] = fixed_phase
