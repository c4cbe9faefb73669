"""Dense GEMM: C = A @ B in every dtype the device has. FLOPs = 2*M*N*K.

fp64/fp32/bf16/fp16 use torch.mm; fp32 runs with TF32 off and tf32 with it on; fp8 e4m3 uses
torch._scaled_mm (bf16 output; params fast_accum=True for the fast-accumulation variant); int8 uses
torch._int_mm (int32 output, exact).

fp8 and int8 take B column-major (a contiguous (N, K) tensor passed as its .t(), "TN"): the layout
cuBLASLt's IMMA / fp8 kernels want. `_scaled_mm` needs it; `_int_mm` accepts a row-major B too
(PyTorch Blas.cpp `_int_mm_out_cuda` goes through cublasCommonArgs, which reads either layout) but
lands on a slow kernel with it (pytorch #165230, #187094). `_int_mm` on CUDA wants M > 16 and
K, N multiples of 8; `_scaled_mm` wants K and N multiples of 16: SHAPE_ALIGN keeps every shape the
harness makes (search, perturbed variants) on 32."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from bench.analysis import metrics
from bench.devices import precision
from bench.devices.base import Backend, DeviceInfo
from bench.kernels.base import INPUT_DISTRIBUTIONS, TORCH_DTYPES, Case, CheckResult, Kernel
from bench.measure.config_schema import (
    BOOL,
    DIM_MAX,
    LIST_MAX,
    TIMING_SCHEMA,
    Bounded,
    Schema,
    count,
    fraction,
    list_from,
    seconds,
)
from bench.measure.probe import DeviceProbe

# (relative error allowed on |C|, error allowed relative to sum_k |A_ik * B_kj|) per dtype.
# The first covers rounding of the output, the second accumulation (and TF32 input) rounding.
# A wrong result (zeros, transposed, stale) misses by ~|C| ~ sqrt(K) * sum|AB| / K: far above these.
TOLERANCE = {
    "fp64": (1e-12, 1e-12),
    "fp32": (1e-6, 2e-5),
    "tf32": (1e-6, 1e-3),
    "bf16": (2**-8, 1e-4),
    "fp16": (2**-10, 1e-4),
    "fp8_e4m3": (2**-8, 1e-4),
    "int8": (0.0, 0.0),
}
CHECK_ROWS = CHECK_COLS = 8  # 64 sampled output entries are checked against an fp64 reference
INT8_SCALE = 24.0  # normal(0, 24) rounded and clipped to [-127, 127]
# Sizes the harness picks itself are multiples of this per dtype (16 is what _scaled_mm checks; 32 for margin).
SHAPE_ALIGN = {"fp8_e4m3": 32, "int8": 32}
DEFAULT_ALIGN = 8
# fp8 accumulation: "fp32" promotes partial sums to fp32 (cuBLASLt default, use_fast_accum=False);
# "fast" keeps them in the tensor core's accumulator (use_fast_accum=True). Both are dense: same
# 2*M*N*K multiply-adds at 8-bit inputs, so either may set the fp8 peak (docs/measurement.md).
FP8_ACCUMULATION = {False: "fp32", True: "fast"}


def input_itemsize(dtype: str) -> int:
    return torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()


def shape_alignment(dtype: str) -> int:
    """Multiple every harness-chosen GEMM dimension of `dtype` keeps (perturbed variants, search)."""
    return SHAPE_ALIGN.get(dtype, DEFAULT_ALIGN)


def case_for(dtype: str, shape: tuple[int, int, int] | list[int], **params: Any) -> Case:
    """One GEMM case; params (e.g. input_distribution, variant, seed, search_trial) become part of its id."""
    m, n, k = shape
    return Case("gemm", "matmul", dtype, (("m", int(m)), ("n", int(n)), ("k", int(k))), tuple(params.items()))


# -- the suite's config (declared on its registry Suite; bench/measure/config.py validates it) --------
SEARCH_SCHEMA: Schema = {  # bench/analysis/search.py: guided peak search per dtype
    "enabled": BOOL,
    "max_trials": count(),
    "max_seconds": seconds(),
    "patience": count(),
    "min_improvement": fraction(0.0, 10.0),
    "tile": Bounded(1, 2**16, integer=True),
    "min_size": Bounded(1, DIM_MAX, integer=True),
    "max_size": Bounded(1, DIM_MAX, integer=True),
    "max_candidates": count(LIST_MAX),
    "start_sizes": Bounded(1, DIM_MAX, integer=True, each=True),
    "trial_timing": TIMING_SCHEMA,  # shorter timing for screening trials; the best is confirmed with the suite's
}
PERTURBATION_SCHEMA: Schema = {  # bench/analysis/antidetect.py: off-grid shapes and other seeds
    "enabled": BOOL,
    "variants": count(1000),
    "min_offset": fraction(1e-9),
    "max_offset": fraction(1e-9),
    "flag_margin": fraction(0.0, 10.0),
}
CONFIG_SCHEMA: Schema = {
    "dtypes": list_from(tuple(TORCH_DTYPES), "dtypes"),
    "shapes": Bounded(1, DIM_MAX, integer=True, each=True, width=3),
    "max_iteration_s": seconds(),
    "search": SEARCH_SCHEMA,
    "data_patterns": list_from(INPUT_DISTRIBUTIONS),
    "low_entropy_flag": fraction(0.0, 10.0),  # flag zeros/ones faster than normal by more
    "perturbation": PERTURBATION_SCHEMA,
    "timing": TIMING_SCHEMA,
}
DEFAULTS: dict[str, Any] = {
    "max_iteration_s": 2.0, "timing": {},
    "search": {"enabled": False, "max_trials": 24, "max_seconds": 120.0, "patience": 8,
               "min_improvement": 0.01, "max_candidates": 8,
               "trial_timing": {"warmup_min_s": 0.02, "warmup_max_s": 0.3, "samples": 3, "max_samples": 6,
                                "target_rel_ci": 0.03, "max_measure_s": 0.3}},
    "data_patterns": ["normal"], "low_entropy_flag": 0.10,
    "perturbation": {"enabled": False, "variants": 3, "min_offset": 0.03, "max_offset": 0.07, "flag_margin": 0.15},
}
REQUIRED = ("dtypes", "shapes")


def cases(config: dict[str, Any], info: DeviceInfo, probe: DeviceProbe | None = None) -> Iterable[Case]:
    """The fixed shape set (normal inputs). Search trials, low-entropy patterns and perturbed variants
    depend on these results: the suite's follow-ups add them afterwards (kernels/gemm_followups.py)."""
    for dtype in config["dtypes"]:
        for shape in config["shapes"]:
            yield case_for(dtype, shape)


