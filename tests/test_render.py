"""bench/render.py: one table model in three formats, rich optional, and the human names."""

from __future__ import annotations

import json
import math
import random
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


CELLS = ["a", "bb", "TPP", "3A090.a.1, 3A090.a.2*", "µs", "mm²", "—", "GB/s", "", "x y", "é", "日本", "🙂", "1,234.5",
         1.5, 12345, None, 0.0001, math.nan]


def random_table(rng: random.Random) -> Table:
    columns = rng.randint(1, 7)
    return Table([str(rng.choice(CELLS)) or "c" for _ in range(columns)],
                 [[rng.choice(CELLS) for _ in range(columns)] for _ in range(rng.randint(0, 6))],
                 align=[rng.choice("lr") for _ in range(columns)] if rng.random() < 0.5 else None)


def test_the_direct_layout_is_exactly_what_rich_prints():
    """`bench specs` and friends lay out unwrapped tables without rich's renderer: same text, to the character,
    for wide (CJK, emoji) and narrow cells, both alignments, empty tables, and widths that do and don't fit."""
    rng = random.Random(7)
    direct = 0
    for _ in range(600):
        table, width = random_table(rng), rng.randint(20, 160)
        laid_out = render._unwrapped_rich_layout(table, width)
        if laid_out is not None:
            direct += 1
            assert laid_out == render._rich_table(table, width), (table, width)
    assert direct > 300  # most of them fit: the comparison ran
    summary = render.summary_tables(cpu_run())
    width = render.natural_width(summary)
    assert [render._unwrapped_rich_layout(t, width) for t in summary] == [render._rich_table(t, width) for t in summary]


def test_a_cell_that_must_wrap_or_break_a_line_goes_to_rich():
    assert render._unwrapped_rich_layout(Table(["a", "b"], [["x" * 30, "y"]]), width=20) is None
    assert render._unwrapped_rich_layout(Table(["a"], [["two\nlines"]]), width=80) is None
