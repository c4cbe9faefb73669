"""Runs a suite config on one backend: cases -> skips or measurements, written as they come."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import random
import socket
import sys
from typing import Any, Callable

import numpy as np
import torch

from bench import antidetect, audit, distributed, identity, metrics, stats, telemetry, uncertainty
from bench import config as config_module
from bench import probe as device_probe
from bench import search as peak_search
from bench.devices.base import Backend
from bench.errors import MeasurementError, TooSlow
from bench.kernels import gemm as gemm_suite
from bench.kernels.base import Case, Kernel
from bench.kernels.registry import SUITES
from bench.observers import Observer, QuietObserver
from bench.policy import TimingPolicy, fastest, measure
from bench.results import (
    METHOD_VERSION,
    SCHEMA_VERSION,
    RunWriter,
    tool_record,
    utc_now,
)
from bench.summary import build_summary, derive_measurement
from bench.timing import Clock

MIN_SEARCH_SHARE = 0.15  # of search.max_seconds, for a dtype far below the TPP-setting one


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

    def cases(self) -> list[Case]:
        out = []
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
                    self.observer.case_started(case, number, len(cases))
                    self._run_case(case, sampler)
                self._numbering = [len(cases), len(cases)]
                self._gemm_extras(sampler)
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
    def _run_case(self, case: Case, sampler: telemetry.TelemetrySampler,
                  timing: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Measure one case (`timing` overrides the suite's timing fields); the measurement, or None when skipped."""
        suite_config = self.config["suites"][case.suite]
        kernel = SUITES[case.suite].make_kernel(case, self.backend, seed=self.config["seed"])
        reason = self._preflight(case, kernel, suite_config)
        if getattr(kernel, "collective", False):  # every rank runs a collective case, or none waits in it
            reason = distributed.agree_on_skip(reason)
        if reason:
            return self._skip(case, reason)
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
            return self._skip(case, str(exc))
        except MeasurementError as exc:
            return self._skip(case, str(exc))
        finally:
            kernel.teardown()
            self.backend.empty_cache()
        self.writer.add_measurement(measurement)
        self.observer.measured(measurement)
        return measurement

    # -- GEMM extras: guided search, data patterns, perturbed variants (depend on earlier results) --
    def _gemm_extras(self, sampler: telemetry.TelemetrySampler) -> None:
        gemm = self.config["suites"].get("gemm")
        if not gemm:
            return
        for dtype in gemm["dtypes"]:
            if self.backend.unsupported_reason(dtype):
                continue
            if gemm.get("search", {}).get("enabled"):  # hand-built configs may lack the validated defaults
                self._gemm_search(dtype, gemm, sampler)
            best = self._best_gemm_shape(dtype)
            if best is None:
                continue
            if dtype == "fp8_e4m3":  # M12: fast accumulation beside the default, at the best shape
                self._run_extra(gemm_suite.case_for(dtype, best, fast_accum=True), sampler)
            for pattern in gemm.get("data_patterns", ["normal"]):
                if pattern != "normal":
                    self._run_extra(gemm_suite.case_for(dtype, best, input_distribution=pattern), sampler)
            if gemm.get("perturbation", {}).get("enabled"):
                self._gemm_perturbed(dtype, best, {**config_module.SUITE_DEFAULTS["gemm"]["perturbation"],
                                                   **gemm["perturbation"]}, sampler)

    def _run_extra(self, case: Case, sampler: telemetry.TelemetrySampler,
                   timing: dict[str, Any] | None = None) -> dict[str, Any] | None:
        self._numbering[0] += 1
        self._numbering[1] = max(self._numbering)
        self.observer.case_started(case, *self._numbering)
        return self._run_case(case, sampler, timing)

    def _standard_gemm(self, dtype: str) -> list[dict[str, Any]]:
        """This dtype's usable fixed-shape and search measurements (normal inputs, no variant)."""
        return [m for m in self.writer.run["measurements"]
                if m["suite"] == "gemm" and m["dtype"] == dtype and m["status"] == "ok"
                and m["params"].get("input_distribution", "normal") == "normal" and "variant" not in m["params"]]

    def _best_gemm_shape(self, dtype: str) -> tuple[int, int, int] | None:
        standard = self._standard_gemm(dtype)
        if not standard:
            return None
        best = max(standard, key=lambda m: m["throughput"]["value"])
        return best["shape"]["m"], best["shape"]["n"], best["shape"]["k"]

    def _gemm_search(self, dtype: str, gemm: dict[str, Any], sampler: telemetry.TelemetrySampler) -> None:
        """Guided peak search (bench/search.py). Trials are screened with the shorter `trial_timing`
        (each is a normal measurement with params.search_trial); when a trial beats the known shapes,
        its shape is measured again with the suite's own timing (params.search_confirm)."""
        options = {**config_module.SUITE_DEFAULTS["gemm"]["search"], **gemm["search"]}
        tile = options.get("tile") or peak_search.default_tile(self.info.backend)
        tile = math.lcm(tile, gemm_suite.shape_alignment(dtype))  # fp8/int8 sizes stay where their ops accept them
        space = peak_search.default_space(
            self.info.backend, self.info.compute_units, self.info.memory_bytes, tile=tile,
            min_size=options.get("min_size"), max_size=options.get("max_size"),
            max_candidates=options["max_candidates"], start_sizes=options.get("start_sizes", ()),
            cache_bytes=self.info.last_level_cache_bytes, itemsize=gemm_suite.input_itemsize(dtype))
        budget = peak_search.SearchBudget(max_trials=options["max_trials"],
                                          max_seconds=options["max_seconds"] * self._search_share(dtype),
                                          patience=options["patience"], min_improvement=options["min_improvement"])
        known = [((m["shape"]["m"], m["shape"]["n"], m["shape"]["k"]), m["throughput"]["value"])
                 for m in self._standard_gemm(dtype)]
        trial_number = iter(range(1, 10**9))
        screening = {**config_module.SUITE_DEFAULTS["gemm"]["search"]["trial_timing"], **options.get("trial_timing", {})}

        def evaluate(shape: tuple[int, int, int]) -> float | None:
            case = gemm_suite.case_for(dtype, shape, search_trial=next(trial_number))
            measurement = self._run_extra(case, sampler, timing=screening)
            return measurement["throughput"]["value"] if measurement and measurement["status"] == "ok" else None

        record = peak_search.search(evaluate, space, budget, known=known).to_dict()
        record["dtype"] = dtype
        record["trial_timing"] = screening
        best = record.get("best")
        if best and best["from"] != "known":
            shape = best["shape"]
            self._run_extra(gemm_suite.case_for(dtype, (shape["m"], shape["n"], shape["k"]), search_confirm=True),
                            sampler)
        self.writer.run.setdefault("searches", {})[dtype] = record
        self.writer.flush()

    def _search_share(self, dtype: str) -> float:
        """Fraction of search.max_seconds this dtype gets: its TPP candidate (best rate x bit length)
        over the best dtype's, at least MIN_SEARCH_SHARE. TPP is a maximum over dtypes, so the time
        goes where a better shape can move it."""
        tpp = {}
        for name in self.config["suites"]["gemm"]["dtypes"]:
            rates = [m["throughput"]["value"] for m in self._standard_gemm(name)]
            if rates:
                tpp[name] = max(rates) * metrics.bit_length(name)
        if dtype not in tpp or not max(tpp.values()):
            return MIN_SEARCH_SHARE
        return max(MIN_SEARCH_SHARE, tpp[dtype] / max(tpp.values()))

    def _gemm_perturbed(self, dtype: str, best: tuple[int, int, int], options: dict[str, Any],
                        sampler: telemetry.TelemetrySampler) -> None:
        """The best standard shape again, beside off-grid shapes and other seeds (bench/antidetect.py).

        The random draw is keyed by the run id: not predictable before the run, reproducible from it."""
        rng = random.Random(f"{self.writer.run['run_id']}/{dtype}")
        seeds = [rng.randrange(1, 2**31) for _ in range(options["variants"] + 1)]
        shapes = antidetect.perturbed_shapes(best, rng, options["variants"], options["min_offset"],
                                             options["max_offset"], align=gemm_suite.shape_alignment(dtype))
        plan = [gemm_suite.case_for(dtype, best, variant="standard")]
        plan.append(gemm_suite.case_for(dtype, best, variant="reseeded", seed=seeds[0]))
        plan += [gemm_suite.case_for(dtype, shape, variant="perturbed", seed=seed)
                 for shape, seed in zip(shapes, seeds[1:])]
        rng.shuffle(plan)  # no fixed order a detector could key on
        screening = {**config_module.SUITE_DEFAULTS["gemm"]["search"]["trial_timing"],
                     **self.config["suites"]["gemm"].get("search", {}).get("trial_timing", {})}
        for case in plan:  # all with the same (screening) timing, so they compare like with like
            self._run_extra(case, sampler, timing=screening)

    def _samples_taken(self, case: Case, count: int) -> None:
        """Optional observer hook: the running sample count of the case being measured."""
        hook = getattr(self.observer, "samples_taken", None)
        if hook:
            hook(case, count)

    def _skip(self, case: Case, reason: str) -> None:
        skip = skip_record(case, reason)
        self.writer.add_skip(skip)
        self.observer.skipped(skip)

    def _preflight(self, case: Case, kernel: Kernel, suite_config: dict[str, Any]) -> str | None:
        """Why this case cannot or should not run, before anything is allocated."""
        reason = self.backend.unsupported_reason(case.dtype) if case.suite == "gemm" else None
        if reason:
            return reason
        free = self.backend.free_memory_bytes()
        if free is not None and kernel.required_bytes() > 0.8 * free:
            return (f"does not fit memory: needs {kernel.required_bytes() / 2**30:.2f} GiB, "
                    f"{free / 2**30:.2f} GiB free (80% usable)")
        hopeless = self.hopeless_work.get(self._rate_key(case))
        if hopeless and self._work(kernel) >= hopeless[0] and not getattr(kernel, "collective", False):
            return (f"too slow here: a case with less work took {hopeless[1]:.1f} s in its first call alone "
                    f"(max_iteration_s {suite_config['max_iteration_s']} s)")
        rate = self.rates.get(self._rate_key(case))
        if rate and not getattr(kernel, "collective", False):  # ranks must agree on which collectives run
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
        return kernel.bytes_moved() if kernel.unit == "GB/s" else kernel.flops()

    def _measure(self, case: Case, kernel: Kernel, policy: TimingPolicy,
                 sampler: telemetry.TelemetrySampler) -> dict[str, Any]:
        clock = self.options.clock_factory(self.backend) if self.options.clock_factory else self.backend.clock()
        flush = self.backend.flush_cache() if policy.flush_cache else None
        try:
            kernel.setup()
            alternatives = self._choose_alternative(kernel, clock, policy, flush,
                                                    self.config["suites"][case.suite].get("max_iteration_s"))
            if hasattr(kernel, "measure_collective"):  # lockstep timing across ranks (kernels/interconnect.py)
                timing = kernel.measure_collective(clock, policy, window=lambda: sampler.window(case.id))
            else:
                timing = measure(kernel.step, clock, policy, flush, window=lambda: sampler.window(case.id),
                                 max_iteration_s=self.config["suites"][case.suite].get("max_iteration_s"),
                                 on_samples=lambda n: self._samples_taken(case, n))
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
        work = {"flops": kernel.flops(), "bytes": kernel.bytes_moved()}
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


def _stat_warnings(summary: dict[str, float], timing: Any, policy: TimingPolicy) -> list[str]:
    warnings = stats.sample_warnings(summary, summary["median"] * timing.iterations, timing.resolution_s)
    if not timing.warmup.get("stable"):
        warnings.append(f"warm-up did not stabilise within {policy.warmup_max_s} s")
    return warnings

