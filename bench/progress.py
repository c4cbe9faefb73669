"""Live progress of a run on a terminal (rich), implementing bench.runner.Observer.

`make_observer` picks the display: nothing for --quiet/--json, a rich live panel when the stream
is a terminal, else one plain line per case (logs, CI, pipes: no progress bars there)."""

from __future__ import annotations

import atexit
import time
from typing import TYPE_CHECKING, Any, TextIO

from bench.observers import LineObserver, QuietObserver

if TYPE_CHECKING:
    from rich.console import Console, Group

    from bench.kernels.base import Case


def make_observer(quiet: bool, json: bool, stream: TextIO) -> Any:
    """The Observer for `bench run`: quiet for --quiet/--json, live on a TTY (when rich is
    installed), else plain lines."""
    if quiet or json:
        return QuietObserver()
    if getattr(stream, "isatty", lambda: False)():
        try:
            from rich.console import Console  # optional: a lean install shows plain lines
        except ImportError:
            return LineObserver(stream)
        return LiveObserver(Console(file=stream))
    return LineObserver(stream)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


class LiveObserver:
    """A rich live panel: overall bar with elapsed and ETA, the current case, the last result and
    the best figure so far per (suite, dtype). Stops itself after the last case or at exit."""

    def __init__(self, console: Console):
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self.task = self.progress.add_task("cases", total=None)
        self.current: Case | None = None
        self.number = self.total = 0
        self.last = ""
        self.samples = 0
        self.best: dict[tuple[str, str], tuple[float, str]] = {}
        self.started = time.monotonic()
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=True)
        self.live.start()
        atexit.register(self.close)

    def case_started(self, case: Case, number: int, total: int) -> None:
        self.current, self.number, self.total, self.samples = case, number, total, 0
        self.progress.update(self.task, total=total, completed=number - 1)
        self.live.update(self._render())

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
        self._advance()

    def skipped(self, skip: dict[str, Any]) -> None:
        self.last = f"{skip['id']}: [yellow]skipped[/] ({skip['reason'][:90]})"
        self._advance()

    def _advance(self) -> None:
        self.progress.update(self.task, completed=self.number)
        self.live.update(self._render())
        if self.total and self.number >= self.total:
            self.close()

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()

    def _render(self) -> Group:
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
