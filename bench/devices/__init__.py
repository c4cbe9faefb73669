"""Device backends: one file per kind (cpu.py, cuda.py, rocm.py, npu.py, xpu.py, mps.py), one registry
(registry.py: BACKENDS, present, select), and vendors/ (one adapter per vendor library).

Nothing is imported here, so `bench.devices.vendors` (which bench.telemetry, and through it the
data-only commands, import) does not pull torch in. Import from the submodules."""
