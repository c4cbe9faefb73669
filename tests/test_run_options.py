"""Every option of `bench run` is checked before the first kernel: a bad one costs no measurement."""

import pytest

from bench.cli import main
from bench.lab import node
from bench.measure.runner import Runner

TINY = ["--suite", "quick", "--suites", "stream", "--set", "suites.stream.kernels=[triad]",
        "--set", "suites.stream.llc_multiple=0.05", "--set", "timing.samples=3", "--set", "timing.max_samples=3",
        "--quiet"]


@pytest.fixture
def no_measuring(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel ran although an option was bad")

    monkeypatch.setattr(Runner, "run", refuse)
    monkeypatch.setattr(node, "popen_spawner", refuse)


@pytest.mark.parametrize("options,fragment", [
    (["--device", "cpu", "--profile", "no-such-profile"], "no-such-profile"),
    (["--device", "cpu", "--profile", "us-2026-01", "--declared", "No Such Accelerator 9000"], "No Such Accelerator"),
    (["--device", "cpu", "--declared", "NVIDIA H20"], "--profile"),
    (["--device", "nosuch"], "nosuch"),
    (["--device", "cuda:7"], "cuda"),
    (["--device", "cpu", "--suites", "gemm,nosuch"], "nosuch"),
    (["--device", "cpu", "--dtypes", "fp7"], "fp7"),
    (["--device", "cpu", "--stand-ins", "2", "--profile", "no-such-profile"], "no-such-profile"),
    (["--device", "cpu", "--set", "timing.samples=.inf"], "timing.samples"),
])
def test_bad_option_fails_before_anything_is_measured(tmp_path, capsys, no_measuring, options, fragment):
    out = tmp_path / "r"
    assert main(["run", *TINY, *options, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and "Traceback" not in err[0]
    assert not out.exists()


def _only_a_cpu():
    from bench.devices.registry import present

    return set(present()) == {"cpu"}


@pytest.mark.skipif(not _only_a_cpu(), reason="an accelerator is present: auto does not fall back")
def test_auto_falling_back_to_the_cpu_says_so(tmp_path, capsys):
    assert main(["run", *TINY, "--device", "auto", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "--device auto:" in err and "measuring the CPU" in err


def test_a_named_cpu_is_not_called_a_fallback(tmp_path, capsys):
    assert main(["run", *TINY, "--device", "cpu", "--out", str(tmp_path / "r")]) == 0
    assert "measuring the CPU" not in capsys.readouterr().err
