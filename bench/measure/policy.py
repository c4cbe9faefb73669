"""Timing policy: calibration, warm-up, sample count and stop rule. Separate from the Clock."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any, Callable, ContextManager

from bench.analysis import stats
from bench.devices.timing import Clock, Hook, Step
from bench.errors import TooSlow


@dataclasses.dataclass(frozen=True)
class TimingPolicy:
    min_sample_s: float = 0.005  # each sample runs long enough to dwarf timer resolution and launch cost
    max_iterations: int = 100_000
    warmup_min_s: float = 0.05
    warmup_max_s: float = 2.0  # cap: an unstable device is measured anyway, with a warning
    warmup_window: int = 3
    warmup_stable_rel: float = 0.03  # stable when the last `window` samples lie within 3% of their median
    samples: int = 10
    max_samples: int = 30
    target_rel_ci: float = 0.01  # keep sampling until the median's 95% CI is within +-1% ...
    max_measure_s: float = 3.0  # ... or this much measured time has passed
    flush_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Timing:
    """Raw result of timing one kernel: per-iteration seconds of every sample."""

    samples_s: list[float]
    iterations: int
    warmup: dict[str, Any]
    stop_reason: str
    clock: str
    resolution_s: float


def _iterations_for(per_iteration_s: float, policy: TimingPolicy) -> int:
    if per_iteration_s <= 0:
        return policy.max_iterations
    return max(1, min(policy.max_iterations, math.ceil(policy.min_sample_s / per_iteration_s)))


def _is_stable(recent: list[float], policy: TimingPolicy) -> bool:
    if len(recent) < policy.warmup_window:
        return False
    window = sorted(recent[-policy.warmup_window:])
    middle = window[len(window) // 2]
    return (window[-1] - window[0]) <= policy.warmup_stable_rel * middle


# A first call this many times max_iteration_s is not repeated (the case is skipped, no rate derived).
FIRST_CALL_GIVE_UP = 20.0


def first_call(step: Step, clock: Clock, before: Hook | None, max_iteration_s: float | None) -> float:
    """One call that is never judged nor used for a rate: one-time work happens here (library handles,
    lazy kernel loading, oneDNN JIT, TunableOp tuning). Returns its seconds, kept in the warm-up record.

    Raises TooSlow (iteration_s None) only when it exceeds FIRST_CALL_GIVE_UP x max_iteration_s."""
    seconds = clock.time_samples(step, 1, 1, before)[0]
    if max_iteration_s and seconds > FIRST_CALL_GIVE_UP * max_iteration_s:
        raise TooSlow(f"too slow here: the first call took {seconds:.1f} s, over {FIRST_CALL_GIVE_UP:g} x "
                      f"max_iteration_s ({max_iteration_s} s); not repeated", None, first_call_s=seconds)
    return seconds


def warm_up(step: Step, clock: Clock, policy: TimingPolicy, before: Hook | None,
            max_iteration_s: float | None = None) -> tuple[int, dict[str, Any]]:
    """Run until per-iteration time is stable (and at least warmup_min_s), capped at warmup_max_s.

    Also calibrates iterations per sample. Returns (iterations, warm-up record). The first call is
    set apart (first_call); TooSlow is judged on the second, the first timed iteration, when it
    already takes longer than max_iteration_s."""
    first_call_s = first_call(step, clock, before, max_iteration_s)
    iterations, spent, per_iteration = 1, 0.0, []
    while True:
        total = clock.time_samples(step, iterations, 1, before)[0]
        if max_iteration_s and spent == 0.0 and total > max_iteration_s:
            raise TooSlow(f"too slow here: one iteration took {total:.2f} s (max_iteration_s {max_iteration_s} s)", total)
        spent += total
        per_iteration.append(total / iterations)
        if total < policy.min_sample_s and iterations < policy.max_iterations:
            iterations = _iterations_for(per_iteration[-1], policy)
            per_iteration.clear()  # calibration samples are not evidence of stability
            continue
        stable = _is_stable(per_iteration, policy) and spent >= policy.warmup_min_s
        if stable or spent >= policy.warmup_max_s:
            record = {"samples": len(per_iteration), "seconds": spent, "stable": stable,
                      "first_call_s": first_call_s, "last_per_iteration_s": per_iteration[-policy.warmup_window:]}
            return iterations, record


def measure(step: Step, clock: Clock, policy: TimingPolicy, before_sample: Hook | None = None,
            window: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
            max_iteration_s: float | None = None, on_samples: Callable[[int], None] | None = None) -> Timing:
    """Warm up, then sample until the median is known to target_rel_ci or a budget runs out.

    `window()` wraps the sampling phase only (not the warm-up): telemetry observes what is timed.
    `on_samples(n)` hears the running sample count after each batch (progress displays)."""
    iterations, warmup = warm_up(step, clock, policy, before_sample, max_iteration_s)
    with window():
        return _sample(step, clock, policy, before_sample, iterations, warmup, on_samples or (lambda n: None))


def fastest(options: dict[str, Callable[[], None]], step: Step, clock: Clock, policy: TimingPolicy,
            before_sample: Hook | None = None, samples: int = 3,
            max_iteration_s: float | None = None) -> tuple[str, dict[str, float]]:
    """Select each option in turn (e.g. an SDPA backend), time `step` briefly under it (a set-apart
    first call, one judged call, then `samples` samples of >= min_sample_s) and return (fastest name,
    median seconds per call of each). An option whose judged call exceeds max_iteration_s is not
    sampled further (that call is its figure). The caller selects the winner and measures it in full."""
    seconds: dict[str, float] = {}
    for name, select in options.items():
        select()
        clock.time_samples(step, 1, 1, before_sample)  # one-time work lands here
        per_call = clock.time_samples(step, 1, 1, before_sample)[0]
        if max_iteration_s and per_call > max_iteration_s:
            seconds[name] = per_call
            continue
        iterations = _iterations_for(per_call, policy)
        totals = clock.time_samples(step, iterations, samples, before_sample)
        seconds[name] = stats.summarize([t / iterations for t in totals])["median"]
    return min(seconds, key=seconds.__getitem__), seconds


def _sample(step: Step, clock: Clock, policy: TimingPolicy, before_sample: Hook | None, iterations: int,
            warmup: dict[str, Any], on_samples: Callable[[int], None]) -> Timing:
    totals = clock.time_samples(step, iterations, policy.samples, before_sample)
    on_samples(len(totals))
    stop_reason = "target confidence reached"
    while True:
        per_iteration = [t / iterations for t in totals]
        summary = stats.summarize(per_iteration)
        if stats.relative_ci_half_width(summary) <= policy.target_rel_ci:
            break
        if len(totals) >= policy.max_samples:
            stop_reason = "max samples reached"
            break
        if sum(totals) >= policy.max_measure_s:
            stop_reason = "time budget reached"
            break
        batch = min(5, policy.max_samples - len(totals))
        totals += clock.time_samples(step, iterations, batch, before_sample)
        on_samples(len(totals))
    return Timing(samples_s=per_iteration, iterations=iterations, warmup=warmup, stop_reason=stop_reason,
                  clock=clock.name, resolution_s=clock.resolution_s)
