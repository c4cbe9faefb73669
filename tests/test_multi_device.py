"""Several units in one run folder: CPU stand-ins as worker processes, a failing worker recorded."""

import json
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.evidence.signing import generate_keys, sign_run, verify_run
from bench.lab import multiunit, node
from bench.lab.fleet import aggregate
from bench.lab.request import RunRequest

SMALL = ["--suite", "quick", "--suites", "gemm,stream", "--set", "suites.gemm.dtypes=[fp32]",
         "--set", "suites.gemm.shapes=[[128,128,128]]", "--set", "suites.stream.kernels=[triad]",
         "--set", "suites.stream.llc_multiple=0.25", "--set", "timing.samples=3", "--set", "timing.max_samples=3"]


@pytest.mark.slow
def test_two_stand_ins_one_folder_signed_and_verified(tmp_path):
    out = tmp_path / "run"
    code = main(["run", "--device", "cpu", "--stand-ins", "2", "--parallel", "--quiet", "--out", str(out), *SMALL])
    assert code == 0
    node = json.loads((out / "run.json").read_text())
    assert node["schema_version"] == 1 and node["status"] == "complete"
    assert [u["unit"] for u in node["units"]] == ["cpu-0", "cpu-1"]
    for unit in node["units"]:
        assert unit["stand_in"] and "CPU stand-in" in unit["label_note"]
        assert unit["device"]["extra"]["stand_in"] is True
        own = json.loads((out / unit["run_dir"] / "run.json").read_text())
        assert own["measurements"] == unit["measurements"] and own["unit"]["parent_run_id"] == node["run_id"]
    keys = generate_keys(tmp_path / "k.key")
    sign_run(out, keys.private_path)
    result = verify_run(out, keys.public_path)
    assert result.ok, result.findings + result.recompute_findings
    report = aggregate([out])
    assert len(report.units) == 2 and report.units["stand_in"].all()


@pytest.mark.slow
def test_failing_worker_is_recorded_and_others_finish(tmp_path):
    specs = [multiunit.UnitSpec("good", "cpu"), multiunit.UnitSpec("bad", "nosuchdevice:0")]
    request = RunRequest(suite="quick", suites=("stream",), parallel=True,
                         overrides=("suites.stream.kernels=[triad]", "suites.stream.llc_multiple=0.25",
                                    "timing.samples=3"))
    records = node.NodeRun(request, specs, tmp_path, "parent", node.QuietUnits()).run()
    good, bad = records
    assert good["status"] == "complete" and good["measurements"]
    assert bad["status"] == "failed" and bad["exit_code"] == 2
    assert any("nosuchdevice" in line for line in bad["output_tail"])


def test_worker_command_labels_stand_ins():
    spec = multiunit.UnitSpec("cpu-1", "cpu", True, "note", "SIM-2")
    command = node.worker_command(RunRequest(suite="quick"), spec, tmp := Path("/r"), "pid")
    assert command[:4] == [sys.executable, "-m", "bench", "run"]
    assert "--stand-in" in command and command[command.index("--assigned-serial") + 1] == "SIM-2"
    assert command[command.index("--out") + 1] == str(tmp / "units" / "cpu-1")


@pytest.mark.slow
def test_plan_serials_reach_fleet_for_stand_ins(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\nsuite: quick\nsuites: [stream]\ndevice: cpu\n"
                    "set: ['suites.stream.kernels=[triad]', 'suites.stream.llc_multiple=0.25', 'timing.samples=3']\n"
                    "manifest: {lot: L, units: [{serial: SIM-1, stand_in: true}, {serial: SIM-2, stand_in: true}]}\n")
    out = tmp_path / "run"
    assert main(["run", "--plan", str(plan), "--quiet", "--out", str(out)]) == 0
    from bench.lab.fleet import load_manifest

    report = aggregate([out], manifest=load_manifest(plan), allow_unsigned=True)
    assert sorted(report.units["unit"]) == ["SIM-1", "SIM-2"]
    assert not report.missing and not report.unexpected


# --- node orchestration with a fake spawner: no subprocesses -------------------------------------

class FakeProcess:
    def __init__(self, code, hang=False):
        self.code, self.hang, self.signals, self.killed = code, hang, [], False

    def wait(self, timeout=None):
        if self.hang and not self.signals and not self.killed:
            raise KeyboardInterrupt  # Ctrl-C arrives while the parent waits for this worker
        return self.code

    def kill(self):
        self.killed = True

    def send_signal(self, sig):
        self.signals.append(sig)


REFERENCE = json.loads((Path(__file__).parent / "data" / "cpu_sweep_run.json").read_text())


class FakeSpawner:
    """Records each worker's argv and environment; `writes` decides the run.json a worker leaves."""

    def __init__(self, codes=None, hang=()):
        self.calls, self.codes, self.hang, self.processes = [], codes or {}, set(hang), {}

    def __call__(self, argv, env, log):
        label = argv[argv.index("--unit-label") + 1]
        out = Path(argv[argv.index("--out") + 1])
        self.calls.append({"label": label, "argv": argv, "env": env})
        status = "incomplete" if label in self.hang else "complete"
        if self.codes.get(label, 0) != 2:
            measurement = {**REFERENCE["measurements"][0], "id": f"{label}-m"}
            (out / "run.json").write_text(json.dumps({
                "schema_version": 1, "method_version": "1.0", "run_id": label, "status": status, "started_at": None,
                "measurements": [measurement], "skips": [], "device": {"backend": "cuda", "name": "GPU"}}))
        log.write(f"worker {label}\n")
        self.processes[label] = FakeProcess(self.codes.get(label, 0), label in self.hang)
        return self.processes[label]


