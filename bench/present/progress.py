"""Progress of a run, implementing bench.measure.runner.Observer: one count and one ETA for the whole run.

A run measures its fixed cases first, then the extras (follow-ups) that depend on them, e.g. GEMM's guided
peak search (at most `max_trials` trials or `max_seconds` per dtype), data patterns and perturbed
variants. The runner only learns how many extras there are as it goes, so `RunProgress` bounds them by
what each suite declares from its config (Suite.followup_bound, Suite.phase) and counts `[35/≤58]` with
the phase named ("peak search fp32 trial 2/≤24"), never `[35/35]`, `[36/36]`.

`make_observer` picks the display: nothing for --quiet/--json, a rich live panel when the stream is
a terminal (rich is imported only then), else one plain line per case (logs, CI, pipes)."""

from __future__ import annotations

import atexit
import sys
import time
from typing import Any, Callable, Mapping, TextIO

from bench.kernels.base import FIXED, SEARCH, VARIANTS, Case, FollowupBound
from bench.kernels.registry import SUITES
from bench.measure.observers import QuietObserver

# --- the count -------------------------------------------------------------------------------

def extras_budget(config: Mapping[str, Any] | None) -> dict[str, FollowupBound]:
    """dtype -> its bound, as each configured suite declares it (Suite.followup_bound, kernels/registry.py);
    a dtype that several suites bound gets the sum."""
    budget: dict[str, FollowupBound] = {}
    for name, suite_config in ((config or {}).get("suites") or {}).items():
        for dtype, bound in (SUITES[name].followup_bound(suite_config or {}) if name in SUITES else {}).items():
            budget[dtype] = _sum(budget[dtype], bound) if dtype in budget else bound
    return budget


def _sum(a: FollowupBound, b: FollowupBound) -> FollowupBound:
    return FollowupBound(a.search_trials + b.search_trials, a.search_seconds + b.search_seconds,
                         a.others + b.others, a.search_confirm + b.search_confirm)


def phase_of(case: Case) -> str:
    """"fixed", "search" or "variants", as the case's suite declares it (Suite.phase)."""
    suite = SUITES.get(case.suite)
    return suite.phase(case) if suite else FIXED


