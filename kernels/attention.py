"""Scaled-dot-product attention (forward), through torch.nn.functional.scaled_dot_product_attention.

FLOPs = 4*B*H*S^2*D (QK^T and PV), halved when causal. Every SDPA backend that accepts the inputs
is offered to the runner (alternatives()), which times each briefly and measures the fastest: on
Hopper cuDNN attention usually beats FlashAttention-2, so torch's priority order is not the peak.
The record says which backend ran, how fast each accepted one was, and why the others refused."""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench.analysis import metrics
from bench.devices.base import Backend, DeviceInfo
from bench.kernels.base import TORCH_DTYPES, Case, CheckResult, Kernel
from bench.measure.config_schema import DIM_MAX, TIMING_SCHEMA, Schema, list_from, list_of, seconds
from bench.measure.probe import DeviceProbe

BACKEND_PRIORITY = (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                    SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)
# Absolute error allowed against an fp64 reference; outputs are convex mixes of N(0,1) values.
TOLERANCE = {"fp32": 2e-4, "bf16": 3e-2, "fp16": 5e-3}
CHECKED_HEADS = 2  # (batch, head) pairs checked against the fp64 math reference
DTYPES = ("fp32", "bf16", "fp16")
SHAPE_KEYS = {"batch", "heads", "seq_len", "head_dim"}


def is_shape(value: Any) -> bool:
    """{batch, heads, seq_len, head_dim}, each an integer in [1, DIM_MAX]."""
    return isinstance(value, dict) and set(value) == SHAPE_KEYS and all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= DIM_MAX for v in value.values())


# The suite's config (declared on its registry Suite; bench/measure/config.py validates it).
CONFIG_SCHEMA: Schema = {
    "dtypes": list_from(DTYPES, "dtypes"),
    "causal": (list_of(lambda v: isinstance(v, bool)), "a list of true/false"),
    "shapes": (list_of(is_shape), f"a list of {{batch, heads, seq_len, head_dim}} integers in [1, {DIM_MAX:,}]"),
    "max_iteration_s": seconds(),
    "timing": TIMING_SCHEMA,
}
DEFAULTS: dict[str, Any] = {"causal": [False, True], "max_iteration_s": 2.0, "timing": {}}
REQUIRED = ("dtypes", "shapes")


def cases(config: dict[str, Any], info: DeviceInfo, probe: DeviceProbe | None = None) -> Iterable[Case]:
    for dtype in config["dtypes"]:
        for causal in config["causal"]:
            for shape in config["shapes"]:
                dims = (("batch", shape["batch"]), ("heads", shape["heads"]),
                        ("seq_len", shape["seq_len"]), ("head_dim", shape["head_dim"]))
                yield Case("attention", "sdpa", dtype, dims, (("causal", causal),))


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + mask) V in float64, for one (batch, head): q, k, v are (S, D)."""
    q, k, v = (t.to("cpu", torch.float64) for t in (q, k, v))
    scores = q @ k.T / math.sqrt(q.shape[-1])
    if causal:
        mask = torch.ones(scores.shape, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class SdpaKernel(Kernel):
    def __init__(self, case: Case, backend: Backend, seed: int = 0):
        super().__init__(case, backend, seed)
        self.dims = case.shape_dict
        self.causal = bool(case.params_dict["causal"])
        self.sdpa_backend: SDPBackend | None = None
        self.accepted: list[SDPBackend] = []
        self.tried: dict[str, str] = {}
        self._pinned: contextlib.ExitStack | None = None

    def flops(self) -> int:
        d = self.dims
        return metrics.attention_flops(d["batch"], d["heads"], d["seq_len"], d["head_dim"], self.causal)

    def bytes_moved(self) -> int:
        d = self.dims
        return 4 * d["batch"] * d["heads"] * d["seq_len"] * d["head_dim"] * self._size()

    def required_bytes(self) -> int:
        return self.bytes_moved()

    def _size(self) -> int:
        return torch.empty((), dtype=TORCH_DTYPES[self.case.dtype]).element_size()

    def setup(self) -> None:
        gen = self.generator()
        d = self.dims
        shape = (d["batch"], d["heads"], d["seq_len"], d["head_dim"])
        dtype = TORCH_DTYPES[self.case.dtype]
        self.q, self.k, self.v = (self.normal(*shape, dtype=dtype, gen=gen) for _ in range(3))
        self.accepted = self._accepted_backends()
        self._pin(self.accepted[0])

    def _accepted_backends(self) -> list[SDPBackend]:
        accepted = []
        for candidate in BACKEND_PRIORITY:
            try:
                with sdpa_kernel([candidate]):
                    self.out = F.scaled_dot_product_attention(self.q, self.k, self.v, is_causal=self.causal)
                accepted.append(candidate)
            except RuntimeError as exc:
                self.tried[candidate.name] = str(exc).splitlines()[0][:200]
        if not accepted:
            raise RuntimeError(f"no SDPA backend accepts these inputs: {self.tried}")
        return accepted

    def _pin(self, backend: SDPBackend) -> None:
        """Pin one backend for everything that follows, outside the timed step."""
        if self._pinned is not None:
            self._pinned.close()
        self._pinned = contextlib.ExitStack()
        self._pinned.enter_context(sdpa_kernel([backend]))
        self.sdpa_backend = backend

    def alternatives(self) -> dict[str, Any]:
        return {backend.name: (lambda b=backend: self._pin(b)) for backend in self.accepted}

    def step(self) -> Any:
        self.out = F.scaled_dot_product_attention(self.q, self.k, self.v, is_causal=self.causal)

    def check(self) -> CheckResult:
        self.backend.synchronize()
        gen = torch.Generator().manual_seed(self.seed + 1)
        worst_error = 0.0
        for _ in range(CHECKED_HEADS):
            b = int(torch.randint(0, self.dims["batch"], (1,), generator=gen))
            h = int(torch.randint(0, self.dims["heads"], (1,), generator=gen))
            expected = reference_attention(self.q[b, h], self.k[b, h], self.v[b, h], self.causal)
            got = self.out[b, h].to("cpu", torch.float64)
            worst_error = max(worst_error, float((got - expected).abs().max()))
        tolerance = TOLERANCE[self.case.dtype]
        passed = worst_error <= tolerance and math.isfinite(worst_error)
        detail = f"{CHECKED_HEADS} (batch, head) slices vs fp64 math reference: max |error| {worst_error:.3g}"
        return CheckResult(passed, worst_error, tolerance, detail)

    def record(self) -> dict[str, Any]:
        return {"sdpa_backend": self.sdpa_backend.name if self.sdpa_backend else None,
                "sdpa_backend_rule": "fastest of the backends that accept the inputs (each timed briefly)",
                "accepted_backends": [b.name for b in self.accepted], "rejected_backends": self.tried}

    def teardown(self) -> None:
        if self._pinned is not None:
            self._pinned.close()  # restores torch's SDPA backend choice
            self._pinned = None
        super().teardown()


def make_kernel(case: Case, backend: Backend, seed: int = 0) -> Kernel:
    return SdpaKernel(case, backend, seed)
