"""Backend code that only runs on accelerators, tested here without one: the cache flush, what a
torch accelerator module's properties become in DeviceInfo, the CUDA and ROCm dtype rules, and
the failure paths of the distributed control group. Torch itself is never patched: each backend
is given a fake device module through its own `module()` seam, and Control a fake `dist`."""

from __future__ import annotations

import datetime as dt
import inspect
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from fake_vendor import FakeDeviceModule, FakeNvml

from bench.devices.accelerator import TorchAcceleratorBackend
from bench.devices.base import Backend, DeviceInfo
from bench.devices.cpu import CpuBackend
from bench.devices.cuda import CudaBackend
from bench.devices.mps import MpsBackend
from bench.devices.npu import NpuBackend
from bench.devices.rocm import RocmBackend
from bench.devices.timing import PerfCounterClock
from bench.devices.xpu import XpuBackend
from bench.measure.distributed import Control

MIB = 2**20


# -- Backend.flush_cache ------------------------------------------------------------------------------

class HostBackend(Backend):
    """A backend on a chosen torch device with a chosen last-level cache; logs activate()."""

    name = "host"

    def __init__(self, llc_bytes: int | None, device: str = "cpu"):
        super().__init__(0)
        self.llc_bytes, self.device, self.log = llc_bytes, torch.device(device), []

    @classmethod
    def device_count(cls) -> int:
        return 1

    @property
    def torch_device(self) -> torch.device:
        self.log.append("torch_device")
        return self.device

    def info(self) -> DeviceInfo:
        return DeviceInfo(backend="host", torch_device=str(self.device), vendor="test", name="host",
                          last_level_cache_bytes=self.llc_bytes)

    def activate(self) -> None:
        self.log.append("activate")

    def synchronize(self) -> None:
        pass

    def clock(self) -> PerfCounterClock:
        return PerfCounterClock()


def flush_buffer(flush: Any) -> torch.Tensor:
    return inspect.getclosurevars(flush).nonlocals["buffer"]


def test_flush_writes_a_buffer_twice_the_last_level_cache_on_the_selected_device():
    backend = HostBackend(llc_bytes=3 * MIB)
    flush = backend.flush_cache()
    buffer = flush_buffer(flush)
    assert backend.log == ["activate", "torch_device"]  # the unit is current before the buffer is made on it
    assert buffer.device == torch.device("cpu") and buffer.dtype == torch.float32
    assert buffer.numel() * buffer.element_size() == 6 * MIB
    buffer.zero_()
    flush()
    assert bool((buffer == 1.0).all())  # every byte of it written, each time
    buffer.zero_()
    flush()
    assert bool((buffer == 1.0).all())


def test_flush_without_a_known_cache_assumes_64_mib():
    buffer = flush_buffer(HostBackend(llc_bytes=None, device="meta").flush_cache())  # meta: sized, not allocated
    assert buffer.device.type == "meta" and buffer.numel() * buffer.element_size() == 128 * MIB


def test_flush_reads_the_cache_size_once():
    backend = HostBackend(llc_bytes=MIB)
    backend.flush_cache()
    backend.llc_bytes = 512 * MIB
    assert flush_buffer(backend.flush_cache()).numel() * 4 == 2 * MIB  # cached_info, not a fresh vendor query


def test_cpu_flush_exceeds_this_hosts_last_level_cache():
    backend = CpuBackend()
    llc = backend.cached_info().last_level_cache_bytes or 64 * MIB
    buffer = flush_buffer(backend.flush_cache())
    assert buffer.numel() * buffer.element_size() == 2 * llc and buffer.device == torch.device("cpu")


# -- TorchAcceleratorBackend.info() -------------------------------------------------------------------

H100_PROPS = SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=85_045_231_616, multi_processor_count=132,
                             major=9, minor=0, clock_rate=1_980_000, L2_cache_size=50 * MIB,
                             uuid="0b42632a-bc5c-f731-724b-6936a19c4b24", pci_bus_id=0x41, pci_device_id=0,
                             pci_domain_id=0)


class PropsModule(FakeDeviceModule):
    """A device module whose every unit reports `props`."""

    def __init__(self, props: Any, count: int = 4):
        super().__init__(count)
        self.props = props

    def get_device_properties(self, index: int) -> Any:
        self.log.append(("get_device_properties", index))
        return self.props


def on_module(base: type[TorchAcceleratorBackend], module: Any) -> type[TorchAcceleratorBackend]:
    """`base` with its torch module replaced by `module` (a subclass: nothing global is patched)."""

    class Backend_(base):  # type: ignore[valid-type,misc]
        @classmethod
        def module(cls) -> Any:
            return module

    return Backend_


