"""Orchestrating runs: the frozen run request, test plans, node workers (one process per device),
torchrun/srun ranks, the run folder layout of a lot, and lot (fleet) aggregation."""
