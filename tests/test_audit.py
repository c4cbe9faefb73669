"""Configuration audit: the real CPU audit here, fake /sys trees for governors, fake NVML and amdsmi."""

from __future__ import annotations

import json
import types

import pytest
from fake_vendor import (
    FakeAmdsmi,
    FakeNvml,
    NVMLError_LibraryNotFound,
    NVMLError_NoPermission,
)

from bench.devices.audit import audit as real_audit
from bench.devices.audit import compare_audits, loaded_math_libraries, parse_torch_config

CODES = {"power_capped", "clocks_locked_low", "tf32_override", "mig_enabled", "partition_mode", "ecc_disabled",
         "pcie_degraded", "cpu_governor_not_performance", "threads_limited", "env_knob", "changed_during_run", "compute_mode",
         "device_shared", "host_busy"}
IDLE_HOST = {"load_1min": 0.0, "running_tasks": 1, "steal_share": 0.0, "window_s": 0.0, "usable_cpus": 2}


def audit(device, **kwargs):
    """The audit with an idle host unless a test says otherwise (the real host_load waits 0.5 s)."""
    kwargs.setdefault("host_load", lambda: IDLE_HOST)
    return real_audit(device, **kwargs)


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
    result = real_audit({"backend": "cpu", "index": None}, environ={})
    assert result["settings"]["occupancy"]["host"]["usable_cpus"] >= 1
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


# -- first contact (gpu-first-contact.md M2, M5/m5, M6, M8, X2, issue 10 item 3) --------------------
def test_host_knobs_lower_results_only_when_the_cpu_is_measured(tmp_path):
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # torchrun sets OMP_NUM_THREADS=1
    sys_root = make_sys(tmp_path, "schedutil", boost="0")
    gpu = audit({"backend": "cuda", "index": 0}, environ=env, nvml=FakeNvml(), sys_root=sys_root)
    cpu = audit({"backend": "cpu"}, environ=env, sys_root=sys_root)
    host_codes = {"env_knob", "cpu_governor_not_performance", "clocks_locked_low"}
    gpu_host = [f for f in gpu["findings"] if f["code"] in host_codes]
    assert gpu_host and all(f["severity"] == "info" and not f["lowers_results"] for f in gpu_host)
    assert {f["code"] for f in cpu["findings"] if f["lowers_results"]} >= host_codes


def test_hipblaslt_allow_tf32_is_information_not_a_doubt():
    result = audit({"backend": "rocm", "index": 0}, environ={"HIPBLASLT_ALLOW_TF32": "1", "HIPBLASLT_LOG_LEVEL": "1"},
                   amdsmi=FakeAmdsmi())
    found = {f["message"].split("=")[0]: f for f in result["findings"] if f["code"] == "env_knob"}
    assert found["HIPBLASLT_ALLOW_TF32"]["severity"] == "info" and not found["HIPBLASLT_ALLOW_TF32"]["lowers_results"]
    assert found["HIPBLASLT_LOG_LEVEL"]["lowers_results"]  # other hipBLASLt knobs still count


def test_tf32_new_api_after_mixing_does_not_break_the_audit():
    import torch

    saved = torch.backends.cuda.matmul.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = "tf32"  # what a 2.9+ lab wrapper does
    try:
        result = audit({"backend": "cpu"}, environ={})
    finally:
        torch.backends.cuda.matmul.fp32_precision = saved
    assert result["settings"]["framework"]["tf32"]["api"] == "fp32_precision"
    assert "tf32_override" in codes(result)
    assert "tf32_override" not in codes(audit({"backend": "cpu"}, environ={}))


def test_applications_clock_is_compared_with_the_default_applications_clock():
    stock_v100 = FakeNvml(app_clock=1312, default_app_clock=1312, max_clock=1530)
    assert "clocks_locked_low" not in codes(audit({"backend": "cuda", "index": 0}, environ={}, nvml=stock_v100))
    lowered = FakeNvml(app_clock=1000, default_app_clock=1312, max_clock=1530)
    found = [f for f in audit({"backend": "cuda", "index": 0}, environ={}, nvml=lowered)["findings"]
             if f["code"] == "clocks_locked_low"]
    assert found and "default applications clock 1312" in found[0]["message"]


def test_other_compute_processes_make_the_gpu_shared():
    import os

    fake = FakeNvml(processes=[(os.getpid(), 2**30), (4242, 40 * 2**30)], process_names={4242: "trainer"})
    result = audit({"backend": "cuda", "index": 0}, environ={}, nvml=fake)
    assert_well_formed(result)
    shared = [f for f in result["findings"] if f["code"] == "device_shared"]
    assert len(shared) == 1 and shared[0]["lowers_results"] and "4242 (trainer)" in shared[0]["message"]
    assert str(os.getpid()) not in shared[0]["message"]
    alone = audit({"backend": "cuda", "index": 0}, environ={}, nvml=FakeNvml(processes=[(os.getpid(), 2**30)]))
    assert "device_shared" not in codes(alone)
    assert alone["settings"]["occupancy"]["device_processes"]["listed"] == 1


