"""The one registry of suites. Adding a suite: one new file with cases() and make_kernel(), one line here."""

from __future__ import annotations

from types import ModuleType

from bench.kernels import attention, gemm, interconnect, stream

SUITES: dict[str, ModuleType] = {"gemm": gemm, "attention": attention, "stream": stream, "interconnect": interconnect}