class GenericGpu(TorchAcceleratorBackend):
    name = "generic"
    vendor = "Generic"
    module_name = "cuda"  # a torch.device descriptor only
    compute_unit_kind = "SM"


def test_generic_accelerator_info_is_exactly_what_its_properties_say():
    module = PropsModule(H100_PROPS)
    info = on_module(GenericGpu, module)(2).info()
    assert info == DeviceInfo(
        backend="generic", torch_device="cuda:2", vendor="Generic", name="NVIDIA H100 80GB HBM3", index=2,
        memory_bytes=85_045_231_616, compute_units=132, compute_unit_kind="SM", architecture=None, capability=None,
        max_clock_mhz=1980.0, l2_cache_bytes=50 * MIB, last_level_cache_bytes=50 * MIB, driver_version=None,
        runtime_version=None,
        extra={"uuid": "0b42632a-bc5c-f731-724b-6936a19c4b24", "pci_bus_id": "00000000:41:00.0"})
    assert ("get_device_properties", 2) in module.log


def test_accelerator_info_leaves_what_the_module_does_not_report_unknown():
    bare = SimpleNamespace(name="bare", max_compute_units=448, L2_cache_size=0)  # xpu-style: EUs, no L2 size
    info = on_module(GenericGpu, PropsModule(bare))(0).info()
    assert info.compute_units == 448
    assert info.memory_bytes is None and info.max_clock_mhz is None
    assert info.l2_cache_bytes is None and info.last_level_cache_bytes is None  # 0 means "not reported"
    assert info.extra == {}


def test_cuda_info_takes_sm_arch_from_capability_and_clock_and_driver_from_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(max_clock=1755, driver="570.86.15"))
    info = on_module(CudaBackend, PropsModule(H100_PROPS))(1).info()
    assert (info.backend, info.vendor, info.torch_device, info.index) == ("cuda", "NVIDIA", "cuda:1", 1)
    assert (info.architecture, info.capability) == ("sm_90", "9.0")
    assert info.max_clock_mhz == 1755.0  # NVML's max SM clock wins over props.clock_rate
    assert info.driver_version == "570.86.15"
    assert info.runtime_version == f"CUDA {torch.version.cuda}"


def test_rocm_info_counts_the_infinity_cache_as_the_last_level():
    mi300 = SimpleNamespace(name="AMD Instinct MI300X", total_memory=192 * 2**30, multi_processor_count=304,
                            gcnArchName="gfx942:sramecc+:xnack-", L2_cache_size=4 * MIB)
    info = on_module(RocmBackend, PropsModule(mi300))(0).info()
    assert (info.architecture, info.capability, info.compute_unit_kind) == ("gfx942", "gfx942", "CU")
    assert info.l2_cache_bytes == 4 * MIB and info.last_level_cache_bytes == 256 * MIB
    mi250 = SimpleNamespace(name="AMD Instinct MI250X", gcnArchName="gfx90a:sramecc+:xnack-", L2_cache_size=8 * MIB)
    assert on_module(RocmBackend, PropsModule(mi250))(0).info().last_level_cache_bytes == 8 * MIB


# -- CudaBackend.unsupported_reason ------------------------------------------------------------------

def cuda_with_capability(major: int, minor: int) -> CudaBackend:
    return on_module(CudaBackend, PropsModule(SimpleNamespace(major=major, minor=minor)))(0)


@pytest.mark.parametrize("dtype,needed", [("tf32", "8.0"), ("bf16", "8.0"), ("fp8_e4m3", "8.9"), ("int8", "7.5")])
def test_cuda_names_the_capability_a_tensor_core_format_needs(dtype, needed):
    assert cuda_with_capability(7, 0).unsupported_reason(dtype) == \
        f"{dtype} matmul needs compute capability {needed}, device has 7.0"


def test_cuda_capability_thresholds_are_inclusive():
    assert cuda_with_capability(8, 9).unsupported_reason("fp8_e4m3") is None
    assert cuda_with_capability(8, 6).unsupported_reason("fp8_e4m3") == \
        "fp8_e4m3 matmul needs compute capability 8.9, device has 8.6"
    assert cuda_with_capability(8, 0).unsupported_reason("bf16") is None
    assert cuda_with_capability(7, 5).unsupported_reason("int8") is None
    assert cuda_with_capability(9, 0).unsupported_reason("fp8_e4m3") is None


