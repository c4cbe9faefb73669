"""A lean install (torch, numpy, pyyaml only) runs `bench run`, `devices`, `specs` and `check`; the
data-only commands never import torch; a command that needs a missing library says so in one line.

Libraries are hidden by a sys.meta_path finder in a fresh interpreter, so what is already imported
in the test process does not matter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import COMMANDS, OPTIONAL_LIBRARIES, build_parser

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("pandas", "matplotlib", "rich", "cryptography", "pytest_benchmark")
REFERENCE_RUN = ROOT / "tests" / "data" / "cpu_sweep_run.json"

BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from bench.cli import main
code = main(sys.argv[2:])
leaked = sorted(m for m in BLOCKED if m in sys.modules)
print("LEAKED " + ",".join(leaked) if leaked else "CLEAN", file=sys.stderr)
sys.exit(code)
"""


def bench_without(blocked: tuple[str, ...], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER, ",".join(blocked), *argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)


def assert_clean(result: subprocess.CompletedProcess, *codes: int) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in codes, (result.returncode, result.stderr[-2000:])
    assert result.stderr.rstrip().endswith("CLEAN"), result.stderr[-500:]


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lean") / "reference"
    folder.mkdir()
    (folder / "run.json").write_bytes(REFERENCE_RUN.read_bytes())
    return folder


@pytest.mark.slow
def test_a_quick_cpu_run_and_its_check_need_only_torch_numpy_and_pyyaml(tmp_path):
    out = tmp_path / "run"
    result = bench_without(OPTIONAL, "run", "--device", "cpu", "--suite", "quick", "--out", str(out))
    assert_clean(result, 0)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["measurements"] and run["summary"]["effective_tpp"]["max"]
    assert (out / "measurements.csv").is_file() and (out / "summary.md").is_file()
    assert not (out / "pytest-benchmark.json").exists()  # needs pytest-benchmark's own Stats class
    checked = bench_without(OPTIONAL, "check", str(out), "--junit", str(tmp_path / "junit.xml"))
    assert_clean(checked, 0, 1, 3)
    assert "Verdict stored" in checked.stdout and (tmp_path / "junit.xml").is_file()


@pytest.mark.parametrize("argv", [("devices",), ("devices", "--json"), ("specs",), ("specs", "h100-sxm", "--json")])
def test_devices_and_specs_need_no_optional_library(argv):
    assert_clean(bench_without(OPTIONAL, *argv), 0)


@pytest.mark.parametrize("argv", [("--help",), ("specs",), ("specs", "--profile", "us-2023-10"), ("profiles",)])
def test_help_and_specs_never_import_torch(argv):
    assert_clean(bench_without(("torch", *OPTIONAL), *argv), 0)


def test_check_verify_fleet_and_compare_never_import_torch(reference_folder):
    folder = str(reference_folder)
    assert_clean(bench_without(("torch",), "check", folder, "--no-save"), 0, 1, 3)
    assert_clean(bench_without(("torch",), "verify", folder), 1)  # unsigned: not verified, but no torch
    assert_clean(bench_without(("torch",), "fleet", folder), 0, 1)
    assert_clean(bench_without(("torch",), "compare", folder, folder), 0)


@pytest.mark.parametrize("argv, library", [
    (("verify", "{folder}"), "cryptography"),
    (("report", "{folder}"), "matplotlib"),
    (("fleet", "{folder}"), "pandas"),
    (("keygen", "--out", "{folder}/k"), "cryptography"),
])
def test_a_missing_optional_library_is_one_line_and_exit_2(reference_folder, argv, library):
    argv = [a.format(folder=reference_folder) for a in argv]
    result = bench_without((library,), *argv)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    message = [line for line in result.stderr.splitlines() if line.startswith(f"bench {argv[0]}: error:")]
    assert message == [f"bench {argv[0]}: error: needs {library}, which is not installed here "
                       f"(pip install {OPTIONAL_LIBRARIES[library]})"]


def test_every_command_is_listed_with_its_own_help_line():
    for name, summary in COMMANDS.items():
        parser = build_parser(name)
        subparsers = next(a for a in parser._actions if a.dest == "command")
        helps = {action.dest: action.help for action in subparsers._choices_actions}
        assert helps[name] == summary, f"bench.cli.COMMANDS[{name!r}] differs from the module's help"


@pytest.mark.slow
def test_a_terminal_without_rich_gets_plain_progress_lines():
    script = """
import importlib.abc, io, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "rich":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
class Terminal(io.StringIO):
    def isatty(self):
        return True
sys.meta_path.insert(0, Blocker())
from bench.present.progress import make_observer
print(type(make_observer(False, False, Terminal())).__name__)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "LineObserver", result.stderr[-1000:]
