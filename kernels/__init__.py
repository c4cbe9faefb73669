"""Kernel suites (installed as bench.kernels): one file per suite, registered in registry.py."""
