"""Memory-bandwidth streams (McCalpin STREAM / BabelStream), plus read-only and write-only.

Bytes follow STREAM: bytes read + bytes written, no write-allocate. By default every array is
at least `llc_multiple` x the last-level cache so the data comes from DRAM; an opt-in sweep
walks array sizes through the cache-to-DRAM transition."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from bench.devices.base import Backend, DeviceInfo
from bench.kernels.base import TORCH_DTYPES, Case, CheckResult, Kernel
from bench.measure.config_schema import (
    BOOL,
    BYTES_MAX,
    LIST_MAX,
    TIMING_SCHEMA,
    Bounded,
    Schema,
    choice,
    count,
    list_from,
    seconds,
)
from bench.measure.probe import DeviceProbe

# kernel -> (arrays read, arrays written): STREAM's byte weights.
WEIGHTS = {"copy": (1, 1), "scale": (1, 1), "add": (2, 1), "triad": (2, 1), "read": (1, 0), "write": (0, 1)}
SCALAR = 0.4  # STREAM's q
ARRAYS_ALLOCATED = 3
FALLBACK_LLC_BYTES = 64 * 2**20  # when a device cannot report its last-level cache
CHECK_POINTS = 4096  # sampled elements compared with an fp64 recomputation


MEMORY_FRACTION = 0.25  # the three arrays of a target-sized stream take at most this much device memory
SETUP_BUDGET_S = 12.0  # allocating and filling every DRAM stream case's arrays, at the probed fill rate
DTYPES = ("fp64", "fp32", "bf16", "fp16")

# The suite's config (declared on its registry Suite; bench/measure/config.py validates it).
CONFIG_SCHEMA: Schema = {
    "kernels": list_from(tuple(WEIGHTS), "kernels"),
    "dtype": choice(DTYPES),
    "llc_multiple": Bounded(1e-6, 1e4),  # array size as a multiple of the last-level cache
    "min_array_bytes": Bounded(0, BYTES_MAX),
    "target_array_bytes": Bounded(0, BYTES_MAX),  # wanted when memory and the probed fill rate allow
    "max_iteration_s": seconds(),
    "sweep": {
        "enabled": BOOL,
        "kernels": list_from(tuple(WEIGHTS), "kernels"),
        "min_bytes": Bounded(1, BYTES_MAX, integer=True),
        "max_llc_multiple": Bounded(1e-6, 1e4),
        "points": count(LIST_MAX),
    },
    "timing": TIMING_SCHEMA,
}
DEFAULTS: dict[str, Any] = {
    "dtype": "fp32", "llc_multiple": 4, "min_array_bytes": 0, "target_array_bytes": 0, "max_iteration_s": 2.0,
    "timing": {}, "sweep": {"enabled": False, "kernels": ["triad"], "min_bytes": 65536, "max_llc_multiple": 8, "points": 12},
}
REQUIRED = ("kernels",)


def dram_array_bytes(config: dict[str, Any], info: DeviceInfo, probe: DeviceProbe | None = None) -> int:
    """Bytes per array of the DRAM streams: at least llc_multiple x LLC and min_array_bytes, raised
    towards target_array_bytes (the bandwidth asymptote, e.g. 1 GiB) as far as device memory and
    the probed input-fill rate allow (all kernels' arrays set up within SETUP_BUDGET_S)."""
    llc = info.last_level_cache_bytes or FALLBACK_LLC_BYTES
    floor = max(int(config["llc_multiple"] * llc), int(config.get("min_array_bytes") or 0))
    target = int(config.get("target_array_bytes") or 0)
    if target <= floor:
        return floor
    limits = [target]
    if info.memory_bytes:
        limits.append(int(MEMORY_FRACTION * info.memory_bytes / ARRAYS_ALLOCATED))
    if probe is not None and probe.fill_bytes_per_s:
        per_array = SETUP_BUDGET_S * probe.fill_bytes_per_s / (ARRAYS_ALLOCATED * max(1, len(config["kernels"])))
        limits.append(int(per_array))
    return max(floor, min(limits) // 2**20 * 2**20)


def sweep_sizes(config: dict[str, Any], info: DeviceInfo) -> list[int]:
    sweep = config["sweep"]
    llc = info.last_level_cache_bytes or FALLBACK_LLC_BYTES
    low, high = sweep["min_bytes"], int(sweep["max_llc_multiple"] * llc)
    points = sweep["points"]
    ratio = (high / low) ** (1.0 / max(points - 1, 1))
    return sorted({int(low * ratio**i) // 4096 * 4096 for i in range(points)})


def cases(config: dict[str, Any], info: DeviceInfo, probe: DeviceProbe | None = None) -> Iterable[Case]:
    dtype = config["dtype"]
    itemsize = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    llc = info.last_level_cache_bytes or FALLBACK_LLC_BYTES
    main_bytes = dram_array_bytes(config, info, probe)
    for kernel in config["kernels"]:
        yield _case(kernel, dtype, main_bytes // itemsize, llc, "dram")
    if config["sweep"]["enabled"]:
        for size in sweep_sizes(config, info):
            for kernel in config["sweep"]["kernels"]:
                yield _case(kernel, dtype, size // itemsize, llc, "sweep")


def _case(kernel: str, dtype: str, elements: int, llc: int, role: str) -> Case:
    itemsize = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    multiple = round(elements * itemsize / llc, 3)
    return Case("stream", kernel, dtype, (("elements", elements),),
                (("role", role), ("llc_multiple", multiple)))


class StreamKernel(Kernel):
    unit = "GB/s"

    def __init__(self, case: Case, backend: Backend, seed: int = 0):
        super().__init__(case, backend, seed)
        self.elements = case.shape_dict["elements"]
        self.kernel = case.kernel
        self.itemsize = torch.empty((), dtype=TORCH_DTYPES[case.dtype]).element_size()

    def flops(self) -> int:
        return {"scale": 1, "add": 1, "triad": 2, "read": 1}.get(self.kernel, 0) * self.elements

    def bytes_moved(self) -> int:
        reads, writes = WEIGHTS[self.kernel]
        return (reads + writes) * self.elements * self.itemsize

    def required_bytes(self) -> int:
        return ARRAYS_ALLOCATED * self.elements * self.itemsize

    def setup(self) -> None:
        gen = self.generator()
        dtype = TORCH_DTYPES[self.case.dtype]
        self.a, self.b, self.c = (self.normal(self.elements, dtype=dtype, gen=gen) for _ in range(3))
        self.result: torch.Tensor | None = None
        self.index = self._check_index()
        # Inputs at the checked positions, kept before any kernel overwrites them.
        self.inputs = {name: t[self.index.to(self.device)].to("cpu", torch.float64)
                       for name, t in (("a", self.a), ("b", self.b), ("c", self.c))}
        # Accumulate in fp64 without an fp64 copy of the array (that would double the memory needed).
        self.input_sum = float(torch.sum(self.a, dtype=torch.float64)) if self.kernel == "read" else None

    def _check_index(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed + 1)
        index = torch.randint(0, self.elements, (min(CHECK_POINTS, self.elements),), generator=gen)
        return torch.cat([index, torch.tensor([0, self.elements - 1])])

    def step(self) -> Any:
        a, b, c = self.a, self.b, self.c
        if self.kernel == "copy":
            c.copy_(a)
        elif self.kernel == "scale":
            torch.mul(c, SCALAR, out=b)
        elif self.kernel == "add":
            torch.add(a, b, out=c)
        elif self.kernel == "triad":
            torch.add(b, c, alpha=SCALAR, out=a)
        elif self.kernel == "read":
            self.result = torch.sum(a)
        elif self.kernel == "write":
            a.fill_(SCALAR)

    def _expected(self) -> tuple[str, torch.Tensor]:
        """(output array, its expected values at the checked positions) recomputed in fp64 from the
        saved inputs. Each kernel's output is a function of arrays it does not write, so repeats are idempotent."""
        x = self.inputs
        return {
            "copy": ("c", x["a"]),
            "scale": ("b", SCALAR * x["c"]),
            "add": ("c", x["a"] + x["b"]),
            "triad": ("a", x["b"] + SCALAR * x["c"]),
            "write": ("a", torch.full_like(x["a"], SCALAR)),
        }[self.kernel]

    def check(self) -> CheckResult:
        self.backend.synchronize()
        eps = torch.finfo(TORCH_DTYPES[self.case.dtype]).eps
        if self.kernel == "read":
            expected = self.input_sum
            got = float(self.result)
            tolerance = eps * math.sqrt(self.elements) * 8 + eps * abs(expected)
            error = abs(got - expected)
            return CheckResult(error <= tolerance, error, tolerance,
                               f"sum of {self.elements} elements vs fp64 sum: |error| {error:.3g}")
        name, expected = self._expected()
        got = getattr(self, name)[self.index.to(self.device)].to("cpu", torch.float64)
        error = float((got - expected).abs().max())
        tolerance = 2 * eps * float(expected.abs().max() + 1)
        return CheckResult(error <= tolerance, error, tolerance,
                           f"{len(self.index)} sampled elements of {name} vs fp64 recomputation: max |error| {error:.3g}")

    def record(self) -> dict[str, Any]:
        reads, writes = WEIGHTS[self.kernel]
        return {"array_bytes": self.elements * self.itemsize, "arrays_read": reads, "arrays_written": writes}

    def teardown(self) -> None:
        self.inputs = {}
        super().teardown()


def make_kernel(case: Case, backend: Backend, seed: int = 0) -> Kernel:
    return StreamKernel(case, backend, seed)
