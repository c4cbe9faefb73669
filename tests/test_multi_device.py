"""Several units in one run folder: CPU stand-ins as worker processes, a failing worker recorded."""

import json
import sys

from bench import multiunit
from bench.cli import main
from bench.fleet import aggregate
from bench.signing import generate_keys, sign_run, verify_run

SMALL = ["--suite", "quick", "--suites", "gemm,stream", "--set", "suites.gemm.dtypes=[fp32]",
         "--set", "suites.gemm.shapes=[[128,128,128]]", "--set", "suites.stream.kernels=[triad]",
         "--set", "suites.stream.llc_multiple=0.25", "--set", "timing.samples=3", "--set", "timing.max_samples=3"]


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


def test_failing_worker_is_recorded_and_others_finish(tmp_path):
    specs = [multiunit.UnitSpec("good", "cpu"), multiunit.UnitSpec("bad", "nosuchdevice:0")]
    passthrough = ["--suite", "quick", "--suites", "stream", "--set", "suites.stream.kernels=[triad]",
                   "--set", "suites.stream.llc_multiple=0.25", "--set", "timing.samples=3"]
    records = multiunit.run_workers(specs, tmp_path, "parent", passthrough, parallel=True)
    good, bad = records
    assert good["status"] == "complete" and good["measurements"]
    assert bad["status"] == "failed" and bad["exit_code"] == 2
    assert any("nosuchdevice" in line for line in bad["output_tail"])


def test_worker_command_labels_stand_ins():
    spec = multiunit.UnitSpec("cpu-1", "cpu", True, "note", "SIM-2")
    command = multiunit.worker_command(spec, tmp := __import__("pathlib").Path("/r"), "pid", ["--suite", "quick"])
    assert command[:4] == [sys.executable, "-m", "bench", "run"]
    assert "--stand-in" in command and command[command.index("--assigned-serial") + 1] == "SIM-2"
    assert command[command.index("--out") + 1] == str(tmp / "units" / "cpu-1")


def test_plan_serials_reach_fleet_for_stand_ins(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\nsuite: quick\nsuites: [stream]\ndevice: cpu\n"
                    "set: ['suites.stream.kernels=[triad]', 'suites.stream.llc_multiple=0.25', 'timing.samples=3']\n"
                    "manifest: {lot: L, units: [{serial: SIM-1, stand_in: true}, {serial: SIM-2, stand_in: true}]}\n")
    out = tmp_path / "run"
    assert main(["run", "--plan", str(plan), "--quiet", "--out", str(out)]) == 0
    from bench.fleet import load_manifest

    report = aggregate([out], manifest=load_manifest(plan), allow_unsigned=True)
    assert sorted(report.units["unit"]) == ["SIM-1", "SIM-2"]
    assert not report.missing and not report.unexpected
