"""`bench doctor`'s checks: is this machine ready to measure, in well under a minute?

In the spirit of `dcgmi diag -r 1`: the torch build against the hardware present, driver and
runtime, the vendor library, devices and their UUIDs, first- and second-call latency per dtype on a
small GEMM, events landing on the selected device, int8/fp8 layout speeds, TF32 state, which SDPA
backends accept a case, current throttle/power reasons, and other processes on the unit.

Each check is a Check(name, status, detail, data); status is "ok", "warn", "fail" or "skip". The
library never prints; `bench doctor` renders the list and exits 1 when any check failed."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench.devices import audit as audit_module
from bench.devices import precision, registry
from bench.devices.base import Backend
from bench.devices.vendors import procfs
from bench.errors import BenchError

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
SLOW_FIRST_CALL_S = 0.25  # the quick suite's max_iteration_s: a first call above it used to end a dtype (M4)
GEMM_SIZE = {"cpu": 256}  # small enough to finish in well under a second per dtype on a laptop CPU
ACCELERATOR_GEMM_SIZE = 2048
DOCTOR_DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8_e4m3", "int8")


@dataclasses.dataclass
class Check:
    name: str
    status: str
    detail: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that raises is a failed check, never a crashed doctor."""
    try:
        return check()
    except Exception as error:
        return Check(name, FAIL, f"{type(error).__name__}: {error}")


# -- the machine and the torch build ---------------------------------------------------------------
def check_torch_build(signs: dict[str, list[str]] | None = None) -> Check:
    signs = registry.hardware_signs() if signs is None else signs
    build = registry.torch_build()
    data = {"torch": torch.__version__, "build": build, "hardware_signs": signs}
    if build == "CPU-only" and set(signs) & set(registry.TORCH_WHEELS):
        return Check("torch build", FAIL, registry.fallback_reason(signs, build), data)
    if "Ascend NPU" in signs and not registry._npu_installed():
        return Check("torch build", FAIL, registry.fallback_reason(signs, build), data)
    seen = f"; hardware: {', '.join(signs)}" if signs else "; no accelerator hardware found"
    return Check("torch build", OK, f"torch {torch.__version__} ({build}){seen}", data)


def check_devices() -> Check:
    rows = []
    for name, count in registry.present().items():
        for index in range(count):
            info = registry.BACKENDS[name](None if name == "cpu" else index).info()
            rows.append({"device": info.torch_device, "name": info.name, "uuid": info.extra.get("uuid"),
                         "pci_bus_id": info.extra.get("pci_bus_id")})
    detail = "; ".join(f"{r['device']} {r['name']}" + (f" {r['uuid']}" if r["uuid"] else "") for r in rows)
    return Check("devices", OK if rows else FAIL, detail or "no device at all", {"devices": rows})


def check_selected(backend: Backend) -> Check:
    info = backend.cached_info()
    detail = f"{info.torch_device} {info.name}; driver {info.driver_version or '-'}, runtime {info.runtime_version or '-'}"
    if backend.auto_fallback_reason:
        status = WARN if registry.hardware_signs() else OK
        return Check("selected device", status, f"{detail}; auto chose the CPU: {backend.auto_fallback_reason}",
                     {"device": info.to_dict(), "auto_fallback_reason": backend.auto_fallback_reason})
    return Check("selected device", OK, detail, {"device": info.to_dict()})


def check_vendor_library(backend: Backend) -> Check:
    adapter = backend.vendor_adapter()
    source = adapter.identity(backend.cached_info().to_dict())
    if source is None:
        return Check("vendor library", OK, "procfs (/proc, /sys): the host CPU", {"library": adapter.library})
    data = {"library": adapter.library, "source": source}
    if not source["available"]:
        return Check("vendor library", WARN, f"{adapter.library}: {source['reason']}", data)
    fields = source["fields"]
    serial = fields.get("serial") or fields.get("product_serial") or fields.get("asic_serial") or "no serial"
    return Check("vendor library", OK, f"{adapter.library}: {fields.get('name') or '?'}, {serial}, "
                 f"matched by {fields.get('matched_by', '?')}", data)


