"""Pure arithmetic on samples and runs (no torch, no IO): statistics, throughput and TPP, the
uncertainty budget, the summary of a run, data-pattern and perturbation analysis, the shape
search, health lines and rank tests. `bench verify` recomputes with these."""