def test_in_a_container_our_own_context_under_a_host_pid_is_not_another_process():
    from bench.devices.vendors.common import processes_record

    listed = [{"pid": 987654321, "name": "python", "memory_bytes": 2**30}]
    ours = processes_record("nvml", listed, own_pid=1, own_context=True, pid_visible=lambda pid: False)
    assert ours["others"] == [] and "taken to be this process" in ours["note"]
    before_any_context = processes_record("nvml", listed, own_pid=1, own_context=False, pid_visible=lambda pid: False)
    assert len(before_any_context["others"]) == 1
    two = processes_record("nvml", listed * 2, own_pid=1, own_context=True, pid_visible=lambda pid: False)
    assert len(two["others"]) == 1


@pytest.mark.parametrize("version", ["6.0", "7.0"])
def test_amd_process_list_and_bool_clock_lock(version):
    result = audit({"backend": "rocm", "index": 0}, environ={},
                   amdsmi=FakeAmdsmi(processes=[(31337, "llama-server", 2**34)], clk_locked=True, version=version))
    assert {"device_shared", "clocks_locked_low"} <= codes(result)
    assert "31337 (llama-server)" in next(f["message"] for f in result["findings"] if f["code"] == "device_shared")
    clean = audit({"backend": "rocm", "index": 0}, environ={}, amdsmi=FakeAmdsmi(clk_locked=False, version="7.0"))
    assert not {"device_shared", "clocks_locked_low"} & codes(clean)


def test_npu_processes_from_npu_smi_and_one_not_implemented_note(monkeypatch):
    from pathlib import Path

    data = Path(__file__).parent / "data"

    def run(argv, timeout):
        return (data / ("npu_smi_info_m_910b.txt" if "-m" in argv else "npu_smi_info_processes.txt")).read_text()

    result = audit({"backend": "npu", "index": 1}, environ={}, run=run)
    assert "device_shared" in codes(result)
    notes = [u for u in result["unavailable"] if u["what"].startswith(("device (npu)", "telemetry (npu)"))]
    assert len(notes) == 2 and all("not" in u["reason"] for u in notes)


def test_host_load_is_a_warning_on_cpu_runs_and_information_on_gpu_runs():
    busy = {"load_1min": 7.5, "running_tasks": 9, "steal_share": 0.12, "window_s": 0.5, "usable_cpus": 2}
    cpu = audit({"backend": "cpu"}, environ={}, host_load=lambda: busy)
    gpu = audit({"backend": "cuda", "index": 0}, environ={}, nvml=FakeNvml(), host_load=lambda: busy)
    warning = next(f for f in cpu["findings"] if f["code"] == "host_busy")
    assert warning["severity"] == "medium" and "steal 12%" in warning["message"] and "7.50" in warning["message"]
    assert next(f for f in gpu["findings"] if f["code"] == "host_busy")["severity"] == "info"
    assert "host_busy" not in codes(audit({"backend": "cpu"}, environ={}))
    assert cpu["settings"]["occupancy"]["host"]["steal_share"] == 0.12


def test_host_load_reads_proc(tmp_path):
    from bench.devices.vendors import procfs

    (tmp_path / "loadavg").write_text("3.10 2.00 1.00 4/300 12345\n")
    stats = iter(["cpu  100 0 100 700 0 0 0 100 0 0\n", "cpu  150 0 150 750 0 0 0 150 0 0\n"])

    def sleep(_s):
        (tmp_path / "stat").write_text(next(stats))

    (tmp_path / "stat").write_text(next(stats))
    load = procfs.host_load(tmp_path, window_s=0.0, sleep=sleep)
    assert load["load_1min"] == 3.10 and load["running_tasks"] == 4 and load["steal_share"] == 0.25


def test_verdict_reads_device_shared_as_a_doubt_and_gpu_host_knobs_as_none():
    """The finding codes reach bench.rules.verdict's plausibility check as intended (code names for helper B)."""
    from bench.rules import specs, verdict

    database = specs.load_database()
    spec = database.get("h200-sxm")
    run = {"audit": {"findings": []}, "measurements": []}
    gpu = audit({"backend": "cuda", "index": 0}, environ={"OMP_NUM_THREADS": "1"},
                nvml=FakeNvml(processes=[(4242, 2**30)], reasons=0x4),
                host_load=lambda: {"load_1min": 9.0, "usable_cpus": 2, "steal_share": 0.0})
    run["audit"]["findings"] = gpu["findings"]
    rows = verdict.check_plausibility(run, spec, {}, database).criteria
    doubts = {r.id for r in rows if r.outcome == verdict.INCONCLUSIVE}
    assert "audit: device_shared" in doubts
    assert not doubts & {"audit: env_knob", "audit: host_busy", "audit: threads_limited"}
