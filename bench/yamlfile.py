"""The one way accelbench reads YAML: safe_load only, and one-line ConfigErrors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import ConfigError


def parse_yaml(text: str | bytes, source: str) -> Any:
    """Parse YAML text; a syntax error names `source` and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}:{where}: malformed YAML ({getattr(exc, 'problem', None) or exc})") from None


def read_yaml(path: Path | Any, what: str = "") -> Any:
    """Read and parse a YAML file (a Path or an importlib.resources Traversable)."""
    label = f"{what} {path}".strip()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read ({exc.strerror or exc})") from None
    return parse_yaml(text, label)