# -- first and second call per dtype ---------------------------------------------------------------
def _operands(dtype: str, n: int, device: torch.device, backend: Backend) -> Callable[[], Any]:
    """One call of a small GEMM in `dtype`, with the layouts the fast kernels want."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    if dtype == "int8":
        a = torch.randint(-8, 8, (n, n), dtype=torch.int8, generator=gen).to(device)
        b = torch.randint(-8, 8, (n, n), dtype=torch.int8, generator=gen).to(device).t()  # column-major B
        return lambda: torch._int_mm(a, b)
    if dtype == "fp8_e4m3":
        fp8 = backend.fp8_dtype()
        a = torch.randn(n, n, generator=gen).to(device=device, dtype=fp8)
        b = torch.randn(n, n, generator=gen).to(device=device, dtype=fp8).t()
        scale = torch.ones((), device=device)
        return lambda: torch._scaled_mm(a, b, scale, scale, out_dtype=torch.bfloat16)
    torch_dtype = {"fp64": torch.float64, "fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16,
                   "fp16": torch.float16}[dtype]
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    return lambda: torch.mm(a, b)


def _timed(call: Callable[[], Any], backend: Backend) -> float:
    start = time.perf_counter()
    call()
    backend.synchronize()
    return time.perf_counter() - start


def check_first_calls(backend: Backend, dtypes: tuple[str, ...] = DOCTOR_DTYPES) -> Check:
    backend.activate()
    n = GEMM_SIZE.get(backend.name, ACCELERATOR_GEMM_SIZE)
    runtime_init_s = _timed(lambda: torch.zeros(1, device=backend.torch_device), backend)  # context, not a dtype's cost
    rows, errors, slow = {}, {}, []
    for dtype in dtypes:
        reason = backend.unsupported_reason(dtype)
        if reason:
            rows[dtype] = {"skipped": reason}
            continue
        restore = precision.set_matmul_tf32(torch, dtype == "tf32")
        try:
            call = _operands(dtype, n, backend.torch_device, backend)
            first, second = _timed(call, backend), _timed(call, backend)
        except Exception as error:  # a dtype this build cannot run: say which and why
            errors[dtype] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
            continue
        finally:
            restore()
        rows[dtype] = {"first_s": first, "second_s": second, "tops_second": 2 * n**3 / second / 1e12 if second else None}
        if first > SLOW_FIRST_CALL_S:
            slow.append(dtype)
    detail = ", ".join(f"{d} {r['first_s'] * 1e3:.0f}/{r['second_s'] * 1e3:.1f} ms" for d, r in rows.items() if "first_s" in r)
    if errors:
        detail += "; failed: " + ", ".join(f"{d} ({e})" for d, e in errors.items())
    if slow:
        detail += f"; slow first call (> {SLOW_FIRST_CALL_S} s): {', '.join(slow)}"
    detail = f"runtime init {runtime_init_s * 1e3:.0f} ms; first/second: {detail}"
    status = FAIL if errors and not any("first_s" in r for r in rows.values()) else WARN if errors or slow else OK
    return Check(f"first/second call, {n}^3 GEMM", status, detail or "no dtype ran",
                 {"size": n, "runtime_init_s": runtime_init_s, "by_dtype": rows, "errors": errors})


def check_events(backend: Backend) -> Check:
    """Events and the current device point at the selected unit (M1)."""
    clock = backend.clock()
    if getattr(clock, "name", "") != "device_events":
        return Check("timing events", OK, f"{clock.name} (host clock: the CPU completes ops before returning)")
    make_event = getattr(backend, "_make_event", None)
    event = make_event() if make_event else None
    stream_device = getattr(getattr(event, "stream", None), "device", None)
    current = backend.module().current_device() if hasattr(backend, "module") else None
    want = backend.torch_device
    data = {"want": str(want), "stream_device": str(stream_device), "current_device": current}
    stream_index = getattr(stream_device, "index", stream_device)
    if (stream_index or 0) != (want.index or 0) or current != (want.index or 0):
        return Check("timing events", FAIL, f"events on {stream_device}, current device {current}; expected {want}", data)
    seconds = clock.time_samples(lambda: None, 1, 2)
    data["empty_sample_s"] = seconds
    return Check("timing events", OK, f"device events on {want}'s stream; empty sample {min(seconds) * 1e6:.0f} us", data)


# -- layouts, precision, attention -----------------------------------------------------------------
def _rate(call: Callable[[], Any], backend: Backend, repeats: int = 3) -> float:
    call()
    backend.synchronize()
    return min(_timed(call, backend) for _ in range(repeats))


def check_layouts(backend: Backend) -> Check:
    """int8 with row-major vs column-major B (M3), fp8 default vs fast accumulation (M12)."""
    n = GEMM_SIZE.get(backend.name, ACCELERATOR_GEMM_SIZE)
    device, data, parts = backend.torch_device, {}, []
    if not backend.unsupported_reason("int8"):
        try:
            a = torch.randint(-8, 8, (n, n), dtype=torch.int8, device=device)
            b = torch.randint(-8, 8, (n, n), dtype=torch.int8, device=device)
            row, col = _rate(lambda: torch._int_mm(a, b), backend), _rate(lambda: torch._int_mm(a, b.t().contiguous().t()), backend)
            data["int8_row_major_b_s"], data["int8_col_major_b_s"] = row, col
            parts.append(f"int8 column-major B {row / col:.2f}x the row-major speed")
        except Exception as error:
            parts.append(f"int8: {type(error).__name__}")
    if not backend.unsupported_reason("fp8_e4m3"):
        try:
            fp8 = backend.fp8_dtype()
            a = torch.randn(n, n, device=device).to(fp8)
            b = torch.randn(n, n, device=device).to(fp8).t()
            one = torch.ones((), device=device)
            slow = _rate(lambda: torch._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16), backend)
            fast = _rate(lambda: torch._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16, use_fast_accum=True), backend)
            data["fp8_default_accum_s"], data["fp8_fast_accum_s"] = slow, fast
            parts.append(f"fp8 fast accumulation {slow / fast:.2f}x the default")
        except Exception as error:
            parts.append(f"fp8: {type(error).__name__}")
    if not parts:
        return Check("int8/fp8 layouts", SKIP, "neither int8 nor fp8 runs here")
    return Check("int8/fp8 layouts", OK, "; ".join(parts), data)


def check_tf32(backend: Backend) -> Check:
    state = precision.tf32_state(torch)
    detail = f"{state['api']} API, FP32 matmuls in TF32: {state['matmul_tf32']}"
    if backend.name == "rocm":
        detail += f"; {precision.HIP_TF32_ENV}={state.get('hipblaslt_allow_tf32') or 'unset'}"
    status = WARN if state["matmul_tf32"] else OK  # an fp32 case would then measure TF32
    return Check("TF32 state", status, detail, state)


def check_sdpa(backend: Backend) -> Check:
    dtype = torch.float32 if backend.name == "cpu" else torch.bfloat16
    q = torch.randn(1, 4, 128, 64, device=backend.torch_device, dtype=dtype)
    accepted, rejected = [], {}
    for choice in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH):
        try:
            with sdpa_kernel([choice]):
                torch.nn.functional.scaled_dot_product_attention(q, q, q)
            accepted.append(choice.name)
        except RuntimeError as error:
            rejected[choice.name] = str(error).splitlines()[0][:120]
    return Check("SDPA backends", OK if accepted else FAIL, f"{dtype} accepts: {', '.join(accepted) or 'none'}",
                 {"accepted": accepted, "rejected": rejected})


# -- power, throttling, other processes (from the audit and one telemetry read) --------------------
def check_power(backend: Backend, audit_result: dict[str, Any]) -> Check:
    adapter = backend.vendor_adapter()
    source = adapter.telemetry_source(backend.cached_info().to_dict())
    reasons: list[str] | None = None
    if source is not None:
        try:
            source.start()
            reasons = source.read().get("throttle_reasons")
        except Exception as error:
            return Check("throttle / power", WARN, f"{source.name}: {type(error).__name__}: {error}")
        finally:
            source.stop()
    findings = [f for f in audit_result["findings"] if f["code"] in ("power_capped", "clocks_locked_low",
                                                                     "cpu_governor_not_performance", "mig_enabled",
                                                                     "partition_mode")]
    doubtful = [f for f in findings if f["lowers_results"]]
    parts = [f"now: {', '.join(reasons) or 'none'}"] if reasons is not None else \
        [adapter.telemetry_gap() or "no live throttle reasons on this device"]
    if backend.name == "cpu":
        host = audit_result["settings"].get("host", {})
        governor = ", ".join(host.get("cpu_governor") or []) or "not readable (usual in VMs)"
        parts.append(f"governor {governor}" + ("" if "cpu_boost" not in host else f", boost {'on' if host['cpu_boost'] else 'off'}"))
    parts += [f["message"] for f in findings]
    status = FAIL if any(f["severity"] == "high" for f in doubtful) else WARN if doubtful else OK
    return Check("throttle / power", status, "; ".join(parts), {"reasons": reasons, "findings": findings})


def check_occupancy(backend: Backend, audit_result: dict[str, Any]) -> Check:
    occupancy = audit_result["settings"].get("occupancy", {})
    host = occupancy.get("host") or {}
    shared = [f for f in audit_result["findings"] if f["code"] == "device_shared"]
    busy = [f for f in audit_result["findings"] if f["code"] == "host_busy"]
    device_list = occupancy.get("device_processes")
    parts = [f["message"] for f in shared + busy]
    if not parts:
        listed = "no other compute process" if device_list and device_list.get("available") else \
            f"device process list: {(device_list or {}).get('reason') or 'not read'}" if backend.name != "cpu" else ""
        parts = [p for p in (listed, f"1-min load {host.get('load_1min')}, steal {host.get('steal_share')}") if p]
    status = FAIL if shared else WARN if busy and backend.name == "cpu" else OK
    return Check("other processes", status, "; ".join(parts), {"occupancy": occupancy})


# -- all of it -------------------------------------------------------------------------------------
def diagnose(device: str = "auto", quick_load_window_s: float = 0.2) -> tuple[Backend | None, list[Check]]:
    """Every check, in order; never raises for a device problem (a failed check says it).
    `cuda:all` (and the like) runs the per-unit checks on every unit, each named after its device."""
    checks = [_guarded("torch build", check_torch_build), _guarded("devices", check_devices)]
    try:
        units = registry.select(device)
    except BenchError as error:
        return None, checks + [Check("selected device", FAIL, str(error))]
    for backend in units:
        checks += _unit_checks(backend, quick_load_window_s, label=len(units) > 1)
    checks.append(_guarded("TF32 state", lambda: check_tf32(units[0])))
    return units[0], checks


def _unit_checks(backend: Backend, quick_load_window_s: float, label: bool) -> list[Check]:
    suffix = f" [{backend.torch_device}]" if label else ""
    audit_result = audit_module.audit(backend.cached_info().to_dict(),
                                      host_load=lambda: procfs.host_load(window_s=quick_load_window_s))
    out = []
    for name, check in (("selected device", lambda: check_selected(backend)),
                        ("vendor library", lambda: check_vendor_library(backend)),
                        ("first/second call", lambda: check_first_calls(backend)),
                        ("timing events", lambda: check_events(backend)),
                        ("int8/fp8 layouts", lambda: check_layouts(backend)),
                        ("SDPA backends", lambda: check_sdpa(backend)),
                        ("throttle / power", lambda: check_power(backend, audit_result)),
                        ("other processes", lambda: check_occupancy(backend, audit_result))):
        result = _guarded(name, check)
        result.name += suffix
        out.append(result)
    return out


def passed(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)
