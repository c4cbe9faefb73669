"""Unit identity: the real CPU path on this machine, NVML / amdsmi against fakes, npu-smi on recorded text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fake_vendor import (
    FakeAmdsmi,
    FakeNvml,
    NVMLError_LibraryNotFound,
    NVMLError_NoPermission,
    NVMLError_NotSupported,
)

from bench import identity

DATA = Path(__file__).parent / "data"


def source(result, name):
    return next(s for s in result["sources"] if s["source"] == name)


# -- CPU, for real ---------------------------------------------------------------------------------
def test_cpu_identity_on_this_machine_has_no_blank_fields():
    result = identity.collect_identity({"backend": "cpu", "index": None})
    cpu = source(result, "cpu")
    assert cpu["available"]
    assert cpu["fields"]["logical_cpus"] >= 1 and cpu["fields"]["os_logical_cpus"] >= 1
    assert cpu["fields"]["model"]
    for field, value in cpu["fields"].items():
        assert value not in (None, "", []), field
    for field, reason in cpu["missing"].items():
        assert reason, field
    json.dumps(result)  # goes into run.json as is


def test_parse_cpuinfo_arm_layout_has_no_microcode_and_uses_features():
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve\nCPU implementer\t: 0x41\nCPU part\t: 0xd40\n\n" \
          "processor\t: 1\nFeatures\t: fp asimd sve\nCPU implementer\t: 0x41\nCPU part\t: 0xd40\n"
    parsed = identity.parse_cpuinfo(arm)
    assert parsed["logical_cpus"] == 2 and parsed["flags"] == ["asimd", "fp", "sve"]
    assert parsed["model"] == "0x41 0xd40" and parsed["microcode"] is None


def test_unreadable_cpuinfo_is_a_recorded_gap(tmp_path):
    cpu = identity.cpu_identity(str(tmp_path / "absent"))
    assert "unreadable" in cpu["reason"] and cpu["fields"]["os_logical_cpus"] >= 1
    assert "microcode" in cpu["missing"]


# -- NVML ------------------------------------------------------------------------------------------
def test_nvml_identity_reads_every_field_and_decodes_bytes():
    result = identity.collect_identity({"backend": "cuda", "index": 0}, nvml=FakeNvml())
    nvml = source(result, "nvml")
    f = nvml["fields"]
    assert nvml["available"] and f["serial"] == "1652023012345"  # bytes decoded
    assert f["uuid"].startswith("GPU-") and f["vbios_version"] == "96.00.74.00.01"
    assert (f["pci_vendor_id"], f["pci_device_id"], f["pci_subsystem_id"]) == ("0x10de", "0x2330", "0x16c110de")
    assert f["pci_bus_id"] == "00000000:18:00.0" and f["matched_by"] == "index"
    assert nvml["missing"] == {}


def test_nvml_missing_function_and_permission_error_are_reasons_not_crashes():
    fake = FakeNvml(missing={"nvmlDeviceGetInforomImageVersion"},
                    fail={"nvmlDeviceGetSerial": NVMLError_NoPermission(), "nvmlDeviceGetBoardPartNumber": NVMLError_NotSupported()})
    nvml = identity.nvml_identity({"backend": "cuda", "index": 0}, fake)
    assert nvml["available"]
    assert "not provided" in nvml["missing"]["inforom_image_version"]
    assert "Insufficient Permissions" in nvml["missing"]["serial"]
    assert "NotSupported" in nvml["missing"]["board_part_number"]
    assert nvml["fields"]["uuid"]


def test_nvml_init_failure_makes_source_unavailable():
    nvml = identity.nvml_identity({"index": 0}, FakeNvml(fail={"nvmlInit": NVMLError_LibraryNotFound()}))
    assert not nvml["available"] and "Library Not Found" in nvml["reason"]


def test_nvml_matches_by_uuid_when_backend_recorded_it():
    fake = FakeNvml()
    nvml = identity.nvml_identity({"index": 3, "extra": {"uuid": "3c1a9f52-7e7b"}}, fake)
    assert nvml["fields"]["matched_by"] == "uuid"
    assert "nvmlDeviceGetHandleByIndex" not in fake.calls


def test_missing_pynvml_is_recorded(monkeypatch):
    monkeypatch.setattr(identity.importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
    result = identity.collect_identity({"backend": "cuda", "index": 0})
    assert source(result, "nvml")["available"] is False
    assert any(g["source"] == "nvml" and "nvidia-ml-py" in g["reason"] for g in result["gaps"])


# -- amdsmi ----------------------------------------------------------------------------------------
def test_amdsmi_identity_fields_and_na_placeholder():
    amd = identity.amdsmi_identity({"backend": "rocm", "index": 1}, FakeAmdsmi())
    f = amd["fields"]
    assert amd["available"] and f["pci_bus_id"] == "0000:22:00.0" and f["matched_by"] == "index"
    assert f["product_serial"] == "692327001234" and f["asic_serial"] == "0x2F4B7C1D3E5A6B70"
    assert f["pci_device_id"] == "0x74a1" and f["vbios_version"].startswith("022.")
    assert amd["missing"]["fru_id"] == "placeholder value"  # "N/A" is a gap, not a value


def test_amdsmi_matches_by_bus_id_and_survives_missing_functions():
    fake = FakeAmdsmi(missing={"amdsmi_get_gpu_vbios_info"})
    amd = identity.amdsmi_identity({"index": 0, "extra": {"pci_bus_id": "0000:22:00.0"}}, fake)
    assert amd["fields"]["matched_by"] == "pci_bus_id" and amd["fields"]["uuid"] == "uuid-h1"
    assert "not provided" in amd["missing"]["vbios_version"]


def test_amdsmi_index_out_of_range_is_unavailable():
    amd = identity.amdsmi_identity({"index": 5}, FakeAmdsmi())
    assert not amd["available"] and "index 5" in amd["reason"]


# -- npu-smi ---------------------------------------------------------------------------------------
def test_parse_recorded_npu_smi_board_output():
    parsed = identity.parse_npu_smi_board((DATA / "npu_smi_board_910b.txt").read_text())
    assert parsed["Serial Number"] == "102416372AZXN8000123"
    assert parsed["DDie ID"].startswith("870408E3") and parsed["NPU Name"] is None  # NA


def test_npu_identity_from_recorded_output():
    calls = []

    def run(argv, timeout):
        calls.append((argv, timeout))
        return (DATA / "npu_smi_board_910b.txt").read_text()

    npu = identity.npu_identity({"backend": "npu", "index": 0}, run)
    assert calls[0][0] == ["npu-smi", "info", "-t", "board", "-i", "0"] and calls[0][1] > 0
    f = npu["fields"]
    assert f["serial"] == "102416372AZXN8000123" and f["firmware_version"] == "7.3.0.1.231"
    assert f["die_id"].startswith("870408E3") and f["pci_device_id"] == "0xD802"
    assert "name" in npu["missing"]


def test_npu_identity_in_container_records_na_as_gaps():
    npu = identity.npu_identity({"index": 0}, lambda argv, t: (DATA / "npu_smi_board_container.txt").read_text())
    assert "serial" in npu["missing"] and "firmware_version" in npu["missing"] and "compatibility" in npu["missing"]
    assert "NA" in npu["missing"]["serial"]


@pytest.mark.parametrize("error", [FileNotFoundError("npu-smi"), subprocess.TimeoutExpired("npu-smi", 10),
                                   subprocess.SubprocessError("npu-smi exited 255: permission denied")])
def test_npu_smi_failures_are_recorded(error):
    def run(argv, timeout):
        raise error

    npu = identity.npu_identity({"index": 0}, run)
    assert not npu["available"] and type(error).__name__ in npu["reason"]


def test_missing_npu_smi_tool_is_a_gap_on_this_machine():
    result = identity.collect_identity({"backend": "npu", "index": 0})
    assert source(result, "npu-smi")["available"] is False


def test_real_run_command_times_out_and_reports_exit_status():
    with pytest.raises(subprocess.SubprocessError):
        identity.run_command(["python", "-c", "import sys; sys.exit(3)"], 10)
    assert identity.run_command(["python", "-c", "print('ok')"], 10).strip() == "ok"


def test_xpu_and_mps_say_what_is_not_implemented():
    result = identity.collect_identity({"backend": "xpu", "index": 0})
    assert "no unit-identity source implemented" in source(result, "xpu")["reason"]
