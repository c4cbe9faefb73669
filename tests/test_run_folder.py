"""The folder `bench run` writes: refused when unusable, locked while written, true status after
interrupts, a full disk is one line, kill -9 leaves valid JSON. Real CPU runs at tiny sizes."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.cli import main
from bench.errors import RecordError, UsageError
from bench.lab import node
from bench.lab.run_folder import LOCK_FILE, FolderLock, claim
from bench.measure.results import RunWriter
from bench.measure.runner import Runner
from bench.record.folder import safe_label

TINY = ["--device", "cpu", "--suite", "quick", "--suites", "stream", "--set", "suites.stream.kernels=[triad]",
        "--set", "suites.stream.llc_multiple=0.05", "--set", "timing.samples=3", "--set", "timing.max_samples=3",
        "--quiet"]
# Long enough to be interrupted or raced (many stream kernels, many samples), stopped by the tests.
LONG = ["--device", "cpu", "--suite", "quick", "--suites", "stream", "--set", "suites.stream.llc_multiple=0.5",
        "--set", "timing.samples=200", "--set", "timing.max_samples=200", "--set", "timing.max_measure_s=30"]


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("existing,word", [({"notes.txt": "x"}, "not empty"),
                                           ({"run.json": "{}", "signature.dsse.json": "{}"}, "signed"),
                                           ({"run.json": "{}", "verdict.json": "{}"}, "judged")])
def test_non_empty_folder_is_refused_before_measuring(tmp_path, capsys, existing, word):
    out = tmp_path / "r"
    out.mkdir()
    for name, text in existing.items():
        (out / name).write_text(text)
    assert main(["run", *TINY, "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert word in line and "--force" in line
    assert sorted(p.name for p in out.iterdir()) == sorted(existing)  # nothing written, nothing measured


@pytest.mark.slow
def test_force_replaces_a_signed_run_and_drops_its_stale_signature(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "run.json").write_text("{}")
    (out / "signature.dsse.json").write_text("{}")
    assert main(["run", *TINY, "--out", str(out), "--force"]) == 0
    assert not (out / "signature.dsse.json").exists() and not (out / LOCK_FILE).exists()
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert "removed signature.dsse.json" in capsys.readouterr().err


def test_unusable_out_is_one_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "nowhere")
    for out, fragment in ((a_file, "not a folder"), (dangling, "dangling"), (a_file / "sub", "not a folder"),
                          ("/proc/self/accelbench-run", "cannot create")):
        assert main(["run", *TINY, "--out", str(out)]) == 2
        assert fragment in one_error_line(capsys), out
    assert not (tmp_path / "nowhere").exists()
    assert main(["run", *TINY, "--results-dir", str(a_file)]) == 2
    assert "--results-dir" in one_error_line(capsys)


def test_lock_refuses_a_second_writer_at_once(tmp_path):
    with FolderLock(tmp_path / "r"):
        with pytest.raises(UsageError, match=f"another bench run is writing there \\(pid {os.getpid()}\\)"):
            claim(tmp_path / "r", force=False)
    assert list((tmp_path / "r").iterdir()) == []  # the lock file goes with the lock
    claim(tmp_path / "r", force=False).release()


@pytest.mark.parametrize("label", ["../../x", "a/b", "a\\b", "..", ".hidden", "", "x" * 129, "a\x00b"])
def test_unit_labels_are_one_plain_folder_name(label):
    with pytest.raises(RecordError):
        safe_label(label)


@pytest.mark.slow
def test_full_disk_is_one_line_and_keeps_the_last_good_run_json(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    flush = RunWriter.flush
    calls = []

    def flush_until_full(self):
        calls.append(1)
        if len(calls) > 3:  # the opening record (twice) and one measurement fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        flush(self)

    monkeypatch.setattr(RunWriter, "flush", flush_until_full)
    assert main(["run", *TINY[:-1], "--set", "suites.stream.kernels=[copy,scale,add,triad]", "--quiet",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = err[-1]
    assert line.startswith("bench run: error:") and "Traceback" not in "".join(err)
    assert "No space left on device" in line and "last good" in line
    kept = json.loads((out / "run.json").read_text())
    assert len(kept["measurements"]) == 1 and f"({len(kept['measurements'])} measurement(s))" in line


def test_interrupt_after_the_last_measurement_never_leaves_running(tmp_path, monkeypatch):
    finish = Runner._finish

    def interrupted_while_closing(self, status, **fields):
        if status == "complete":
            raise KeyboardInterrupt
        finish(self, status, **fields)

    monkeypatch.setattr(Runner, "_finish", interrupted_while_closing)
    out = tmp_path / "r"
    assert main(["run", *TINY, "--out", str(out)]) == 3
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "incomplete" and run["measurements"] and run["summary"]


def test_interrupt_during_the_exports_keeps_complete(tmp_path, monkeypatch):
    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("bench.cli.run.write_run_exports", interrupt)
    out = tmp_path / "r"
    assert main(["run", *TINY, "--out", str(out)]) == 3
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert not (out / LOCK_FILE).exists()


def test_ctrl_c_during_a_stand_in_lot_finishes_the_lot_record(tmp_path, monkeypatch):
    from test_multi_device import FakeSpawner

    spawn = FakeSpawner(hang={"cpu-1"})
    monkeypatch.setattr(node, "popen_spawner", spawn)
    out = tmp_path / "lot"
    assert main(["run", *TINY, "--stand-ins", "3", "--out", str(out)]) == 3
    lot = json.loads((out / "run.json").read_text())
    assert lot["status"] == "incomplete" and "interrupted" in lot["problems"][0]
    assert [u["status"] for u in lot["units"]] == ["complete", "failed", "failed"]
    assert [m["id"] for m in lot["units"][1]["measurements"]] == ["cpu-1-m"]  # what the interrupted unit measured


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def measured(path, n=1):
    try:
        return len(json.loads(path.read_text())["measurements"]) >= n
    except (OSError, ValueError, KeyError):
        return False


def bench_process(*argv):
    return subprocess.Popen([sys.executable, "-m", "bench", "run", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_second_concurrent_run_fails_at_once_and_sigterm_is_ctrl_c(tmp_path):
    out = tmp_path / "r"
    first = bench_process(*LONG, "--quiet", "--out", str(out))
    try:
        assert wait_for(lambda: measured(out / "run.json")), "first run never measured"
        second = subprocess.run([sys.executable, "-m", "bench", "run", *TINY, "--out", str(out)],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert "another bench run is writing there" in second.stderr and "Traceback" not in second.stderr
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 3, err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "incomplete" and run["measurements"]
    assert not (out / LOCK_FILE).exists()


@pytest.mark.slow
def test_kill_9_leaves_valid_json(tmp_path):
    out = tmp_path / "r"
    process = bench_process(*LONG, "--quiet", "--out", str(out))
    try:
        assert wait_for(lambda: measured(out / "run.json", 2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "running" and len(run["measurements"]) >= 2  # the truth: it never closed


@pytest.mark.slow
def test_ctrl_c_of_a_real_lot_closes_every_record(tmp_path):
    out = tmp_path / "lot"
    parent = bench_process(*LONG, "--stand-ins", "2", "--quiet", "--out", str(out))
    try:
        assert wait_for(lambda: measured(out / "units" / "cpu-0" / "run.json"))
        parent.send_signal(signal.SIGINT)
        _, err = parent.communicate(timeout=120)
    finally:
        parent.kill()
    assert parent.returncode == 3, err
    lot = json.loads((out / "run.json").read_text())
    assert lot["status"] == "incomplete" and "interrupted" in lot["problems"][0]
    first, second = lot["units"]
    assert first["measurements"] and first["error"] == "interrupted"
    assert json.loads((out / "units" / "cpu-0" / "run.json").read_text())["status"] == "incomplete"
    assert second["error"].startswith("not started")
