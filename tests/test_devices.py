"""Backend selection logic with fake backends (no hardware here), plus the real CPU backend."""

import pytest
import torch
from fake_vendor import FakeDeviceModule

from bench.devices import registry
from bench.devices.accelerator import TorchAcceleratorBackend, inherited_entry
from bench.devices.base import Backend, DeviceInfo
from bench.devices.cpu import CpuBackend, cache_levels
from bench.devices.timing import PerfCounterClock
from bench.errors import DeviceUnavailable, UsageError


def fake(kind: str, count: int) -> type[Backend]:
    class Fake(Backend):
        name = kind

        @classmethod
        def device_count(cls):
            return count

        @property
        def torch_device(self):
            return torch.device("cpu")

        def info(self):
            return DeviceInfo(backend=kind, torch_device=f"{kind}:{self.index}", vendor="fake", name=f"fake {kind}")

        def synchronize(self):
            pass

        def clock(self):
            return PerfCounterClock()

    return Fake


def backends(**counts):
    table = {name: fake(name, counts.get(name, 0)) for name in ("cuda", "rocm", "npu", "xpu", "mps")}
    table["cpu"] = fake("cpu", 1)
    return table


def test_auto_prefers_an_accelerator_and_falls_back_to_cpu():
    assert registry.select("auto", backends(cuda=2))[0].name == "cuda"
    assert registry.select("auto", backends(npu=1))[0].name == "npu"
    assert registry.select("auto", backends(xpu=1, mps=1))[0].name == "xpu"
    assert registry.select("auto", backends())[0].name == "cpu"


def test_indices_and_all():
    table = backends(cuda=4)
    assert registry.select("cuda:3", table)[0].index == 3
    assert registry.select("cuda", table)[0].index == 0
    assert [b.index for b in registry.select("cuda:all", table)] == [0, 1, 2, 3]


def test_missing_device_names_what_is_there():
    with pytest.raises(DeviceUnavailable) as excinfo:
        registry.select("cuda", backends(rocm=1))
    assert "no cuda device here" in str(excinfo.value)
    assert "rocm (1 device)" in str(excinfo.value) and "cpu" in str(excinfo.value)
    with pytest.raises(DeviceUnavailable, match="cuda:0..cuda:1"):
        registry.select("cuda:5", backends(cuda=2))


def test_bad_spellings_are_usage_errors():
    with pytest.raises(UsageError, match="unknown device"):
        registry.select("tpu", backends())
    with pytest.raises(UsageError, match="bad device index"):
        registry.select("cuda:x", backends(cuda=1))


def test_rocm_alias(monkeypatch):
    monkeypatch.setattr(torch.version, "hip", "6.2.0", raising=False)
    assert registry.resolve_alias("cuda") == "rocm"
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    assert registry.resolve_alias("cuda") == "cuda"
    assert registry.resolve_alias("rocm") == "rocm"


def test_real_registry_on_this_machine():
    counts = registry.present()
    assert counts.get("cpu") == 1
    if "cuda" not in counts:
        with pytest.raises(DeviceUnavailable):
            registry.select("cuda")


def test_cpu_backend_describes_itself():
    info = CpuBackend().info()
    assert info.backend == "cpu" and info.compute_units >= 1
    assert info.memory_bytes and info.memory_bytes > 2**28
    assert CpuBackend().unsupported_reason("tf32")
    assert CpuBackend().unsupported_reason("bf16") is None


def test_cache_levels_from_a_fake_sysfs(tmp_path):
    for cpu in (0, 1):
        for index, (level, kind, size, shared) in enumerate([(1, "Data", "48K", str(cpu)), (1, "Instruction", "32K", str(cpu)),
                                                            (2, "Unified", "1024K", str(cpu)), (3, "Unified", "32768K", "0-1")]):
            folder = tmp_path / f"cpu{cpu}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
                (folder / name).write_text(f"{value}\n")
    assert cache_levels(tmp_path) == {1: 2 * 48 * 1024, 2: 2 * 2**20, 3: 32 * 2**20}


def test_accelerator_backend_records_uuid_and_pci_address():
    from types import SimpleNamespace

    from bench.devices.accelerator import TorchAcceleratorBackend

    props = SimpleNamespace(uuid="0b42632a-bc5c-f731-724b-6936a19c4b24", pci_bus_id=0x41, pci_device_id=0,
                            pci_domain_id=0)
    ids = TorchAcceleratorBackend._unit_ids(props)
    assert ids == {"uuid": "0b42632a-bc5c-f731-724b-6936a19c4b24", "pci_bus_id": "00000000:41:00.0"}
    assert TorchAcceleratorBackend._unit_ids(SimpleNamespace()) == {}


