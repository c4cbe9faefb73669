"""The one way accelbench reads YAML (suites, plans, manifests, device specs, profiles, `--set`).

Safe loading only (`yaml.SafeLoader`: no Python tags), and every input treated as hostile. Each of
these is one ConfigError (exit code 2) whose message names the source and, where YAML knows it, the
line; no message quotes the offending content:

- aliases (`*name`) are refused outright, so a few hundred bytes of nested anchors (an "alias bomb")
  cannot expand into gigabytes; accelbench's own files never need them (write the value out);
- nesting deeper than MAX_DEPTH, files larger than MAX_BYTES, NUL bytes or non-UTF-8 text;
- duplicate keys in one mapping (YAML would silently keep the last) and keys that are not strings
  (`1:` or `on:` become an int or a bool in YAML 1.1: quote them);
- with `mapping=True` (the default of read_yaml), a top level that is not a mapping (an empty
  document still reads as None, so the caller can say which keys it expected).

Bounded numbers. Config values that size a run (samples, budgets, sizes, timeouts) go through
`bounded_number(value, lo, hi, where)`: it refuses booleans, strings, `.inf`/`.nan` and anything
outside [lo, hi] with a one-line ConfigError, and returns the number (an int with integer=True):

    samples = bounded_number(raw.get("samples", 10), 1, 1_000_000, f"{path}: timing.samples", integer=True)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import yaml

from bench.errors import ConfigError
from bench.record.jsonfile import read_bounded

MiB = 1024 * 1024
MAX_BYTES = 4 * MiB
MAX_DEPTH = 64


def _where(mark: Any) -> str:
    return f" line {mark.line + 1}" if mark is not None else ""


if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class _Base(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser (about 7x faster) under PyYAML's own composer, so the checks below apply."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
else:
    _Base = yaml.SafeLoader  # type: ignore[misc,assignment]


class _StrictLoader(_Base):
    """Safe loading without aliases, with a depth bound, refusing duplicate and non-string keys."""

    def __init__(self, stream: str, source: str):
        super().__init__(stream)
        self.source = source
        self.depth = 0

    def fail(self, mark: Any, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}:{_where(mark)}: {problem}")

    def next_mark(self) -> Any:
        # compose_node runs only with an event pending, so peek_event does not return None here.
        return cast(yaml.Event, self.peek_event()).start_mark

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise self.fail(self.next_mark(),
                            "YAML aliases (*name) are not accepted; write the value out")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(self.next_mark(), f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node.start_mark, "YAML merge keys (<<) are not accepted")
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise self.fail(key_node.start_mark,
                                    f"a key of type {type(key).__name__}; keys must be strings (quote it)")
                if key in seen:
                    shown = key if len(key) <= 40 else key[:40] + "..."
                    raise self.fail(key_node.start_mark, f"duplicate key {ascii(shown)}")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


# types-PyYAML binds a constructor's first argument to its Loader classes, not to SafeConstructor.
_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_yaml_map)  # type: ignore[type-var]


def _text(data: str | bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{source}: larger than the {MAX_BYTES} bytes a YAML input may have")
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise ConfigError(f"{source}: binary content (NUL bytes), not a YAML text file")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    if "\x00" in data:
        raise ConfigError(f"{source}: binary content (NUL characters), not a YAML text file")
    return data


def parse_yaml(text: str | bytes, source: str, *, mapping: bool = False) -> Any:
    """Parse YAML text (see the module docstring); a syntax error names `source` and the line."""
    loader = _StrictLoader(_text(text, source), source)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or type(exc).__name__)[:200]
        raise ConfigError(f"{source}:{_where(mark)}: malformed YAML ({problem})") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer of 10^5 digits
        raise ConfigError(f"{source}: a value YAML cannot hold ({type(exc).__name__})") from None
    finally:
        loader.dispose()
    if mapping and data is not None and not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level is a {type(data).__name__}, expected a mapping of keys")
    return data


def read_yaml(path: Path | Any, what: str = "", *, mapping: bool = True) -> Any:
    """Read and parse a YAML file (a Path or an importlib.resources Traversable)."""
    label = f"{what} {path}".strip()
    if isinstance(path, Path):
        data = read_bounded(path, label, MAX_BYTES, ConfigError)
    else:  # package data shipped with accelbench (importlib.resources)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{label}: cannot read ({exc.strerror or type(exc).__name__})") from None
    return parse_yaml(data, label, mapping=mapping)


def bounded_number(value: Any, lo: float, hi: float, where: str, *, integer: bool = False) -> float:
    """`value` if it is a finite number in [lo, hi] (an int with integer=True); else one ConfigError."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected {kind} in [{lo:g}, {hi:g}], found {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, found {value}")
    if integer and not isinstance(value, int):
        if not value.is_integer():
            raise ConfigError(f"{where}: expected an integer, found a fraction")
        value = int(value)
    if not lo <= value <= hi:
        shown = f"{value:.6g}" if isinstance(value, float) or abs(value) < 10**15 else "a number that large"
        raise ConfigError(f"{where}: {shown} is outside [{lo:g}, {hi:g}]")
    return cast(float, value)  # an int or a float, checked above
