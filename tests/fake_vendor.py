"""Stand-ins for pynvml (nvidia-ml-py), amdsmi and torch device modules, written from their
documentation, not from recorded responses.

Each fake can drop functions (an older library version) and make functions raise the vendor's
error classes (not supported, no permission), so adapters are exercised on the paths real
hardware takes on first contact. Values are plausible H100 / MI300X numbers.

Limitation: no fake here was checked against a real library on real hardware. The adapters are
tested only for agreement with fakes written alongside them, so assumed key names and shapes
(amdsmi's `current_socket_power`, `clk`, `throttle_status`; pynvml's list-shaped `ecc` and `mig`
returns) are assumptions no test here can falsify. Replace them with recorded responses on first
hardware contact (the npu-smi texts in tests/data are reconstructed too: tests/data/README.md)."""

from __future__ import annotations

import types
from typing import Any


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801 (pynvml's own class names)
    def __str__(self) -> str:
        return "Not Supported"


class NVMLError_NoPermission(NVMLError):  # noqa: N801
    def __str__(self) -> str:
        return "Insufficient Permissions"


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


class _Fake:
    """Functions named in `missing` do not exist; those in `fail` raise the given error."""

    def __init__(self, missing: set[str] = frozenset(), fail: dict[str, Exception] | None = None, **values: Any):
        self._missing = set(missing)
        self._fail = dict(fail or {})
        self.values = dict(values)
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and name in object.__getattribute__(self, "_missing"):
            raise AttributeError(name)
        attr = object.__getattribute__(self, name)
        fail = object.__getattribute__(self, "_fail")
        if callable(attr) and not name.startswith("_") and name not in ("values", "calls"):
            object.__getattribute__(self, "calls").append(name)
            if name in fail:
                error = fail[name]

                def raising(*args: Any, **kwargs: Any) -> Any:
                    raise error

                return raising
        return attr


class FakeNvml(_Fake):
    __version__ = "13.615.71"
    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVML_CLOCK_GRAPHICS, NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1, 2
    NVML_TEMPERATURE_GPU = 0

    def v(self, key: str, default: Any) -> Any:
        value = self.values.get(key, default)
        return value() if callable(value) else value

    def nvmlInit(self):
        self.values["sessions_open"] = self.values.get("sessions_open", 0) + 1
        self.values["inits"] = self.values.get("inits", 0) + 1

    def nvmlShutdown(self):
        self.values["sessions_open"] = self.values.get("sessions_open", 0) - 1
    def nvmlDeviceGetHandleByIndex(self, index): return ("handle", index)
    def nvmlDeviceGetHandleByUUID(self, uuid): return ("handle", uuid)
    def nvmlDeviceGetHandleByPciBusId(self, bus_id): return ("handle", bus_id)
    def nvmlDeviceGetName(self, h): return self.v("name", "NVIDIA H100 80GB HBM3")
    def nvmlDeviceGetSerial(self, h): return self.v("serial", b"1652023012345")  # bytes: older pynvml
    def nvmlDeviceGetUUID(self, h): return self.v("uuid", "GPU-3c1a9f52-7e7b-2d8e-4a8b-0f5e6d7c8b9a")
    def nvmlDeviceGetBoardPartNumber(self, h): return self.v("part", "692-2G520-0200-000")
    def nvmlDeviceGetVbiosVersion(self, h): return self.v("vbios", "96.00.74.00.01")
    def nvmlDeviceGetInforomImageVersion(self, h): return self.v("inforom", "G520.0200.00.05")
    def nvmlDeviceGetInforomVersion(self, h, which): return self.v("inforom_oem", "2.1")
    def nvmlSystemGetDriverVersion(self): return self.v("driver", "550.54.15")
    def nvmlSystemGetCudaDriverVersion(self): return self.v("cuda_driver", 12040)

    def nvmlDeviceGetPciInfo(self, h):
        return types.SimpleNamespace(busId=b"00000000:18:00.0", pciDeviceId=0x233010DE, pciSubSystemId=0x16C110DE)

    # configuration
    def nvmlDeviceGetEccMode(self, h): return self.v("ecc", [1, 1])
    def nvmlDeviceGetMigMode(self, h): return self.v("mig", [0, 0])
    def nvmlDeviceGetPersistenceMode(self, h): return self.v("persistence", 1)
    def nvmlDeviceGetComputeMode(self, h): return self.v("compute_mode", 0)
    def nvmlDeviceGetPowerManagementLimit(self, h): return self.v("power_limit_mw", 700_000)
    def nvmlDeviceGetPowerManagementDefaultLimit(self, h): return self.v("default_power_limit_mw", 700_000)
    def nvmlDeviceGetEnforcedPowerLimit(self, h): return self.v("enforced_power_limit_mw", 700_000)
    def nvmlDeviceGetApplicationsClock(self, h, kind): return self.v("app_clock", 1980 if kind != 2 else 2619)
    def nvmlDeviceGetDefaultApplicationsClock(self, h, kind): return self.v("default_app_clock", 1980 if kind != 2 else 2619)
    def nvmlDeviceGetMaxClockInfo(self, h, kind): return self.v("max_clock", 1980 if kind != 2 else 2619)
    def nvmlDeviceGetAutoBoostedClocksEnabled(self, h): raise NVMLError_NotSupported()
    def nvmlDeviceGetCurrPcieLinkWidth(self, h): return self.v("pcie_width", 16)
    def nvmlDeviceGetMaxPcieLinkWidth(self, h): return self.v("pcie_max_width", 16)
    def nvmlDeviceGetCurrPcieLinkGeneration(self, h): return self.v("pcie_gen", 5)
    def nvmlDeviceGetMaxPcieLinkGeneration(self, h): return self.v("pcie_max_gen", 5)

    # telemetry
    def nvmlDeviceGetClockInfo(self, h, kind): return self.v("clock", 1980)
    def nvmlDeviceGetPowerUsage(self, h): return self.v("power_mw", 650_000)
    def nvmlDeviceGetTotalEnergyConsumption(self, h): return self.v("energy_mj", 1_000_000)
    def nvmlDeviceGetTemperature(self, h, sensor): return self.v("temperature", 60)
    def nvmlDeviceGetUtilizationRates(self, h): return types.SimpleNamespace(gpu=self.v("util", 100), memory=40)
    def nvmlDeviceGetCurrentClocksEventReasons(self, h): return self.v("reasons", 0)

    # processes: objects with pid and usedGpuMemory, as nvidia-ml-py returns them
    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in self.v("processes", [])]

    def nvmlSystemGetProcessName(self, pid): return self.v("process_names", {}).get(pid, "python")