def test_cuda_formats_without_a_tensor_core_floor_always_run():
    old = cuda_with_capability(6, 0)
    assert old.unsupported_reason("fp32") is None and old.unsupported_reason("fp64") is None
    assert old.unsupported_reason("fp16") is None


def test_cuda_reads_the_capability_of_its_own_unit():
    module = PropsModule(SimpleNamespace(major=9, minor=0))
    on_module(CudaBackend, module)(3).unsupported_reason("fp8_e4m3")
    assert module.log == [("get_device_properties", 3)]


# -- RocmBackend: dtype rules and the FP8 variant -------------------------------------------------------

def rocm_on(arch: str) -> RocmBackend:
    return on_module(RocmBackend, PropsModule(SimpleNamespace(gcnArchName=arch)))(0)


def test_rocm_fp8_is_fnuz_on_mi300_and_ocp_after_it():
    assert rocm_on("gfx942:sramecc+:xnack-").fp8_dtype() == torch.float8_e4m3fnuz
    assert rocm_on("gfx950").fp8_dtype() == torch.float8_e4m3fn
    assert rocm_on("gfx1201").fp8_dtype() == torch.float8_e4m3fn


@pytest.mark.parametrize("arch", ["gfx942:sramecc+:xnack-", "gfx950", "gfx1200", "gfx1201"])
def test_rocm_fp8_runs_on_cdna3_cdna4_and_rdna4(arch):
    assert rocm_on(arch).unsupported_reason("fp8_e4m3") is None


def test_rocm_fp8_is_skipped_on_older_parts_with_the_arch_named():
    assert rocm_on("gfx90a:sramecc+:xnack-").unsupported_reason("fp8_e4m3") == "gfx90a has no FP8 matrix instructions"
    assert rocm_on("gfx1100").unsupported_reason("fp8_e4m3") == "gfx1100 has no FP8 matrix instructions"


def test_rocm_tf32_only_on_mi300_and_only_when_hipblaslt_is_allowed(monkeypatch):
    monkeypatch.delenv("HIPBLASLT_ALLOW_TF32", raising=False)
    assert rocm_on("gfx942").unsupported_reason("tf32") is None
    assert rocm_on("gfx950").unsupported_reason("tf32") == \
        "gfx950: TF32 matrix math is available only on gfx942 (MI300 series)"
    monkeypatch.setenv("HIPBLASLT_ALLOW_TF32", "0")
    assert rocm_on("gfx942").unsupported_reason("tf32") == \
        "HIPBLASLT_ALLOW_TF32=0: hipBLASLt would run FP32 math, not TF32"


def test_rocm_other_formats_are_not_refused():
    for dtype in ("fp64", "fp32", "bf16", "fp16", "int8"):
        assert rocm_on("gfx90a").unsupported_reason(dtype) is None


# -- Ascend, Intel and Apple: what their properties and dtype rules give -----------------------------------

def test_npu_info_counts_cube_cores_and_keeps_l2_as_the_last_level():
    ascend = SimpleNamespace(name="Ascend910B3", total_memory=64 * 2**30, cube_core_num=20, L2_cache_size=192 * MIB)
    module = PropsModule(ascend)
    module.get_device_name = lambda index: "Ascend910B3"
    backend = on_module(NpuBackend, module)(0)  # the hooks only: info() imports torch_npu for its version
    assert backend._compute_units(ascend) == 20 and backend._last_level_cache(ascend) == 192 * MIB
    assert backend.unsupported_reason("fp64") == "Ascend cube units have no FP64 matrix path"
    assert backend.unsupported_reason("tf32") == "Ascend has no TF32 format (its HF32 is not TF32)"
    assert backend.unsupported_reason("fp8_e4m3").startswith("Ascend910B3 has no FP8 cube path")


def test_xpu_info_names_the_platform_and_counts_xe_cores():
    max1550 = SimpleNamespace(name="Intel(R) Data Center GPU Max 1550", total_memory=64 * 2**30,
                              platform_name="Intel(R) Level-Zero", gpu_subslice_count=448, max_compute_units=7168)
    info = on_module(XpuBackend, PropsModule(max1550))(1).info()
    assert (info.backend, info.vendor, info.torch_device) == ("xpu", "Intel", "xpu:1")
    assert (info.architecture, info.compute_units, info.compute_unit_kind) == ("Intel(R) Level-Zero", 448, "Xe core")
    assert XpuBackend(0).unsupported_reason("fp8_e4m3") == "torch._scaled_mm is not implemented for XPU in this harness"
    assert XpuBackend(0).unsupported_reason("bf16") is None