def _clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunProgress:
    """Counts cases over the whole run and estimates the time left, search budget included.

    Extras come dtype by dtype in config order (search, then patterns and variants), so once a
    later (phase, dtype) starts, the earlier ones are over and their unused budget is dropped.
    `clock` is a seam (tests pass a fake); only case starts and ends are timed."""

    PHASES = (SEARCH, VARIANTS)

    def __init__(self, config: Mapping[str, Any] | None = None, clock: Callable[[], float] = time.monotonic):
        self.budget = extras_budget(config)
        self.clock = clock
        self.started_at = clock()
        self.fixed_total = 0
        self.fixed_number = 0
        self.fixed_done = 0
        self.fixed_seconds = 0.0
        self.extras_done: dict[tuple[str, str], int] = {}  # (phase, dtype) -> cases started
        self.closed: set[tuple[str, str]] = set()  # (phase, dtype) that can add no more cases
        self.followup_suites = {name for name, body in ((config or {}).get("suites") or {}).items()
                                if name in SUITES and SUITES[name].followup_bound(body or {})}
        self.measured_dtypes: set[str] = set()  # dtypes with a usable fixed measurement of a suite with extras
        self.phase = FIXED
        self.case: Case | None = None
        self._case_started = 0.0
        self._running = False

    def _order(self) -> list[tuple[str, str]]:
        dtypes = list(self.budget) + sorted({d for _, d in self.extras_done} - set(self.budget))
        return [(phase, dtype) for dtype in dtypes for phase in self.PHASES]

    # -- events --
    def started(self, case: Case, number: int, total: int) -> None:
        self.case, self._case_started, self._running = case, self.clock(), True
        self.phase = phase_of(case)
        if self.phase == FIXED:
            self.fixed_total, self.fixed_number = max(self.fixed_total, total), number
            return
        key = (self.phase, case.dtype)
        order = self._order()
        self.closed.update(order[:order.index(key)])
        self.extras_done[key] = self.extras_done.get(key, 0) + 1

    def ended(self, case: Case, measured_ok: bool) -> None:
        self._running = False
        if phase_of(case) != FIXED:
            return
        self.fixed_done += 1
        self.fixed_seconds += self.clock() - self._case_started
        if case.suite in self.followup_suites and measured_ok:
            self.measured_dtypes.add(case.dtype)
        if self.fixed_done >= self.fixed_total:  # patterns and variants need a measured best shape
            self.closed.update((VARIANTS, d) for d in self.budget if d not in self.measured_dtypes)

    # -- figures --
    def _bound(self, phase: str, dtype: str) -> int:
        budget = self.budget.get(dtype, FollowupBound())
        return budget.search_trials + budget.search_confirm if phase == SEARCH else budget.others

    def _left(self, key: tuple[str, str]) -> int:
        """Cases (phase, dtype) may still add."""
        return 0 if key in self.closed else max(self._bound(*key) - self.extras_done.get(key, 0), 0)

    @property
    def number(self) -> int:
        """The case now running (or the last one ended), counted over the whole run."""
        if self.phase == FIXED:
            return self.fixed_number
        return self.fixed_total + sum(self.extras_done.values())

    @property
    def completed(self) -> int:
        return self.number - (1 if self._running else 0)

    @property
    def total(self) -> int:
        """Upper bound of the cases in the whole run (exact when the config has no extras)."""
        return self.fixed_total + sum(self.extras_done.values()) + sum(self._left(key) for key in self._order())

    @property
    def bounded(self) -> bool:
        """True while extras may still come, so the total is an upper bound."""
        return any(self._left(key) for key in self._order())

    def seconds_per_case(self) -> float | None:
        return self.fixed_seconds / self.fixed_done if self.fixed_done else None

    def eta_s(self) -> float | None:
        """Time left: remaining fixed cases at the mean fixed-case time, then each dtype's extras
        (its search capped by max_seconds)."""
        per_case = self.seconds_per_case()
        if per_case is None:
            return None
        left = max(self.fixed_total - self.fixed_done, 0) * per_case
        for phase, dtype in self._order():
            cases = self._left((phase, dtype)) * per_case
            cap = self.budget.get(dtype, FollowupBound()).search_seconds
            left += min(cases, cap) if phase == SEARCH and cap else cases
        return left

    def elapsed_s(self) -> float:
        return self.clock() - self.started_at

    def counter(self) -> str:
        """`12/34` when no extras can follow, `37/≤58` while the count is an upper bound."""
        return f"{self.number}/{'≤' if self.bounded else ''}{self.total}"

    def phase_text(self) -> str:
        case = self.case
        if case is None or self.phase == FIXED:
            return "fixed cases"
        done = self.extras_done.get((self.phase, case.dtype), 0)
        bound = self._bound(self.phase, case.dtype)
        if self.phase == SEARCH:
            budget = self.budget.get(case.dtype, FollowupBound())
            cap = f" (≤{budget.search_seconds:.0f} s)" if budget.search_seconds else ""
            if "search_confirm" in case.params_dict:
                return f"peak search {case.dtype}: best trial confirmed"
            return f"peak search {case.dtype} trial {done}/≤{budget.search_trials}{cap}"
        return f"variants {case.dtype} {done}/{bound}"


# --- plain observers --------------------------------------------------------------------------