def cuda_specs(count):
    from bench.cli.run_units import device_spec
    from bench.devices.base import DeviceInfo

    return [device_spec(DeviceInfo(backend="cuda", index=i, name="GPU", vendor="NVIDIA", torch_device=f"cuda:{i}",
                                   extra={"uuid": f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd"}), env={})
            for i in range(count)]


def test_each_cuda_worker_sees_only_its_own_gpu_by_uuid(tmp_path):
    spawn = FakeSpawner()
    specs = cuda_specs(3)
    env = {"RANK": "0", "WORLD_SIZE": "2", "PATH": "/bin"}
    records = node.NodeRun(RunRequest(suite="quick", parallel=True), specs, tmp_path, "pid", node.QuietUnits(),
                           spawn, env).run()
    assert [r["status"] for r in records] == ["complete"] * 3
    for i, call in enumerate(spawn.calls):
        argv, worker_env = call["argv"], call["env"]
        assert worker_env["CUDA_VISIBLE_DEVICES"] == f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd"
        assert argv[argv.index("--device") + 1] == "cuda:0"  # index 0 of what it sees, for every unit
        assert argv[argv.index("--physical-device") + 1] == f"cuda:{i}"
        assert argv[argv.index("--out") + 1] == str(tmp_path / "units" / f"cuda-{i}")
        assert "RANK" not in worker_env and "WORLD_SIZE" not in worker_env and worker_env["PATH"] == "/bin"
    assert [r["device_spec"] for r in records] == ["cuda:0", "cuda:1", "cuda:2"]


@pytest.mark.parametrize("kind,variable", [("rocm", "HIP_VISIBLE_DEVICES"), ("npu", "ASCEND_RT_VISIBLE_DEVICES")])
def test_other_backends_see_their_device_by_index_through_an_inherited_list(kind, variable):
    assert node.visible_id(kind, 2, "uuid-ignored", {}) == "2"
    assert node.visible_id(kind, 1, None, {variable: "4, 6,7"}) == "6"
    with pytest.raises(Exception, match=variable):
        node.visible_id(kind, 5, None, {variable: "4,6"})
    spec = multiunit.UnitSpec(f"{kind}-1", f"{kind}:1", visible="6")
    assert node.worker_env(spec, {})[variable] == "6" and node.worker_device(spec) == f"{kind}:0"


def test_cpu_workers_keep_their_device_and_no_visibility_variable(tmp_path):
    spawn = FakeSpawner()
    specs = [multiunit.UnitSpec(f"cpu-{i}", "cpu", True, "note") for i in range(2)]
    node.NodeRun(RunRequest(), specs, tmp_path, "pid", node.QuietUnits(), spawn, {}).run()
    for call in spawn.calls:
        assert call["argv"][call["argv"].index("--device") + 1] == "cpu" and "--stand-in" in call["argv"]
        assert not set(node.VISIBILITY_ENV.values()) & set(call["env"])


def test_a_failing_worker_is_recorded_and_the_others_run(tmp_path):
    spawn = FakeSpawner(codes={"cuda-1": 2})
    records = node.NodeRun(RunRequest(), cuda_specs(3), tmp_path, "pid", node.QuietUnits(), spawn, {}).run()
    assert [r["status"] for r in records] == ["complete", "failed", "complete"]
    assert records[1]["exit_code"] == 2 and records[1]["output_tail"] == ["worker cuda-1"]


def test_interrupt_stops_the_workers_and_keeps_what_they_measured(tmp_path):
    spawn = FakeSpawner(hang={"cuda-0"})
    run = node.NodeRun(RunRequest(), cuda_specs(3), tmp_path, "pid", node.QuietUnits(), spawn, {})
    records = run.run()
    assert run.interrupted
    assert spawn.processes["cuda-0"].signals  # asked to close its record
    assert records[0]["status"] == "failed" and records[0]["error"] == "interrupted"
    assert [m["id"] for m in records[0]["measurements"]] == ["cuda-0-m"]  # kept
    assert [r["error"] for r in records[1:]] == ["not started: the run was interrupted"] * 2
    assert len(spawn.calls) == 1


def test_a_worker_records_which_node_device_it_measured(monkeypatch):
    from bench.cli.run_units import prepare_unit
    from bench.lab.request import UnitRole

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc")
    run = {"run_id": "r", "device": {"backend": "cuda", "extra": {"uuid": "abc"}}}
    prepare_unit(run, RunRequest(device="cuda:0", unit=UnitRole("cuda-3", "pid", physical_device="cuda:3")))
    assert run["unit"]["label"] == "cuda-3" and run["unit"]["parent_run_id"] == "pid"
    assert run["device"]["extra"] == {"uuid": "abc", "unit_device": "cuda:3",
                                      "visible_devices": {"CUDA_VISIBLE_DEVICES": "GPU-abc"}}