class AmdSmiLibraryException(Exception):
    pass


# Payload differences across amdsmi releases (py-interface/amdsmi_interface.py of each ROCm tag and
# the 7.0.2 wheel): key names, and whether flags are ints or bools; MI300 (gfx942) gpu_metrics carry
# residency accumulators and report throttle_status as "N/A".
AMDSMI_VERSIONS = {
    "6.0": {"cu_key": "num_of_compute_units", "clock_key": "cur_clk", "metrics": lambda busy: {"throttle_status": 1 if busy else 0}},
    "6.2": {"cu_key": "num_of_compute_units", "clock_key": "clk", "metrics": lambda busy: {"throttle_status": 1 if busy else 0}},
    "7.0": {"cu_key": "num_compute_units", "clock_key": "clk", "metrics": lambda busy: {"throttle_status": bool(busy)}},
    "7.0-mi300": {"cu_key": "num_compute_units", "clock_key": "clk",
                  "metrics": lambda busy: {"throttle_status": "N/A", "indep_throttle_status": "N/A"}},
}


class FakeAmdsmi(_Fake):
    __version__ = "7.0.2"
    AmdSmiLibraryException = AmdSmiLibraryException
    AmdSmiClkType = types.SimpleNamespace(GFX="GFX", MEM="MEM")
    AmdSmiTemperatureType = types.SimpleNamespace(EDGE="EDGE", HOTSPOT="HOTSPOT")
    AmdSmiTemperatureMetric = types.SimpleNamespace(CURRENT="CURRENT")

    def v(self, key: str, default: Any) -> Any:
        value = self.values.get(key, default)
        return value() if callable(value) else value

    def amdsmi_init(self, *flags): pass
    def amdsmi_shut_down(self): pass
    def amdsmi_get_processor_handles(self): return self.v("handles", ["h0", "h1"])
    def amdsmi_get_gpu_device_uuid(self, h): return f"uuid-{h}"
    def amdsmi_get_gpu_device_bdf(self, h): return {"h0": "0000:0c:00.0", "h1": "0000:22:00.0"}[h]

    def _version(self) -> dict:
        return AMDSMI_VERSIONS[self.values.get("version", "6.2")]

    def amdsmi_get_gpu_asic_info(self, h):
        return {"market_name": "AMD Instinct MI300X", "vendor_id": 0x1002, "device_id": 0x74A1,
                "subvendor_id": 0x1002, "subsystem_id": 0x74A1, "rev_id": 0, "asic_serial": "0x2F4B7C1D3E5A6B70",
                self._version()["cu_key"]: 304}

    def amdsmi_get_lib_version(self):
        major, _, minor = self.values.get("version", "6.2").partition(".")
        return {"major": int(major), "minor": int(minor[:1] or 0), "release": 0, "build": "fake"}

    def amdsmi_get_gpu_process_list(self, h):
        infos = [{"name": name, "pid": pid, "mem": mem, "engine_usage": {"gfx": 0, "enc": 0}}
                 for pid, name, mem in self.v("processes", [])]
        if self.values.get("version", "6.2").startswith("6."):  # 6.x: handles, details via get_gpu_process_info
            return [("process-handle", i) for i in range(len(infos))]
        return infos

    def amdsmi_get_gpu_process_info(self, h, process):
        pid, name, mem = self.v("processes", [])[process[1]]
        return {"name": name, "pid": pid, "mem": mem, "engine_usage": {"gfx": 0, "enc": 0}}

    def amdsmi_get_gpu_board_info(self, h):
        return {"model_number": "102-G30211-00", "product_serial": "692327001234", "fru_id": "N/A",
                "product_name": "AMD Instinct MI300X OAM", "manufacturer_name": "AMD"}

    def amdsmi_get_gpu_vbios_info(self, h):
        return {"name": "AMD MI300X_HW_SRIOV_CVS_1VF", "build_date": "2023/11/17 09:34",
                "part_number": "113-M3000100-102", "version": "022.040.003.042.000001"}

    def amdsmi_get_gpu_driver_info(self, h): return {"driver_name": "amdgpu", "driver_version": "6.7.0"}

    # configuration
    def amdsmi_get_power_cap_info(self, h):
        return {"power_cap": self.v("power_cap", 750_000_000), "default_power_cap": 750_000_000,
                "min_power_cap": 0, "max_power_cap": 750_000_000, "dpm_cap": 2100}

    def amdsmi_get_gpu_compute_partition(self, h): return self.v("compute_partition", "SPX")
    def amdsmi_get_gpu_memory_partition(self, h): return self.v("memory_partition", "NPS1")

    # telemetry
    def amdsmi_get_clock_info(self, h, kind):
        return {self._version()["clock_key"]: self.v("clock", 2100), "min_clk": 500, "max_clk": 2100,
                "clk_locked": self.v("clk_locked", False)}
    def amdsmi_get_power_info(self, h): return {"current_socket_power": self.v("power_w", 720), "average_socket_power": "N/A"}
    def amdsmi_get_temp_metric(self, h, kind, metric): return self.v("temperature", 70)
    def amdsmi_get_gpu_activity(self, h): return {"gfx_activity": 100, "umc_activity": 30, "mm_activity": "N/A"}
    def amdsmi_get_gpu_metrics_info(self, h):
        if "metrics" in self.values:
            return self.v("metrics", {})
        if "throttle_status" in self.values:
            return {"throttle_status": self.v("throttle_status", 0)}
        return self._version()["metrics"](self.values.get("busy", False))


