"""Backend selection logic with fake backends (no hardware here), plus the real CPU backend."""

import pytest
import torch

from bench.devices import registry
from bench.devices.base import Backend, DeviceInfo
from bench.devices.cpu import CpuBackend, cache_levels
from bench.errors import DeviceUnavailable, UsageError
from bench.timing import PerfCounterClock


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


def test_cpu_max_clock_prefers_cpufreq(tmp_path):
    from bench.devices.cpu import max_clock_mhz

    (tmp_path / "cpu0" / "cpufreq").mkdir(parents=True)
    (tmp_path / "cpu0" / "cpufreq" / "cpuinfo_max_freq").write_text("3700000\n")
    assert max_clock_mhz(tmp_path) == (3700.0, "cpufreq cpuinfo_max_freq")
    mhz, source = max_clock_mhz(tmp_path / "absent")
    assert "cpuinfo" in source or mhz is None
