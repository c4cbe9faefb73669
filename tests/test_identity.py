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

from bench.devices import identity
from bench.devices.vendors import common, npu_smi

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


def test_nvml_identity_opens_and_closes_one_session():
    fake = FakeNvml()
    identity.nvml_identity({"backend": "cuda", "index": 0}, fake)
    assert fake.values["inits"] == 1 and fake.values["sessions_open"] == 0


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
    monkeypatch.setattr(common.importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
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


def recorded_npu_smi(chip_map="npu_smi_info_m_910b.txt", board="npu_smi_board_910b.txt", calls=None):
    def run(argv, timeout):
        if calls is not None:
            calls.append((argv, timeout))
        if argv[:3] == ["npu-smi", "info", "-m"]:
            return (DATA / chip_map).read_text()
        if argv == ["npu-smi", "info"]:
            return (DATA / "npu_smi_info_processes.txt").read_text()
        return (DATA / board).read_text()

    return run


def test_npu_identity_from_recorded_output():
    calls = []
    npu = identity.npu_identity({"backend": "npu", "index": 0}, recorded_npu_smi(calls=calls), environ={})
    assert calls[0][0] == ["npu-smi", "info", "-m"]
    assert calls[1][0] == ["npu-smi", "info", "-t", "board", "-i", "0", "-c", "0"] and calls[1][1] > 0
    f = npu["fields"]
    assert f["serial"] == "102416372AZXN8000123" and f["firmware_version"] == "7.3.0.1.231"
    assert f["die_id"].startswith("870408E3") and f["pci_device_id"] == "0xD802"
    assert "name" in npu["missing"]


def test_npu_identity_in_container_records_na_as_gaps():
    npu = identity.npu_identity({"index": 0}, recorded_npu_smi(board="npu_smi_board_container.txt"), environ={})
    assert "serial" in npu["missing"] and "firmware_version" in npu["missing"] and "compatibility" in npu["missing"]
    assert "NA" in npu["missing"]["serial"]


@pytest.mark.parametrize("error", [FileNotFoundError("npu-smi"), subprocess.TimeoutExpired("npu-smi", 10),
                                   subprocess.SubprocessError("npu-smi exited 255: permission denied")])
def test_npu_smi_failures_are_recorded(error):
    def run(argv, timeout):
        raise error

    npu = identity.npu_identity({"index": 0}, run, environ={})
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
    assert "no vendor library adapter is implemented for xpu" in source(result, "xpu")["reason"]


# -- npu-smi chip map (M9) ---------------------------------------------------------------------------
def test_chip_map_parses_logic_ids_and_mcu_rows():
    rows = npu_smi.parse_chip_map((DATA / "npu_smi_info_m_910c.txt").read_text())
    assert len(rows) == 12 and rows[1] == {"npu": 0, "chip": 1, "logic": 1, "name": "Ascend 910"}
    assert rows[2]["logic"] is None  # the MCU has no logic id


@pytest.mark.parametrize("chip_map,environ,index,expected", [
    ("npu_smi_info_m_910b.txt", {}, 3, (3, 0)),
    ("npu_smi_info_m_910c.txt", {}, 3, (1, 1)),  # two chips per card: logic 3 is card 1, chip 1
    ("npu_smi_info_m_910c.txt", {"ASCEND_RT_VISIBLE_DEVICES": "4,5"}, 1, (2, 1)),  # torch 1 = logic 5
    ("npu_smi_info_m_910b.txt", {"ASCEND_RT_VISIBLE_DEVICES": "6"}, 0, (6, 0)),
])
def test_npu_identity_queries_the_card_and_chip_of_the_torch_device(chip_map, environ, index, expected):
    calls = []
    npu = identity.npu_identity({"backend": "npu", "index": index}, recorded_npu_smi(chip_map, calls=calls), environ=environ)
    board = calls[-1][0]
    assert board == ["npu-smi", "info", "-t", "board", "-i", str(expected[0]), "-c", str(expected[1])]
    assert npu["fields"]["matched_by"].startswith("logic id")
    assert ("ASCEND_RT_VISIBLE_DEVICES" in npu["fields"]["matched_by"]) == bool(environ)


def test_npu_without_chip_map_falls_back_to_the_index_and_says_so():
    def run(argv, timeout):
        if "-m" in argv:
            raise subprocess.SubprocessError("npu-smi exited 1: unknown option")
        return (DATA / "npu_smi_board_910b.txt").read_text()

    npu = identity.npu_identity({"index": 2}, run, environ={})
    assert "no chip map" in npu["fields"]["matched_by"] and npu["fields"]["board_query"].endswith("-i 2 -c 0")


def test_npu_process_table_is_read_per_chip():
    procs = npu_smi.parse_processes((DATA / "npu_smi_info_processes.txt").read_text())
    assert procs == [{"npu": 1, "chip": 0, "pid": 2187345, "name": "python3.10", "memory_bytes": 58431 * 2**20}]
    tool = npu_smi.NpuSmi(recorded_npu_smi(), environ={})
    assert tool.processes({"index": 1})["others"][0]["pid"] == 2187345
    assert tool.processes({"index": 0})["others"] == []


# -- amdsmi versions (m1) and the PyPI wheel (X3) ----------------------------------------------------
@pytest.mark.parametrize("version", ["6.0", "6.2", "7.0", "7.0-mi300"])
def test_amdsmi_compute_units_key_drift(version):
    amd = identity.amdsmi_identity({"index": 0}, FakeAmdsmi(version=version))
    assert amd["fields"]["compute_units"] == 304
    assert amd["fields"]["amdsmi_python_version"] == "7.0.2" and amd["fields"]["amdsmi_library_version"]


def test_a_vendor_module_that_prints_and_raises_keyerror_is_a_quiet_gap(tmp_path, monkeypatch, capsys):
    # the PyPI amdsmi wheel on a host without libamd_smi.so prints to stdout, then raises KeyError
    (tmp_path / "noisy_vendor_lib.py").write_text("print('Unable to find libamd_smi.so')\nraise KeyError('libamd_smi.so')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module, reason = common.load_module("noisy_vendor_lib")
    assert module is None and "KeyError" in reason
    assert capsys.readouterr().out == ""
