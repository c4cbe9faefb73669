"""Configuration audit: the real CPU audit here, fake /sys trees for governors, fake NVML and amdsmi."""

from __future__ import annotations

import json
import types

from fake_vendor import (
    FakeAmdsmi,
    FakeNvml,
    NVMLError_LibraryNotFound,
    NVMLError_NoPermission,
)

from bench.audit import audit, compare_audits, loaded_math_libraries, parse_torch_config

CODES = {"power_capped", "clocks_locked_low", "tf32_override", "mig_enabled", "partition_mode", "ecc_disabled",
         "pcie_degraded", "cpu_governor_not_performance", "threads_limited", "env_knob", "changed_during_run", "compute_mode"}


def codes(result):
    return {f["code"] for f in result["findings"]}


def assert_well_formed(result):
    json.dumps(result)
    for f in result["findings"]:
        assert f["severity"] in ("high", "medium", "low", "info") and f["code"] in CODES and f["message"]
        assert isinstance(f["lowers_results"], bool) and isinstance(f["raises_results"], bool)
    for entry in result["unavailable"]:
        assert entry["what"] and entry["reason"]
    for section in result["settings"].values():
        assert all(v is not None for v in section.values())


def test_cpu_audit_on_this_machine():
    result = audit({"backend": "cpu", "index": None}, environ={})
    assert_well_formed(result)
    threads = result["settings"]["threads"]
    assert threads["torch_num_threads"] >= 1 and threads["logical_cpus_usable"] >= 1
    assert result["settings"]["framework"]["blas"]  # BLAS info parsed from torch.__config__.show()
    governor_read = "cpu_governor" in result["settings"].get("host", {})
    governor_gap = any(u["what"] == "host.cpu_governor" for u in result["unavailable"])
    assert governor_read != governor_gap  # either read, or recorded as unavailable with a reason


def make_sys(tmp_path, governor="performance", cur=3000000, scaling_max=3500000, cpuinfo_max=3500000, boost=None):
    for cpu in ("cpu0", "cpu1"):
        d = tmp_path / "devices/system/cpu" / cpu / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_governor").write_text(governor + "\n")
        (d / "scaling_cur_freq").write_text(f"{cur}\n")
        (d / "scaling_max_freq").write_text(f"{scaling_max}\n")
        (d / "cpuinfo_max_freq").write_text(f"{cpuinfo_max}\n")
    if boost is not None:
        (tmp_path / "devices/system/cpu/cpufreq").mkdir(parents=True, exist_ok=True)
        (tmp_path / "devices/system/cpu/cpufreq/boost").write_text(boost)
    return str(tmp_path)


def test_performance_governor_gives_no_cpu_findings(tmp_path):
    result = audit({"backend": "cpu"}, environ={}, sys_root=make_sys(tmp_path))
    assert result["settings"]["host"]["cpu_governor"] == ["performance"]
    assert result["settings"]["host"]["scaling_cur_freq_mhz"] == {"min": 3000.0, "max": 3000.0}
    assert not codes(result) & {"cpu_governor_not_performance", "clocks_locked_low"}


def test_powersave_governor_and_capped_max_frequency_are_findings(tmp_path):
    result = audit({"backend": "cpu"}, environ={}, sys_root=make_sys(tmp_path, "powersave", scaling_max=2000000, boost="0"))
    assert {"cpu_governor_not_performance", "clocks_locked_low"} <= codes(result)
    assert all(f["lowers_results"] for f in result["findings"] if f["code"] == "clocks_locked_low")


def test_environment_knobs_become_findings():
    env = {"NVIDIA_TF32_OVERRIDE": "0", "CUDA_LAUNCH_BLOCKING": "1", "HIPBLASLT_LOG_LEVEL": "2",
           "PYTORCH_TUNABLEOP_ENABLED": "1", "HOME": "/root", "PATH": "/bin"}
    result = audit({"backend": "cuda"}, environ=env, nvml=FakeNvml())
    messages = " ".join(f["message"] for f in result["findings"])
    assert "CUDA_LAUNCH_BLOCKING=1" in messages and "HIPBLASLT_LOG_LEVEL=2" in messages
    assert "HOME" not in result["settings"]["env"] and result["settings"]["env"]["NVIDIA_TF32_OVERRIDE"] == "0"
    tf32 = [f for f in result["findings"] if f["code"] == "tf32_override"]
    assert tf32 and tf32[0]["lowers_results"]
    tunable = next(f for f in result["findings"] if "PYTORCH_TUNABLEOP_ENABLED" in f["message"])
    assert tunable["raises_results"]


def fake_torch(threads=1, allow_tf32=False, precision="highest"):
    return types.SimpleNamespace(
        __version__="2.x-fake", version=types.SimpleNamespace(cuda="12.4", hip=None),
        get_num_threads=lambda: threads, get_num_interop_threads=lambda: 1,
        get_float32_matmul_precision=lambda: precision, are_deterministic_algorithms_enabled=lambda: False,
        backends=types.SimpleNamespace(cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=allow_tf32)),
                                       cudnn=types.SimpleNamespace(allow_tf32=True, benchmark=False, version=lambda: 90100),
                                       mkldnn=types.SimpleNamespace(enabled=True)),
        __config__=types.SimpleNamespace(show=lambda: "BLAS_INFO=open, LAPACK_INFO=open, TORCH_VERSION=2.x"))


