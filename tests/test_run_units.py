"""bench/cli/run_units.py's own functions, with fakes: which units a request names, the unit's
run.json blocks, the node's exit code and table, disk errors, the interrupt guards."""

from __future__ import annotations

import errno
import json
import os
import signal
import types

import pytest
from run_factory import synthetic_run

from bench import render
from bench.cli import run_units
from bench.devices.base import DeviceInfo
from bench.errors import RecordError, ResultsError, UsageError
from bench.lab.multiunit import UnitSpec, stand_in_note
from bench.lab.request import RunRequest, UnitRole

# --- which units ------------------------------------------------------------------------------


def fake_plan(*units, record=None):
    """What run_units reads of a bench.lab.plan.Plan: its manifest's stand-ins and its record."""
    stand_ins = [types.SimpleNamespace(label=label, note=note, unit_id=unit_id) for label, note, unit_id in units]
    return types.SimpleNamespace(stand_ins=stand_ins, record=lambda: record or {"sha256": "abc"})


def test_stand_ins_from_the_option_are_numbered_cpu_processes():
    specs = run_units.stand_in_specs(RunRequest(device="cpu", stand_ins=3))
    assert specs == [UnitSpec(f"cpu-{i}", "cpu", True, stand_in_note(i)) for i in range(3)]


def test_one_stand_in_or_none_is_a_plain_run_and_a_worker_never_has_units():
    assert run_units.stand_in_specs(RunRequest(device="cpu", stand_ins=1)) is None
    assert run_units.stand_in_specs(RunRequest(device="cpu")) is None
    worker = RunRequest(device="cpu", stand_ins=3, unit=UnitRole("cpu-0"))
    assert run_units.stand_in_specs(worker) is None


def test_stand_ins_from_the_plan_keep_their_labels_notes_and_serials():
    plan = fake_plan(("SIM-0001", "bench A", "SN-1"), (None, None, "SN-2"))
    specs = run_units.stand_in_specs(RunRequest(device="cpu", plan=plan))
    assert specs == [UnitSpec("SIM-0001", "cpu", True, "bench A", "SN-1"),
                     UnitSpec("cpu-1", "cpu", True, stand_in_note(1), "SN-2")]


def test_stand_ins_refused_off_the_cpu_twice_named_or_with_a_path_label():
    with pytest.raises(UsageError, match="use --device cpu"):
        run_units.stand_in_specs(RunRequest(device="cuda", stand_ins=2))
    with pytest.raises(UsageError, match="use --device cpu"):
        run_units.stand_in_specs(RunRequest(device="cuda:0", plan=fake_plan(("a", None, None))))
    with pytest.raises(UsageError, match="already names its stand-in units"):
        run_units.stand_in_specs(RunRequest(device="cpu", stand_ins=2, plan=fake_plan(("a", None, None))))
    with pytest.raises(RecordError, match="not a plain folder name"):
        run_units.stand_in_specs(RunRequest(device="cpu", plan=fake_plan(("../up", None, None))))


def test_device_spec_names_the_unit_after_its_torch_device_and_keeps_its_visibility():
    gpu = DeviceInfo(backend="cuda", index=2, name="GPU", vendor="NVIDIA", torch_device="cuda:2",
                     extra={"uuid": "1234"})
    assert run_units.device_spec(gpu, env={}) == UnitSpec("cuda-2", "cuda:2", visible="GPU-1234")
    npu = DeviceInfo(backend="npu", index=1, name="NPU", vendor="Huawei", torch_device="npu:1")
    assert run_units.device_spec(npu, env={"ASCEND_RT_VISIBLE_DEVICES": "4,6"}) == UnitSpec("npu-1", "npu:1",
                                                                                             visible="6")
    cpu = DeviceInfo(backend="cpu", index=None, name="CPU", vendor="AMD", torch_device="cpu")
    assert run_units.device_spec(cpu, env={}) == UnitSpec("cpu", "cpu:0", visible=None)


# --- one unit's run.json ----------------------------------------------------------------------

def test_prepare_unit_of_a_plain_run_adds_only_the_plan_record():
    run = {"run_id": "r1", "device": {"backend": "cpu"}}
    run_units.prepare_unit(run, RunRequest(device="cpu", plan=fake_plan(record={"sha256": "f00"})))
    assert run == {"run_id": "r1", "device": {"backend": "cpu"}, "plan": {"sha256": "f00"}}
    bare = {"run_id": "r2", "device": {"backend": "cpu"}}
    run_units.prepare_unit(bare, RunRequest(device="cpu"))
    assert bare == {"run_id": "r2", "device": {"backend": "cpu"}}


def test_prepare_unit_of_a_stand_in_worker_marks_it_with_the_parents_run_id_and_serial():
    run = {"run_id": "child", "device": {"backend": "cpu"}}
    role = UnitRole("SIM-0001", "parent", "bench A", "SN-1", True)
    run_units.prepare_unit(run, RunRequest(device="cpu", unit=role, stand_in=True))
    assert run["unit"] == {"label": "SIM-0001", "parent_run_id": "parent", "stand_in": True, "label_note": "bench A",
                           "assigned_serial": "SN-1"}
    assert run["device"]["extra"] == {"stand_in": True}
    assert [s["fields"] for s in run["identity"]["sources"]] == [{"serial": "SN-1"}]