def test_cuda_backend_reads_driver_and_max_clock_through_nvml(monkeypatch):
    import sys
    from types import SimpleNamespace

    from fake_vendor import FakeNvml, NVMLError_LibraryNotFound

    from bench.devices.cuda import CudaBackend

    props = SimpleNamespace(uuid="abc", pci_bus_id=1, pci_device_id=0, pci_domain_id=0)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(max_clock=1980, driver="550.54.15"))
    backend = CudaBackend(0)
    assert backend._max_clock_mhz(props) == 1980.0
    assert backend._driver_version(props) == "550.54.15"
    broken = FakeNvml(fail={"nvmlInit": NVMLError_LibraryNotFound("no libnvidia-ml")})
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    backend = CudaBackend(0)  # info() reads NVML once per backend; a fresh one sees the broken library
    assert backend._driver_version(props) is None
    assert backend._max_clock_mhz(props) is None  # props has no clock_rate either: unknown, not invented


def test_cpu_max_clock_prefers_cpufreq_then_the_highest_cpuinfo_mhz(tmp_path):
    from bench.devices.vendors import procfs

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\ncpu MHz\t\t: 2450.000\n\nprocessor\t: 1\ncpu MHz\t\t: 3100.500\n")
    (tmp_path / "cpu0" / "cpufreq").mkdir(parents=True)
    (tmp_path / "cpu0" / "cpufreq" / "cpuinfo_max_freq").write_text("3700000\n")
    assert procfs.max_clock_mhz(tmp_path, cpuinfo) == (3700.0, "cpufreq cpuinfo_max_freq")
    assert procfs.max_clock_mhz(tmp_path / "absent", cpuinfo) == \
        (3100.5, "/proc/cpuinfo cpu MHz (may be below the boost clock)")
    assert procfs.max_clock_mhz(tmp_path / "absent", tmp_path / "no-cpuinfo") == (None, "unknown")


# -- first contact: work lands on the selected unit (M1), worker visibility, auto fallback ------------


def fake_backend(module, name="fakegpu", var="CUDA_VISIBLE_DEVICES", uuid=True):
    class FakeGpu(TorchAcceleratorBackend):
        vendor = "Fake"
        module_name = "cuda"  # a torch.device descriptor only; real torch never runs on it here
        visible_devices_var = var
        accepts_uuid = uuid

        @classmethod
        def module(cls):
            return module

    FakeGpu.name = name
    return FakeGpu


@pytest.mark.parametrize("index", [1, 3])
def test_events_streams_and_kernels_use_the_selected_device(index):
    fake = FakeDeviceModule(count=4)
    backend = fake_backend(fake)(index)
    seen_by_kernel = []

    def step():  # what a kernel launch sees: the process's current device
        seen_by_kernel.append(fake.current_device())

    clock = backend.clock()
    seconds = clock.time_samples(step, iterations=3, samples=2)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert ("set_device", index) in fake.log
    assert seen_by_kernel == [index] * 6
    records = [where for what, where in fake.log if what == "record"]
    assert records == [index] * 4  # start and end of each sample, on this unit's stream
    assert [where for what, where in fake.log if what == "synchronize"] == [index]


def test_events_stay_on_the_unit_even_if_someone_switches_the_current_device():
    fake = FakeDeviceModule(count=2)
    backend = fake_backend(fake)(1)
    clock = backend.clock()
    clock.time_samples(lambda: fake.set_device(0), iterations=1, samples=1)  # a library call that switches devices
    assert [where for what, where in fake.log if what == "record"] == [1, 1]


def test_empty_cache_runs_on_the_selected_device_and_restores_the_current_one():  # flush_cache: test_backends.py
    fake = FakeDeviceModule(count=2)
    backend = fake_backend(fake)(1)
    fake.set_device(0)
    backend.empty_cache()
    assert ("empty_cache", 1) in fake.log and fake.current_device() == 0  # context restored


def test_visible_devices_env_for_a_worker():
    fake = FakeDeviceModule(count=4)
    by_uuid = fake_backend(fake)(2)
    assert by_uuid.visible_devices_env({}) == {"CUDA_VISIBLE_DEVICES": "GPU-fake-uuid-2"}
    by_index = fake_backend(fake, var="HIP_VISIBLE_DEVICES", uuid=False)(1)
    assert by_index.visible_devices_env({}) == {"HIP_VISIBLE_DEVICES": "1"}
    assert by_index.visible_devices_env({"HIP_VISIBLE_DEVICES": "4,5,6,7"}) == {"HIP_VISIBLE_DEVICES": "5"}
    assert inherited_entry("GPU-a,GPU-b", 1) == "GPU-b" and inherited_entry(None, 3) == "3"
    from bench.devices.cpu import CpuBackend

    assert CpuBackend().visible_devices_env() == {}


def test_rocm_mi300_lets_hipblaslt_run_tf32_before_the_first_matmul(monkeypatch):
    from types import SimpleNamespace

    from bench.devices.rocm import RocmBackend

    fake = FakeDeviceModule(count=2)
    monkeypatch.delenv("HIPBLASLT_ALLOW_TF32", raising=False)
    monkeypatch.setattr(RocmBackend, "module", classmethod(lambda cls: fake))
    monkeypatch.setattr(RocmBackend, "properties", lambda self: SimpleNamespace(gcnArchName="gfx942:sramecc+:xnack-"))
    backend = RocmBackend(1)
    assert backend.unsupported_reason("tf32") is None
    backend.activate()
    import os

    assert os.environ["HIPBLASLT_ALLOW_TF32"] == "1" and ("set_device", 1) in fake.log
    monkeypatch.setenv("HIPBLASLT_ALLOW_TF32", "0")
    assert "HIPBLASLT_ALLOW_TF32=0" in backend.unsupported_reason("tf32")
    monkeypatch.setattr(RocmBackend, "properties", lambda self: SimpleNamespace(gcnArchName="gfx90a"))
    assert "gfx942" in RocmBackend(0).unsupported_reason("tf32")


