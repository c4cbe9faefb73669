"""TF32 state of torch, read and set through one API.

torch >= 2.9 has per-backend `fp32_precision` ("ieee", "tf32", "none" = inherit) beside the legacy
`allow_tf32` / `set_float32_matmul_precision`. Mixing them makes the legacy getters raise
("you have used mix of the legacy and new APIs"), so where the new API exists only it is used: its
getters never raise and reflect legacy settings too. Older torch gets the legacy calls.
ROCm additionally needs HIPBLASLT_ALLOW_TF32=1 for hipBLASLt to honour TF32 (MI300 and later)."""

from __future__ import annotations

import os
from typing import Any, Callable

HIP_TF32_ENV = "HIPBLASLT_ALLOW_TF32"


def has_new_api(torch: Any) -> bool:
    return isinstance(getattr(getattr(torch, "backends", None), "fp32_precision", None), str)


def _effective(own: str, parent: str) -> str:
    return parent if own == "none" else own


def tf32_state(torch: Any) -> dict[str, Any]:
    """{"api", "matmul_tf32": bool, and the raw settings}; never raises."""
    try:
        if has_new_api(torch):
            generic = torch.backends.fp32_precision
            matmul = torch.backends.cuda.matmul.fp32_precision
            conv = torch.backends.cudnn.conv.fp32_precision
            mkldnn = getattr(getattr(torch.backends.mkldnn, "matmul", None), "fp32_precision", None)
            return {"api": "fp32_precision", "generic": generic, "cuda_matmul": matmul, "cudnn_conv": conv,
                    "mkldnn_matmul": mkldnn, "matmul_tf32": _effective(matmul, generic) == "tf32",
                    "hipblaslt_allow_tf32": os.environ.get(HIP_TF32_ENV)}
        precision = torch.get_float32_matmul_precision()
        allow = bool(torch.backends.cuda.matmul.allow_tf32)
        return {"api": "legacy", "float32_matmul_precision": precision, "cuda_matmul_allow_tf32": allow,
                "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                "matmul_tf32": allow or precision != "highest", "hipblaslt_allow_tf32": os.environ.get(HIP_TF32_ENV)}
    except Exception as error:  # a torch build whose flags misbehave: say so, do not abort the audit
        return {"api": "unreadable", "error": f"{type(error).__name__}: {error}", "matmul_tf32": None}


def set_matmul_tf32(torch: Any, enabled: bool) -> Callable[[], None]:
    """Turn TF32 for FP32 matmuls on or off (CUDA/ROCm cuBLAS and the CPU's oneDNN); returns a restore()."""
    mode = "tf32" if enabled else "ieee"
    if has_new_api(torch):
        owners = [torch.backends.cuda.matmul]
        mkldnn = getattr(torch.backends.mkldnn, "matmul", None)
        if mkldnn is not None and hasattr(mkldnn, "fp32_precision"):
            owners.append(mkldnn)
        saved = [(owner, owner.fp32_precision) for owner in owners]
        for owner in owners:
            owner.fp32_precision = mode

        def restore_new() -> None:
            for owner, value in saved:
                owner.fp32_precision = value

        return restore_new
    saved_precision, saved_allow = torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cuda.matmul.allow_tf32 = enabled

    def restore() -> None:
        torch.set_float32_matmul_precision(saved_precision)
        torch.backends.cuda.matmul.allow_tf32 = saved_allow

    return restore


def enable_hip_tf32(environ: Any = os.environ) -> str:
    """Set HIPBLASLT_ALLOW_TF32=1 unless the user chose a value; returns the value in force.

    PyTorch reads the variable when it picks a hipBLASLt matmul path, so this must run before the
    first matmul (the ROCm backend calls it when selected, before HIP initialises)."""
    environ.setdefault(HIP_TF32_ENV, "1")
    return environ[HIP_TF32_ENV]
