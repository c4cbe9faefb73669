"""Suite configs: YAML files in configs/suites/, validated against a small explicit schema.

An unknown key, a wrong type, an unknown dtype or a negative size is one ConfigError that names
the file and the key. Command-line overrides (`--set suites.gemm.dtypes=[bf16]`) go through the
same validation."""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import reprlib
from pathlib import Path
from typing import Any, Callable

from bench.errors import ConfigError, UsageError
from bench.kernels.base import INPUT_DISTRIBUTIONS, TORCH_DTYPES
from bench.kernels.stream import WEIGHTS
from bench.measure.policy import TimingPolicy
from bench.yamlfile import bounded_number, parse_yaml, read_yaml

SUITE_NAMES = ("gemm", "attention", "stream", "interconnect")
ATTENTION_DTYPES = ("fp32", "bf16", "fp16")
STREAM_DTYPES = ("fp64", "fp32", "bf16", "fp16")
COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")  # bench.analysis.metrics.COLLECTIVES


SECONDS_MAX = 86_400.0  # one day: no single budget or timeout of a suite is longer
BYTES_MAX = 2**50  # 1 PiB
DIM_MAX = 2**24  # one GEMM or attention dimension
COUNT_MAX = 1_000_000
LIST_MAX = 10_000  # shapes, sizes or start sizes in one list


@dataclasses.dataclass(frozen=True)
class Bounded:
    """A schema leaf: a finite number in [lo, hi], or with `each`, a non-empty list of them (or,
    with `width`, of lists of `width` of them: GEMM shapes)."""

    lo: float
    hi: float
    integer: bool = False
    each: bool = False
    width: int = 0

    def check(self, value: Any, where: str) -> None:
        if not self.each:
            self._number(value, where)
            return
        if not isinstance(value, list) or not 0 < len(value) <= LIST_MAX:
            raise ConfigError(f"{where}: expected a list of 1 to {LIST_MAX:,} entries")
        for i, item in enumerate(value):
            if self.width:
                if not isinstance(item, list) or len(item) != self.width:
                    raise ConfigError(f"{where}[{i}]: expected a list of {self.width} positive integers ([M, N, K])")
                for j, number in enumerate(item):
                    self._number(number, f"{where}[{i}][{j}]")
            else:
                self._number(item, f"{where}[{i}]")

    def _number(self, value: Any, where: str) -> None:
        if self.integer and isinstance(value, float) and value == value and abs(value) != float("inf"):
            raise ConfigError(f"{where}: expected an integer in [{self.lo:g}, {self.hi:g}], found {value:.6g}")
        bounded_number(value, self.lo, self.hi, where, integer=self.integer)


def _seconds(lo: float = 1e-6) -> Bounded:
    return Bounded(lo, SECONDS_MAX)


def _count(hi: int = COUNT_MAX) -> Bounded:
    return Bounded(1, hi, integer=True)


def _fraction(lo: float = 0.0, hi: float = 1.0) -> Bounded:
    return Bounded(lo, hi)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and 0 < len(value) <= LIST_MAX and all(check(v) for v in value)


def _one_of(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: value in options


def _attention_shape(value: Any) -> bool:
    keys = {"batch", "heads", "seq_len", "head_dim"}
    return isinstance(value, dict) and set(value) == keys and all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= DIM_MAX for v in value.values())


