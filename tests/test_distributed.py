"""torchrun with two CPU ranks over gloo: interconnect suite and the gather into one run folder."""

import json
import subprocess
import sys

import pytest

from bench.errors import UsageError
from bench.measure.distributed import detect_launch


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


@pytest.mark.slow
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


# --- rank orchestration with a fake control group: no processes ------------------------------------


from bench.lab import ranks
from bench.lab.request import RunRequest  # noqa: E402
from bench.measure import distributed  # noqa: E402


class FakeComm:
    """What the other ranks answer: `others` are their all_gather values after preflight."""

    def __init__(self, rank, others_ready, hosts=None, shared=None):
        self.rank, self.others_ready, self.hosts, self.shared = rank, others_ready, hosts, shared
        self.gathers = 0
        self.sent = None

    def broadcast(self, value):
        return value if self.rank == 0 else self.shared

    def all_gather(self, value):
        self.gathers += 1
        if self.gathers == 1:
            return self.hosts or ["h"] * (1 + len(self.others_ready))
        values = list(self.others_ready)
        values.insert(self.rank, value)
        return values

    def gather(self, record, world_size):
        self.sent = record
        return ([record] + [{"status": "failed", "error": "x", "_spec": {"label": "rank1", "device": "cpu"}}]
                if self.rank == 0 else []), []


class FakeWork:
    def __init__(self, fail_prepare=False):
        self.fail_prepare, self.measured = fail_prepare, False

    def prepare(self, spec, unit_dir, run_id):
        self.spec = spec
        if self.fail_prepare:
            raise RuntimeError("does not fit memory")

    def measure(self):
        self.measured = True
        return {"status": "complete", "measurements": []}


def launch(rank, world=2):
    return distributed.Launch(rank, world, rank, "torchrun")


def test_no_rank_measures_when_another_failed_preflight(tmp_path):
    work = FakeWork()
    comm = FakeComm(0, ["RuntimeError: does not fit memory"])
    run_dir, run_id, records, _ = ranks.run_rank(RunRequest(out=str(tmp_path)), launch(0), "cuda", comm, work,
                                                 lambda label: f"id-{label}")
    assert not work.measured  # it would have waited in a collective for rank 1
    assert "rank 1: RuntimeError: does not fit memory" in comm.sent["error"]
    assert run_dir == tmp_path and run_id == "id-cuda-ranks2" and len(records) == 2


def test_the_failing_rank_still_takes_part_in_the_agreement(tmp_path):
    work = FakeWork(fail_prepare=True)
    comm = FakeComm(1, [None], shared=("id", str(tmp_path), None))
    ranks.run_rank(RunRequest(), launch(1), "cuda", comm, work, None)
    assert comm.gathers == 2 and not work.measured  # hosts, then the preflight agreement
    assert comm.sent["status"] == "failed" and "does not fit memory" in comm.sent["error"]


def test_ranks_measure_when_all_passed_preflight(tmp_path):
    work = FakeWork()
    comm = FakeComm(0, [None])
    ranks.run_rank(RunRequest(out=str(tmp_path)), launch(0), "cuda", comm, work, lambda label: "id", visible="0")
    assert work.measured and comm.sent["status"] == "complete"
    assert comm.sent["_spec"]["device"] == "cuda:0" and comm.sent["_spec"]["visible"] == "0"


def test_a_refused_output_folder_stops_every_rank_at_once(tmp_path):
    from bench.errors import UsageError

    def refuse(path):
        raise UsageError(f"--out {path}: folder is not empty")

    with pytest.raises(UsageError, match="not empty"):
        ranks.run_rank(RunRequest(out=str(tmp_path)), launch(0), "cpu", FakeComm(0, [None]), FakeWork(), str, None, refuse)
    comm = FakeComm(1, [None], shared=("id", str(tmp_path), "--out x: folder is not empty"))
    with pytest.raises(UsageError, match="rank 0 refused"):
        ranks.run_rank(RunRequest(), launch(1), "cpu", comm, FakeWork(), None)
    assert comm.gathers == 0


def test_rank_visibility():
    assert ranks.rank_visibility("cuda", 3, {}) == ({"CUDA_VISIBLE_DEVICES": "3"}, 0)
    assert ranks.rank_visibility("cuda", 1, {"CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b"}) == ({"CUDA_VISIBLE_DEVICES": "GPU-b"}, 0)
    assert ranks.rank_visibility("rocm", 2, {"HIP_VISIBLE_DEVICES": "5"}) == ({}, 0)  # srun gave it one already
    assert ranks.rank_visibility("npu", 1, {}) == ({"ASCEND_RT_VISIBLE_DEVICES": "1"}, 0)
    assert ranks.rank_visibility("cpu", 1, {}) == ({}, None)
    with pytest.raises(UsageError, match="lists 2 devices"):
        ranks.rank_visibility("cuda", 2, {"CUDA_VISIBLE_DEVICES": "0,1"})


def test_launch_kind_never_asks_the_runtime():
    class Version:
        hip, cuda = None, "12.8"

    class FakeTorch:
        version = Version

    assert ranks.launch_kind("auto", FakeTorch) == "cuda"
    Version.hip = "6.4"
    assert ranks.launch_kind("auto", FakeTorch) == "rocm"
    assert ranks.launch_kind("npu", FakeTorch) == "npu"


def test_group_binds_to_the_rank_device_where_torch_can():
    import torch

    def new_init(backend=None, timeout=None, device_id=None): ...

    def old_init(backend=None, timeout=None): ...

    assert distributed.group_options("cuda", 0, new_init) == {"device_id": torch.device("cuda", 0)}
    assert distributed.group_options("rocm", 0, new_init) == {"device_id": torch.device("cuda", 0)}
    assert distributed.group_options("npu", 0, old_init) == {}
    assert distributed.group_options("cpu", None, new_init) == {}


def test_one_rank_reason_to_skip_a_collective_case_is_every_rank_s():
    assert distributed.agree_on_skip(None, lambda mine: [None, None]) is None
    assert distributed.agree_on_skip(None, lambda mine: [None, "does not fit memory"]) == \
        "skipped on every rank: rank 1 cannot run it (does not fit memory)"
    assert distributed.agree_on_skip("too big", lambda mine: ["too big", None]) == "too big"
    assert distributed.agree_on_skip("own reason") == "own reason"  # outside a launch


def test_an_interrupted_rank_still_hands_over_what_it_measured(tmp_path, monkeypatch):
    from bench.cli.run_units import RunnerWork, resolved_config
    from bench.lab.multiunit import UnitSpec
    from bench.measure.runner import Runner

    def interrupted(self):
        self.writer.add_skip({"suite": "stream", "kernel": "triad", "dtype": "fp32", "reason": "fake"})
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "run", interrupted)
    request = RunRequest(device="cpu", suite="quick", suites=("stream",))
    work = RunnerWork(request, resolved_config(request), launch(1), "cpu", None, "gloo")
    work.prepare(UnitSpec("rank1", "cpu", True, "note"), tmp_path / "rank1", "id")
    record = work.measure()
    assert record["status"] == "incomplete" and record["skips"] and record["distributed"]["rank"] == 1
