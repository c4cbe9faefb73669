"""Configuration audit, run before and after a benchmark run.

Reads what can move a result (power limit, locked clocks, MIG / partitions, ECC, PCIe link, CPU
governor, thread counts, TF32 and precision flags, result-changing environment variables, BLAS
versions) and turns anything non-default into a finding `bench check` can key on:

    {"severity": "high"|"medium"|"low"|"info", "code": str, "message": str,
     "lowers_results": bool, "raises_results": bool}

Codes: power_capped, clocks_locked_low, tf32_override, mig_enabled, partition_mode, ecc_disabled,
pcie_degraded, cpu_governor_not_performance, threads_limited, env_knob, changed_during_run.
What cannot be read goes to "unavailable" with the reason. Never raises.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from bench.identity import (
    RunCommand,
    amdsmi_handle,
    load_module,
    number,
    nvml_handle,
    nvml_session,
    parse_cpuinfo,
    safe_call,
    text,
)

# Environment variables that change what a kernel does or how fast it runs. Prefix entries end in "_".
RESULT_ENV_EXACT = {
    "NVIDIA_TF32_OVERRIDE": ("high", "0 disables TF32 everywhere, overriding framework flags", True, False),
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": ("high", "forces TF32 for FP32 matmuls", False, True),
    "CUDA_LAUNCH_BLOCKING": ("high", "serialises kernel launches", True, False),
    "CUBLAS_WORKSPACE_CONFIG": ("medium", "changes the cuBLAS workspace and so the algorithms it may pick", True, False),
    "CUDA_MODULE_LOADING": ("low", "changes when kernels load (warm-up absorbs it)", False, False),
    "CUDA_VISIBLE_DEVICES": ("info", "selects which GPUs this process sees", False, False),
    "PYTORCH_TUNABLEOP_ENABLED": ("medium", "TunableOp searches GEMM kernels; results can exceed the default path", False, True),
    "TORCH_BLAS_PREFER_HIPBLASLT": ("medium", "switches the ROCm BLAS backend", True, True),
    "TORCH_BLAS_PREFER_CUBLASLT": ("medium", "switches the CUDA BLAS backend", True, True),
    "OMP_NUM_THREADS": ("medium", "caps CPU threads", True, False),
    "MKL_NUM_THREADS": ("medium", "caps MKL threads", True, False),
    "OPENBLAS_NUM_THREADS": ("medium", "caps OpenBLAS threads", True, False),
    "MKL_ENABLE_INSTRUCTIONS": ("high", "restricts the instruction set MKL may use", True, False),
    "DNNL_MAX_CPU_ISA": ("high", "restricts the instruction set oneDNN may use", True, False),
    "ONEDNN_MAX_CPU_ISA": ("high", "restricts the instruction set oneDNN may use", True, False),
    "ATEN_CPU_CAPABILITY": ("high", "restricts PyTorch's CPU kernels to a lower instruction set", True, False),
}
RESULT_ENV_PREFIXES = {
    "HIP_": ("low", "HIP runtime knob", False, False),
    "ROCBLAS_": ("medium", "rocBLAS knob (logging or tuning changes speed)", True, True),
    "HIPBLASLT_": ("medium", "hipBLASLt knob (logging or tuning changes speed)", True, True),
    "MIOPEN_": ("low", "MIOpen knob", False, False),
    "PYTORCH_TUNABLEOP_": ("low", "TunableOp knob", False, True),
    "NCCL_": ("info", "NCCL knob (collectives are not measured here)", False, False),
}
CHANGE_MATTERS = ("power", "clock", "ecc", "mig", "partition", "governor", "threads", "tf32", "precision", "env")
VOLATILE_SETTINGS = ("scaling_cur_freq", "cpu_mhz", "pcie_link_generation", "clock_event_reasons")
NVML_REASON_APPLICATIONS_CLOCKS = 0x2


def finding(severity: str, code: str, message: str, lowers: bool = False, raises: bool = False) -> dict[str, Any]:
    return {"severity": severity, "code": code, "message": message, "lowers_results": lowers, "raises_results": raises}


class _Audit:
    def __init__(self) -> None:
        self.settings: dict[str, dict[str, Any]] = {}
        self.findings: list[dict[str, Any]] = []
        self.unavailable: list[dict[str, str]] = []

    def section(self, name: str) -> dict[str, Any]:
        return self.settings.setdefault(name, {})

    def missing(self, what: str, reason: str) -> None:
        self.unavailable.append({"what": what, "reason": reason})

    def read(self, section: str, key: str, module: Any, function: str, *args: Any) -> Any:
        value, reason = safe_call(module, function, *args)
        if reason:
            self.missing(f"{section}.{key}", reason)
            return None
        self.section(section)[key] = value
        return value

    def result(self) -> dict[str, Any]:
        for section, values in self.settings.items():  # nothing silently blank
            for key in [k for k, v in values.items() if v is None]:
                del values[key]
                self.missing(f"{section}.{key}", "read, but the source reported no value")
        return {"settings": self.settings, "findings": self.findings, "unavailable": self.unavailable}


# -- host CPU --------------------------------------------------------------------------------------
def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _audit_cpu_frequency(a: _Audit, sys_root: Path) -> None:
    cpus = sorted((sys_root / "devices/system/cpu").glob("cpu[0-9]*/cpufreq"))
    host = a.section("host")
    if not cpus:
        a.missing("host.cpu_governor", f"no {sys_root}/devices/system/cpu/cpu*/cpufreq (usual in VMs and containers: "
                                       "the hypervisor or firmware controls frequency)")
    else:
        governors = sorted({g for g in (_read(c / "scaling_governor") for c in cpus) if g})
        host["cpu_governor"] = governors or None
        for key in ("scaling_cur_freq", "scaling_max_freq", "cpuinfo_max_freq"):
            khz = [int(v) for v in (_read(c / key) for c in cpus) if v and v.isdigit()]
            if khz:
                host[f"{key}_mhz"] = {"min": min(khz) / 1000, "max": max(khz) / 1000}
        if governors and governors != ["performance"]:
            a.findings.append(finding("medium", "cpu_governor_not_performance",
                                      f"CPU frequency governor is {', '.join(governors)}, not performance", lowers=True))
        capped = [c.parent.name for c in cpus if _read(c / "scaling_max_freq") and _read(c / "cpuinfo_max_freq")
                  and int(_read(c / "scaling_max_freq")) < int(_read(c / "cpuinfo_max_freq"))]
        if capped:
            a.findings.append(finding("high", "clocks_locked_low", f"scaling_max_freq below cpuinfo_max_freq on {len(capped)} CPUs "
                                      f"(e.g. {capped[0]})", lowers=True))
    boost = _read(sys_root / "devices/system/cpu/cpufreq/boost")
    no_turbo = _read(sys_root / "devices/system/cpu/intel_pstate/no_turbo")
    if boost is not None:
        host["cpu_boost"] = boost == "1"
    if no_turbo is not None:
        host["intel_no_turbo"] = no_turbo == "1"
    if boost == "0" or no_turbo == "1":
        a.findings.append(finding("medium", "clocks_locked_low", "CPU turbo/boost is disabled", lowers=True))


def _audit_cpu_threads(a: _Audit, torch: Any, cpuinfo: Mapping[str, Any], backend: str) -> None:
    threads = a.section("threads")
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads.update({"logical_cpus_usable": logical, "os_cpu_count": os.cpu_count(),
                    "physical_cores": cpuinfo.get("physical_cores")})
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        threads[var] = os.environ.get(var, "unset")
    if torch is None:
        a.missing("threads.torch_num_threads", "torch not importable")
        return
    torch_threads = torch.get_num_threads()
    threads["torch_num_threads"] = torch_threads
    threads["torch_num_interop_threads"] = torch.get_num_interop_threads()
    physical = cpuinfo.get("physical_cores") or logical
    weight = "medium" if backend == "cpu" else "low"
    if logical and torch_threads < min(physical, logical):
        a.findings.append(finding(weight, "threads_limited", f"torch uses {torch_threads} threads but {min(physical, logical)} "
                                  "cores are usable", lowers=backend == "cpu"))
    elif logical and torch_threads < logical:
        a.findings.append(finding("info", "threads_limited", f"torch uses {torch_threads} threads on {logical} logical CPUs "
                                  "(one per physical core is PyTorch's default)"))


# -- framework flags, BLAS, environment ------------------------------------------------------------
def parse_torch_config(config: str) -> dict[str, str]:
    """torch.__config__.show() -> BLAS/LAPACK info and the library versions it names."""
    found = dict(re.findall(r"\b(BLAS_INFO|LAPACK_INFO|TORCH_VERSION|CUDA_VERSION|CUDNN_VERSION|HIP_VERSION)=([^,\s]+)", config))
    for label, pattern in (("mkl", r"Math Kernel Library Version ([^\s]+)"), ("onednn", r"MKL-DNN (v[^\s]+)"),
                           ("openmp", r"OpenMP (\d+)"), ("cpu_capability", r"CPU capability usage: (\S+)")):
        match = re.search(pattern, config)
        if match:
            found[label] = match.group(1)
    return found


def loaded_math_libraries(maps_path: str = "/proc/self/maps") -> list[str]:
    """File names of BLAS/DNN libraries mapped into this process (their suffix carries the version)."""
    content = _read(Path(maps_path)) or ""
    names = re.findall(r"/([^/\s]*lib(?:cublas|cublasLt|cudnn|hipblaslt|rocblas|miopen|mkl|openblas|blis|dnnl|hccl|opapi)[^/\s]*)",
                       content)
    return sorted(set(names))


def _audit_framework(a: _Audit, torch: Any, backend: str) -> None:
    if torch is None:
        a.missing("framework", "torch not importable")
        return
    fw = a.section("framework")
    fw["torch"] = torch.__version__
    fw["runtime"] = {"cuda": getattr(torch.version, "cuda", None), "hip": getattr(torch.version, "hip", None)}
    fw["runtime"] = {k: v for k, v in fw["runtime"].items() if v} or "none (CPU-only torch build)"
    fw["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    flags = {"cuda_matmul_allow_tf32": (torch.backends.cuda.matmul, "allow_tf32"),
             "cudnn_allow_tf32": (torch.backends.cudnn, "allow_tf32"),
             "cuda_matmul_fp16_reduced_precision_reduction": (torch.backends.cuda.matmul, "allow_fp16_reduced_precision_reduction"),
             "cuda_matmul_bf16_reduced_precision_reduction": (torch.backends.cuda.matmul, "allow_bf16_reduced_precision_reduction"),
             "mkldnn_enabled": (torch.backends.mkldnn, "enabled"), "cudnn_benchmark": (torch.backends.cudnn, "benchmark")}
    for key, (owner, attr) in flags.items():
        fw[key] = getattr(owner, attr, None)
    fw["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
    fw["blas"] = parse_torch_config(torch.__config__.show())
    cudnn, _ = safe_call(torch.backends.cudnn, "version")
    if cudnn:
        fw["cudnn_version"] = cudnn
    fw["loaded_math_libraries"] = loaded_math_libraries()
    if backend in ("cuda", "rocm"):
        a.missing("framework.blas_library_versions", "cuBLAS/hipBLASLt versions are not exposed by torch; see "
                  "loaded_math_libraries (read after the run, once the libraries are loaded) and the runtime version")
    if fw["cuda_matmul_allow_tf32"] or fw["float32_matmul_precision"] != "highest":
        a.findings.append(finding("high", "tf32_override", "FP32 matmuls may run in reduced precision (allow_tf32="
                                  f"{fw['cuda_matmul_allow_tf32']}, float32_matmul_precision={fw['float32_matmul_precision']}); "
                                  "an FP32 result is not an FP32 rate", raises=True))


def _audit_environment(a: _Audit, environ: Mapping[str, str]) -> None:
    env = a.section("env")
    for name in sorted(environ):
        rule = RESULT_ENV_EXACT.get(name) or next((r for p, r in RESULT_ENV_PREFIXES.items() if name.startswith(p)), None)
        if rule is None:
            continue
        env[name] = environ[name]
        severity, why, lowers, raises = rule
        code = "tf32_override" if name in ("NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE") else "env_knob"
        a.findings.append(finding(severity, code, f"{name}={environ[name]}: {why}", lowers, raises))


# -- accelerators ----------------------------------------------------------------------------------
def _audit_nvml(a: _Audit, device_info: Mapping[str, Any], nvml: Any) -> None:
    nvml, reason = load_module("pynvml", nvml)
    reason = reason or nvml_session(nvml)
    if reason:
        a.missing("device (nvml)", reason)
        return
    try:
        handle, _ = nvml_handle(nvml, device_info)
    except LookupError as error:
        a.missing("device (nvml)", str(error))
        safe_call(nvml, "nvmlShutdown")
        return
    s = "device"
    ecc = a.read(s, "ecc_mode_current_pending", nvml, "nvmlDeviceGetEccMode", handle)
    mig = a.read(s, "mig_mode_current_pending", nvml, "nvmlDeviceGetMigMode", handle)
    a.read(s, "persistence_mode", nvml, "nvmlDeviceGetPersistenceMode", handle)
    compute_mode = a.read(s, "compute_mode", nvml, "nvmlDeviceGetComputeMode", handle)
    limit = a.read(s, "power_limit_mw", nvml, "nvmlDeviceGetPowerManagementLimit", handle)
    default = a.read(s, "default_power_limit_mw", nvml, "nvmlDeviceGetPowerManagementDefaultLimit", handle)
    enforced = a.read(s, "enforced_power_limit_mw", nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)
    app = a.read(s, "applications_clock_graphics_mhz", nvml, "nvmlDeviceGetApplicationsClock", handle, 0)
    a.read(s, "default_applications_clock_graphics_mhz", nvml, "nvmlDeviceGetDefaultApplicationsClock", handle, 0)
    top = a.read(s, "max_clock_graphics_mhz", nvml, "nvmlDeviceGetMaxClockInfo", handle, 0)
    a.read(s, "auto_boost_enabled_default", nvml, "nvmlDeviceGetAutoBoostedClocksEnabled", handle)
    reasons = a.read(s, "clock_event_reasons", nvml, "nvmlDeviceGetCurrentClocksEventReasons", handle)
    width = a.read(s, "pcie_link_width", nvml, "nvmlDeviceGetCurrPcieLinkWidth", handle)
    max_width = a.read(s, "pcie_link_width_max", nvml, "nvmlDeviceGetMaxPcieLinkWidth", handle)
    gen = a.read(s, "pcie_link_generation", nvml, "nvmlDeviceGetCurrPcieLinkGeneration", handle)
    max_gen = a.read(s, "pcie_link_generation_max", nvml, "nvmlDeviceGetMaxPcieLinkGeneration", handle)
    safe_call(nvml, "nvmlShutdown")

    cap = min(x for x in (limit, enforced) if x is not None) if (limit or enforced) else None
    if cap is not None and default and cap < default:
        a.findings.append(finding("high", "power_capped", f"power limit {cap / 1000:.0f} W below default "
                                  f"{default / 1000:.0f} W", lowers=True))
    locked = reasons is not None and bool(reasons & NVML_REASON_APPLICATIONS_CLOCKS)
    if app and top and app < top:
        a.findings.append(finding("high", "clocks_locked_low", f"applications clock {app} MHz below max {top} MHz", lowers=True))
    elif locked:
        a.findings.append(finding("medium", "clocks_locked_low", "clocks held by an applications/locked clock setting "
                                  "(event reason ApplicationsClocksSetting)", lowers=True))
    if isinstance(mig, (list, tuple)) and mig and mig[0]:
        a.findings.append(finding("high", "mig_enabled", "MIG mode is enabled: a MIG instance owns a fraction of the GPU",
                                  lowers=True))
    if isinstance(ecc, (list, tuple)) and ecc and ecc[0] == 0:
        a.findings.append(finding("medium", "ecc_disabled", "ECC is disabled: inline-ECC parts gain bandwidth and memory",
                                  raises=True))
    if width and max_width and width < max_width:
        a.findings.append(finding("medium", "pcie_degraded", f"PCIe link x{width} of x{max_width}", lowers=True))
    if gen and max_gen and gen < max_gen:
        a.findings.append(finding("info", "pcie_degraded", f"PCIe link gen {gen} of {max_gen} (idle GPUs downshift; "
                                  "compare with the audit after the run)"))
    if compute_mode not in (None, 0):
        a.findings.append(finding("info", "compute_mode", f"compute mode {compute_mode} (0 is default)"))


def _audit_amdsmi(a: _Audit, device_info: Mapping[str, Any], amdsmi: Any) -> None:
    amdsmi, reason = load_module("amdsmi", amdsmi)
    reason = reason or safe_call(amdsmi, "amdsmi_init")[1]
    if reason:
        a.missing("device (amdsmi)", reason)
        return
    try:
        handle, _ = amdsmi_handle(amdsmi, device_info)
    except LookupError as error:
        a.missing("device (amdsmi)", str(error))
        safe_call(amdsmi, "amdsmi_shut_down")
        return
    caps = a.read("device", "power_cap_info", amdsmi, "amdsmi_get_power_cap_info", handle) or {}
    compute = a.read("device", "compute_partition", amdsmi, "amdsmi_get_gpu_compute_partition", handle)
    memory = a.read("device", "memory_partition", amdsmi, "amdsmi_get_gpu_memory_partition", handle)
    clocks = a.read("device", "gfx_clock_info", amdsmi, "amdsmi_get_clock_info", handle, amdsmi.AmdSmiClkType.GFX) \
        if hasattr(amdsmi, "AmdSmiClkType") else None
    safe_call(amdsmi, "amdsmi_shut_down")
    cap, default = number(caps.get("power_cap")), number(caps.get("default_power_cap"))
    if cap and default and cap < default:  # same unit on both sides (uW on Linux bare metal)
        a.findings.append(finding("high", "power_capped", f"power cap {cap / default:.0%} of default", lowers=True))
    if text(compute) and text(compute).upper() != "SPX":
        a.findings.append(finding("high", "partition_mode", f"compute partition {compute}: a partition owns a fraction "
                                  "of the GPU", lowers=True))
    if text(memory) and text(memory).upper() != "NPS1":
        a.findings.append(finding("medium", "partition_mode", f"memory partition {memory} (NPS1 is the whole-chip default)",
                                  lowers=True))
    if isinstance(clocks, Mapping) and clocks.get("clk_locked") not in (None, 0, False, "N/A"):
        a.findings.append(finding("medium", "clocks_locked_low", "GFX clock is locked", lowers=True))


def audit(device_info: Mapping[str, Any], *, nvml: Any = None, amdsmi: Any = None, run: RunCommand | None = None,
          environ: Mapping[str, str] | None = None, sys_root: str = "/sys", torch_module: Any = None) -> dict[str, Any]:
    """Audit the configuration that can move results; call before the run and again after it.

    Returns {"settings": {section: {...}}, "findings": [...], "unavailable": [{"what", "reason"}]}."""
    a = _Audit()
    backend = str(device_info.get("backend", "cpu"))
    torch, reason = load_module("torch", torch_module)
    cpuinfo = parse_cpuinfo(_read(Path("/proc/cpuinfo")) or "")
    _audit_cpu_frequency(a, Path(sys_root))
    if cpuinfo.get("logical_cpus"):
        a.section("host")["cpu_mhz_proc_cpuinfo"] = _proc_cpuinfo_mhz()
    _audit_cpu_threads(a, torch, cpuinfo, backend)
    _audit_framework(a, torch, backend)
    _audit_environment(a, os.environ if environ is None else environ)
    if backend == "cuda":
        _audit_nvml(a, device_info, nvml)
    elif backend == "rocm":
        _audit_amdsmi(a, device_info, amdsmi)
    elif backend != "cpu":
        a.missing(f"device ({backend})", f"no configuration audit implemented for {backend}: power limit, clocks and "
                                         "partition mode were not read")
    return a.result()


def _proc_cpuinfo_mhz() -> dict[str, float] | None:
    mhz = [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", _read(Path("/proc/cpuinfo")) or "", re.M)]
    return {"min": min(mhz), "max": max(mhz)} if mhz else None


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def compare_audits(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Findings for settings that changed during the run, and for findings that appeared during it."""
    old, new = _flatten(before.get("settings", {})), _flatten(after.get("settings", {}))
    changed = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key) or any(v in key for v in VOLATILE_SETTINGS) or "loaded_math_libraries" in key:
            continue
        weight = "high" if any(word in key.lower() for word in CHANGE_MATTERS) else "low"
        changed.append(finding(weight, "changed_during_run", f"{key} changed during the run: {old.get(key)!r} -> "
                               f"{new.get(key)!r}", lowers=weight == "high", raises=weight == "high"))
    seen = {(f["code"], f["message"]) for f in before.get("findings", [])}
    for f in after.get("findings", []):
        if (f["code"], f["message"]) not in seen and f["severity"] != "info":
            changed.append({**f, "message": f"appeared during the run: {f['message']}"})
    return changed
