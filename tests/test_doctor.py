"""`bench doctor` on this CPU, for real, plus its failure paths with fakes."""

from __future__ import annotations

import json

from fake_vendor import FakeDeviceModule, FakeNvml

from bench.cli import main
from bench.devices import readiness, registry


def test_doctor_on_this_cpu_json(capsys):
    code = main(["doctor", "--device", "cpu", "--json"])
    doc = json.loads(capsys.readouterr().out)
    by_name = {c["name"].split(",")[0]: c for c in doc["checks"]}
    assert doc["device"] == "cpu" and code == (0 if doc["ready"] else 1)
    for name in ("torch build", "devices", "selected device", "vendor library", "first/second call", "timing events",
                 "int8/fp8 layouts", "TF32 state", "SDPA backends", "throttle / power", "other processes"):
        assert name in by_name, name
        assert by_name[name]["status"] in ("ok", "warn", "fail", "skip")
    calls = by_name["first/second call"]["data"]["by_dtype"]
    assert calls["fp32"]["first_s"] > 0 and calls["fp32"]["second_s"] > 0
    assert "skipped" in calls["tf32"]  # the CPU backend has no TF32 path, and says why
    assert "MATH" in by_name["SDPA backends"]["data"]["accepted"]
    assert by_name["torch build"]["data"]["build"] == "CPU-only"


def test_doctor_table_and_exit_status(capsys):
    code = main(["doctor", "--device", "cpu"])
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("check") and ("ready" in out.splitlines()[-1])
    assert code in (0, 1) and (code == 1) == ("NOT ready" in out)


def test_unknown_device_is_a_failed_check_not_a_crash(capsys):
    assert main(["doctor", "--device", "cuda:7"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cpu_only_torch_on_a_gpu_machine_fails_with_the_fix(monkeypatch):
    monkeypatch.setattr(registry, "torch_build", lambda version=None: "CPU-only")
    check = readiness.check_torch_build({"NVIDIA GPU": ["/dev/nvidia0", "nvidia-smi on PATH"]})
    assert check.status == readiness.FAIL
    assert "was built without CUDA" in check.detail and "pip install torch --index-url" in check.detail


def test_events_on_the_wrong_device_fail(monkeypatch):
    from bench.devices.accelerator import TorchAcceleratorBackend

    fake = FakeDeviceModule(count=2)

    class Gpu(TorchAcceleratorBackend):
        name, vendor, module_name = "fakegpu", "Fake", "cuda"

        @classmethod
        def module(cls):
            return fake

    assert readiness.check_events(Gpu(1)).status == readiness.OK
    broken = Gpu(1)
    broken.activate = lambda: None  # what main did before M1: nothing selects the unit
    monkeypatch.setattr(broken, "_make_event", lambda: fake.Event(enable_timing=True))
    assert readiness.check_events(broken).status == readiness.FAIL


def test_other_processes_and_lowered_power_limit_fail(monkeypatch):
    import os

    from bench.devices import audit

    class Backend:
        name = "cuda"

        def vendor_adapter(self):
            from bench.devices import vendors

            return vendors.for_backend("cuda", nvml_module=fake)

        def cached_info(self):
            from bench.devices.base import DeviceInfo

            return DeviceInfo(backend="cuda", torch_device="cuda:0", vendor="NVIDIA", name="NVIDIA H200", index=0)

    fake = FakeNvml(processes=[(os.getpid(), 1), (777, 2**30)], reasons=0x4, power_limit_mw=500_000,
                    enforced_power_limit_mw=500_000)
    result = audit.audit({"backend": "cuda", "index": 0}, environ={}, nvml=fake, host_load=lambda: {"usable_cpus": 2})
    assert readiness.check_occupancy(Backend(), result).status == readiness.FAIL
    power = readiness.check_power(Backend(), result)
    assert power.status == readiness.FAIL and "sw_power_cap_below_rated_limit" in power.detail
    stock = FakeNvml(reasons=0x4)
    result = audit.audit({"backend": "cuda", "index": 0}, environ={}, nvml=stock, host_load=lambda: {"usable_cpus": 2})
    fake = stock
    power = readiness.check_power(Backend(), result)
    assert power.status == readiness.OK and "sw_power_cap_at_rated_limit" in power.detail


def test_all_units_get_their_own_checks(monkeypatch):
    from bench.devices.accelerator import TorchAcceleratorBackend

    fake = FakeDeviceModule(count=2)

    class Gpu(TorchAcceleratorBackend):
        name, vendor, module_name = "fakegpu", "Fake", "cuda"

        @classmethod
        def module(cls):
            return fake

    monkeypatch.setattr(registry, "select", lambda spec: [Gpu(0), Gpu(1)])
    _, checks = readiness.diagnose("fakegpu:all", quick_load_window_s=0.0)
    events = {c.name: c.status for c in checks if c.name.startswith("timing events")}
    assert events == {"timing events [cuda:0]": "ok", "timing events [cuda:1]": "ok"}
    assert [c.name for c in checks].count("TF32 state") == 1
