"""Progress observers of a run: the protocol the runner calls, and the two plain displays.

No torch or rich here: the runner, the CLI and the rank workers all use these, and the rich live
display (bench.progress.LiveObserver) implements the same protocol."""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Observer(Protocol):
    """Progress callbacks; the CLI renders them. `case` is a bench.kernels.base.Case."""

    def case_started(self, case: Any, number: int, total: int) -> None: ...
    def samples_taken(self, case: Any, count: int) -> None: ...  # the running sample count of a case
    def measured(self, measurement: dict[str, Any]) -> None: ...
    def skipped(self, skip: dict[str, Any]) -> None: ...


class QuietObserver:
    """Says nothing (--quiet, --json, worker processes)."""

    def case_started(self, case: Any, number: int, total: int) -> None: ...
    def samples_taken(self, case: Any, count: int) -> None: ...
    def measured(self, measurement: dict[str, Any]) -> None: ...
    def skipped(self, skip: dict[str, Any]) -> None: ...


class LineObserver(QuietObserver):
    """One progress line per case on stderr (for logs and non-terminals)."""

    def __init__(self, stream: Any = None):
        self.stream = stream if stream is not None else sys.stderr
        self.current = ""

    def case_started(self, case: Any, number: int, total: int) -> None:
        self.current = f"[{number}/{total}] {case.id}"

    def measured(self, m: dict[str, Any]) -> None:
        flag = "" if m["status"] == "ok" else "  WRONG RESULT"
        print(f"{self.current}: {m['throughput']['value']:.4g} {m['throughput']['unit']}{flag}", file=self.stream)

    def skipped(self, skip: dict[str, Any]) -> None:
        print(f"{self.current}: skipped ({skip['reason']})", file=self.stream)
