"""Strings and files for people and CI (never read back): progress lines, HTML/Markdown reports
and figures, run comparison, JUnit / job summaries and pytest-benchmark export."""
