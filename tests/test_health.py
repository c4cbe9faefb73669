"""The health block (bench/analysis/health.py): warnings counted and the worst named, audit findings, skips
grouped by reason, best shapes as people write them; and `bench run` prints it after its tables."""

from __future__ import annotations

import copy

from report_fixtures import cpu_run

from bench.analysis.health import health_lines, health_text, shape_label


def test_shape_labels():
    assert shape_label("gemm/matmul/fp32/m=384,n=256,k=320,search_trial=1") == "384×256×320 (search)"
    assert shape_label("gemm/matmul/bf16/m=384,n=768,k=256,variant=standard,seed=7") == "384×768×256 (standard)"
    assert shape_label("gemm/matmul/bf16/m=64,n=64,k=64,input_distribution=zeros") == "64×64×64 (zeros inputs)"
    assert shape_label("gemm/matmul/fp32/m=512,n=512,k=512") == "512×512×512"
    stream = {"suite": "stream", "shape": {"elements": 2097152}, "params": {"role": "dram", "array_bytes": 8 << 20}}
    assert shape_label(stream) == "8 MiB (dram)"
    assert shape_label("attention/sdpa/bf16/batch=1,heads=4,seq_len=256,head_dim=64,causal=True") == \
        "batch 1, 4 heads, seq 256, head dim 64 (causal)"


def test_warnings_are_counted_and_the_worst_named():
    lines = [line.text for line in health_lines(cpu_run())]
    spread = next(line for line in lines if "measurements: high spread" in line)
    assert spread.startswith("18 of 22 measurements: high spread")
    assert "worst: stream triad 136 KiB (sweep) (CV 215%)" in spread and "and 15 more" in spread
    assert any(line.startswith("8 of 22 measurements: warm-up did not stabilise") for line in lines)


def test_audit_findings_and_failed_checks_are_problems():
    run = cpu_run()
    run["audit"] = {"findings": [
        {"severity": "high", "code": "power_capped", "message": "power limit 500 W below default 700 W", "lowers_results": True},
        {"severity": "medium", "code": "host_busy", "message": "load average 6.2 on 2 CPUs: other processes compete"},
        {"severity": "info", "code": "compute_mode", "message": "compute mode 1"}]}
    run["measurements"][0]["status"] = "failed"
    lines = health_lines(run)
    bad = [line.text for line in lines if line.level == "bad"]
    assert "audit (high): power limit 500 W below default 700 W — lowers results" in bad
    assert any(text.startswith("1 wrong result(s)") for text in bad)
    assert any("load average 6.2" in line.text and line.level == "warn" for line in lines)
    assert not any("compute mode" in line.text for line in lines)  # info stays in the full list


def test_skips_grouped_by_reason_one_line_each():
    run = cpu_run()
    template = run["skips"][0]
    run["skips"] = []
    for i, dtype in enumerate(["bf16"] * 40 + ["fp16"] * 32):
        run["skips"].append({**template, "dtype": dtype, "reason": f"too slow here: an iteration would take about {i}.5 s"})
    for dtype in ("tf32", "fp8"):
        run["skips"].append({**template, "dtype": dtype, "reason": f"{dtype} is not supported on cpu"})
    lines = [line.text for line in health_lines(run) if "skipped" in line.text]
    assert lines[0] == "72 skipped: too slow here (gemm bf16 ×40, gemm fp16 ×32)"
    assert len(lines) == 3 and all(line.startswith("1 skipped") for line in lines[1:])


def test_a_clean_run_says_so():
    run = copy.deepcopy(cpu_run())
    for m in run["measurements"]:
        m["warnings"] = []
    run["skips"] = []
    lines = health_lines(run)
    assert [line.level for line in lines] == ["ok"] and "all 22 measurements stable" in lines[0].text


def test_health_text_for_the_console():
    text = health_text(cpu_run())
    assert text.splitlines()[1] == "Health" and "  !   18 of 22" in text


def test_a_headline_on_a_noisy_measurement_is_called_out_first():
    lines = health_lines(cpu_run())
    assert lines[0].level == "bad" and lines[0].text.startswith(
        "effective TPP rests on gemm bf16 1024×1024×1024, flagged: high spread; warm-up did not stabilise (CV 15%")
    assert lines[1].text.startswith("effective DRAM bandwidth rests on stream scale 128 MiB (dram), flagged: high spread")


def test_a_headline_with_moderate_spread_is_a_note():
    run = cpu_run()
    setter = run["summary"]["effective_tpp"]["by_dtype"]["bf16"]["measurement_id"]
    m = next(m for m in run["measurements"] if m["id"] == setter)
    m["stats"]["cv"], m["warnings"] = 0.08, ["high spread: coefficient of variation 8.0% > 5%"]
    assert health_lines(run)[0].level == "warn"
