"""`--format text|md|json` on specs, devices, fleet, check and profiles: md is a Markdown table,
json parses with the keys it always had, text never cuts a criterion off."""

import json

import pytest
from test_fleet import make_lot
from test_verdict import h200_run

from bench import cli


def _out(capsys, argv, code=0) -> str:
    assert cli.main(argv) == code
    return capsys.readouterr().out


def _assert_md_table(text: str, header_start: str) -> None:
    lines = text.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith(f"| {header_start}")]
    assert heads, text
    separator = lines[heads[0] + 1]
    assert separator.startswith("|") and set(separator) <= set("|-: ")
    assert separator.count("|") == lines[heads[0]].count("|") - lines[heads[0]].count("\\|")
    assert lines[heads[0] + 2].startswith("| ")


@pytest.fixture()
def run_dir(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(h200_run()))
    return tmp_path


def test_specs_formats(capsys):
    _assert_md_table(_out(capsys, ["specs", "H100", "--format", "md"]), "id | name | TPP")
    for argv in (["specs", "H100", "--format", "json"], ["specs", "H100", "--json"]):
        doc = json.loads(_out(capsys, argv))
        assert {"devices", "profiles", "query"} <= set(doc) and len(doc["devices"]) == 3
    text = _out(capsys, ["specs", "H100"])
    assert all(part in text for part in ("h100-sxm", "NVIDIA H100 PCIe", "3A090.a.1, 3A090.a.2", "case-by-case"))


def test_devices_formats(capsys):
    _assert_md_table(_out(capsys, ["devices", "--format", "md"]), "device | vendor")
    for argv in (["devices", "--format", "json"], ["devices", "--json"]):
        infos = json.loads(_out(capsys, argv))
        assert isinstance(infos, list) and {"torch_device", "vendor", "name", "memory_bytes"} <= set(infos[0])
    assert "device" in _out(capsys, ["devices"]).splitlines()[0]


def test_profiles_formats(capsys):
    _assert_md_table(_out(capsys, ["profiles", "--format", "md"]), "id | effective | title")
    listed = json.loads(_out(capsys, ["profiles", "--format", "json"]))
    assert {"id", "title", "effective", "path"} <= set(listed[0])
    shown = _out(capsys, ["profiles", "show", "us-2026-01", "--format", "md"])
    _assert_md_table(shown, "rule | kind")
    assert "DRAM bandwidth less than 6,500 GB/s" in shown and "dram_bandwidth_gbps" not in shown
    assert {"id", "classes", "exemptions"} <= set(json.loads(_out(capsys, ["profiles", "show", "us-2026-01", "--json"])))
    text = _out(capsys, ["profiles", "show", "us-2026-01"])
    assert "DRAM bandwidth less than 6,500 GB/s (strict" in text and "dram_bandwidth_gbps" not in text


def test_check_formats_and_whole_criteria(capsys, run_dir):
    md = _out(capsys, ["check", str(run_dir), "--no-save", "--format", "md"])
    _assert_md_table(md, "criterion | declared")
    for argv in (["--format", "json"], ["--json"]):
        doc = json.loads(_out(capsys, ["check", str(run_dir), "--no-save", *argv]))
        assert {"verdict", "criteria"} <= set(doc)
    text = _out(capsys, ["check", str(run_dir), "--no-save"])
    assert "case-by-case: DRAM bandwidth < 6,500 GB/s (strict)" in text
    assert "dram_bandwidth_gbps <" not in text and "6,500 GB/\n" not in text


def test_json_and_another_format_disagree_is_usage_error(capsys, run_dir):
    assert cli.main(["check", str(run_dir), "--no-save", "--json", "--format", "md"]) == 2
    assert "disagree" in capsys.readouterr().err


def test_fleet_formats(capsys, tmp_path):
    runs = list(map(str, make_lot(tmp_path / "lot", [1.0, 1.0, 1.0], ["A1", "A2", "A3"])))
    code = cli.main(["fleet", *runs, "--allow-unsigned", "--format", "md"])
    md = capsys.readouterr().out
    _assert_md_table(md, "Unit | Device")
    _assert_md_table(md, "Metric | Min")
    assert cli.main(["fleet", *runs, "--allow-unsigned", "--json"]) == code
    assert {"result", "units", "lot_stats"} <= set(json.loads(capsys.readouterr().out))
    assert cli.main(["fleet", *runs, "--allow-unsigned", "--format", "text"]) == code
    text = capsys.readouterr().out
    assert "| Unit |" not in text and "Unit" in text and "A1" in text and "Lot result:" in text