class MatmulKernel(Kernel):
    needs_dtype_support = True  # fp8, tf32, int8 matrix units are missing on some parts

    def __init__(self, case: Case, backend: Backend, seed: int = 0):
        super().__init__(case, backend, case.params_dict.get("seed", seed))  # perturbed variants bring their own
        shape = case.shape_dict
        self.m, self.n, self.k = shape["m"], shape["n"], shape["k"]
        self.dtype = case.dtype
        self.unit = "TOPS" if self.dtype == "int8" else "TFLOPS"
        self._restore_precision: Callable[[], None] | None = None
        self.fast_accum = bool(case.params_dict.get("fast_accum", False)) and self.dtype == "fp8_e4m3"

    def flops(self) -> int:
        return metrics.gemm_flops(self.m, self.n, self.k)

    def bytes_moved(self) -> int:
        """Compulsory traffic: read A and B once, write C once."""
        return self.m * self.k * self._in_size() + self.k * self.n * self._in_size() + self.m * self.n * self._out_size()

    def required_bytes(self) -> int:
        return self.bytes_moved()

    def _in_size(self) -> int:
        return torch.empty((), dtype=TORCH_DTYPES[self.dtype]).element_size()

    def _out_size(self) -> int:
        return {"fp8_e4m3": 2, "int8": 4}.get(self.dtype, self._in_size())

    def _set_precision(self) -> None:
        # torch >= 2.9 fp32_precision API when present; mixing it with the legacy flags makes them raise
        self._restore_precision = precision.set_matmul_tf32(torch, self.dtype == "tf32")

    def setup(self) -> None:
        gen = self.generator()
        if self.dtype in ("fp32", "tf32"):
            self._set_precision()
        if self.dtype == "int8":
            self.a = self._int8(self.m, self.k, gen)
            self.b = self._int8(self.n, self.k, gen).t()  # column-major B: the fast IMMA layout
            self.c = torch._int_mm(self.a, self.b)
        elif self.dtype == "fp8_e4m3":
            fp8 = self.backend.fp8_dtype()
            self.a = self.inputs(self.m, self.k, dtype=fp8, gen=gen)
            self.b = self.inputs(self.n, self.k, dtype=fp8, gen=gen).t()  # _scaled_mm wants B column-major
            self.scale = torch.ones((), device=self.device, dtype=torch.float32)
            self.c = self._fp8_mm()
        else:
            dtype = TORCH_DTYPES[self.dtype]
            self.a = self.inputs(self.m, self.k, dtype=dtype, gen=gen)
            self.b = self.inputs(self.k, self.n, dtype=dtype, gen=gen)
            self.c = torch.empty(self.m, self.n, dtype=dtype, device=self.device)

    def _fp8_mm(self) -> torch.Tensor:
        return torch._scaled_mm(self.a, self.b, self.scale, self.scale, out_dtype=torch.bfloat16,
                                use_fast_accum=self.fast_accum)

    def _int8(self, rows: int, cols: int, gen: torch.Generator) -> torch.Tensor:
        values = self.inputs(rows, cols, gen=gen) * (INT8_SCALE if self.input_distribution == "normal" else 1.0)
        return values.round().clamp(-127, 127).to(torch.int8)

    def step(self) -> Any:
        if self.dtype == "int8":
            self.c = torch._int_mm(self.a, self.b)
        elif self.dtype == "fp8_e4m3":
            self.c = self._fp8_mm()
        else:
            torch.mm(self.a, self.b, out=self.c)

    def check(self) -> CheckResult:
        self.backend.synchronize()
        gen = torch.Generator().manual_seed(self.seed + 1)
        rows = torch.randint(0, self.m, (CHECK_ROWS,), generator=gen)
        cols = torch.randint(0, self.n, (CHECK_COLS,), generator=gen)
        a = self.a[rows.to(self.device)].to("cpu", torch.float64)
        b = self.b[:, cols.to(self.device)].to("cpu", torch.float64)
        reference = a @ b
        magnitude = a.abs() @ b.abs()
        got = self.c[rows.to(self.device)][:, cols.to(self.device)].to("cpu", torch.float64)
        rtol, acc_tol = TOLERANCE[self.dtype]
        allowed = rtol * reference.abs() + acc_tol * magnitude
        error = (got - reference).abs()
        worst = int(torch.argmax(error - allowed))
        passed = bool(torch.all(error <= allowed)) and bool(torch.isfinite(got).all())
        detail = (f"{CHECK_ROWS * CHECK_COLS} sampled entries vs fp64 reference: max |error| {float(error.max()):.3g}"
                  f" (allowed there {float(allowed.flatten()[worst]):.3g})")
        return CheckResult(passed, float(error.max()), float(allowed.flatten()[worst]), detail)

    def record(self) -> dict[str, Any]:
        op = {"int8": "torch._int_mm", "fp8_e4m3": "torch._scaled_mm"}.get(self.dtype, "torch.mm")
        record = {"op": op, "tf32": self.dtype == "tf32", "input_distribution": self.input_distribution,
                  "seed": self.seed}
        if self.dtype == "fp8_e4m3":
            record["fp8_dtype"] = str(self.backend.fp8_dtype()).removeprefix("torch.")
            record["accumulate"] = FP8_ACCUMULATION[self.fast_accum]
            record["b_layout"] = "column-major"
        if self.dtype == "int8":
            record["accumulate"] = "int32"
            record["b_layout"] = "column-major"
        return record

    def teardown(self) -> None:
        if self._restore_precision:
            self._restore_precision()
            self._restore_precision = None
        super().teardown()


def make_kernel(case: Case, backend: Backend, seed: int = 0) -> Kernel:
    return MatmulKernel(case, backend, seed)
