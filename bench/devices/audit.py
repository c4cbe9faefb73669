"""Configuration audit, run before and after a benchmark run.

Reads what can move a result (power limit, locked clocks, MIG / partitions, ECC, PCIe link, CPU
governor, thread counts, TF32 and precision flags, result-changing environment variables, BLAS
versions, other processes on the unit, competing host load) and turns anything non-default into a
finding `bench check` can key on:

    {"severity": "high"|"medium"|"low"|"info", "code": str, "message": str,
     "lowers_results": bool, "raises_results": bool}

Codes: power_capped, clocks_locked_low, tf32_override, mig_enabled, partition_mode, ecc_disabled,
pcie_degraded, cpu_governor_not_performance, threads_limited, env_knob, device_shared (other
compute processes on the measured accelerator: lowers results), host_busy (competing host load:
a warning on CPU runs), changed_during_run.
Host-CPU knobs (governor, turbo, thread caps, CPU ISA caps) lower results only when the CPU is the
measured device. The vendor reads live in bench/devices/vendors/. What cannot be read goes to
"unavailable" with the reason. Never raises.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from bench.devices import vendors
from bench.devices.precision import HIP_TF32_ENV, tf32_state
from bench.devices.vendors import procfs
from bench.devices.vendors.common import AuditRecord, RunCommand, finding, load_module, safe_call

CPU_ONLY, ANY = "cpu", "any"  # which measured backend an environment knob can lower
# name: (severity, why, lowers, raises, applies to). Prefix entries end in "_".
RESULT_ENV_EXACT = {
    "NVIDIA_TF32_OVERRIDE": ("high", "0 disables TF32 everywhere, overriding framework flags", True, False, ANY),
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": ("high", "forces TF32 for FP32 matmuls", False, True, ANY),
    "CUDA_LAUNCH_BLOCKING": ("high", "serialises kernel launches", True, False, ANY),
    "CUBLAS_WORKSPACE_CONFIG": ("medium", "changes the cuBLAS workspace and so the algorithms it may pick", True, False, ANY),
    "CUDA_MODULE_LOADING": ("low", "changes when kernels load (warm-up absorbs it)", False, False, ANY),
    "CUDA_VISIBLE_DEVICES": ("info", "selects which GPUs this process sees", False, False, ANY),
    "HIP_VISIBLE_DEVICES": ("info", "selects which GPUs this process sees", False, False, ANY),
    "ASCEND_RT_VISIBLE_DEVICES": ("info", "selects which NPUs this process sees", False, False, ANY),
    HIP_TF32_ENV: ("info", "lets hipBLASLt run TF32 when the framework asks for it (MI300 and later)", False, False, ANY),
    "PYTORCH_TUNABLEOP_ENABLED": ("medium", "TunableOp searches GEMM kernels; results can exceed the default path", False, True, ANY),
    "TORCH_BLAS_PREFER_HIPBLASLT": ("medium", "switches the ROCm BLAS backend", True, True, ANY),
    "TORCH_BLAS_PREFER_CUBLASLT": ("medium", "switches the CUDA BLAS backend", True, True, ANY),
    "OMP_NUM_THREADS": ("medium", "caps CPU threads", True, False, CPU_ONLY),
    "MKL_NUM_THREADS": ("medium", "caps MKL threads", True, False, CPU_ONLY),
    "OPENBLAS_NUM_THREADS": ("medium", "caps OpenBLAS threads", True, False, CPU_ONLY),
    "MKL_ENABLE_INSTRUCTIONS": ("high", "restricts the instruction set MKL may use", True, False, CPU_ONLY),
    "DNNL_MAX_CPU_ISA": ("high", "restricts the instruction set oneDNN may use", True, False, CPU_ONLY),
    "ONEDNN_MAX_CPU_ISA": ("high", "restricts the instruction set oneDNN may use", True, False, CPU_ONLY),
    "ATEN_CPU_CAPABILITY": ("high", "restricts PyTorch's CPU kernels to a lower instruction set", True, False, CPU_ONLY),
}
RESULT_ENV_PREFIXES = {
    "HIP_": ("low", "HIP runtime knob", False, False, ANY),
    "ROCBLAS_": ("medium", "rocBLAS knob (logging or tuning changes speed)", True, True, ANY),
    "HIPBLASLT_": ("medium", "hipBLASLt knob (logging or tuning changes speed)", True, True, ANY),
    "MIOPEN_": ("low", "MIOpen knob", False, False, ANY),
    "PYTORCH_TUNABLEOP_": ("low", "TunableOp knob", False, True, ANY),
    "NCCL_": ("info", "NCCL knob (collectives are not measured here)", False, False, ANY),
}
CHANGE_MATTERS = ("power", "clock", "ecc", "mig", "partition", "governor", "threads", "tf32", "precision", "env")
VOLATILE_SETTINGS = ("scaling_cur_freq", "cpu_mhz", "pcie_link_generation", "clock_event_reasons", "occupancy")


# -- host CPU --------------------------------------------------------------------------------------
def _audit_cpu_threads(a: AuditRecord, torch: Any, cpuinfo: Mapping[str, Any], backend: str) -> None:
    threads = a.section("threads")
    logical = procfs.usable_cpus()
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
    if logical and torch_threads < min(physical, logical):
        a.add("medium" if backend == "cpu" else "info", "threads_limited", f"torch uses {torch_threads} threads but "
              f"{min(physical, logical)} cores are usable", lowers=backend == "cpu")
    elif logical and torch_threads < logical:
        a.add("info", "threads_limited", f"torch uses {torch_threads} threads on {logical} logical CPUs "
              "(one per physical core is PyTorch's default)")


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
    content = procfs.read(Path(maps_path)) or ""
    names = re.findall(r"/([^/\s]*lib(?:cublas|cublasLt|cudnn|hipblaslt|rocblas|miopen|mkl|openblas|blis|dnnl|hccl|opapi)[^/\s]*)",
                       content)
    return sorted(set(names))


def _audit_framework(a: AuditRecord, torch: Any, backend: str) -> None:
    if torch is None:
        a.missing("framework", "torch not importable")
        return
    fw = a.section("framework")
    fw["torch"] = torch.__version__
    fw["runtime"] = {"cuda": getattr(torch.version, "cuda", None), "hip": getattr(torch.version, "hip", None)}
    fw["runtime"] = {k: v for k, v in fw["runtime"].items() if v} or "none (CPU-only torch build)"
    tf32 = tf32_state(torch)
    fw["tf32"] = tf32
    flags = {"cuda_matmul_fp16_reduced_precision_reduction": (torch.backends.cuda.matmul, "allow_fp16_reduced_precision_reduction"),
             "cuda_matmul_bf16_reduced_precision_reduction": (torch.backends.cuda.matmul, "allow_bf16_reduced_precision_reduction"),
             "mkldnn_enabled": (torch.backends.mkldnn, "enabled"), "cudnn_benchmark": (torch.backends.cudnn, "benchmark")}
    for key, (owner, attr) in flags.items():
        try:
            fw[key] = getattr(owner, attr, None)
        except Exception as error:  # a flag whose getter raises on this build
            a.missing(f"framework.{key}", f"{type(error).__name__}: {error}")
    fw["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
    fw["blas"] = parse_torch_config(torch.__config__.show())
    cudnn, _ = safe_call(torch.backends.cudnn, "version")
    if cudnn:
        fw["cudnn_version"] = cudnn
    fw["loaded_math_libraries"] = loaded_math_libraries()
    if backend in ("cuda", "rocm"):
        a.missing("framework.blas_library_versions", "cuBLAS/hipBLASLt versions are not exposed by torch; see "
                  "loaded_math_libraries (read after the run, once the libraries are loaded) and the runtime version")
    if tf32.get("matmul_tf32") is None:
        a.missing("framework.tf32", tf32.get("error") or "TF32 state unreadable")
    elif tf32["matmul_tf32"]:
        shown = ", ".join(f"{k}={v}" for k, v in tf32.items() if k not in ("api", "matmul_tf32") and v is not None)
        a.add("high", "tf32_override", f"FP32 matmuls may run in reduced precision ({tf32['api']} API: {shown}); "
              "an FP32 result is not an FP32 rate", raises=True)


def _audit_environment(a: AuditRecord, environ: Mapping[str, str], backend: str) -> None:
    env = a.section("env")
    for name in sorted(environ):
        rule = RESULT_ENV_EXACT.get(name) or next((r for p, r in RESULT_ENV_PREFIXES.items() if name.startswith(p)), None)
        if rule is None:
            continue
        env[name] = environ[name]
        severity, why, lowers, raises, applies = rule
        if applies == CPU_ONLY and backend != "cpu":
            severity, why, lowers = "info", f"{why} (host CPU knob; the measured device is {backend})", False
        code = "tf32_override" if name in ("NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE") else "env_knob"
        a.add(severity, code, f"{name}={environ[name]}: {why}", lowers, raises)


def audit(device_info: Mapping[str, Any], *, nvml: Any = None, amdsmi: Any = None, run: RunCommand | None = None,
          environ: Mapping[str, str] | None = None, sys_root: str = "/sys", torch_module: Any = None,
          host_load: Callable[[], Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Audit the configuration that can move results; call before the run and again after it.

    Returns {"settings": {section: {...}}, "findings": [...], "unavailable": [{"what", "reason"}]}.
    `host_load` (tests inject it) returns procfs.host_load()'s shape."""
    a = AuditRecord()
    backend = str(device_info.get("backend", "cpu"))
    environ = os.environ if environ is None else environ
    torch, _reason = load_module("torch", torch_module)
    cpuinfo = procfs.cpuinfo()
    procfs.audit_frequency(a, Path(sys_root), measured_cpu=backend == "cpu")
    if cpuinfo.get("cpu_mhz"):
        a.section("host")["cpu_mhz_proc_cpuinfo"] = cpuinfo["cpu_mhz"]
    _audit_cpu_threads(a, torch, cpuinfo, backend)
    _audit_framework(a, torch, backend)
    _audit_environment(a, environ, backend)
    procfs.load_findings(a, (host_load or procfs.host_load)(), measured_cpu=backend == "cpu")
    adapter = vendors.for_backend(backend, nvml_module=nvml, amdsmi_module=amdsmi, run=run, environ=environ)
    adapter.audit(a, device_info)
    if backend != "cpu" and adapter.telemetry_gap():
        a.missing(f"telemetry ({backend})", adapter.telemetry_gap())
    return a.result()


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
        if (f["code"], f["message"]) not in seen and f["severity"] != "info" and f["code"] != "host_busy":
            changed.append({**f, "message": f"appeared during the run: {f['message']}"})
    return changed
