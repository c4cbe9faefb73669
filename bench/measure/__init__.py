"""Taking numbers: timing policy and stop rule, the harness-overhead probe, suite configs, the
generic case runner, the run writer, observer hooks and the process-group helpers."""