def test_mps_refuses_the_formats_metal_lacks():
    mps = MpsBackend(0)
    assert mps.unsupported_reason("fp64") == "MPS has no float64"
    assert [mps.unsupported_reason(d) for d in ("tf32", "fp8_e4m3", "int8")] == \
        ["MPS has no tf32 matmul", "MPS has no fp8_e4m3 matmul", "MPS has no int8 matmul"]
    assert mps.unsupported_reason("fp32") is None and mps.unsupported_reason("fp16") is None


# -- distributed.Control.gather failure paths ----------------------------------------------------------

class FakeDist:
    """torch.distributed as Control uses it, for one rank; `barrier_error` / `gather_error` make
    those calls raise the RuntimeError gloo raises (its text as torch words it)."""

    def __init__(self, rank: int, world_size: int, arrived: list[Any] | None = None,
                 barrier_error: str | None = None, gather_error: str | None = None):
        self.rank, self.world_size, self.arrived = rank, world_size, arrived
        self.barrier_error, self.gather_error = barrier_error, gather_error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_rank(self) -> int:
        return self.rank

    def get_world_size(self) -> int:
        return self.world_size

    def monitored_barrier(self, **kwargs: Any) -> None:
        self.calls.append(("monitored_barrier", kwargs))
        if self.barrier_error:
            raise RuntimeError(self.barrier_error)

    def gather_object(self, obj: Any, object_gather_list: list[Any] | None = None, **kwargs: Any) -> None:
        self.calls.append(("gather_object", {"obj": obj, "into": object_gather_list, **kwargs}))
        if self.gather_error:
            raise RuntimeError(self.gather_error)
        if object_gather_list is not None:
            object_gather_list[:] = [obj, *(self.arrived or [])]


def control_over(dist: FakeDist, timeout_s: float = 30.0) -> Control:
    """A Control bound to `dist` and a stand-in group (its __init__ would make a real gloo group)."""
    control = Control.__new__(Control)
    control.dist, control.timeout, control.group = dist, dt.timedelta(seconds=timeout_s), "control-group"
    return control


MISSING_RANK = ("[Rank 0]: Ranks 2 failed to pass monitoredBarrier in 30000 ms\n"
                "Original exception: [../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer")


def test_gather_collects_every_rank_on_rank_0_after_a_monitored_barrier():
    dist = FakeDist(0, 3, arrived=[{"rank": 1}, {"rank": 2}])
    records, problems = control_over(dist).gather({"rank": 0}, world_size=3)
    assert records == [{"rank": 0}, {"rank": 1}, {"rank": 2}] and problems == []
    barrier, gather = dist.calls
    assert barrier == ("monitored_barrier", {"group": "control-group", "timeout": dt.timedelta(seconds=30),
                                             "wait_all_ranks": True})  # names every absent rank, not the first
    assert gather[0] == "gather_object" and gather[1]["dst"] == 0 and gather[1]["group"] == "control-group"


def test_a_rank_that_never_arrives_is_named_and_not_waited_on():
    dist = FakeDist(0, 3, barrier_error=MISSING_RANK)
    records, problems = control_over(dist).gather({"rank": 0}, world_size=3)
    assert records == [{"rank": 0}, None, None]
    assert problems == ["barrier before gather failed: [Rank 0]: Ranks 2 failed to pass monitoredBarrier in 30000 ms"]
    assert [name for name, _ in dist.calls] == ["monitored_barrier"]  # no gather after a failed barrier


def test_a_failed_barrier_on_another_rank_returns_nothing_to_send():
    dist = FakeDist(2, 3, barrier_error="Connection closed by peer")
    assert control_over(dist).gather({"rank": 2}, world_size=3) == \
        ([], ["barrier before gather failed: Connection closed by peer"])


def test_a_failed_gather_keeps_rank_0s_own_record():
    dist = FakeDist(0, 2, gather_error="gloo: Timed out waiting 30000ms for recv operation to complete\nmore")
    records, problems = control_over(dist).gather({"rank": 0}, world_size=2)
    assert records == [{"rank": 0}, None]
    assert problems == ["gather failed: gloo: Timed out waiting 30000ms for recv operation to complete"]


def test_other_ranks_send_their_record_and_keep_none():
    dist = FakeDist(1, 2)
    assert control_over(dist).gather({"rank": 1}, world_size=2) == ([], [])
    _, gather = dist.calls
    assert gather[1]["obj"] == {"rank": 1} and gather[1]["into"] is None