@pytest.mark.parametrize("soc,fp8_skipped", [("Ascend910B3", True), ("Ascend910_9392", True), ("Ascend950PR", False)])
def test_ascend_skips_fp8_and_int8_with_a_reason(monkeypatch, soc, fp8_skipped):
    from bench.devices.npu import NpuBackend

    fake = FakeDeviceModule(count=1)
    fake.get_device_name = lambda index: soc
    monkeypatch.setattr(NpuBackend, "module", classmethod(lambda cls: fake))
    backend = NpuBackend(0)
    assert (backend.unsupported_reason("fp8_e4m3") is not None) == fp8_skipped
    assert "_int_mm" in backend.unsupported_reason("int8")
    assert backend.unsupported_reason("bf16") is None


def test_auto_fallback_reason_names_the_cpu_only_torch_and_the_fix():
    signs = {"NVIDIA GPU": ["/dev/nvidia0", "nvidia-smi on PATH"]}
    reason = registry.fallback_reason(signs, "CPU-only", "2.13.0+cpu", npu_installed=False, environ={})
    assert reason.startswith("no CUDA device: torch 2.13.0+cpu was built without CUDA")
    assert "/dev/nvidia0" in reason and "--index-url https://download.pytorch.org/whl/cu" in reason
    amd = registry.fallback_reason({"AMD GPU": ["/dev/kfd"]}, "CPU-only", "2.13.0+cpu", npu_installed=False, environ={})
    assert "built without ROCm" in amd and "whl/rocm" in amd
    hidden = registry.fallback_reason(signs, "CUDA 12.8", "2.13.0+cu128", npu_installed=False,
                                      environ={"CUDA_VISIBLE_DEVICES": ""})
    assert "CUDA_VISIBLE_DEVICES=''" in hidden
    npu = registry.fallback_reason({"Ascend NPU": ["/dev/davinci0"]}, "CPU-only", "2.13.0", npu_installed=False, environ={})
    assert "torch_npu is not installed" in npu
    assert "CPU-only build" in registry.fallback_reason({}, "CPU-only", "2.13.0+cpu", npu_installed=False, environ={})


def test_hardware_signs_from_device_nodes_and_tools(tmp_path):
    (tmp_path / "nvidia0").touch()
    (tmp_path / "kfd").touch()
    signs = registry.hardware_signs(tmp_path, which=lambda tool: "/usr/bin/npu-smi" if tool == "npu-smi" else None)
    assert signs == {"NVIDIA GPU": [str(tmp_path / "nvidia0")], "AMD GPU": [str(tmp_path / "kfd")],
                     "Ascend NPU": ["npu-smi on PATH"]}


def test_auto_on_this_cpu_machine_records_why(monkeypatch):
    backend = registry.select("auto")[0]
    assert backend.name == "cpu" and backend.auto_fallback_reason and "torch" in backend.auto_fallback_reason
    assert registry.select("cpu")[0].auto_fallback_reason is None


def test_cpu_device_block_records_family_and_clock_source():
    import re
    from pathlib import Path

    from bench.devices.cpu import CpuBackend, max_clock_mhz

    extra = CpuBackend().info().extra
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    family = re.search(r"^cpu family\s*:\s*(\d+)", cpuinfo, re.M)  # read here independently of procfs
    assert extra["cpu_family"] == (int(family.group(1)) if family else None)
    assert extra["clock_source"] == max_clock_mhz()[1]


def test_cpu_verdict_spec_depends_only_on_the_recorded_device_block(monkeypatch):
    from bench.rules import specs

    database = specs.load_database()
    device = CpuBackend().info().to_dict()
    before = specs.cpu_spec_from_device(device, database)

    def other_host():
        raise AssertionError("the host's /proc/cpuinfo must not be read for a recorded run")

    monkeypatch.setattr(specs, "_cpuinfo", other_host)
    monkeypatch.setattr(specs.os, "cpu_count", lambda: 512)
    after = specs.cpu_spec_from_device(device, database)
    assert after == before


def test_a_new_cpu_run_records_family_clock_source_and_occupancy():
    from bench.measure.runner import RunOptions, new_run

    run = new_run("t", CpuBackend(), {"suites": {}}, RunOptions(command=["bench"]))
    assert {"cpu_family", "clock_source"} <= set(run["device"]["extra"])
    occupancy = run["audit"]["before"]["settings"]["occupancy"]
    assert occupancy["host"]["usable_cpus"] >= 1 and "load_1min" in occupancy["host"]
