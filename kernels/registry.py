"""The one registry of suites. Adding a suite: one new file with cases() and make_kernel() (and, when
some cases depend on earlier results, followups(context)), one line here; its config keys go in
bench/measure/config.py (schema and defaults) and bench/record/inputs.py (the typed suite config)."""

from __future__ import annotations

from bench.kernels import attention, gemm, gemm_followups, interconnect, stream
from bench.kernels.base import Suite

SUITES: dict[str, Suite] = {
    "gemm": Suite(gemm.cases, gemm.make_kernel, followups=gemm_followups.followups),
    "attention": Suite(attention.cases, attention.make_kernel),
    "stream": Suite(stream.cases, stream.make_kernel),
    "interconnect": Suite(interconnect.cases, interconnect.make_kernel),
}