def test_prepare_unit_of_a_lone_stand_in_is_its_own_parent():
    run = {"run_id": "alone", "device": {"backend": "cpu"}}
    run_units.prepare_unit(run, RunRequest(device="cpu", stand_in=True))
    assert run["unit"] == {"label": "unit", "parent_run_id": "alone", "stand_in": True, "label_note": None,
                           "assigned_serial": None}


class FakeWriter:
    def __init__(self, run):
        self.run, self.flushes, self.finished = run, 0, []

    def flush(self):
        self.flushes += 1

    def finish(self, status, **fields):
        self.finished.append((status, fields))
        self.run.update(status=status, **fields)


def test_store_verdict_keeps_the_parameters_bench_verify_reruns_with():
    writer = FakeWriter({})
    verdict = types.SimpleNamespace(to_dict=lambda: {"verdict": "pass", "exit_code": 0})
    request = RunRequest(profile="us-2026-01", declared="d.yaml", decision_rule="simple")
    run_units.store_verdict(writer, verdict, request)
    assert writer.run == {"verdict": {"verdict": "pass", "exit_code": 0, "parameters": {
        "profile": "us-2026-01", "declared": "d.yaml", "rule": "simple"}}}
    assert writer.flushes == 1


def test_declared_without_a_profile_is_refused_before_measuring():
    with pytest.raises(UsageError, match="add --profile"):
        run_units.check_verdict_options(RunRequest(declared="spec.yaml"))
    run_units.check_verdict_options(RunRequest())  # nothing to load, nothing refused


def test_a_request_without_a_plan_is_returned_as_it_is():
    request = RunRequest(device="cpu", suite="quick")
    assert run_units.apply_plan(request) is request


# --- the node's exit code and table ---------------------------------------------------------------

def unit(status="complete", exit_code=0, failed_checks=0, **extra):
    return {"unit": "u", "status": status, "exit_code": exit_code,
            "summary": {"counts": {"failed_checks": failed_checks}}, **extra}


@pytest.mark.parametrize("units, code", [
    ([unit(), unit()], 0),
    ([unit(), unit(exit_code=None)], 0),
    ([unit(), unit(exit_code=1)], 1),
    ([unit(), unit(failed_checks=2)], 1),
    ([unit(exit_code=1), unit(exit_code=3)], 3),
    ([unit(), unit(status="failed", exit_code=0)], 3),
    ([unit(status="failed", exit_code=None), unit(exit_code=1)], 3),
    ([], 0),
])
def test_the_node_exit_code_is_its_worst_unit(units, code):
    assert run_units.exit_code({"units": units}) == code


def test_the_node_table_one_row_a_unit_then_labels_tails_and_the_results_line(tmp_path, capsys):
    measured = unit(summary={"effective_tpp": {"max": 12345.6}, "effective_dram_bandwidth": {"value": 3350.04},
                             "interconnect": {"all_reduce": {"busbw": 1.234}}},
                    device_spec="cpu", stand_in=True, verdict={"verdict": "pass"}, label_note="CPU stand-in")
    failed = {"unit": "u2", "status": "failed", "error": "worker exited with code 9", "output_tail": ["boom", "end"]}
    run_units._print_units({"units": [measured, failed], "status": "incomplete"}, tmp_path)
    captured = capsys.readouterr()
    table = render.table(["unit", "device", "status", "stand-in", "eff. TPP", "DRAM GB/s", "all-reduce busbw GB/s",
                          "verdict", "error"],
                         [["u", "cpu", "complete", "yes", "12,346", "3,350.0", "1.23", "pass", ""],
                          ["u2", "-", "failed", "no", "-", "-", "-", "-", "worker exited with code 9"]])
    assert captured.out == (f"{table}\nLABEL u: CPU stand-in\n"
                            f"Results: {tmp_path} (2 units, status incomplete)\n")
    assert captured.err == "  u2 | boom\n  u2 | end\n"


# --- disks and interrupts ----------------------------------------------------------------------

def test_a_full_disk_is_one_line_naming_what_is_kept(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"measurements": [{}, {}]}))
    error = run_units.disk_error(OSError(errno.ENOSPC, "No space left on device", str(path)), path)
    assert isinstance(error, ResultsError)
    assert str(error) == (f"cannot write results: No space left on device ({path}); "
                          f"the last good {path} is kept (2 measurement(s))")


def test_a_disk_error_over_an_unreadable_record_says_so_and_other_errors_are_not_disk_errors(tmp_path):
    path = tmp_path / "run.json"
    error = run_units.disk_error(OSError(errno.EIO, "Input/output error"), path)
    assert str(error) == f"cannot write results: Input/output error ({path}); {path} could not be read back"
    assert run_units.disk_error(OSError(errno.EACCES, "Permission denied"), path) is None


def test_sigterm_becomes_a_keyboard_interrupt_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with run_units.interrupts_as_keyboard():
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_while_shielded_is_raised_only_after_the_block_has_finished():
    finished = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        with run_units.shielded():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)
    assert finished == [True]
    with run_units.shielded():  # no signal, nothing raised
        finished.append(True)
    assert finished == [True, True]


def test_an_interrupted_running_record_is_closed_incomplete_with_its_summary():
    run = {**synthetic_run(), "status": "running"}
    run.pop("summary")
    writer = FakeWriter(run)
    run_units.close_interrupted(writer)
    assert writer.finished == [("incomplete", {"interrupted": "interrupted (Ctrl-C or SIGTERM)"})]
    assert run["summary"]["effective_tpp"]["max"] > 0
    done = FakeWriter({"status": "complete"})
    run_units.close_interrupted(done)
    assert done.finished == [("complete", {})]