def test_tf32_flag_and_too_few_threads_are_findings():
    result = audit({"backend": "cpu"}, environ={}, torch_module=fake_torch(threads=0, allow_tf32=True, precision="high"))
    assert {"tf32_override", "threads_limited"} <= codes(result)
    assert result["settings"]["framework"]["cudnn_version"] == 90100
    assert result["settings"]["framework"]["blas"]["BLAS_INFO"] == "open"
    limited = next(f for f in result["findings"] if f["code"] == "threads_limited")
    assert limited["severity"] == "medium" and limited["lowers_results"]


def test_default_nvml_configuration_has_no_findings():
    result = audit({"backend": "cuda", "index": 0}, environ={}, nvml=FakeNvml())
    assert_well_formed(result)
    device = result["settings"]["device"]
    assert device["power_limit_mw"] == device["default_power_limit_mw"] == 700_000
    assert not codes(result) & {"power_capped", "clocks_locked_low", "mig_enabled", "ecc_disabled", "pcie_degraded"}
    assert any("AutoBoost" in u["reason"] or "NotSupported" in u["reason"] for u in result["unavailable"])


def test_nvml_non_default_configuration_findings():
    fake = FakeNvml(power_limit_mw=450_000, enforced_power_limit_mw=450_000, app_clock=1410, mig=[1, 1], ecc=[0, 1],
                    pcie_width=8, pcie_gen=3)
    result = audit({"backend": "cuda", "index": 0}, environ={}, nvml=fake)
    assert_well_formed(result)
    found = {f["code"]: f for f in result["findings"]}
    assert found["power_capped"]["severity"] == "high" and "450 W" in found["power_capped"]["message"]
    assert found["clocks_locked_low"]["lowers_results"] and found["mig_enabled"]["lowers_results"]
    assert found["ecc_disabled"]["raises_results"] and not found["ecc_disabled"]["lowers_results"]
    assert [f["severity"] for f in result["findings"] if f["code"] == "pcie_degraded"] == ["medium", "info"]


def test_locked_clocks_seen_only_through_event_reason():
    result = audit({"backend": "cuda", "index": 0}, environ={},
                   nvml=FakeNvml(missing={"nvmlDeviceGetApplicationsClock"}, reasons=0x2))
    assert "clocks_locked_low" in codes(result)
    assert any("ApplicationsClock" in u["reason"] for u in result["unavailable"])


def test_nvml_permission_errors_and_missing_library_are_unavailable_not_crashes():
    fake = FakeNvml(fail={"nvmlDeviceGetPowerManagementDefaultLimit": NVMLError_NoPermission()})
    result = audit({"backend": "cuda", "index": 0}, environ={}, nvml=fake)
    assert "power_capped" not in codes(result)
    assert any(u["what"] == "device.default_power_limit_mw" for u in result["unavailable"])
    gone = audit({"backend": "cuda", "index": 0}, environ={}, nvml=FakeNvml(fail={"nvmlInit": NVMLError_LibraryNotFound()}))
    assert any(u["what"] == "device (nvml)" for u in gone["unavailable"])


def test_amdsmi_power_cap_and_partitions():
    assert not {"power_capped", "partition_mode"} & codes(audit({"backend": "rocm", "index": 0}, environ={}, amdsmi=FakeAmdsmi()))
    fake = FakeAmdsmi(power_cap=500_000_000, compute_partition="CPX", memory_partition="NPS4")
    result = audit({"backend": "rocm", "index": 0}, environ={}, amdsmi=fake)
    assert_well_formed(result)
    assert "power_capped" in codes(result)
    assert sorted(f["severity"] for f in result["findings"] if f["code"] == "partition_mode") == ["high", "medium"]


def test_backends_without_audit_say_so():
    result = audit({"backend": "npu", "index": 0}, environ={})
    assert any(u["what"] == "device (npu)" for u in result["unavailable"])


def test_compare_audits_reports_changes_and_new_findings():
    before = audit({"backend": "cuda", "index": 0}, environ={}, nvml=FakeNvml())
    after = audit({"backend": "cuda", "index": 0}, environ={}, nvml=FakeNvml(power_limit_mw=300_000, pcie_gen=1))
    changes = compare_audits(before, after)
    messages = [f["message"] for f in changes]
    assert any("device.power_limit_mw changed" in m for m in messages)
    assert any(m.startswith("appeared during the run") and "power limit" in m for m in messages)
    assert not any("pcie_link_generation changed" in m for m in messages)  # idle downshift is expected
    assert all(f["code"] in CODES for f in changes)
    assert compare_audits(before, before) == []


def test_parse_torch_config_and_loaded_libraries(tmp_path):
    parsed = parse_torch_config("  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build\n"
                                "  - Intel(R) MKL-DNN v3.5.3 (Git Hash x)\n  - Build settings: BLAS_INFO=mkl, CUDA_VERSION=12.4, ")
    assert parsed == {"BLAS_INFO": "mkl", "CUDA_VERSION": "12.4", "mkl": "2024.2-Product", "onednn": "v3.5.3"}
    maps = tmp_path / "maps"
    maps.write_text("7f00 r-xp 0 08:01 1 /usr/local/cuda/lib64/libcublasLt.so.12.4.5.8\n"
                    "7f01 r-xp 0 08:01 2 /usr/lib/libc.so.6\n7f02 r-xp 0 08:01 3 /opt/rocm/lib/libhipblaslt.so.0.10\n")
    assert loaded_math_libraries(str(maps)) == ["libcublasLt.so.12.4.5.8", "libhipblaslt.so.0.10"]
