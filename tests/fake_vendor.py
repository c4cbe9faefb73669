"""Stand-ins for pynvml (nvidia-ml-py) and amdsmi, shaped after their documented Python APIs.

Each fake can drop functions (an older library version) and make functions raise the vendor's
error classes (not supported, no permission), so adapters are exercised on the paths real
hardware takes on first contact. Values are plausible H100 / MI300X numbers, not recordings."""

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
    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVML_CLOCK_GRAPHICS, NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1, 2
    NVML_TEMPERATURE_GPU = 0

    def v(self, key: str, default: Any) -> Any:
        value = self.values.get(key, default)
        return value() if callable(value) else value

    def nvmlInit(self): self.v("initialized", True)
    def nvmlShutdown(self): pass
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


class AmdSmiLibraryException(Exception):
    pass


class FakeAmdsmi(_Fake):
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

    def amdsmi_get_gpu_asic_info(self, h):
        return {"market_name": "AMD Instinct MI300X", "vendor_id": 0x1002, "device_id": 0x74A1,
                "subvendor_id": 0x1002, "subsystem_id": 0x74A1, "rev_id": 0, "asic_serial": "0x2F4B7C1D3E5A6B70",
                "num_of_compute_units": 304}

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
    def amdsmi_get_clock_info(self, h, kind): return {"clk": self.v("clock", 2100), "min_clk": 500, "max_clk": 2100}
    def amdsmi_get_power_info(self, h): return {"current_socket_power": self.v("power_w", 720), "average_socket_power": "N/A"}
    def amdsmi_get_temp_metric(self, h, kind, metric): return self.v("temperature", 70)
    def amdsmi_get_gpu_activity(self, h): return {"gfx_activity": 100, "umc_activity": 30, "mm_activity": "N/A"}
    def amdsmi_get_gpu_metrics_info(self, h): return {"throttle_status": self.v("throttle_status", 0)}
