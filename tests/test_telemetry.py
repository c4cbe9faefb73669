"""Telemetry sampler: fake sources at a fast interval, NVML / amdsmi fakes, the real CPU source here."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from fake_vendor import FakeAmdsmi, FakeNvml, NVMLError_NotSupported

from bench.devices import telemetry as tm

FAST = 0.005


class FakeSource:
    def __init__(self, name="fake", values=None, fail_start=None, fail_read=None):
        self.name, self.gaps = name, {}
        self.values = values or itertools.repeat({"clock_mhz": 1500.0, "power_w": 300.0})
        self.fail_start, self.fail_read = fail_start, fail_read
        self.stopped = False
        self.reads = 0

    def start(self):
        if self.fail_start:
            raise self.fail_start

    def read(self):
        if self.fail_read:
            raise self.fail_read
        self.reads += 1
        return dict(next(self.values))

    def stop(self):
        self.stopped = True


def run_window(sources, seconds=0.05, backend=None, window_id="m1"):
    with tm.TelemetrySampler(sources, interval_s=FAST, device_backend=backend) as sampler:
        with sampler.window(window_id):
            time.sleep(seconds)
    return sampler, sampler.summary(window_id)


def test_decode_nvml_reasons_including_unknown_bits():
    assert tm.decode_nvml_reasons(0) == []
    assert tm.decode_nvml_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert tm.decode_nvml_reasons(0x1 | 0x400) == ["gpu_idle", "unknown_0x400"]


def window_of_reads(source, thread_reads=2, window_id="m1"):
    """A window that lasts until the sampler thread has read `source` `thread_reads` times inside it
    (beside the two edge reads), however slow this host is, so its sample count is known."""
    with tm.TelemetrySampler([source], interval_s=FAST) as sampler:
        with sampler.window(window_id):
            wanted = source.reads + thread_reads
            for _ in range(2000):  # a guard against a dead sampler thread, not a timed assertion
                if source.reads >= wanted:
                    break
                time.sleep(FAST)
    return sampler, sampler.summary(window_id)


def test_window_summary_from_fake_source():
    clocks = itertools.cycle([{"clock_mhz": c, "power_w": 200.0} for c in (1400.0, 1500.0, 1600.0)])
    source = FakeSource(values=clocks)
    sampler, summary = window_of_reads(source)
    json.dumps(summary)
    assert summary["observed"] and summary["sources"] == ["fake"] and summary["samples"] >= 4
    assert summary["samples"] == len(sampler.window_samples("m1"))
    assert summary["clock_mhz"]["min"] == 1400.0 and summary["clock_mhz"]["max"] == 1600.0
    assert summary["power_w"]["median"] == 200.0 and summary["energy_method"] == "power_integral"
    times = [sample["t_s"] for sample in sampler.window_samples("m1")]
    # a constant 200 W integrates to 200 W times the span the window's samples cover, whatever the clock did
    assert summary["energy_j"] == pytest.approx(200.0 * (times[-1] - times[0]), rel=1e-12, abs=1e-12)
    assert not summary["throttled"] and source.stopped
    assert sampler.window_samples("m1")[0]["t_s"] <= 0.0


def test_a_window_shorter_than_the_interval_keeps_both_edge_samples():
    powers = iter([{"power_w": 100.0}, {"power_w": 300.0}])
    source = FakeSource(values=powers)
    with tm.TelemetrySampler([source], interval_s=600.0) as sampler:  # the thread never reads in the window
        with sampler.window("short"):
            pass
    samples, summary = sampler.window_samples("short"), sampler.summary("short")
    assert [s["power_w"] for s in samples] == [100.0, 300.0] and summary["samples"] == 2
    assert summary["energy_method"] == "power_integral"
    assert summary["energy_j"] == pytest.approx(200.0 * (samples[1]["t_s"] - samples[0]["t_s"]), rel=1e-12, abs=1e-12)


def test_energy_from_constructed_samples_is_the_trapezoid_integral():
    def window(*samples):
        return [{"source": "fake", **sample} for sample in samples]

    ramp = window({"t_s": 0.0, "power_w": 100.0}, {"t_s": 1.0, "power_w": 200.0}, {"t_s": 3.0, "power_w": 300.0})
    summary = tm.summarize_samples(ramp, 3.0, ["fake"], [])
    assert (summary["energy_j"], summary["energy_method"]) == (150.0 + 500.0, "power_integral")
    single = tm.summarize_samples(window({"t_s": 0.0, "power_w": 250.0}), 0.5, ["fake"], [])
    assert (single["energy_j"], single["energy_method"]) == (125.0, "single_power_sample")
    counted = window({"t_s": 0.0, "power_w": 1.0, "energy_j": 10.0}, {"t_s": 1.0, "power_w": 1.0, "energy_j": 17.5})
    assert tm.summarize_samples(counted, 1.0, ["fake"], [])["energy_j"] == 7.5  # the counter, not the 1 J integral
    wrapped = window({"t_s": 0.0, "power_w": 4.0, "energy_j": 90.0}, {"t_s": 2.0, "power_w": 4.0, "energy_j": 3.0})
    wrapped_summary = tm.summarize_samples(wrapped, 2.0, ["fake"], [])
    assert (wrapped_summary["energy_j"], wrapped_summary["energy_method"]) == (8.0, "power_integral")  # a counter reset


def test_energy_counter_preferred_and_throttle_flagged():
    counter = itertools.count(100.0, 2.0)
    reasons = itertools.chain([[]], itertools.repeat(["gpu_idle", "sw_power_cap"]))
    values = ({"energy_j": next(counter), "power_w": 250.0, "throttle_reasons": next(reasons)} for _ in itertools.count())
    _, summary = run_window([FakeSource(values=values)])
    assert summary["energy_method"] == "counter" and summary["energy_j"] == 2.0 * (summary["samples"] - 1)
    assert summary["throttled"] and summary["throttle_reasons"] == ["gpu_idle", "sw_power_cap"]
    assert tm.window_warnings(summary) == ["measured while throttled: sw_power_cap"]


def test_idle_and_application_clock_reasons_do_not_flag_throttling():
    values = itertools.repeat({"clock_mhz": 1000.0, "throttle_reasons": ["gpu_idle", "applications_clocks_setting"]})
    _, summary = run_window([FakeSource(values=values)])
    assert not summary["throttled"] and tm.window_warnings(summary) == []


def test_failing_sources_never_break_the_measurement():
    bad_start = FakeSource("broken", fail_start=PermissionError("no access"))
    bad_read = FakeSource("flaky", fail_read=OSError("device gone"))
    sampler, summary = run_window([bad_start, bad_read], backend="cuda")
    assert not summary["observed"] and summary["clock_mhz"] is None
    whats = {g["what"]: g["reason"] for g in summary["not_observed"]}
    assert "no access" in whats["broken"] and "device gone" in whats["flaky read"]
    assert "cuda accelerator telemetry" not in whats  # flaky is a non-CPU source that did start
    assert tm.window_warnings(summary) == ["telemetry not observed during this measurement"]


def test_no_sources_at_all_and_unknown_window():
    sampler, summary = run_window([])
    assert not summary["observed"] and summary["not_observed"]
    assert sampler.summary("never")["not_observed"][0]["what"] == "window"


def test_exception_inside_window_propagates_and_window_is_closed():
    with tm.TelemetrySampler([FakeSource()], interval_s=FAST) as sampler:
        with pytest.raises(ValueError):
            with sampler.window("m"):
                raise ValueError("measurement failed")
    assert sampler.windows["m"][1] is not None and sampler.summary("m")["observed"]


def test_primary_source_heads_summary_and_cpu_never_stands_in_for_gpu():
    gpu = FakeSource("nvml", fail_start=RuntimeError("NVML Shared Library Not Found"))
    cpu = FakeSource("cpu", values=itertools.repeat({"clock_mhz": 2600.0, "energy_j": 5.0}))
    _, summary = run_window([gpu, cpu], backend="cuda")
    assert not summary["observed"] and summary["clock_mhz"] is None
    assert summary["by_source"]["cpu"]["clock_mhz"]["median"] == 2600.0
    assert any(g["what"] == "cuda accelerator telemetry" for g in summary["not_observed"])


def test_nvml_source_with_fake_library():
    clocks = itertools.cycle([1980, 1755])
    fake = FakeNvml(clock=lambda: next(clocks), reasons=0x4, energy_mj=itertools.count(1_000_000, 5_000).__next__)
    _, summary = run_window([tm.NvmlSource({"backend": "cuda", "index": 0}, fake), tm.CpuSource()], backend="cuda")
    assert summary["sources"][0] == "nvml" and summary["clock_mhz"]["min"] == 1755
    assert summary["power_w"]["median"] == 650.0 and summary["temperature_c"]["max"] == 60
    # sw_power_cap at the default 700 W limit: the rated operating point, reported but not throttling (M2)
    assert summary["energy_method"] == "counter" and not summary["throttled"] and summary["at_power_limit"]
    assert summary["throttle_reasons"] == ["sw_power_cap_at_rated_limit"]
    assert fake.values["inits"] == 1 and fake.values["sessions_open"] == 0  # one NVML session, closed at exit


def test_nvml_source_old_library_and_unsupported_counters():
    fake = FakeNvml(missing={"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"},
                    fail={"nvmlDeviceGetTotalEnergyConsumption": NVMLError_NotSupported()})
    _, summary = run_window([tm.NvmlSource({"index": 0}, fake)], backend="cuda")
    assert summary["observed"] and summary["energy_method"] == "power_integral"
    whats = {g["what"]: g["reason"] for g in summary["not_observed"]}
    assert "Not Supported" in whats["nvml.energy_j"] and "not provided" in whats["nvml.throttle_reasons"]
    assert fake.calls.count("nvmlDeviceGetTotalEnergyConsumption") == 1  # a failing metric is not retried


def test_amdsmi_source_with_fake_library():
    _, summary = run_window([tm.AmdsmiSource({"backend": "rocm", "index": 0}, FakeAmdsmi(throttle_status=1))], backend="rocm")
    assert summary["clock_mhz"]["median"] == 2100 and summary["power_w"]["median"] == 720
    assert summary["utilization_pct"]["max"] == 100 and summary["throttled"]


def test_real_cpu_source_on_this_machine():
    sampler, summary = run_window(tm.default_sources({"backend": "cpu"}), backend="cpu")
    assert summary["observed"] and summary["clock_mhz"]["median"] > 0
    for metric in ("power_w", "temperature_c", "utilization_pct"):
        assert summary[metric] is not None or any(g["what"] == metric for g in summary["not_observed"])


def test_default_sources_for_cuda_without_pynvml_reports_gap(monkeypatch):
    from bench.devices.vendors import nvml

    monkeypatch.setattr(nvml, "load_module", lambda name, injected=None: (None, f"{name} missing"))
    _, summary = run_window(tm.default_sources({"backend": "cuda", "index": 0}), backend="cuda")
    assert not summary["observed"]
    assert any(g["what"] == "nvml" and "pynvml missing" in g["reason"] for g in summary["not_observed"])


def test_throughput_per_watt():
    summary = {"duration_s": 2.0, "energy_j": 1000.0, "energy_method": "counter", "power_w": {"median": 400.0}}
    result = tm.throughput_per_watt(500.0, "TFLOPS", summary)
    assert result["value"] == pytest.approx(1.0) and result["unit"] == "TFLOPS/W" and result["power_w"] == 500.0
    median_only = tm.throughput_per_watt(500.0, "TFLOPS", {"power_w": {"median": 250.0}})
    assert median_only["value"] == pytest.approx(2.0)
    assert tm.throughput_per_watt(500.0, "TFLOPS", tm.empty_summary([])) is None


# -- power-reason classification (M2) and amdsmi payloads across versions (M7, m2) -------------------
@pytest.mark.parametrize("limit,default,expected,throttled", [
    (700_000, 700_000, "sw_power_cap_at_rated_limit", False),   # stock H200 at 700 W
    (750_000, 700_000, "sw_power_cap_at_rated_limit", False),   # raised above default
    (450_000, 700_000, "sw_power_cap_below_rated_limit", True),  # a lowered limit is throttling
    (None, 700_000, "sw_power_cap", True),                       # unknown limit: a doubt, counted
])
def test_sw_power_cap_is_classified_by_the_limit_in_force(limit, default, expected, throttled):
    from bench.devices.vendors.nvml import classify_power_reasons

    names = classify_power_reasons(["gpu_idle", "sw_power_cap"], limit, default)
    assert names == ["gpu_idle", expected]
    assert bool(tm.THROTTLING & set(names)) == throttled


def test_nvml_source_under_a_lowered_limit_flags_throttling():
    fake = FakeNvml(reasons=0x4, power_limit_mw=450_000, enforced_power_limit_mw=450_000)
    _, summary = run_window([tm.NvmlSource({"backend": "cuda", "index": 0}, fake)], backend="cuda")
    assert summary["throttled"] and tm.window_warnings(summary) == ["measured while throttled: sw_power_cap_below_rated_limit"]
    thermal = FakeNvml(reasons=0x4 | 0x20)
    _, summary = run_window([tm.NvmlSource({"backend": "cuda", "index": 0}, thermal)], backend="cuda")
    assert summary["throttled"] and "sw_thermal_slowdown" in summary["throttle_reasons"]


@pytest.mark.parametrize("version,busy,throttled", [("6.0", True, True), ("6.2", False, False), ("7.0", True, True),
                                                    ("7.0", False, False)])
def test_amdsmi_versions_clock_key_and_bool_throttle_status(version, busy, throttled):
    fake = FakeAmdsmi(version=version, busy=busy)
    _, summary = run_window([tm.AmdsmiSource({"backend": "rocm", "index": 0}, fake)], backend="rocm")
    assert summary["clock_mhz"]["median"] == 2100  # cur_clk on 6.0, clk later
    assert summary["throttled"] == throttled


def test_mi300_residency_counters_tell_power_from_thermal():
    def counters(ppt_step, thermal_step):
        tick = itertools.count()

        def metrics():
            n = next(tick)
            return {"throttle_status": "N/A", "ppt_residency_acc": 1000 + ppt_step * n,
                    "socket_thm_residency_acc": 50 + thermal_step * n, "prochot_residency_acc": 0}
        return metrics

    at_cap = FakeAmdsmi(version="7.0-mi300", metrics=counters(10, 0))
    _, summary = run_window([tm.AmdsmiSource({"backend": "rocm", "index": 0}, at_cap)], backend="rocm")
    assert summary["throttle_reasons"] == ["amd_ppt_at_rated_cap"] and not summary["throttled"] and summary["at_power_limit"]
    hot = FakeAmdsmi(version="7.0-mi300", metrics=counters(10, 3))
    _, summary = run_window([tm.AmdsmiSource({"backend": "rocm", "index": 0}, hot)], backend="rocm")
    assert "amd_thermal" in summary["throttle_reasons"] and summary["throttled"]
    capped = FakeAmdsmi(version="7.0-mi300", metrics=counters(10, 0), power_cap=500_000_000)
    _, summary = run_window([tm.AmdsmiSource({"backend": "rocm", "index": 0}, capped)], backend="rocm")
    assert summary["throttle_reasons"] == ["amd_ppt_below_rated_cap"] and summary["throttled"]


def test_mi300_without_counters_or_status_is_a_gap_not_a_pass():
    fake = FakeAmdsmi(version="7.0-mi300")
    _, summary = run_window([tm.AmdsmiSource({"backend": "rocm", "index": 0}, fake)], backend="rocm")
    assert not summary["throttled"]
    assert any(g["what"] == "amdsmi.throttle_reasons" and "N/A" in g["reason"] for g in summary["not_observed"])


@pytest.mark.parametrize("backend", ["npu", "xpu", "mps"])
def test_accelerators_without_telemetry_say_not_implemented_once_not_per_measurement(backend):
    sources = tm.default_sources({"backend": backend, "index": 0})
    _, summary = run_window(sources, backend=backend)
    assert summary["not_implemented"] and not summary["observed"] and summary["clock_mhz"] is None
    assert tm.window_warnings(summary) == []


def test_identity_audit_telemetry_and_vendor_adapters_import_without_torch():
    """bench verify reaches bench.devices.telemetry through recompute: the vendor layer must not pull torch in."""
    import subprocess
    import sys

    code = ("import sys; import bench.devices.telemetry, bench.devices.identity, bench.devices.audit, bench.devices.vendors; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "False"
