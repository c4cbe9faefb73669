"""Suite configs: YAML files in configs/suites/, validated against a small explicit schema: the file's
own keys here, each suite's keys, defaults and required keys on its registry Suite (kernels/*.py).

An unknown key, a wrong type, an unknown dtype or a negative size is one ConfigError that names
the file and the key. Command-line overrides (`--set suites.gemm.dtypes=[bf16]`) go through the
same validation."""

from __future__ import annotations

import copy
import importlib.resources
import reprlib
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, UsageError
from bench.kernels.registry import SUITES
from bench.measure.config_schema import TIMING_SCHEMA, Bounded, Schema
from bench.measure.policy import TimingPolicy
from bench.yamlfile import parse_yaml, read_yaml

FILE_SCHEMA: Schema = {  # the keys above the suites; each suite's own schema is on its registry Suite
    "name": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "a non-empty string (at most 200 characters)"),
    "description": (lambda v: isinstance(v, str), "a string"),
    "seed": Bounded(0, 2**63 - 1, integer=True),
    "timing": TIMING_SCHEMA,
}
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "timing": {},
    "suites": {},
}


def suite_schemas() -> Schema:
    """suite -> its config schema, in registry order (read at each call: a test may register a suite)."""
    return {name: dict(suite.config_schema) for name, suite in SUITES.items()}


def top_schema() -> Schema:
    """The whole suite file's schema: the file's own keys, then `suites` with every registered suite's."""
    return {**FILE_SCHEMA, "suites": suite_schemas()}


def _show(value: Any) -> str:
    """A value in an error message, never longer than a line."""
    text = reprlib.repr(value)  # bounded however large or deep the value is
    return text if len(text) <= 60 else text[:57] + "..."


def validate(data: Any, schema: Schema, source: str, path: str = "") -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {path or 'top level'}: expected a mapping, got {type(data).__name__}")
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in schema:
            raise ConfigError(f"{source}: {where[:80]}: unknown key (known: {', '.join(schema)})")
        rule = schema[key]
        if isinstance(rule, dict):
            validate(value, rule, source, where)
        elif isinstance(rule, Bounded):
            rule.check(value, f"{source}: {where}")
        elif not rule[0](value):
            raise ConfigError(f"{source}: {where}: {_show(value)} is not {rule[1]}")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def shipped_suites() -> dict[str, Path]:
    folder = importlib.resources.files("bench.configs") / "suites"
    return {Path(str(entry)).stem: Path(str(entry)) for entry in folder.iterdir() if str(entry).endswith(".yaml")}


def resolve_suite_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{name_or_path}: no such suite file")
        return path
    suites = shipped_suites()
    if name_or_path not in suites:
        raise ConfigError(f"unknown suite {name_or_path!r}; shipped suites: {', '.join(sorted(suites))} (or pass a YAML path)")
    return suites[name_or_path]


def parse_override(text: str) -> dict[str, Any]:
    """'suites.gemm.dtypes=[bf16,fp32]' -> {'suites': {'gemm': {'dtypes': ['bf16', 'fp32']}}}."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. suites.gemm.dtypes=[bf16,fp32]")
    value = parse_yaml(raw, f"--set {text!r}")
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def load_suite_config(name_or_path: str, overrides: list[str] = ()) -> dict[str, Any]:
    """The resolved config: file + defaults + overrides, validated. Raises ConfigError."""
    path = resolve_suite_path(name_or_path)
    data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: empty suite file")
    schema = top_schema()
    validate(data, schema, str(path))
    for text in overrides:
        patch = parse_override(text)
        validate(patch, schema, f"--set {text}")
        data = _merge(data, patch)
    config = _merge(DEFAULTS, data)
    config.setdefault("name", path.stem)
    for suite, body in config["suites"].items():
        config["suites"][suite] = _merge(dict(SUITES[suite].defaults), body or {})
        missing = [key for key in SUITES[suite].required if key not in config["suites"][suite]]
        if missing:
            raise ConfigError(f"{path}: suites.{suite}: missing {', '.join(missing)}")
    if not config["suites"]:
        raise ConfigError(f"{path}: suites: no suite to run")
    config["source"] = str(path)
    return config


def timing_policy(config: dict[str, Any], suite: str) -> TimingPolicy:
    """Run-wide timing, overridden per suite."""
    fields = _merge(config.get("timing", {}), config["suites"][suite].get("timing", {}))
    return TimingPolicy(**fields)


def select(config: dict[str, Any], suites: tuple[str, ...] = (), dtypes: tuple[str, ...] = ()) -> dict[str, Any]:
    """A copy of the config narrowed to some suites (--suites) and dtypes (--dtypes: of the suites whose
    schema has a `dtypes` list, gemm and attention; a suite left with none of them is dropped)."""
    config = copy.deepcopy(config)
    if suites:
        unknown = [s for s in suites if s not in config["suites"]]
        if unknown:
            raise UsageError(f"--suites: {', '.join(unknown)} not in config {config['name']} "
                             f"(it has {', '.join(config['suites'])})")
        config["suites"] = {name: config["suites"][name] for name in suites}
    if dtypes:
        listed = [name for name in config["suites"] if name in SUITES and "dtypes" in SUITES[name].config_schema]
        known = {d for name in listed for d in config["suites"][name].get("dtypes", [])}
        unknown = [d for d in dtypes if d not in known]
        if unknown:
            raise UsageError(f"--dtypes: unknown or not configured: {', '.join(unknown)} "
                             f"(configured: {', '.join(sorted(known))})")
        for name in listed:
            kept = [d for d in config["suites"][name]["dtypes"] if d in dtypes]
            if kept:
                config["suites"][name]["dtypes"] = kept
            else:
                del config["suites"][name]
    return config
