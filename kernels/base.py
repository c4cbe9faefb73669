"""The kernel interface shared by every suite.

A Kernel is one case (suite, kernel, dtype, shape) on one backend. It declares its work
(flops / bytes_moved) beside itself, allocates seeded inputs in setup(), runs one iteration in
step(), and checks its own output in check() after timing: a fast wrong answer fails."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable

import torch

from bench.devices.base import Backend

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
class CheckResult:
    passed: bool
    max_error: float
    tolerance: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Kernel(abc.ABC):
    unit = "TFLOPS"  # or "TOPS" (integer) or "GB/s"

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
        briefly (bench.policy.fastest), selects the fastest and measures that. Empty: one way only."""
        return {}

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
