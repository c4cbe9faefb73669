"""bench run's progress display: plain lines off a terminal, nothing for --quiet/--json, live on a TTY."""

from __future__ import annotations

import io

from bench.commands.run import LineObserver, QuietObserver
from bench.kernels.base import Case
from bench.progress import LiveObserver, make_observer


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_observer_choice():
    assert isinstance(make_observer(True, False, FakeTTY()), QuietObserver)
    assert isinstance(make_observer(False, True, FakeTTY()), QuietObserver)
    assert isinstance(make_observer(False, False, io.StringIO()), LineObserver)
    live = make_observer(False, False, FakeTTY())
    assert isinstance(live, LiveObserver)
    live.close()


def test_live_observer_tracks_best_per_dtype_and_stops_after_the_last_case():
    live = make_observer(False, False, FakeTTY())
    case = Case("gemm", "matmul", "bf16", (("m", 8), ("n", 8), ("k", 8)))
    for number, value in ((1, 2.0), (2, 5.0)):
        live.case_started(case, number, 3)
        live.measured({"id": case.id, "suite": "gemm", "kernel": "matmul", "dtype": "bf16", "status": "ok",
                       "throughput": {"value": value, "unit": "TFLOPS"}, "stats": {"n": 5}})
    assert live.best[("gemm", "bf16")] == (5.0, "TFLOPS")
    live.case_started(case, 3, 3)
    live.skipped({"id": case.id, "reason": "too slow"})
    assert not live.live.is_started


def test_live_observer_shows_samples_while_a_case_runs():
    from rich.console import Console

    live = make_observer(False, False, FakeTTY())
    case = Case("stream", "triad", "fp32", (("elements", 1024),))
    live.case_started(case, 1, 2)
    live.samples_taken(case, 7)
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(live._render())
    assert "7 samples" in buffer.getvalue()
    live.close()
