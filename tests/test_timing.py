"""EventClock, the timer of every accelerator number, against fake events with known timestamps:
the order of record / step / synchronize calls, ms -> s, and what it declares about itself."""

from __future__ import annotations

from bench.devices.timing import EventClock, PerfCounterClock


class Journal:
    """One ordered log of everything the clock does, and a fake device time that each step advances."""

    def __init__(self, step_ms: float):
        self.entries: list[str] = []
        self.now_ms = 0.0
        self.step_ms = step_ms
        self.events: list[FakeEvent] = []

    def event(self) -> FakeEvent:
        made = FakeEvent(self, len(self.events))
        self.events.append(made)
        self.entries.append(f"make {made.number}")
        return made

    def step(self) -> None:
        self.now_ms += self.step_ms
        self.entries.append("step")

    def synchronize(self) -> None:
        self.entries.append("synchronize")

    def before_sample(self) -> None:
        self.now_ms += 1000.0  # an untimed flush: it must not show in any sample
        self.entries.append("flush")


class FakeEvent:
    """record() stamps the journal's device time; elapsed_time(other) is other - self in ms, like
    torch.cuda.Event, and is only legal after the host synchronised."""

    def __init__(self, journal: Journal, number: int):
        self.journal, self.number = journal, number
        self.stamp_ms: float | None = None

    def record(self) -> None:
        self.stamp_ms = self.journal.now_ms
        self.journal.entries.append(f"record {self.number}")

    def elapsed_time(self, other: FakeEvent) -> float:
        assert "synchronize" in self.journal.entries, "elapsed_time read before the host synchronised"
        assert self.stamp_ms is not None and other.stamp_ms is not None
        self.journal.entries.append(f"elapsed {self.number}->{other.number}")
        return other.stamp_ms - self.stamp_ms


def test_each_sample_is_the_device_time_between_its_two_events_in_seconds():
    journal = Journal(step_ms=2.5)
    clock = EventClock(journal.event, journal.synchronize)
    totals = clock.time_samples(journal.step, iterations=4, samples=3)
    assert totals == [0.01, 0.01, 0.01]  # 4 steps x 2.5 ms = 10 ms = 0.01 s each
    assert len(journal.events) == 6


def test_events_bracket_the_iterations_and_the_host_synchronises_once_after_the_batch():
    journal = Journal(step_ms=1.0)
    EventClock(journal.event, journal.synchronize).time_samples(journal.step, iterations=2, samples=2,
                                                                before_sample=journal.before_sample)
    assert journal.entries == [
        "flush", "make 0", "make 1", "record 0", "step", "step", "record 1",
        "flush", "make 2", "make 3", "record 2", "step", "step", "record 3",
        "synchronize", "elapsed 0->1", "elapsed 2->3",
    ]


def test_the_untimed_hook_stays_outside_every_sample():
    journal = Journal(step_ms=0.5)
    totals = EventClock(journal.event, journal.synchronize).time_samples(
        journal.step, iterations=3, samples=2, before_sample=journal.before_sample)
    assert totals == [0.0015, 0.0015]  # the 1000 ms flush before each sample is in neither


def test_samples_keep_their_own_durations_in_order():
    journal = Journal(step_ms=1.0)
    durations = iter([1.0, 3.0, 2.0])

    def uneven_step() -> None:
        journal.now_ms += next(durations)

    totals = EventClock(journal.event, journal.synchronize).time_samples(uneven_step, iterations=1, samples=3)
    assert totals == [0.001, 0.003, 0.002]


def test_zero_samples_make_no_events_and_still_synchronise():
    journal = Journal(step_ms=1.0)
    assert EventClock(journal.event, journal.synchronize).time_samples(journal.step, iterations=5, samples=0) == []
    assert journal.entries == ["synchronize"]


def test_event_clock_declares_its_name_and_resolution():
    clock = EventClock(lambda: None, lambda: None)
    assert clock.name == "device_events"
    assert clock.resolution_s == 0.5e-6  # CUDA's documented event resolution


def test_perf_counter_clock_calls_the_step_iterations_times_per_sample_after_the_hook():
    calls: list[str] = []
    clock = PerfCounterClock()
    totals = clock.time_samples(lambda: calls.append("step"), iterations=3, samples=2,
                                before_sample=lambda: calls.append("flush"))
    assert calls == ["flush", "step", "step", "step", "flush", "step", "step", "step"]
    assert len(totals) == 2 and all(t >= 0 for t in totals)
    assert clock.name == "perf_counter_ns" and 1e-9 <= clock.resolution_s
