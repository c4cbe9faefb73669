"""The runner is generic: a suite it has never heard of, registered in a test, declares its cases (and
an explicit skip), its follow-ups, its measurement strategy and whether its dtype needs the backend,
and its own config schema, defaults and required keys, which the suite-file loader then validates."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from bench.devices.cpu import CpuBackend
from bench.devices.timing import FakeClock
from bench.errors import ConfigError
from bench.kernels import registry
from bench.kernels.base import FIXED, LOCKSTEP, VARIANTS, Case, CheckResult, FollowupBound, Kernel, Skip, Suite
from bench.measure.config import load_suite_config
from bench.measure.config_schema import TIMING_SCHEMA, Bounded, seconds
from bench.measure.policy import Timing
from bench.measure.results import RunWriter
from bench.measure.runner import Runner, RunOptions, new_run
from bench.present.progress import LineObserver


def toy_case(n: int, **params: Any) -> Case:
    return Case("toy", "double", "fp32", (("n", n),), tuple(params.items()))


class DoubleKernel(Kernel):
    """y = 2x on n floats: real torch on the CPU, checked against the known answer."""

    def __init__(self, case: Case, backend: Any, seed: int = 0):
        super().__init__(case, backend, seed)
        self.n = case.shape_dict["n"]

    def flops(self) -> int:
        return self.n

    def bytes_moved(self) -> int:
        return 8 * self.n

    def required_bytes(self) -> int:
        return 8 * self.n

    def setup(self) -> None:
        self.x = torch.ones(self.n)
        self.y = torch.empty(self.n)

    def step(self) -> Any:
        torch.mul(self.x, 2.0, out=self.y)

    def check(self) -> CheckResult:
        self.step()
        error = float((self.y - 2.0).abs().max())
        return CheckResult(error == 0.0, error, 0.0, f"{self.n} entries of 2x")


class NeedsUnitKernel(DoubleKernel):
    needs_dtype_support = True


class LockstepKernel(DoubleKernel):
    strategy = LOCKSTEP

    def measure(self, clock, policy, flush=None, window=None, max_iteration_s=None, on_samples=None) -> Timing:
        samples = clock.time_samples(self.step, 4, 2)
        return Timing(samples_s=[s / 4 for s in samples], iterations=4, warmup={"stable": True},
                      stop_reason="toy lockstep: 2 samples", clock=clock.name, resolution_s=clock.resolution_s)


KERNELS = {"double": DoubleKernel, "needs_unit": NeedsUnitKernel, "lockstep": LockstepKernel}
SEEN: dict[str, Any] = {}


def toy_cases(config: dict[str, Any], info: Any, probe: Any = None):
    for n in config["sizes"]:
        yield toy_case(n)
    yield Skip(toy_case(0, ranks=1), "toy needs two ranks: launch with torchrun")
    yield Case("toy", "needs_unit", "tf32", (("n", 64),))  # the CPU has no TF32 unit
    yield Case("toy", "lockstep", "fp32", (("n", 64),))


def toy_kernel(case: Case, backend: Any, seed: int = 0) -> Kernel:
    return KERNELS[case.kernel](case, backend, seed)


def toy_followups(context) -> None:
    SEEN["before"] = [m["id"] for m in context.measurements()]
    SEEN["config"], SEEN["run_id"] = dict(context.config), context.run_id
    larger = context.measure(toy_case(128, followup=1))
    screened = context.measure(toy_case(256, followup=2), timing={"samples": 3, "max_samples": 3})
    SEEN["returned"] = [larger["id"], screened["id"]]
    SEEN["missing"] = context.measure(Case("toy", "needs_unit", "tf32", (("n", 8),), (("followup", 3),)))
    context.record_search("toy", {"trials": 2, "best": larger["throughput"]["value"]})


def toy_bound(config) -> dict[str, FollowupBound]:
    return {"fp32": FollowupBound(others=2), "tf32": FollowupBound(others=1)}


def toy_phase(case: Case) -> str:
    return VARIANTS if "followup" in case.params_dict else FIXED


TOY = Suite(toy_cases, toy_kernel, followups=toy_followups, followup_bound=toy_bound, phase=toy_phase,
            config_schema={"sizes": Bounded(1, 2**20, integer=True, each=True),
                           "marker": (lambda v: isinstance(v, str), "a string"),
                           "max_iteration_s": seconds(), "timing": TIMING_SCHEMA},
            defaults={"marker": "default", "max_iteration_s": 1.0, "timing": {}}, required=("sizes",))


class Recorder:
    def __init__(self):
        self.started: list[tuple[str, int, int]] = []

    def case_started(self, case, number, total):
        self.started.append((case.id, number, total))

    def samples_taken(self, case, count): ...
    def measured(self, m): ...
    def skipped(self, s): ...
    def close(self): ...


@pytest.fixture
def toy_run(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.SUITES, "toy", TOY)
    SEEN.clear()
    config = {"name": "toy", "seed": 0, "timing": {"samples": 5, "max_samples": 5, "warmup_max_s": 0.01},
              "suites": {"toy": {"sizes": [64], "max_iteration_s": 1.0, "timing": {}, "marker": "mine"}}}
    backend = CpuBackend()
    writer = RunWriter(tmp_path / "run", new_run("toy-run", backend, config, RunOptions()))
    observer = Recorder()
    run = Runner(backend, config, writer, observer, RunOptions(clock_factory=lambda b: FakeClock(1e-4))).run()
    return run, observer  # not read back: the run.json contract types only the shipped suites' config


def test_follow_ups_see_the_fixed_results_and_measure_more_cases(toy_run):
    run, _ = toy_run
    assert SEEN["before"] == ["toy/double/fp32/n=64", "toy/lockstep/fp32/n=64"]
    assert SEEN["config"]["marker"] == "mine" and SEEN["run_id"] == "toy-run"
    assert SEEN["returned"] == ["toy/double/fp32/n=128,followup=1", "toy/double/fp32/n=256,followup=2"]
    assert [m["id"] for m in run["measurements"]] == SEEN["before"] + SEEN["returned"]
    assert SEEN["missing"] is None  # a skipped follow-up comes back as None and is recorded
    assert run["skips"][-1]["id"] == "toy/needs_unit/tf32/n=8,followup=3"
    assert run["searches"] == {"toy": {"trials": 2, "best": run["measurements"][2]["throughput"]["value"]}}


def test_a_timing_override_applies_to_that_follow_up_only(toy_run):
    run, _ = toy_run
    by_id = {m["id"]: m for m in run["measurements"]}
    assert by_id["toy/double/fp32/n=256,followup=2"]["timing"]["policy"]["samples"] == 3
    assert by_id["toy/double/fp32/n=128,followup=1"]["timing"]["policy"]["samples"] == 5


def test_an_explicit_skip_from_cases_is_recorded_as_it_was_given(toy_run):
    run, _ = toy_run
    skip = run["skips"][0]
    assert skip == {"id": "toy/double/fp32/n=0,ranks=1", "suite": "toy", "kernel": "double", "dtype": "fp32",
                    "shape": {"n": 0}, "params": {"ranks": 1}, "reason": "toy needs two ranks: launch with torchrun"}


def test_a_kernel_that_needs_dtype_support_is_skipped_where_the_backend_lacks_it(toy_run):
    run, _ = toy_run
    reason = CpuBackend().unsupported_reason("tf32")
    assert run["skips"][1] == {"id": "toy/needs_unit/tf32/n=64", "suite": "toy", "kernel": "needs_unit",
                               "dtype": "tf32", "shape": {"n": 64}, "params": {}, "reason": reason}


def test_a_lockstep_kernel_is_timed_by_its_own_measure(toy_run):
    run, _ = toy_run
    lockstep = next(m for m in run["measurements"] if m["kernel"] == "lockstep")
    assert lockstep["timing"]["stop_reason"] == "toy lockstep: 2 samples" and len(lockstep["timing"]["samples_s"]) == 2
    adaptive = run["measurements"][0]
    assert adaptive["timing"]["stop_reason"] != lockstep["timing"]["stop_reason"]


def test_follow_ups_are_numbered_after_the_fixed_cases(toy_run):
    _, observer = toy_run
    assert observer.started == [
        ("toy/double/fp32/n=64", 1, 4), ("toy/double/fp32/n=0,ranks=1", 2, 4), ("toy/needs_unit/tf32/n=64", 3, 4),
        ("toy/lockstep/fp32/n=64", 4, 4), ("toy/double/fp32/n=128,followup=1", 5, 5),
        ("toy/double/fp32/n=256,followup=2", 6, 6), ("toy/needs_unit/tf32/n=8,followup=3", 7, 7)]


def toy_file(tmp_path, body: str) -> str:
    path = tmp_path / "toy.yaml"
    path.write_text("timing: {samples: 3, max_samples: 3, warmup_max_s: 0.01}\nsuites:\n  toy:\n" + body)
    return str(path)


@pytest.fixture
def registered_toy(monkeypatch):
    monkeypatch.setitem(registry.SUITES, "toy", TOY)
    SEEN.clear()


def test_the_loader_validates_a_registered_suite_by_its_own_schema(tmp_path, registered_toy):
    config = load_suite_config(toy_file(tmp_path, "    sizes: [32]\n"), ["suites.toy.marker=from-set"])
    assert config["suites"]["toy"] == {"sizes": [32], "marker": "from-set", "max_iteration_s": 1.0, "timing": {}}
    path = toy_file(tmp_path, "    sizes: [32]\n    colour: red\n")
    with pytest.raises(ConfigError, match=r"suites\.toy\.colour: unknown key \(known: sizes, marker, max_iteration_s, timing\)"):
        load_suite_config(path)
    with pytest.raises(ConfigError, match=r"suites\.toy\.sizes\[0\]"):
        load_suite_config(toy_file(tmp_path, "    sizes: [0]\n"))
    with pytest.raises(ConfigError, match=r"suites\.toy: missing sizes"):
        load_suite_config(toy_file(tmp_path, "    marker: only\n"))


def test_a_registered_suite_runs_from_its_loaded_config_counted_within_its_bound(tmp_path, registered_toy):
    config = load_suite_config(toy_file(tmp_path, "    sizes: [16, 32]\n"))
    backend, stream = CpuBackend(), io.StringIO()
    writer = RunWriter(tmp_path / "run", new_run("toy-loaded", backend, config, RunOptions()))
    run = Runner(backend, config, writer, LineObserver(stream, config),
                 RunOptions(clock_factory=lambda b: FakeClock(1e-4))).run()
    assert [m["id"] for m in run["measurements"]] == [
        "toy/double/fp32/n=16", "toy/double/fp32/n=32", "toy/lockstep/fp32/n=64",
        "toy/double/fp32/n=128,followup=1", "toy/double/fp32/n=256,followup=2"]
    assert SEEN["config"]["marker"] == "default"  # the suite's own default, merged by the loader
    counters = [line.split("]")[0].split(" ·")[0] for line in stream.getvalue().splitlines()]
    # 5 fixed cases (2 skipped) and at most 3 follow-ups; tf32 measured nothing fixed, so its bound closes
    # with the fixed cases, and its follow-up, when it comes anyway, is counted as it is found
    assert counters == ["[1/≤8", "[2/≤8", "[3/≤8", "[4/≤8", "[5/≤8", "[6/≤7 variants fp32 1/2",
                        "[7/7 variants fp32 2/2", "[8/8 variants tf32 1/1"]