class LineObserver:
    """One progress line per case on stderr (for logs and non-terminals), counted over the whole run:
    `[36/≤58 peak search fp32 trial 2/≤24 · ETA 1:10] gemm/...: 0.9 TFLOPS`."""

    def __init__(self, stream: TextIO | None = None, config: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stderr
        self.progress = RunProgress(config, clock)
        self.current = ""

    def case_started(self, case: Case, number: int, total: int) -> None:
        self.progress.started(case, number, total)
        where = "" if self.progress.phase == FIXED else f" {self.progress.phase_text()}"
        eta = self.progress.eta_s()
        self.current = (f"[{self.progress.counter()}{where}" + (f" · ETA {_clock_text(eta)}" if eta is not None else "")
                        + f"] {case.id}")

    def samples_taken(self, case: Case, count: int) -> None: ...  # one line per case: no running count

    def measured(self, m: dict[str, Any]) -> None:
        if self.progress.case:
            self.progress.ended(self.progress.case, m["status"] == "ok")
        flag = "" if m["status"] == "ok" else "  WRONG RESULT"
        print(f"{self.current}: {m['throughput']['value']:.4g} {m['throughput']['unit']}{flag}", file=self.stream)

    def skipped(self, skip: dict[str, Any]) -> None:
        if self.progress.case:
            self.progress.ended(self.progress.case, False)
        print(f"{self.current}: skipped ({skip['reason']})", file=self.stream)

    def close(self) -> None: ...


def make_observer(quiet: bool, json: bool, stream: TextIO, config: Mapping[str, Any] | None = None) -> Any:
    """The Observer for `bench run`: quiet for --quiet/--json, live on a TTY, else plain lines.
    `config` (the suite config) bounds the peak search and variants in the count and the ETA."""
    if quiet or json:
        return QuietObserver()
    if getattr(stream, "isatty", lambda: False)():
        try:
            from rich.console import Console  # optional: a lean install shows plain lines
        except ImportError:
            return LineObserver(stream, config)
        return LiveObserver(Console(file=stream), config)
    return LineObserver(stream, config)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


# --- the live panel ---------------------------------------------------------------------------

class LiveObserver:
    """A rich live panel: one bar over the whole run (fixed cases, then the peak search and variants
    within their budget), elapsed and ETA for the whole run, the phase, the current case, the last
    result and the best figure so far per (suite, dtype). Closed by `close()` (bench run calls it
    when the runner returns) or at exit; it closes itself only when the bound is reached."""

    def __init__(self, console: Any, config: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.run_progress = RunProgress(config, clock)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                                 TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"), console=console)
        self.task = self.progress.add_task("fixed cases", total=None, count="0/?", eta="-:--")
        self.current: Case | None = None
        self.last = ""
        self.samples = 0
        self.best: dict[tuple[str, str], tuple[float, str]] = {}
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=True)
        self.live.start()
        atexit.register(self.close)

    @property
    def number(self) -> int:
        return self.run_progress.number

    @property
    def total(self) -> int:
        return self.run_progress.total

    def case_started(self, case: Case, number: int, total: int) -> None:
        self.current, self.samples = case, 0
        self.run_progress.started(case, number, total)
        self._update()

    def samples_taken(self, case: Case, count: int) -> None:
        self.samples = count
        self.live.update(self._render())

    def measured(self, m: dict[str, Any]) -> None:
        self.samples = 0
        value, unit = m["throughput"]["value"], m["throughput"]["unit"]
        key = (m["suite"], m["kernel"] if m["suite"] == "stream" else m["dtype"])
        if m["status"] == "ok" and value > self.best.get(key, (0.0, ""))[0]:
            self.best[key] = (value, unit)
        flag = " [red]WRONG RESULT[/]" if m["status"] != "ok" else ""
        self.last = f"{m['id']}: {_fmt(value)} {unit} ({m['stats']['n']} samples){flag}"
        self._advance(m["status"] == "ok")

    def skipped(self, skip: dict[str, Any]) -> None:
        self.last = f"{skip['id']}: [yellow]skipped[/] ({skip['reason'][:90]})"
        self._advance(False)

    def _update(self) -> None:
        eta = self.run_progress.eta_s()
        self.progress.update(self.task, total=self.total or None, completed=self.run_progress.completed,
                             description=self.run_progress.phase_text(), count=self.run_progress.counter(),
                             eta=_clock_text(eta))
        self.live.update(self._render())

    def _advance(self, measured_ok: bool) -> None:
        if self.current:
            self.run_progress.ended(self.current, measured_ok)
        self._update()
        if self.total and self.number >= self.total and not self.run_progress.bounded:
            self.close()  # no extras can follow: the last fixed case was the last case

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        case = self.current
        lines: list[Any] = [self.progress]
        if case:
            shape = ", ".join(f"{k}={v}" for k, v in case.shape)
            sampling = f" · {self.samples} samples" if self.samples else " · warming up"
            lines.append(f"[cyan]{case.suite}[/] · {case.kernel} · {case.dtype} · {shape}{sampling}")
        if self.last:
            lines.append(f"[dim]last:[/] {self.last}")
        if self.best:
            table = Table(title="best so far", title_justify="left", box=None, padding=(0, 2))
            for header in ("suite", "dtype/kernel", "value"):
                table.add_column(header, justify="right" if header == "value" else "left")
            for (suite, what), (value, unit) in sorted(self.best.items()):
                table.add_row(suite, what, f"{_fmt(value)} {unit}")
            lines.append(table)
        return Group(*lines)
