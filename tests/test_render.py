"""bench/render.py: one table model in three formats, rich optional, and the human names."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from report_fixtures import cpu_run

from bench import render
from bench.render import Table

LONG = "case-by-case: DRAM bandwidth < 6,500 GB/s and TPP < 21,000 (Jan 2026 rule)"


def sample() -> Table:
    return Table(["criterion", "value", "note"], [[LONG, 6500.0, "[bold]not markup[/bold]"], ["x | y", math.nan, None]],
                 title="Limits")


def test_text_tables_wrap_instead_of_cutting_text():
    text = render.to_text([sample()], width=50, use_rich=True)
    assert all(len(line) <= 50 for line in text.splitlines())
    flat = " ".join(text.split())
    for word in LONG.split():
        assert word in flat
    assert "[bold]not markup[/bold]" in flat.replace(" ", "") or "[bold]not" in flat


def test_plain_fallback_has_the_same_cells():
    plain = render.to_text([sample()], use_rich=False)
    assert LONG in plain and "6,500" in plain and plain.splitlines()[0] == "Limits"


def test_rich_stays_optional_and_is_not_imported_up_front():
    code = ("import sys; sys.modules['rich'] = None\n"
            "import bench.render as r\n"
            "print(r.table(['a', 'b'], [['x', 1.5]]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["a", "b", "-", "---", "x", "1.5"]
    lazy = subprocess.run([sys.executable, "-c", "import sys, bench.render; print('rich' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert lazy.stdout.strip() == "False"


def test_markdown_escapes_pipes_and_json_keeps_numbers():
    md = render.to_markdown([sample()])
    assert "| x \\| y | - | - |" in md and "|---|---:|---:|" in md
    doc = json.loads(render.to_json([sample()]))
    assert doc["tables"][0]["rows"][0]["value"] == 6500.0 and doc["tables"][0]["rows"][1]["value"] is None


def test_metric_names_and_units_come_from_one_mapping():
    assert render.metric("dram_bandwidth_gbps").label == "DRAM bandwidth (GB/s)"
    assert render.metric("effective_tpp").label == "Effective TPP"
    assert render.metric("tops_int8").label == "int8 throughput (TOPS)"
    assert render.criterion_text("dram_bandwidth_gbps", "<", 6500, "GB/s") == "DRAM bandwidth < 6,500 GB/s"
    assert render.criterion_text("performance_density", ">=", 5.92, "TPP/mm2") == "Performance density ≥ 5.92 TPP/mm²"
    assert render.humanize_criterion("case-by-case: dram_bandwidth_gbps < 6500 GB/s") == \
        "case-by-case: DRAM bandwidth < 6,500 GB/s"
    assert render.humanize_criterion("case-by-case: dram_bandwidth_gbps < 6,500 GB/s (strict)") == \
        "case-by-case: DRAM bandwidth < 6,500 GB/s (strict)"
    assert render.humanize_criterion("3A090.a: tpp >= 4,800 TPP (inclusive)") == "3A090.a: TPP ≥ 4,800 (inclusive)"
    assert render.humanize_criterion("detected device is the declared one") == "detected device is the declared one"


def test_shapes_read_as_people_write_them():
    assert render.shape_label("gemm/matmul/bf16/m=384,n=256,k=320,search_trial=1") == "384×256×320 (search)"
    assert render.shape_label("m=384,n=768,k=256,variant=standard") == "384×768×256"
    assert render.shape_label("m=64,n=64,k=64,variant=transposed") == "64×64×64 (transposed)"
    m = {"id": "stream/copy/fp32/elements=33554432,role=dram,llc_multiple=4.0", "suite": "stream", "kernel": "copy",
         "dtype": "fp32"}
    assert render.measurement_name(m) == "Stream copy fp32 elements 33554432 (dram, 4.0× LLC)"
    m["params"] = {"array_bytes": 134217728}
    assert render.measurement_name(m) == "Stream copy fp32 128 MiB (dram, 4.0× LLC)"


def test_run_summary_shows_shapes_in_words():
    text = render.summary_text(cpu_run())
    assert "1024×1024×1024" in text and "m=1024" not in text and "Effective TPP" in text
