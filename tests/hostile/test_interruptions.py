"""Interruptions and two runs into one folder: the few hostile cases that need a real process.

Each starts `bench run` on a small CPU suite, waits for its first measurement in run.json, then
interrupts it (SIGINT, SIGTERM, SIGKILL) or starts a second run into the same folder. What was
measured must survive as valid JSON with a true status; a second run must be refused at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUITE = """name: slow-enough
timing: {samples: 3, max_samples: 3, max_measure_s: 0.2, warmup_max_s: 0.05}
suites:
  stream: {kernels: [copy, scale, add, triad, read, write], dtype: fp32, llc_multiple: 0.25}
  gemm: {dtypes: [fp32, bf16], shapes: [[128, 128, 128], [256, 256, 256], [384, 384, 384], [512, 512, 512]]}
"""


def _start(tmp_path: Path, out: Path) -> subprocess.Popen:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    return subprocess.Popen([sys.executable, "-m", "bench", "run", "--device", "cpu", "--suite", str(suite),
                             "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _measured(out: Path) -> int:
    try:
        return len(json.loads((out / "run.json").read_text()).get("measurements") or [])
    except (OSError, ValueError):
        return 0


def _wait_for_a_measurement(process: subprocess.Popen, out: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while _measured(out) < 1:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or stalled before its first measurement: {process.communicate()[1][-500:]}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGTERM], ids=["sigterm"])  # SIGINT: test_run_cpu.py's Ctrl-C test
def test_interrupt_keeps_what_was_measured_with_a_true_status(tmp_path, sent):
    out = tmp_path / "run"
    process = _start(tmp_path, out)
    _wait_for_a_measurement(process, out)
    process.send_signal(sent)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err[-1500:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "incomplete" and len(run["measurements"]) >= 1
    assert process.returncode == 3, (process.returncode, err[-500:])


@pytest.mark.slow
def test_kill_9_leaves_valid_json_with_what_was_measured(tmp_path):
    out = tmp_path / "run"
    process = _start(tmp_path, out)
    _wait_for_a_measurement(process, out)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    run = json.loads((out / "run.json").read_text())  # atomic writes: never half a file
    assert len(run["measurements"]) >= 1


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_is_refused_at_once(tmp_path):
    out = tmp_path / "run"
    first = _start(tmp_path, out)
    try:
        _wait_for_a_measurement(first, out)
        os.kill(first.pid, signal.SIGSTOP)  # holds the folder and cannot finish: a second run that waits times out
        second = subprocess.run([sys.executable, "-m", "bench", "run", "--device", "cpu", "--suite", "quick",
                                 "--suites", "stream", "--out", str(out), "--quiet"], capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in second.stderr
    finally:
        first.kill()
        first.communicate()
