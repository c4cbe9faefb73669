"""Interconnect suite: nccl-tests bus-bandwidth arithmetic, and skip outside a process group."""

import pytest

from bench.analysis import metrics
from bench.cli import main
from bench.devices.cpu import CpuBackend
from bench.kernels import interconnect
from bench.kernels.base import LOCKSTEP, Skip
from bench.measure.results import load_run


@pytest.mark.parametrize("op,n,factor", [
    ("all_reduce", 2, 1.0), ("all_reduce", 4, 1.5), ("all_reduce", 8, 1.75), ("all_reduce", 1, 0.0),
    ("all_gather", 2, 0.5), ("all_gather", 8, 0.875), ("reduce_scatter", 4, 0.75), ("broadcast", 8, 1.0),
])
def test_bus_bandwidth_factor_is_nccl_tests(op, n, factor):
    assert metrics.bus_bandwidth_factor(op, n) == factor


def test_algbw_and_busbw_exact():
    algbw = metrics.algorithm_bandwidth(1_000_000_000, 0.5)  # 1 GB in 0.5 s
    assert algbw == 2.0
    assert metrics.bus_bandwidth(algbw, "all_reduce", 4) == 3.0  # 2 x 2(4-1)/4
    assert metrics.bus_bandwidth(algbw, "all_gather", 4) == 1.5


def test_unknown_collective_and_bad_world_size():
    with pytest.raises(ValueError):
        metrics.bus_bandwidth_factor("alltoallv", 2)
    with pytest.raises(ValueError):
        metrics.bus_bandwidth_factor("all_reduce", 0)


def test_summary_takes_max_busbw_per_op():
    from bench.analysis.summary import interconnect_peaks

    def m(op, value, n, mid):
        return {"id": mid, "kernel": op, "params": {"op": op, "world_size": n, "backend": "gloo"},
                "throughput": {"value": value}, "work": {"bytes": 1024}}
    peaks = interconnect_peaks([m("all_reduce", 1.0, 4, "a"), m("all_reduce", 3.0, 4, "b"), m("broadcast", 2.0, 4, "c")])
    assert peaks["all_reduce"]["busbw"] == 4.5 and peaks["all_reduce"]["measurement_id"] == "b"
    assert peaks["broadcast"]["busbw"] == 2.0


def test_single_process_records_skips_with_reason(tmp_path):
    code = main(["run", "--device", "cpu", "--suite", "quick", "--suites", "interconnect", "--quiet",
                 "--set", "suites.interconnect.sizes_bytes=[4096]", "--out", str(tmp_path / "r")])
    run = load_run(tmp_path / "r")
    assert code == 0 and run["measurements"] == []
    assert len(run["skips"]) == 1  # one skip for the suite, naming the collectives it would have run
    assert "more than one rank" in run["skips"][0]["reason"]
    assert run["skips"][0]["params"]["ops"] == "all_reduce,all_gather,reduce_scatter,broadcast"
    assert set(run["skips"][0]) == {"id", "suite", "kernel", "dtype", "shape", "params", "reason"}
    assert run["skips"][0]["id"] == ("interconnect/collectives/fp32/bytes=0,world_size=1,"
                                     "ops=all_reduce,all_gather,reduce_scatter,broadcast")


def test_one_rank_yields_an_explicit_skip_that_says_how_to_launch_ranks():
    config = {"ops": ["all_reduce", "broadcast"], "sizes_bytes": [4096], "dtype": "fp32"}
    (only,) = interconnect.cases(config, CpuBackend().cached_info())
    assert isinstance(only, Skip) and "torchrun --nproc-per-node 2" in only.reason
    assert only.case.params_dict == {"world_size": 1, "ops": "all_reduce,broadcast"}


def test_collectives_are_timed_in_lockstep():
    assert interconnect.CollectiveKernel.strategy == LOCKSTEP
    assert interconnect.CollectiveKernel.measure is not interconnect.Kernel.measure


def test_config_rejects_unknown_collective(tmp_path):
    code = main(["run", "--device", "cpu", "--suite", "quick", "--set", "suites.interconnect.ops=[alltoall]",
                 "--out", str(tmp_path / "r")])
    assert code == 2 and not (tmp_path / "r").exists()