# -- a torch.cuda-shaped device module that records where work went -----------------------------
class FakeStream:
    def __init__(self, device: Any):
        self.device = device


class FakeDeviceModule:
    """Stands in for torch.cuda / torch.npu / torch.xpu (only the device bookkeeping: real torch on
    the CPU does the arithmetic). Records the device of every set_device, event record, stream and
    synchronize, so tests can assert that work lands on the selected unit, index > 0 included."""

    def __init__(self, count: int = 4):
        self.count = count
        self.current = 0
        self.log: list[tuple[str, Any]] = []
        self.clock_ms = 0.0

    @staticmethod
    def _index(device: Any) -> int:
        return device if isinstance(device, int) else (device.index or 0)

    def is_available(self) -> bool: return self.count > 0
    def device_count(self) -> int: return self.count
    def current_device(self) -> int: return self.current

    def set_device(self, device: Any) -> None:
        self.current = self._index(device)
        self.log.append(("set_device", self.current))

    def device(self, device: Any) -> Any:
        module = self

        class _Context:
            def __enter__(self_inner):
                self_inner.saved = module.current
                module.current = module._index(device)

            def __exit__(self_inner, *exc):
                module.current = self_inner.saved

        return _Context()

    def current_stream(self, device: Any = None) -> FakeStream:
        return FakeStream(self.current if device is None else self._index(device))

    def synchronize(self, device: Any = None) -> None:
        self.log.append(("synchronize", self.current if device is None else self._index(device)))

    def Event(self, enable_timing: bool = False) -> Any:  # noqa: N802 (torch's name)
        module = self

        class _Event:
            created_on = module.current

            def record(self_inner, stream: FakeStream | None = None) -> None:
                where = module.current if stream is None else stream.device
                module.log.append(("record", where))
                module.clock_ms += 1.0
                self_inner.at = module.clock_ms

            def elapsed_time(self_inner, other: Any) -> float:
                return other.at - self_inner.at

            def synchronize(self_inner) -> None:
                pass

        return _Event()

    def empty_cache(self) -> None:
        self.log.append(("empty_cache", self.current))

    def mem_get_info(self, device: Any = None) -> tuple[int, int]:
        return 80 * 2**30, 96 * 2**30

    def get_device_properties(self, index: int) -> Any:
        return types.SimpleNamespace(name=f"Fake GPU {index}", total_memory=96 * 2**30, multi_processor_count=132,
                                     major=9, minor=0, L2_cache_size=50 * 2**20, uuid=f"fake-uuid-{index}")
