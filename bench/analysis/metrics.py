"""All throughput -> export-control arithmetic, in one pure module (no device, no torch).

Conventions (also written into every run.json under "conventions"):
- FLOPs: dense GEMM 2*M*N*K; attention forward 4*B*H*S^2*D, halved when causal.
- Bytes: STREAM counting, bytes read + bytes written, no write-allocate traffic.
- Units: 1 TFLOPS = 1e12 op/s, 1 GB/s = 1e9 byte/s.
- TPP = dense TOPS x bit length of the multiply's inputs; a device's TPP is the max over
  data types, never a sum across precisions, never a sparse rate.
- Performance density = TPP / applicable die area (mm^2).
- A measured ("effective") TPP is a lower bound on the regulatory (theoretical-peak) TPP.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

# Bit length of the operation = width of the multiply's inputs (regulation.md §1.3).
BIT_LENGTH: dict[str, int] = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 32,  # 32-bit container; the choice never sets the max on known parts (regulation.md §1.3)
    "bf16": 16,
    "fp16": 16,
    "fp8_e4m3": 8,
    "fp8_e5m2": 8,
    "int8": 8,
    "fp6": 6,
    "fp4": 4,
    "int4": 4,
}

CONVENTIONS = {
    "gemm_flops": "2*M*N*K (dense; one multiply-accumulate = 2 operations)",
    "attention_flops": "forward 4*B*H*S^2*D; causal halves it",
    "stream_bytes": "STREAM: bytes read + bytes written, no write-allocate",
    "throughput_unit": "TFLOPS/TOPS = 1e12 operations per second",
    "bandwidth_unit": "GB/s = 1e9 bytes per second",
    "throughput_statistic": "median of per-iteration sample times",
    "tpp": "dense TOPS x input bit length, max over data types, never summed, never sparse",
    "effective_dram_bandwidth": "max over STREAM kernels whose arrays exceed 4x the last-level cache",
    "effective_tpp_is": "a lower bound on the regulatory (theoretical-peak) TPP",
}


def bit_length(dtype: str) -> int:
    try:
        return BIT_LENGTH[dtype]
    except KeyError:
        raise ValueError(f"no bit length known for dtype {dtype!r}; known: {', '.join(BIT_LENGTH)}") from None


def gemm_flops(m: int, n: int, k: int) -> int:
    return 2 * m * n * k


def attention_flops(batch: int, heads: int, seq_len: int, head_dim: int, causal: bool) -> int:
    full = 4 * batch * heads * seq_len * seq_len * head_dim
    return full // 2 if causal else full


def tera_per_second(operations: float, seconds: float) -> float:
    """Operations and seconds -> TFLOPS or TOPS (1e12 per second)."""
    if seconds <= 0:
        raise ValueError(f"non-positive time {seconds!r}")
    return operations / seconds / 1e12


def gb_per_second(nbytes: float, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"non-positive time {seconds!r}")
    return nbytes / seconds / 1e9


BANDWIDTH_UNIT = "GB/s"  # a rate of bytes; every other unit (TFLOPS, TOPS) is a rate of operations


def work_key(unit: str) -> str:
    """Which work count a rate in `unit` divides by time: "bytes" for GB/s, else "flops"."""
    return "bytes" if unit == BANDWIDTH_UNIT else "flops"


def rate(amount: float, seconds: float, unit: str) -> float:
    """`amount` of work (bytes for GB/s, operations otherwise) in `seconds`, in `unit` (1e9 B/s or 1e12 op/s)."""
    return gb_per_second(amount, seconds) if unit == BANDWIDTH_UNIT else tera_per_second(amount, seconds)


def fallback_unit(suite: str | None) -> str:
    """The unit a stored measurement that names none is recomputed in (bench verify): GB/s for the
    memory streams, TFLOPS otherwise."""
    return BANDWIDTH_UNIT if suite == "stream" else "TFLOPS"


def tpp(tops: float, dtype: str) -> float:
    """TPP of one data type: 2 x MacTOPS x bit length = dense TOPS x bit length."""
    return tops * bit_length(dtype)


def tpp_from_mac_tops(mac_tops: float, dtype: str) -> float:
    return 2.0 * mac_tops * bit_length(dtype)


def max_tpp(tops_by_dtype: Mapping[str, float]) -> tuple[float, str | None]:
    """(TPP, dtype that sets it): the max over data types, never their sum."""
    best_value, best_dtype = 0.0, None
    for dtype, tops in tops_by_dtype.items():
        value = tpp(tops, dtype)
        if value > best_value:
            best_value, best_dtype = value, dtype
    return best_value, best_dtype


def performance_density(tpp_value: float, die_area_mm2: float | None) -> float | None:
    if not die_area_mm2:
        return None
    return tpp_value / die_area_mm2


def throughput_interval(value: float, time_ci: tuple[float, float], time_median: float) -> tuple[float, float]:
    """A rate's CI from the time CI (rate is inversely proportional to time)."""
    low_t, high_t = time_ci
    return value * time_median / high_t, value * time_median / low_t


