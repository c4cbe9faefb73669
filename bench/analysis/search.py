"""Guided search for the GEMM shape that gives a device's best throughput (pure: no torch).

The strategy: measure a few architecture-aware candidates (multiples of the tile size, M x N tile
grids sized to whole waves over all compute units, large K), then refine around the best by
coordinate moves on M, N and K (x2, x1.5, x1.25, x1.125, then +-1 tile), first improvement wins.
It stops at the first of: trial budget, time budget, no improvement above `min_improvement` in
`patience` refinement trials, or no untried neighbour left (converged).

`evaluate(shape) -> throughput or None` does the measuring (None: skipped, e.g. too slow or does
not fit); `clock() -> seconds` is injected so tests run on a fake clock."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Iterable, Sequence

Shape = tuple[int, int, int]  # (M, N, K)

GPU_BACKENDS = ("cuda", "rocm", "xpu", "npu", "mps")
SCALE_STEPS = (2.0, 1.5, 1.25, 1.125)  # refinement moves, coarse to fine, then +-1 tile

STOP_MAX_TRIALS = "max trials reached"
STOP_TIME = "time budget reached"
STOP_PATIENCE = "no improvement"
STOP_CONVERGED = "converged: no untried neighbour of the best improves"
STOP_NO_CANDIDATES = "no candidate could be measured"


@dataclasses.dataclass(frozen=True)
class SearchBudget:
    max_trials: int = 24
    max_seconds: float = 120.0  # wall time for the whole search of one dtype; shapes predicted to overrun it are passed over
    patience: int = 8  # refinement trials without an improvement > min_improvement before stopping
    min_improvement: float = 0.01  # relative

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ShapeSpace:
    """Where the search may go: sizes are multiples of `tile` within [min_size, max_size]."""

    tile: int
    min_size: int
    max_size: int
    compute_units: int = 1  # SMs / CUs / cores: M x N output tiles are rounded to whole waves over them
    max_candidates: int = 8
    start_sizes: tuple[int, ...] = ()  # square-ish starting sizes; empty: geometric from min to max
    cache_bytes: int | None = None  # last-level cache (L2 on GPUs): the cache-resident candidates fit it
    itemsize: int = 2  # bytes per input element of the dtype searched

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def clamp(self, size: float) -> int:
        rounded = max(1, round(size / self.tile)) * self.tile
        low = math.ceil(self.min_size / self.tile) * self.tile
        high = max(low, (self.max_size // self.tile) * self.tile)
        return int(min(max(rounded, low), high))


@dataclasses.dataclass
class Trial:
    shape: Shape
    value: float | None  # throughput (TFLOPS/TOPS); None when the trial was skipped
    seconds: float  # wall time the trial took (0 for results known before the search)
    phase: str  # "known" (fixed shapes), "candidate", "refine"
    move: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"shape": {"m": self.shape[0], "n": self.shape[1], "k": self.shape[2]}, "value": self.value,
                "seconds": self.seconds, "phase": self.phase, "move": self.move}


@dataclasses.dataclass
class SearchRecord:
    trials: list[Trial]
    best_shape: Shape | None
    best_value: float | None
    stop_reason: str
    budget: SearchBudget
    space: ShapeSpace
    elapsed_s: float

    @property
    def measured_trials(self) -> int:
        return sum(1 for t in self.trials if t.phase != "known")

    def to_dict(self) -> dict[str, Any]:
        best = None
        if self.best_shape is not None:
            best = {"shape": {"m": self.best_shape[0], "n": self.best_shape[1], "k": self.best_shape[2]},
                    "value": self.best_value,
                    "from": next(t.phase for t in self.trials if t.shape == self.best_shape)}
        return {"strategy": "candidates+coordinate-refinement", "budget": self.budget.to_dict(),
                "space": self.space.to_dict(), "trials": [t.to_dict() for t in self.trials],
                "measured_trials": self.measured_trials, "best": best, "stop_reason": self.stop_reason,
                "elapsed_s": self.elapsed_s}


# -- architecture-aware candidates ------------------------------------------------------------------

def default_tile(backend: str) -> int:
    """Tile edge (elements) shapes are multiples of: 256 on accelerators (covers 128/256 MMA tiles), 64 on CPUs."""
    return 256 if backend in GPU_BACKENDS else 64


def default_space(backend: str, compute_units: int | None, memory_bytes: int | None = None,
                  tile: int | None = None, min_size: int | None = None, max_size: int | None = None,
                  max_candidates: int = 8, start_sizes: Sequence[int] = (), cache_bytes: int | None = None,
                  itemsize: int = 2) -> ShapeSpace:
    """The search space for a device: tile from the backend, top size bounded by memory (bf16, 3 matrices)."""
    gpu = backend in GPU_BACKENDS
    tile = tile or default_tile(backend)
    top = max_size or (16384 if gpu else 4096)
    if memory_bytes:
        fits = int(math.sqrt(0.25 * memory_bytes / (3 * 2)))  # three bf16 matrices within a quarter of memory
        top = min(top, max(tile, fits))
    return ShapeSpace(tile=tile, min_size=min_size or (1024 if gpu else 256), max_size=top,
                      compute_units=max(1, compute_units or 1), max_candidates=max_candidates,
                      start_sizes=tuple(start_sizes), cache_bytes=cache_bytes, itemsize=itemsize)


def wave_grid(m: float, n: float, tile: int, units: int) -> tuple[int, int]:
    """(M, N) near (m, n), multiples of `tile`, whose tile count is a whole number of waves over `units`.

    A GEMM with 1.1 waves of output tiles runs as 2 waves: rounding the grid to whole waves avoids
    that quantisation loss."""
    tiles_m, tiles_n = max(1, round(m / tile)), max(1, round(n / tile))
    aspect = tiles_m / tiles_n
    waves = max(1, round(tiles_m * tiles_n / units))
    best: tuple[float, int, int] | None = None
    for w in (waves, waves + 1, max(1, waves - 1)):
        total = w * units
        for a in _divisors(total):
            b = total // a
            cost = abs(math.log((a / b) / aspect)) + abs(math.log(total / (tiles_m * tiles_n)))
            if best is None or cost < best[0]:
                best = (cost, a, b)
    assert best is not None
    return best[1] * tile, best[2] * tile


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def candidates(space: ShapeSpace) -> list[Shape]:
    """Starting shapes, small to large work (so "too slow" judgements learn from the small ones first).

    The square-ish wave grids of the size ladder (`max_candidates` of them), plus, unless
    `start_sizes` is given, one shape of each family a library may peak on: cache-resident (all
    three matrices within half the last-level cache), long-K (M, N a quarter of K: mamf-finder's
    best Hopper shapes), short-K, tall-skinny, short-wide and rectangular (M = 2N, K = N/2). The
    refinement then adapts to the
    family that measured best."""
    sizes = list(space.start_sizes) or _geometric(space.min_size, space.max_size, space.max_candidates)
    out: list[Shape] = []
    for size in sizes:
        m, n = _fitting_wave_grid(size, space)
        shape = (space.clamp(m), space.clamp(n), space.clamp(size))
        if shape not in out:
            out.append(shape)
    out = out[: space.max_candidates]
    if not space.start_sizes:
        out += [shape for shape in family_shapes(space) if shape not in out]
    return sorted(out, key=_work)


def family_shapes(space: ShapeSpace) -> list[Shape]:
    """One shape per family around the middle of the size range (see candidates())."""
    middle = math.sqrt(space.min_size * space.max_size)
    c = space.clamp
    shapes = [(c(middle / 2), c(middle / 2), c(space.max_size)),  # long-K, small M and N
              (c(middle * 2), c(middle * 2), c(middle / 4)),  # short-K
              (c(space.max_size), c(middle / 4), c(middle)),  # tall-skinny
              (c(middle / 4), c(space.max_size), c(middle)),  # short-wide
              (c(middle * 2), c(middle), c(middle / 2))]  # rectangular, moderate K (Zen 3 MKL fp32 peaks near here)
    if space.cache_bytes:
        fits = math.sqrt(space.cache_bytes / 2 / (3 * space.itemsize))  # three fitting squares
        shapes.append((c(fits), c(2 * fits), c(2 * fits)))  # about 1/4 of the LLC per operand: A, B, C resident
        shapes.append((c(fits), c(fits), c(fits)))
    unique: list[Shape] = []
    for shape in shapes:
        if shape not in unique:
            unique.append(shape)
    return unique


def _fitting_wave_grid(size: float, space: ShapeSpace) -> tuple[int, int]:
    """wave_grid for a square of `size`, shrunk until it fits under max_size (clamped if it never does)."""
    target = size
    for _ in range(40):
        m, n = wave_grid(target, target, space.tile, space.compute_units)
        if max(m, n) <= space.max_size:
            return m, n
        target *= 0.95
    return space.clamp(size), space.clamp(size)


def _geometric(low: int, high: int, count: int) -> list[float]:
    if count <= 1 or high <= low:
        return [float(high)]
    ratio = (high / low) ** (1 / (count - 1))
    return [low * ratio**i for i in range(count)]


def neighbours(shape: Shape, space: ShapeSpace, scale: float | None) -> list[tuple[Shape, str]]:
    """Coordinate moves around `shape`: each of M, N, K up and down by `scale` (None: by one tile)."""
    out: list[tuple[Shape, str]] = []
    for axis, name in enumerate("mnk"):
        for direction in (+1, -1):
            size = shape[axis]
            if scale is None:
                moved = space.clamp(size + direction * space.tile)
                label = f"{name}{'+' if direction > 0 else '-'}{space.tile}"
            else:
                moved = space.clamp(size * scale if direction > 0 else size / scale)
                label = f"{name}{'*' if direction > 0 else '/'}{scale:g}"
            new = tuple(moved if i == axis else v for i, v in enumerate(shape))
            if new != shape:
                out.append((new, label))  # type: ignore[arg-type]
    return out


def _work(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2]


# -- the search ------------------------------------------------------------------------------------

class _Stop(Exception):
    def __init__(self, reason: str):
        self.reason = reason


class _Search:
    def __init__(self, evaluate: Callable[[Shape], float | None], space: ShapeSpace, budget: SearchBudget,
                 clock: Callable[[], float]):
        self.evaluate, self.space, self.budget, self.clock = evaluate, space, budget, clock
        self.start = clock()
        self.trials: list[Trial] = []
        self.tried: dict[Shape, float | None] = {}
        self.best: tuple[Shape, float] | None = None
        self.since_improvement = 0
        self.time_skips = 0

    def know(self, shape: Shape, value: float | None) -> None:
        self.trials.append(Trial(shape, value, 0.0, "known"))
        self.tried[shape] = value
        self._consider(shape, value)

    def _consider(self, shape: Shape, value: float | None) -> bool:
        """True when `value` beats the best by more than min_improvement (it becomes the best if higher at all)."""
        if value is None:
            return False
        if self.best is None:
            self.best = (shape, value)
            return True
        significant = value > self.best[1] * (1 + self.budget.min_improvement)
        if value > self.best[1]:
            self.best = (shape, value)
        return significant

    def _check_budget(self) -> None:
        if sum(1 for t in self.trials if t.phase != "known") >= self.budget.max_trials:
            raise _Stop(STOP_MAX_TRIALS)
        if self.clock() - self.start >= self.budget.max_seconds:
            raise _Stop(STOP_TIME)

    def _predicted_seconds(self, shape: Shape) -> float:
        """Optimistic time of a trial: the shortest trial so far, or its work at the best seconds-per-work seen."""
        measured = [t for t in self.trials if t.phase != "known" and t.seconds > 0 and t.value is not None]
        if not measured:
            return 0.0
        per_work = min(t.seconds / _work(t.shape) for t in measured)
        return max(min(t.seconds for t in measured), per_work * _work(shape))

    def trial(self, shape: Shape, phase: str, move: str = "") -> bool:
        """Measure `shape` (once); True when it improved the best significantly."""
        self._check_budget()
        if self.clock() - self.start + self._predicted_seconds(shape) > self.budget.max_seconds:
            self.time_skips += 1  # would overrun the budget even at the best rate seen: try cheaper shapes
            return False
        began = self.clock()
        value = self.evaluate(shape)
        self.trials.append(Trial(shape, value, self.clock() - began, phase, move))
        self.tried[shape] = value
        improved = self._consider(shape, value)
        if phase == "refine":
            self.since_improvement = 0 if improved else self.since_improvement + 1
            if self.since_improvement >= self.budget.patience:
                raise _Stop(f"{STOP_PATIENCE} above {self.budget.min_improvement:.1%} in {self.budget.patience} trials")
        return improved

    def refine(self) -> None:
        steps: list[float | None] = [*SCALE_STEPS, None]
        level = 0
        while level < len(steps) and self.best is not None:
            moved = False
            for shape, label in neighbours(self.best[0], self.space, steps[level]):
                if shape in self.tried:
                    continue
                before = self.best[0]
                self.trial(shape, "refine", label)
                if self.best[0] != before:
                    moved = True
                    break  # first improvement: restart the moves around the new best, same step
            if not moved:
                level += 1


def search(evaluate: Callable[[Shape], float | None], space: ShapeSpace, budget: SearchBudget,
           known: Iterable[tuple[Shape, float | None]] = (), clock: Callable[[], float] = time.monotonic,
           extra_candidates: Sequence[Shape] = ()) -> SearchRecord:
    """Run the guided search. `known`: results already measured (the fixed shapes); they seed the best."""
    state = _Search(evaluate, space, budget, clock)
    for shape, value in known:
        state.know(tuple(shape), value)  # type: ignore[arg-type]
    reason = STOP_CONVERGED
    try:
        for shape in [*extra_candidates, *candidates(space)]:
            if shape not in state.tried:
                state.trial(shape, "candidate")
        state.refine()
        if state.best is None:
            reason = STOP_NO_CANDIDATES
        elif state.time_skips:
            reason = f"{STOP_TIME} (every remaining shape was predicted to overrun it)"
    except _Stop as stop:
        reason = stop.reason
    best_shape, best_value = state.best if state.best else (None, None)
    return SearchRecord(trials=state.trials, best_shape=best_shape, best_value=best_value, stop_reason=reason,
                        budget=budget, space=space, elapsed_s=clock() - state.start)
