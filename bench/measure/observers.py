"""Progress observers of a run: the protocol the runner calls, and the observer that says nothing.

No torch or rich here, so the runner (which defaults to QuietObserver) does not depend on the
displays; bench.present.progress holds the plain-line and the rich live displays of the same protocol."""

from __future__ import annotations

from typing import Any, Protocol


class Observer(Protocol):
    """Progress callbacks; the CLI renders them. `case` is a bench.kernels.base.Case. The runner calls
    every one of them: an observer with nothing to show for one defines it as a no-op, as QuietObserver does."""

    def case_started(self, case: Any, number: int, total: int) -> None: ...
    def samples_taken(self, case: Any, count: int) -> None: ...  # the running sample count of a case
    def measured(self, measurement: dict[str, Any]) -> None: ...
    def skipped(self, skip: dict[str, Any]) -> None: ...
    def close(self) -> None: ...  # the run is over (a live display stops)


class QuietObserver:
    """Says nothing (--quiet, --json, worker processes)."""

    def case_started(self, case: Any, number: int, total: int) -> None: ...
    def samples_taken(self, case: Any, count: int) -> None: ...
    def measured(self, measurement: dict[str, Any]) -> None: ...
    def skipped(self, skip: dict[str, Any]) -> None: ...
    def close(self) -> None: ...
