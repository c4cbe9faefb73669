"""Runs a suite config on one backend: cases -> skips or measurements, written as they come."""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import sys
from typing import Any, Callable, Mapping

import numpy as np
import torch

from bench.analysis import metrics, stats, uncertainty
from bench.analysis.summary import build_summary, derive_measurement
from bench.devices import audit, identity, telemetry
from bench.devices.base import Backend, DeviceInfo
from bench.devices.timing import Clock
from bench.errors import MeasurementError, TooSlow
from bench.kernels.base import LOCKSTEP, Case, Kernel, Skip
from bench.kernels.registry import SUITES
from bench.measure import config as config_module
from bench.measure import distributed
from bench.measure import probe as device_probe
from bench.measure.observers import Observer, QuietObserver
from bench.measure.policy import TimingPolicy, fastest
from bench.measure.results import (
    METHOD_VERSION,
    SCHEMA_VERSION,
    RunWriter,
    tool_record,
    utc_now,
)


@dataclasses.dataclass
class RunOptions:
    telemetry_interval_s: float = 0.1
    clock_factory: Callable[[Backend], Clock] | None = None  # tests inject a FakeClock here
    command: list[str] = dataclasses.field(default_factory=lambda: list(sys.argv))


def host_record() -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "os": platform.platform(), "python": platform.python_version(),
            "machine": platform.machine(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def software_record() -> dict[str, Any]:
    record = {"torch": torch.__version__, "numpy": np.__version__, "cuda": torch.version.cuda,
              "hip": getattr(torch.version, "hip", None), "python": platform.python_version()}
    if torch.backends.cudnn.is_available():
        record["cudnn"] = torch.backends.cudnn.version()
    return record


def new_run(run_id: str, backend: Backend, config: dict[str, Any], options: RunOptions) -> dict[str, Any]:
    device = backend.cached_info().to_dict()
    return {
        "schema_version": SCHEMA_VERSION, "method_version": METHOD_VERSION, "tool": tool_record(),
        "run_id": run_id, "status": "running", "started_at": utc_now(), "ended_at": None,
        "command": options.command, "host": host_record(), "device": device, "software": software_record(),
        "identity": identity.collect_identity(device), "audit": {"before": audit.audit(device)},
        "config": config, "conventions": metrics.CONVENTIONS, "measurements": [], "skips": [], "summary": None,
    }


def skip_record(case: Case, reason: str) -> dict[str, Any]:
    return {"id": case.id, "suite": case.suite, "kernel": case.kernel, "dtype": case.dtype,
            "shape": case.shape_dict, "params": case.params_dict, "reason": reason}


class Runner:
    """One run of one config on one backend. `run()` returns the finished run dict."""

    def __init__(self, backend: Backend, config: dict[str, Any], writer: RunWriter,
                 observer: Observer | None = None, options: RunOptions | None = None):
        self.backend = backend
        self.config = config
        self.writer = writer
        self.observer = observer or QuietObserver()
        self.options = options or RunOptions()
        self.info = backend.cached_info()
        self.probe: device_probe.DeviceProbe | None = None
        self.rates: dict[tuple[str, str, str], float] = {}  # best work/s seen, to predict slow cases
        # Least work whose first call alone was hopeless: larger cases of that kind are skipped unrun
        # (a comparison of work, not a rate: a first call includes one-time work).
        self.hopeless_work: dict[tuple[str, str, str], tuple[int, float]] = {}

    def cases(self) -> list[Case | Skip]:
        """Every suite's fixed cases, in config order (a Skip stands for a case a suite cannot run here)."""
        out: list[Case | Skip] = []
        for name, suite_config in self.config["suites"].items():
            out.extend(SUITES[name].cases(suite_config, self.info, self.probe))
        return out

    def run(self) -> dict[str, Any]:
        # The harness's own cost, measured with the device's real clock (an injected test clock times cases only).
        self.probe = device_probe.probe(self.backend.torch_device, self.backend.clock())
        self.writer.run["probe"] = self.probe.to_dict()
        cases = self.cases()
        sources = telemetry.default_sources(self.info.to_dict())
        with telemetry.TelemetrySampler(sources, interval_s=self.options.telemetry_interval_s,
                                        device_backend=self.info.backend) as sampler:
            try:
                for number, case in enumerate(cases, 1):
                    self._run_fixed(case, number, len(cases), sampler)
                self._numbering = [len(cases), len(cases)]
                for name in self.config["suites"]:
                    SUITES[name].followups(SuiteContext(self, name, sampler))
            except KeyboardInterrupt:
                self._finish("incomplete", interrupted="keyboard interrupt (Ctrl-C)")
                raise
            except BaseException as exc:
                self._finish("incomplete", error=f"{type(exc).__name__}: {exc}")
                raise
        self._finish("complete")
        return self.writer.run

    def _finish(self, status: str, **fields: Any) -> None:
        run = self.writer.run
        before = run["audit"]["before"]
        after = audit.audit(self.info.to_dict())
        changes = audit.compare_audits(before, after)
        run["audit"] = {"before": before, "after": after, "changes": changes, "findings": before["findings"] + changes}
        run["summary"] = build_summary(run)
        self.writer.finish(status, **fields)

    # -- one case ---------------------------------------------------------------------
    def _run_fixed(self, case: Case | Skip, number: int, total: int, sampler: telemetry.TelemetrySampler) -> None:
        if isinstance(case, Skip):
            self.observer.case_started(case.case, number, total)
            self._skip(case.case, case.reason)
        else:
            self.observer.case_started(case, number, total)
            self._run_case(case, sampler)

    def _run_case(self, case: Case, sampler: telemetry.TelemetrySampler,
                  timing: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Measure one case (`timing` overrides the suite's timing fields); the measurement, or None when skipped."""
        suite_config = self.config["suites"][case.suite]
        kernel = SUITES[case.suite].make_kernel(case, self.backend, seed=self.config["seed"])
        reason = self._preflight(case, kernel, suite_config)
        if kernel.strategy == LOCKSTEP:  # every rank runs a collective case, or none waits in it
            reason = distributed.agree_on_skip(reason)
        if reason:
            self._skip(case, reason)
            return None
        policy = self._resized(config_module.timing_policy(self.config, case.suite))
        if timing:
            policy = dataclasses.replace(policy, **timing)
        try:
            measurement = self._measure(case, kernel, policy, sampler)
        except TooSlow as exc:  # remember the rate so larger cases of this kind are skipped unrun
            if exc.iteration_s is not None:
                self._note_rate(case, kernel, exc.iteration_s)
            else:
                self._note_hopeless(case, kernel, exc.first_call_s or 0.0)
            self._skip(case, str(exc))
            return None
        except MeasurementError as exc:
            self._skip(case, str(exc))
            return None
        finally:
            kernel.teardown()
            self.backend.empty_cache()
        self.writer.add_measurement(measurement)
        self.observer.measured(measurement)
        return measurement

    def measure_followup(self, case: Case, sampler: telemetry.TelemetrySampler,
                         timing: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """A follow-up case: numbered after every case so far, the total growing with it."""
        self._numbering[0] += 1
        self._numbering[1] = max(self._numbering)
        self.observer.case_started(case, *self._numbering)
        return self._run_case(case, sampler, timing)

    def _skip(self, case: Case, reason: str) -> None:
        skip = skip_record(case, reason)
        self.writer.add_skip(skip)
        self.observer.skipped(skip)

    def _preflight(self, case: Case, kernel: Kernel, suite_config: dict[str, Any]) -> str | None:
        """Why this case cannot or should not run, before anything is allocated."""
        reason = self.backend.unsupported_reason(case.dtype) if kernel.needs_dtype_support else None
        if reason:
            return reason
        lockstep = kernel.strategy == LOCKSTEP  # ranks must agree on which collectives run
        free = self.backend.free_memory_bytes()
        if free is not None and kernel.required_bytes() > 0.8 * free:
            return (f"does not fit memory: needs {kernel.required_bytes() / 2**30:.2f} GiB, "
                    f"{free / 2**30:.2f} GiB free (80% usable)")
        hopeless = self.hopeless_work.get(self._rate_key(case))
        if hopeless and self._work(kernel) >= hopeless[0] and not lockstep:
            return (f"too slow here: a case with less work took {hopeless[1]:.1f} s in its first call alone "
                    f"(max_iteration_s {suite_config['max_iteration_s']} s)")
        rate = self.rates.get(self._rate_key(case))
        if rate and not lockstep:
            estimate = self._work(kernel) / rate
            if estimate > suite_config["max_iteration_s"]:
                return (f"too slow here: an iteration would take about {estimate:.2f} s "
                        f"(max_iteration_s {suite_config['max_iteration_s']} s), judged from smaller cases")
        return None

    @staticmethod
    def _rate_key(case: Case) -> tuple[str, str, str]:
        return case.suite, case.kernel, case.dtype

    @staticmethod
    def _work(kernel: Kernel) -> int:
        return kernel.work()[metrics.work_key(kernel.unit)]

    def _measure(self, case: Case, kernel: Kernel, policy: TimingPolicy,
                 sampler: telemetry.TelemetrySampler) -> dict[str, Any]:
        clock = self.options.clock_factory(self.backend) if self.options.clock_factory else self.backend.clock()
        flush = self.backend.flush_cache() if policy.flush_cache else None
        try:
            kernel.setup()
            alternatives = self._choose_alternative(kernel, clock, policy, flush,
                                                    self.config["suites"][case.suite].get("max_iteration_s"))
            timing = kernel.measure(clock, policy, flush, window=lambda: sampler.window(case.id),
                                    max_iteration_s=self.config["suites"][case.suite].get("max_iteration_s"),
                                    on_samples=lambda n: self.observer.samples_taken(case, n))
            check = kernel.check()
        except torch.OutOfMemoryError:
            raise MeasurementError("out of device memory while allocating or running") from None
        except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MeasurementError(f"not supported here: {first_line[:300]}") from None
        measurement = self._record(case, kernel, policy, timing, check, sampler.summary(case.id))
        if alternatives:
            measurement["params"]["alternatives_s_per_call"] = alternatives
        return measurement

    def _resized(self, policy: TimingPolicy) -> TimingPolicy:
        """Samples long enough that the probe's fixed per-sample cost stays under 1 % of one."""
        if self.probe is None or self.probe.min_sample_s() <= policy.min_sample_s:
            return policy
        return dataclasses.replace(policy, min_sample_s=self.probe.min_sample_s())

    @staticmethod
    def _choose_alternative(kernel: Kernel, clock: Clock, policy: TimingPolicy, flush: Any,
                            max_iteration_s: float | None) -> dict[str, float]:
        """Time each way the kernel can run the case briefly and select the fastest (SDPA backends, M11)."""
        options = kernel.alternatives()
        if len(options) < 2:
            return {}
        best, seconds = fastest(options, kernel.step, clock, policy, flush, max_iteration_s=max_iteration_s)
        options[best]()
        return seconds

    def _record(self, case: Case, kernel: Kernel, policy: TimingPolicy, timing: Any, check: Any,
                window: dict[str, Any]) -> dict[str, Any]:
        work = kernel.work()
        derived = derive_measurement(timing.samples_s, work, kernel.unit)
        warnings = _stat_warnings(derived["stats"], timing, policy) + telemetry.window_warnings(window)
        overhead = self._overhead(derived["stats"]["median"] * timing.iterations)
        if overhead and overhead["fraction_of_sample"] >= 0.01:
            warnings.append(f"harness overhead is {overhead['fraction_of_sample']:.1%} of a sample")
        if not check.passed:
            warnings.append(f"wrong result: {check.detail}")
        measurement = {
            "id": case.id, "suite": case.suite, "kernel": case.kernel, "dtype": case.dtype,
            "shape": case.shape_dict, "params": {**case.params_dict, **kernel.record()}, "work": work,
            "timing": {"iterations": timing.iterations, "clock": timing.clock, "resolution_s": timing.resolution_s,
                       "stop_reason": timing.stop_reason, "warmup": timing.warmup, "policy": policy.to_dict(),
                       "samples_s": timing.samples_s, **({"overhead": overhead} if overhead else {})},
            **derived, "check": check.to_dict(), "warnings": warnings,
            "status": "ok" if check.passed else "failed", "telemetry": window,
        }
        measurement["throughput"]["per_watt"] = telemetry.throughput_per_watt(
            measurement["throughput"]["value"], kernel.unit, window)
        measurement["uncertainty"] = uncertainty.for_measurement(measurement, window)
        if check.passed:
            self._note_rate(case, kernel, derived["stats"]["median"])
        return measurement

    def _overhead(self, sample_s: float) -> dict[str, float] | None:
        if self.probe is None or sample_s <= 0:
            return None
        return {"per_sample_s": self.probe.per_sample_overhead_s,
                "fraction_of_sample": self.probe.per_sample_overhead_s / sample_s}

    def _note_hopeless(self, case: Case, kernel: Kernel, first_call_s: float) -> None:
        key, work = self._rate_key(case), self._work(kernel)
        if key not in self.hopeless_work or work < self.hopeless_work[key][0]:
            self.hopeless_work[key] = (work, first_call_s)

    def _note_rate(self, case: Case, kernel: Kernel, iteration_s: float) -> None:
        key = self._rate_key(case)
        self.rates[key] = max(self._work(kernel) / iteration_s, self.rates.get(key, 0.0))


@dataclasses.dataclass
class SuiteContext:
    """What one suite's follow-ups see of the run (bench.kernels.base.FollowupContext)."""

    runner: Runner
    suite: str
    sampler: telemetry.TelemetrySampler

    @property
    def backend(self) -> Backend:
        return self.runner.backend

    @property
    def info(self) -> DeviceInfo:
        return self.runner.info

    @property
    def config(self) -> Mapping[str, Any]:
        return self.runner.config["suites"][self.suite]

    @property
    def run_id(self) -> str:
        return self.runner.writer.run["run_id"]

    def measurements(self) -> list[dict[str, Any]]:
        return list(self.runner.writer.run["measurements"])

    def measure(self, case: Case, timing: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        return self.runner.measure_followup(case, self.sampler, timing)

    def record_search(self, name: str, record: dict[str, Any]) -> None:
        self.runner.writer.run.setdefault("searches", {})[name] = record
        self.runner.writer.flush()


def _stat_warnings(summary: dict[str, float], timing: Any, policy: TimingPolicy) -> list[str]:
    warnings = stats.sample_warnings(summary, summary["median"] * timing.iterations, timing.resolution_s)
    if not timing.warmup.get("stable"):
        warnings.append(f"warm-up did not stabilise within {policy.warmup_max_s} s")
    return warnings

