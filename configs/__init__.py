"""Shipped YAML: suites/, devices/ (accelerator specs) and profiles/ (threshold rules)."""