def efficiency(measured: float, peak: float | None) -> float | None:
    if not peak:
        return None
    return measured / peak


# --- decision rules (ILAC-G8:09/2019; test-lab.md §1.10) -------------------------------------

PASS, CONDITIONAL_PASS, CONDITIONAL_FAIL, FAIL, INCONCLUSIVE = (
    "pass", "conditional pass", "conditional fail", "fail", "inconclusive")


def acceptance_limit(limit: float, expanded_uncertainty: float, rule: str, below_is_conforming: bool) -> float:
    """The acceptance limit: the tolerance limit moved inward by a guard band w = U under the
    guarded rule, or the limit itself under simple acceptance (w = 0)."""
    if rule == "simple":
        return limit
    if rule == "guarded":
        return limit - expanded_uncertainty if below_is_conforming else limit + expanded_uncertainty
    raise ValueError(f"unknown decision rule {rule!r}; use 'simple' or 'guarded'")


def decide(value: float, expanded_uncertainty: float, limit: float, *, below_is_conforming: bool,
           rule: str = "guarded") -> str:
    """ILAC-G8 outcome for one measured value against one tolerance limit.

    below_is_conforming=True means the requirement is `value < limit`. With the guarded rule
    the result is pass/fail only when the whole interval value +- U is on one side of the
    limit, and conditional otherwise. With the simple rule it is pass or fail on the value."""
    if math.isnan(value):
        return INCONCLUSIVE
    sign = 1.0 if below_is_conforming else -1.0
    margin = sign * (limit - value)  # > 0: value is on the conforming side
    if rule == "simple":
        return PASS if margin > 0 else FAIL
    if rule != "guarded":
        raise ValueError(f"unknown decision rule {rule!r}; use 'simple' or 'guarded'")
    if margin > expanded_uncertainty:
        return PASS
    if margin > 0:
        return CONDITIONAL_PASS
    if margin > -expanded_uncertainty:
        return CONDITIONAL_FAIL
    return FAIL


def compare(value: float, op: str, limit: float) -> bool:
    """Evaluate a profile criterion such as `tpp >= 4800`."""
    ops = {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit,
           "==": value == limit}
    if op not in ops:
        raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(ops)}")
    return ops[op]


def best_by(records: Iterable[Mapping[str, Any]], key: str, group: str) -> dict[str, Mapping[str, Any]]:
    """The record with the largest `key` in each `group` (e.g. best GEMM case per dtype)."""
    best: dict[str, Mapping[str, Any]] = {}
    for record in records:
        name = record[group]
        if name not in best or record[key] > best[name][key]:
            best[name] = record
    return best


# --- declared specs and derived peaks (configs/devices; bench/rules/specs.py) --------------------

def peak_from_clock(units: int, clock_mhz: float, ops_per_clock_per_unit: float) -> float:
    """Theoretical peak in 1e12 op/s: units x clock x dense operations per clock per unit."""
    return units * clock_mhz * 1e6 * ops_per_clock_per_unit / 1e12


def expanded_from_interval(value: float, interval: tuple[float, float] | list[float]) -> float:
    """Expanded uncertainty read off a 95 % interval: the larger half-width (about k = 2)."""
    low, high = interval
    return max(value - low, high - value, 0.0)


# --- interconnect (collectives across ranks; nccl-tests doc/PERFORMANCE.md) ----------------

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")


def bus_bandwidth_factor(op: str, world_size: int) -> float:
    """nccl-tests' bus-bandwidth factor: all-reduce 2(n-1)/n; all-gather and reduce-scatter
    (n-1)/n; broadcast 1. It makes busbw comparable to one rank's link rate whatever n is."""
    if world_size < 1:
        raise ValueError(f"world size must be >= 1, got {world_size!r}")
    n = world_size
    if op == "all_reduce":
        return 2 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    if op == "broadcast":
        return 1.0
    raise ValueError(f"unknown collective {op!r}; known: {', '.join(COLLECTIVES)}")


def algorithm_bandwidth(message_bytes: float, seconds: float) -> float:
    """algbw in GB/s: message size S (nccl-tests: the full buffer, e.g. the gathered output) / time."""
    return gb_per_second(message_bytes, seconds)


def bus_bandwidth(algbw_gbs: float, op: str, world_size: int) -> float:
    """busbw in GB/s = algbw x bus_bandwidth_factor(op, world_size)."""
    return algbw_gbs * bus_bandwidth_factor(op, world_size)
