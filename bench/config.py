"""Suite configs: YAML files in configs/suites/, validated against a small explicit schema.

An unknown key, a wrong type, an unknown dtype or a negative size is one ConfigError that names
the file and the key. Command-line overrides (`--set suites.gemm.dtypes=[bf16]`) go through the
same validation."""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
from pathlib import Path
from typing import Any, Callable

from bench.errors import ConfigError
from bench.kernels.base import INPUT_DISTRIBUTIONS, TORCH_DTYPES
from bench.kernels.stream import WEIGHTS
from bench.policy import TimingPolicy
from bench.yamlfile import parse_yaml, read_yaml

SUITE_NAMES = ("gemm", "attention", "stream", "interconnect")
ATTENTION_DTYPES = ("fp32", "bf16", "fp16")
STREAM_DTYPES = ("fp64", "fp32", "bf16", "fp16")
COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")  # bench.metrics.COLLECTIVES


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _non_negative_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and len(value) > 0 and all(check(v) for v in value)


def _one_of(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: value in options


def _gemm_shape(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(_positive_int(v) for v in value)


def _attention_shape(value: Any) -> bool:
    keys = {"batch", "heads", "seq_len", "head_dim"}
    return isinstance(value, dict) and set(value) == keys and all(_positive_int(v) for v in value.values())


Rule = tuple[Callable[[Any], bool], str]
CAN_BE_ZERO = {"warmup_min_s"}
TIMING_SCHEMA: dict[str, Rule] = {
    field.name: ((_positive_int, "a positive integer") if field.type in ("int", int) else
                 (lambda v: isinstance(v, bool), "true or false") if field.type in ("bool", bool) else
                 (_non_negative_number, "a number >= 0") if field.name in CAN_BE_ZERO else
                 (_positive_number, "a positive number"))
    for field in dataclasses.fields(TimingPolicy)
}
_BOOL: Rule = (lambda v: isinstance(v, bool), "true or false")
GEMM_SEARCH_SCHEMA: dict[str, Rule] = {  # bench/search.py: guided peak search per dtype
    "enabled": _BOOL,
    "max_trials": (_positive_int, "a positive integer"),
    "max_seconds": (_positive_number, "a positive number of seconds (per dtype)"),
    "patience": (_positive_int, "a positive integer"),
    "min_improvement": (_non_negative_number, "a fraction >= 0"),
    "tile": (_positive_int, "a positive integer (elements; default 256 on accelerators, 64 on CPUs)"),
    "min_size": (_positive_int, "a positive integer"),
    "max_size": (_positive_int, "a positive integer"),
    "max_candidates": (_positive_int, "a positive integer"),
    "start_sizes": (_list_of(_positive_int), "a list of positive integers"),
    "trial_timing": TIMING_SCHEMA,  # shorter timing for screening trials; the best is confirmed with the suite's
}
GEMM_PERTURBATION_SCHEMA: dict[str, Rule] = {  # bench/antidetect.py: off-grid shapes and other seeds
    "enabled": _BOOL,
    "variants": (_positive_int, "a positive integer"),
    "min_offset": (_positive_number, "a positive fraction (e.g. 0.03)"),
    "max_offset": (_positive_number, "a positive fraction (e.g. 0.07)"),
    "flag_margin": (_non_negative_number, "a fraction >= 0"),
}
SUITE_SCHEMAS: dict[str, dict[str, Any]] = {
    "gemm": {
        "dtypes": (_list_of(_one_of(tuple(TORCH_DTYPES))), f"a list of dtypes from {', '.join(TORCH_DTYPES)}"),
        "shapes": (_list_of(_gemm_shape), "a list of [M, N, K] positive integers"),
        "max_iteration_s": (_positive_number, "a positive number of seconds"),
        "search": GEMM_SEARCH_SCHEMA,
        "data_patterns": (_list_of(_one_of(INPUT_DISTRIBUTIONS)), f"a list from {', '.join(INPUT_DISTRIBUTIONS)}"),
        "low_entropy_flag": (_non_negative_number, "a fraction >= 0 (flag zeros/ones faster than normal by more)"),
        "perturbation": GEMM_PERTURBATION_SCHEMA,
        "timing": TIMING_SCHEMA,
    },
    "attention": {
        "dtypes": (_list_of(_one_of(ATTENTION_DTYPES)), f"a list of dtypes from {', '.join(ATTENTION_DTYPES)}"),
        "causal": (_list_of(lambda v: isinstance(v, bool)), "a list of true/false"),
        "shapes": (_list_of(_attention_shape), "a list of {batch, heads, seq_len, head_dim} positive integers"),
        "max_iteration_s": (_positive_number, "a positive number of seconds"),
        "timing": TIMING_SCHEMA,
    },
    "stream": {
        "kernels": (_list_of(_one_of(tuple(WEIGHTS))), f"a list of kernels from {', '.join(WEIGHTS)}"),
        "dtype": (_one_of(STREAM_DTYPES), f"one of {', '.join(STREAM_DTYPES)}"),
        "llc_multiple": (_positive_number, "a positive number (array size as a multiple of the last-level cache)"),
        "min_array_bytes": (_non_negative_number, "a byte count >= 0"),
        "target_array_bytes": (_non_negative_number, "a byte count >= 0 (wanted when memory and time allow)"),
        "max_iteration_s": (_positive_number, "a positive number of seconds"),
        "sweep": {
            "enabled": (lambda v: isinstance(v, bool), "true or false"),
            "kernels": (_list_of(_one_of(tuple(WEIGHTS))), f"a list of kernels from {', '.join(WEIGHTS)}"),
            "min_bytes": (_positive_int, "a positive byte count"),
            "max_llc_multiple": (_positive_number, "a positive number"),
            "points": (_positive_int, "a positive integer"),
        },
        "timing": TIMING_SCHEMA,
    },
    "interconnect": {
        "ops": (_list_of(_one_of(COLLECTIVE_OPS)), f"a list of collectives from {', '.join(COLLECTIVE_OPS)}"),
        "sizes_bytes": (_list_of(_positive_int), "a list of positive message sizes in bytes"),
        "dtype": (_one_of(STREAM_DTYPES), f"one of {', '.join(STREAM_DTYPES)}"),
        "max_iteration_s": (_positive_number, "a positive number of seconds"),
        "timing": TIMING_SCHEMA,
    },
}
TOP_SCHEMA: dict[str, Any] = {
    "name": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "description": (lambda v: isinstance(v, str), "a string"),
    "seed": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    "timing": TIMING_SCHEMA,
    "suites": SUITE_SCHEMAS,
}
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "timing": {},
    "suites": {},
}
SUITE_DEFAULTS = {
    "gemm": {"max_iteration_s": 2.0, "timing": {},
             "search": {"enabled": False, "max_trials": 24, "max_seconds": 120.0, "patience": 8,
                        "min_improvement": 0.01, "max_candidates": 8,
                        "trial_timing": {"warmup_min_s": 0.02, "warmup_max_s": 0.3, "samples": 3, "max_samples": 6,
                                         "target_rel_ci": 0.03, "max_measure_s": 0.3}},
             "data_patterns": ["normal"], "low_entropy_flag": 0.10,
             "perturbation": {"enabled": False, "variants": 3, "min_offset": 0.03, "max_offset": 0.07,
                              "flag_margin": 0.15}},
    "attention": {"causal": [False, True], "max_iteration_s": 2.0, "timing": {}},
    "stream": {"dtype": "fp32", "llc_multiple": 4, "min_array_bytes": 0, "target_array_bytes": 0, "max_iteration_s": 2.0, "timing": {},
               "sweep": {"enabled": False, "kernels": ["triad"], "min_bytes": 65536, "max_llc_multiple": 8, "points": 12}},
    "interconnect": {"ops": list(COLLECTIVE_OPS), "dtype": "fp32", "max_iteration_s": 2.0, "timing": {}},
}
REQUIRED = {"gemm": ("dtypes", "shapes"), "attention": ("dtypes", "shapes"), "stream": ("kernels",),
            "interconnect": ("sizes_bytes",)}


def validate(data: Any, schema: dict[str, Any], source: str, path: str = "") -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {path or 'top level'}: expected a mapping, got {type(data).__name__}")
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in schema:
            raise ConfigError(f"{source}: {where}: unknown key (known: {', '.join(schema)})")
        rule = schema[key]
        if isinstance(rule, dict):
            validate(value, rule, source, where)
        elif not rule[0](value):
            raise ConfigError(f"{source}: {where}: {value!r} is not {rule[1]}")


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
    validate(data, TOP_SCHEMA, str(path))
    for text in overrides:
        patch = parse_override(text)
        validate(patch, TOP_SCHEMA, f"--set {text}")
        data = _merge(data, patch)
    config = _merge(DEFAULTS, data)
    config.setdefault("name", path.stem)
    for suite, body in config["suites"].items():
        config["suites"][suite] = _merge(SUITE_DEFAULTS[suite], body or {})
        missing = [key for key in REQUIRED[suite] if key not in config["suites"][suite]]
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
