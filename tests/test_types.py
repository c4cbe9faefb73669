"""The pure core type-checks: mypy, configured in pyproject.toml ([tool.mypy]), finds no error in the
modules of the record, analysis and rules layers, and every module of those layers is on its list
(docs/contributing.md, "Type checking")."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from test_layers import LAYERS, MODULES, layer_of

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mypy itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CHECKED_LAYERS = ("record", "analysis", "rules")


def configured_files() -> list[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [ROOT / entry for entry in config["tool"]["mypy"]["files"]]


def is_covered(path: Path, entries: list[Path]) -> bool:
    return any(path == entry or entry in path.parents for entry in entries)


def test_every_module_of_the_checked_layers_is_configured():
    layer_names = [name for name, _ in LAYERS]
    checked = {layer_names.index(name) for name in CHECKED_LAYERS}
    entries = configured_files()
    missing = sorted(str(path.relative_to(ROOT)) for module, path in MODULES.items()
                     if layer_of(module) in checked and not is_covered(path, entries))
    assert not missing, f"add to [tool.mypy] files in pyproject.toml: {', '.join(missing)}"


def test_configured_files_exist():
    absent = [str(entry.relative_to(ROOT)) for entry in configured_files() if not entry.exists()]
    assert not absent, f"[tool.mypy] files names paths that do not exist: {', '.join(absent)}"


@pytest.mark.slow
def test_the_checked_modules_have_no_type_errors():
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: pip install -e '.[test]'")
    # The cache (.mypy_cache, git-ignored) makes a second run take well under a second.
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"mypy found errors:\n{result.stdout}{result.stderr}"
