import math

import pytest

from bench.analysis import metrics


def test_flop_counts():
    assert metrics.gemm_flops(4096, 4096, 4096) == 2 * 4096**3
    assert metrics.gemm_flops(3, 5, 7) == 210
    assert metrics.attention_flops(2, 8, 1024, 64, causal=False) == 4 * 2 * 8 * 1024 * 1024 * 64
    assert metrics.attention_flops(2, 8, 1024, 64, causal=True) == 2 * 2 * 8 * 1024 * 1024 * 64


def test_rates_use_decimal_units():
    assert metrics.tera_per_second(2e12, 1.0) == 2.0
    assert metrics.tera_per_second(1e9, 1e-3) == 1.0
    assert metrics.gb_per_second(3e9, 0.5) == 6.0
    with pytest.raises(ValueError):
        metrics.gb_per_second(1, 0.0)


def test_a_rate_divides_the_work_its_unit_counts():
    work = {"flops": 4e12, "bytes": 3e9}
    assert metrics.work_key("GB/s") == "bytes"
    assert metrics.work_key("TFLOPS") == metrics.work_key("TOPS") == "flops"
    assert metrics.rate(work[metrics.work_key("GB/s")], 0.5, "GB/s") == 6.0  # 1e9 bytes per second
    assert metrics.rate(work[metrics.work_key("TFLOPS")], 2.0, "TFLOPS") == 2.0  # 1e12 operations per second
    assert metrics.rate(work[metrics.work_key("TOPS")], 4.0, "TOPS") == 1.0
    with pytest.raises(ValueError, match="non-positive"):
        metrics.rate(1, 0.0, "GB/s")
    with pytest.raises(ValueError, match="non-positive"):
        metrics.rate(1, -1.0, "TFLOPS")


def test_a_measurement_without_a_unit_is_recomputed_as_streams_in_gbs_and_the_rest_in_tflops():
    assert metrics.fallback_unit("stream") == "GB/s"
    assert metrics.fallback_unit("gemm") == metrics.fallback_unit(None) == "TFLOPS"


@pytest.mark.parametrize("dtype,bits", [("fp64", 64), ("fp32", 32), ("tf32", 32), ("bf16", 16), ("fp16", 16),
                                        ("fp8_e4m3", 8), ("int8", 8), ("fp4", 4)])
def test_bit_lengths(dtype, bits):
    assert metrics.bit_length(dtype) == bits


def test_unknown_dtype_is_an_error():
    with pytest.raises(ValueError, match="no bit length"):
        metrics.bit_length("fp7")


def test_tpp_matches_published_examples():
    # BIS's worked example (88 FR 73458): 600 TOPS at 8 bits and 300 TFLOPS at 16 bits both give 4800.
    assert metrics.tpp(600, "int8") == 4800
    assert metrics.tpp(300, "fp16") == 4800
    assert metrics.tpp_from_mac_tops(150, "bf16") == 4800
    # H100 SXM: 989.5 dense bf16 TFLOPS -> 15,832.
    assert metrics.tpp(989.5, "bf16") == pytest.approx(15832)


def test_max_tpp_is_a_max_never_a_sum():
    value, dtype = metrics.max_tpp({"fp64": 67.0, "bf16": 989.5, "fp8_e4m3": 1500.0})
    assert dtype == "bf16" and value == pytest.approx(15832)  # not 67*64 + 989.5*16 + 1500*8
    assert metrics.max_tpp({}) == (0.0, None)


def test_performance_density_and_efficiency():
    assert metrics.performance_density(4800, 600) == 8.0
    assert metrics.performance_density(4800, None) is None
    assert metrics.efficiency(50, 100) == 0.5
    assert metrics.efficiency(50, None) is None


def test_throughput_interval_inverts_time_interval():
    low, high = metrics.throughput_interval(100.0, (0.9, 1.1), 1.0)
    assert low == pytest.approx(100 / 1.1) and high == pytest.approx(100 / 0.9)


@pytest.mark.parametrize("value,expected", [
    (80.0, metrics.PASS),              # below the limit by more than U
    (95.0, metrics.CONDITIONAL_PASS),  # below, within U
    (105.0, metrics.CONDITIONAL_FAIL), # above, within U
    (120.0, metrics.FAIL),             # above by more than U
])
def test_guarded_decision_upper_limit(value, expected):
    assert metrics.decide(value, 10.0, 100.0, below_is_conforming=True, rule="guarded") == expected


def test_simple_decision_ignores_uncertainty_and_lower_limits_flip():
    assert metrics.decide(99.0, 10.0, 100.0, below_is_conforming=True, rule="simple") == metrics.PASS
    assert metrics.decide(101.0, 10.0, 100.0, below_is_conforming=True, rule="simple") == metrics.FAIL
    assert metrics.decide(120.0, 10.0, 100.0, below_is_conforming=False) == metrics.PASS
    assert metrics.decide(math.nan, 1.0, 100.0, below_is_conforming=True) == metrics.INCONCLUSIVE
    with pytest.raises(ValueError):
        metrics.decide(1.0, 1.0, 2.0, below_is_conforming=True, rule="lenient")


def test_acceptance_limit_guard_band():
    assert metrics.acceptance_limit(100.0, 5.0, "guarded", below_is_conforming=True) == 95.0
    assert metrics.acceptance_limit(100.0, 5.0, "guarded", below_is_conforming=False) == 105.0
    assert metrics.acceptance_limit(100.0, 5.0, "simple", below_is_conforming=True) == 100.0


def test_compare_ops():
    assert metrics.compare(4800, ">=", 4800)
    assert not metrics.compare(4799.9, ">=", 4800)
    assert metrics.compare(20_918, "<", 21_000)
    with pytest.raises(ValueError):
        metrics.compare(1, "=>", 2)