Rule = tuple[Callable[[Any], bool], str]
_BOOL: Rule = (lambda v: isinstance(v, bool), "true or false")
TIMING_BOUNDS: dict[str, Bounded] = {  # bench.measure.policy.TimingPolicy
    "min_sample_s": _seconds(), "max_iterations": _count(10**9), "warmup_min_s": _seconds(0.0),
    "warmup_max_s": _seconds(), "warmup_window": _count(1000), "warmup_stable_rel": _fraction(1e-9),
    "samples": _count(), "max_samples": _count(), "target_rel_ci": _fraction(1e-9), "max_measure_s": _seconds(),
}
TIMING_SCHEMA: dict[str, Any] = {
    field.name: _BOOL if field.type in ("bool", bool) else TIMING_BOUNDS[field.name]
    for field in dataclasses.fields(TimingPolicy)
}
GEMM_SEARCH_SCHEMA: dict[str, Any] = {  # bench/analysis/search.py: guided peak search per dtype
    "enabled": _BOOL,
    "max_trials": _count(),
    "max_seconds": _seconds(),
    "patience": _count(),
    "min_improvement": _fraction(0.0, 10.0),
    "tile": Bounded(1, 2**16, integer=True),
    "min_size": Bounded(1, DIM_MAX, integer=True),
    "max_size": Bounded(1, DIM_MAX, integer=True),
    "max_candidates": _count(LIST_MAX),
    "start_sizes": Bounded(1, DIM_MAX, integer=True, each=True),
    "trial_timing": TIMING_SCHEMA,  # shorter timing for screening trials; the best is confirmed with the suite's
}
GEMM_PERTURBATION_SCHEMA: dict[str, Any] = {  # bench/analysis/antidetect.py: off-grid shapes and other seeds
    "enabled": _BOOL,
    "variants": _count(1000),
    "min_offset": _fraction(1e-9),
    "max_offset": _fraction(1e-9),
    "flag_margin": _fraction(0.0, 10.0),
}
SUITE_SCHEMAS: dict[str, dict[str, Any]] = {
    "gemm": {
        "dtypes": (_list_of(_one_of(tuple(TORCH_DTYPES))), f"a list of dtypes from {', '.join(TORCH_DTYPES)}"),
        "shapes": Bounded(1, DIM_MAX, integer=True, each=True, width=3),
        "max_iteration_s": _seconds(),
        "search": GEMM_SEARCH_SCHEMA,
        "data_patterns": (_list_of(_one_of(INPUT_DISTRIBUTIONS)), f"a list from {', '.join(INPUT_DISTRIBUTIONS)}"),
        "low_entropy_flag": _fraction(0.0, 10.0),  # flag zeros/ones faster than normal by more
        "perturbation": GEMM_PERTURBATION_SCHEMA,
        "timing": TIMING_SCHEMA,
    },
    "attention": {
        "dtypes": (_list_of(_one_of(ATTENTION_DTYPES)), f"a list of dtypes from {', '.join(ATTENTION_DTYPES)}"),
        "causal": (_list_of(lambda v: isinstance(v, bool)), "a list of true/false"),
        "shapes": (_list_of(_attention_shape),
                   f"a list of {{batch, heads, seq_len, head_dim}} integers in [1, {DIM_MAX:,}]"),
        "max_iteration_s": _seconds(),
        "timing": TIMING_SCHEMA,
    },
    "stream": {
        "kernels": (_list_of(_one_of(tuple(WEIGHTS))), f"a list of kernels from {', '.join(WEIGHTS)}"),
        "dtype": (_one_of(STREAM_DTYPES), f"one of {', '.join(STREAM_DTYPES)}"),
        "llc_multiple": Bounded(1e-6, 1e4),  # array size as a multiple of the last-level cache
        "min_array_bytes": Bounded(0, BYTES_MAX),
        "target_array_bytes": Bounded(0, BYTES_MAX),  # wanted when memory and the probed fill rate allow
        "max_iteration_s": _seconds(),
        "sweep": {
            "enabled": _BOOL,
            "kernels": (_list_of(_one_of(tuple(WEIGHTS))), f"a list of kernels from {', '.join(WEIGHTS)}"),
            "min_bytes": Bounded(1, BYTES_MAX, integer=True),
            "max_llc_multiple": Bounded(1e-6, 1e4),
            "points": _count(LIST_MAX),
        },
        "timing": TIMING_SCHEMA,
    },
    "interconnect": {
        "ops": (_list_of(_one_of(COLLECTIVE_OPS)), f"a list of collectives from {', '.join(COLLECTIVE_OPS)}"),
        "sizes_bytes": Bounded(1, BYTES_MAX, integer=True, each=True),
        "dtype": (_one_of(STREAM_DTYPES), f"one of {', '.join(STREAM_DTYPES)}"),
        "max_iteration_s": _seconds(),
        "timing": TIMING_SCHEMA,
    },
}
TOP_SCHEMA: dict[str, Any] = {
    "name": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "a non-empty string (at most 200 characters)"),
    "description": (lambda v: isinstance(v, str), "a string"),
    "seed": Bounded(0, 2**63 - 1, integer=True),
    "timing": TIMING_SCHEMA,
    "suites": SUITE_SCHEMAS,
}
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "timing": {},
    "suites": {},
}
SUITE_DEFAULTS: dict[str, dict[str, Any]] = {
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


def _show(value: Any) -> str:
    """A value in an error message, never longer than a line."""
    text = reprlib.repr(value)  # bounded however large or deep the value is
    return text if len(text) <= 60 else text[:57] + "..."


def validate(data: Any, schema: dict[str, Any], source: str, path: str = "") -> None:
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


def select(config: dict[str, Any], suites: tuple[str, ...] = (), dtypes: tuple[str, ...] = ()) -> dict[str, Any]:
    """A copy of the config narrowed to some suites (--suites) and gemm/attention dtypes (--dtypes)."""
    config = copy.deepcopy(config)
    if suites:
        unknown = [s for s in suites if s not in config["suites"]]
        if unknown:
            raise UsageError(f"--suites: {', '.join(unknown)} not in config {config['name']} "
                             f"(it has {', '.join(config['suites'])})")
        config["suites"] = {name: config["suites"][name] for name in suites}
    if dtypes:
        known = {d for name in ("gemm", "attention") for d in config["suites"].get(name, {}).get("dtypes", [])}
        unknown = [d for d in dtypes if d not in known]
        if unknown:
            raise UsageError(f"--dtypes: unknown or not configured: {', '.join(unknown)} "
                             f"(configured: {', '.join(sorted(known))})")
        for name in ("gemm", "attention"):
            if name in config["suites"]:
                kept = [d for d in config["suites"][name]["dtypes"] if d in dtypes]
                if kept:
                    config["suites"][name]["dtypes"] = kept
                else:
                    del config["suites"][name]
    return config
