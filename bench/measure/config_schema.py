"""The leaves of a suite config schema, shared by bench/measure/config.py (the loader) and the suites
that declare their own schema (kernels/*.py, on their registry `Suite`).

A schema is a dict of key -> rule: a nested dict (a sub-mapping), a `Bounded` number (or list of them),
or a `Rule` (check, what it should be) whose text ends the error message "... is not <text>"."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from bench.errors import ConfigError
from bench.measure.policy import TimingPolicy
from bench.yamlfile import bounded_number

SECONDS_MAX = 86_400.0  # one day: no single budget or timeout of a suite is longer
BYTES_MAX = 2**50  # 1 PiB
DIM_MAX = 2**24  # one GEMM or attention dimension
COUNT_MAX = 1_000_000
LIST_MAX = 10_000  # shapes, sizes or start sizes in one list

Rule = tuple[Callable[[Any], bool], str]
Schema = dict[str, Any]  # key -> Schema | Bounded | Rule


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


def seconds(lo: float = 1e-6) -> Bounded:
    return Bounded(lo, SECONDS_MAX)


def count(hi: int = COUNT_MAX) -> Bounded:
    return Bounded(1, hi, integer=True)


def fraction(lo: float = 0.0, hi: float = 1.0) -> Bounded:
    return Bounded(lo, hi)


def list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and 0 < len(value) <= LIST_MAX and all(check(v) for v in value)


def one_of(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: value in options


def list_from(options: tuple[str, ...], what: str = "") -> Rule:
    """A non-empty list of some of `options`: "a list of <what> from a, b, c" ("a list from ..." without `what`)."""
    noun = f"a list of {what}" if what else "a list"
    return list_of(one_of(options)), f"{noun} from {', '.join(options)}"


def choice(options: tuple[str, ...]) -> Rule:
    """One of `options`."""
    return one_of(options), f"one of {', '.join(options)}"


BOOL: Rule = (lambda v: isinstance(v, bool), "true or false")
TIMING_BOUNDS: dict[str, Bounded] = {  # bench.measure.policy.TimingPolicy
    "min_sample_s": seconds(), "max_iterations": count(10**9), "warmup_min_s": seconds(0.0),
    "warmup_max_s": seconds(), "warmup_window": count(1000), "warmup_stable_rel": fraction(1e-9),
    "samples": count(), "max_samples": count(), "target_rel_ci": fraction(1e-9), "max_measure_s": seconds(),
}
TIMING_SCHEMA: Schema = {
    field.name: BOOL if field.type in ("bool", bool) else TIMING_BOUNDS[field.name]
    for field in dataclasses.fields(TimingPolicy)
}
