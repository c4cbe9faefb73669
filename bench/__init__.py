"""accelbench: accelerator throughput, bandwidth and export-control metrics."""

__version__ = "0.1.0"
