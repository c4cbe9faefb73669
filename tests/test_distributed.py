"""torchrun with two CPU ranks over gloo: interconnect suite and the gather into one run folder."""

import json
import subprocess
import sys

import pytest

from bench.distributed import detect_launch
from bench.errors import UsageError


def test_detect_launch_torchrun_and_slurm():
    assert detect_launch({}) is None
    assert detect_launch({"RANK": "0", "WORLD_SIZE": "1"}) is None
    launch = detect_launch({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    assert (launch.rank, launch.world_size, launch.local_rank, launch.launcher) == (1, 2, 1, "torchrun")
    slurm = detect_launch({"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1",
                           "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    assert (slurm.rank, slurm.local_rank, slurm.launcher) == (3, 1, "slurm")
    with pytest.raises(UsageError, match="MASTER_ADDR"):
        detect_launch({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})


def test_torchrun_two_gloo_ranks_one_folder(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "bench", "run",
               "--device", "cpu", "--suite", "quick", "--suites", "gemm,interconnect", "--quiet",
               "--set", "suites.gemm.dtypes=[fp32]", "--set", "suites.gemm.shapes=[[128,128,128]]",
               "--set", "suites.interconnect.sizes_bytes=[65536]", "--set", "timing.samples=3",
               "--dist-timeout", "60", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    node = json.loads((out / "run.json").read_text())
    assert node["status"] == "complete" and node["mode"].startswith("torch.distributed")
    assert [u["unit"] for u in node["units"]] == ["rank0", "rank1"]
    for rank, unit in enumerate(node["units"]):
        assert unit["distributed"] == {"rank": rank, "world_size": 2, "local_rank": rank,
                                       "launcher": "torchrun", "backend": "gloo"}
        assert (out / "units" / f"rank{rank}" / "run.json").is_file()
        ops = unit["summary"]["interconnect"]
        assert set(ops) == {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}
        assert ops["all_reduce"]["busbw"] == ops["all_reduce"]["algbw"] * 1.0 and ops["all_gather"]["factor"] == 0.5
        assert all(m["check"]["passed"] for m in unit["measurements"])
    assert node["units"][1]["stand_in"] and "shares host" in node["units"][1]["label_note"]
