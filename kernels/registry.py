"""The one registry of suites. Adding a suite: one new file with cases() and make_kernel() (and, when
some cases depend on earlier results, followups(context) and the bound on how many it adds), its
config schema, defaults and required keys, and one line here; bench/record/inputs.py types its config
(tests/test_record_schema.py says what is missing there)."""

from __future__ import annotations

from bench.kernels import attention, gemm, gemm_followups, interconnect, stream
from bench.kernels.base import Suite

SUITES: dict[str, Suite] = {
    "gemm": Suite(gemm.cases, gemm.make_kernel, followups=gemm_followups.followups, config_schema=gemm.CONFIG_SCHEMA,
                  defaults=gemm.DEFAULTS, required=gemm.REQUIRED, followup_bound=gemm_followups.followup_bound,
                  phase=gemm_followups.phase),
    "attention": Suite(attention.cases, attention.make_kernel, config_schema=attention.CONFIG_SCHEMA,
                       defaults=attention.DEFAULTS, required=attention.REQUIRED),
    "stream": Suite(stream.cases, stream.make_kernel, config_schema=stream.CONFIG_SCHEMA, defaults=stream.DEFAULTS,
                    required=stream.REQUIRED),
    "interconnect": Suite(interconnect.cases, interconnect.make_kernel, config_schema=interconnect.CONFIG_SCHEMA,
                          defaults=interconnect.DEFAULTS, required=interconnect.REQUIRED),
}
