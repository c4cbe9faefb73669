"""The run record contract: a real quick CPU run validates strictly against bench.record.schema and
round-trips to the same bytes; the one reader turns every malformed file into one RecordError."""

from __future__ import annotations

import json
import math
import os
import re
import stat
import typing
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import EXIT_USAGE, RecordError
from bench.record import folder, jsonfile, schema
from bench.record.validate import problems, validate

REFERENCE_RUN = Path(__file__).parent / "data" / "cpu_sweep_run.json"


@pytest.fixture(scope="module")
def quick_run(real_quick_run) -> Path:
    return real_quick_run  # conftest.py: one real quick CPU run per session, read only here


# --- the schema agrees with the code ---------------------------------------------------------------

def test_a_real_quick_run_validates_strictly(quick_run):
    run = folder.read_run(quick_run, strict=True)
    assert run["schema_version"] == schema.SCHEMA_VERSION and run["status"] == "complete"
    assert run["measurements"] and run["skips"] and run["searches"]


def test_the_stored_reference_run_still_loads():
    run = folder.read_run(REFERENCE_RUN, strict=True)
    assert run["summary"]["effective_tpp"]["dtype"] == "bf16"


def test_reading_and_writing_back_gives_the_same_bytes(quick_run, tmp_path):
    original = (quick_run / folder.RUN_FILE).read_bytes()
    copy = folder.RunFolder(tmp_path / "copy")
    copy.write_run(folder.read_run(quick_run))
    assert copy.run_file.read_bytes() == original


def test_a_stored_verdict_validates(quick_run, tmp_path):
    judged = tmp_path / "judged"
    judged.mkdir()
    (judged / folder.RUN_FILE).write_bytes((quick_run / folder.RUN_FILE).read_bytes())
    code = main(["check", str(judged), "--json"])
    verdict = folder.read_verdict(judged, strict=True)
    assert verdict is not None and verdict["criteria"] and code == verdict["exit_code"]  # a host-measured verdict


def test_a_key_the_schema_does_not_name_fails_only_strict_validation(quick_run):
    run = json.loads((quick_run / folder.RUN_FILE).read_text())
    run["measurements"][0]["throughput"]["newly_added"] = 1.0
    assert problems(run, schema.Run) is None
    assert "measurements[0].throughput.newly_added: unknown key" in problems(run, schema.Run, strict=True)


def test_a_run_missing_a_required_block_names_it(quick_run):
    run = json.loads((quick_run / folder.RUN_FILE).read_text())
    del run["measurements"][2]["stats"]
    assert "measurements[2]: missing required key 'stats'" in problems(run, schema.Run)


def test_files_are_written_with_the_umask_not_0600(quick_run):
    for name in (folder.RUN_FILE, folder.CSV_FILE):
        mode = stat.S_IMODE((quick_run / name).stat().st_mode)
        assert mode == 0o666 & ~jsonfile.current_umask(), (name, oct(mode))


def test_the_csv_has_one_row_per_measurement(quick_run):
    lines = (quick_run / folder.CSV_FILE).read_text().splitlines()
    run = folder.read_run(quick_run)
    assert len(lines) == 1 + len(run["measurements"]) and lines[0].startswith("id,suite,kernel,dtype,")


# --- the reader refuses hostile files ---------------------------------------------------------------

GOOD = {"schema_version": 1, "method_version": "1.0", "run_id": "r", "status": "complete", "started_at": None,
        "measurements": [], "skips": []}

HOSTILE = {
    "binary": (b"\x00\x01\x02{}", "binary content"),
    "latin-1": ('{"run_id": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
    "malformed": (b'{"schema_version": 1,', "malformed JSON"),
    "a list": (b"[1, 2]", "top level is a list"),
    "a number": (b"3", "top level is a single value"),
    "deep": (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper than"),
    "fairly deep": (b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}", "nested deeper than 64"),
    "duplicate keys": (b'{"schema_version": 1, "schema_version": 1}', "duplicate key 'schema_version'"),
    "NaN": (json.dumps({**GOOD, "x": 1}).replace("1}", "NaN}").encode(), "non-finite number NaN"),
    "Infinity": (json.dumps(GOOD).replace('"started_at": null', '"started_at": -Infinity').encode(),
                 "non-finite number -Infinity"),
    "future": (json.dumps({**GOOD, "schema_version": 99}).encode(), "schema_version 99 is from a newer"),
    "version as text": (json.dumps({**GOOD, "schema_version": "1"}).encode(), "schema_version is missing"),
    "version as bool": (json.dumps({**GOOD, "schema_version": True}).encode(), "schema_version is missing"),
    "old version": (json.dumps({**GOOD, "schema_version": 0}).encode(), "older than any"),
    "wrong type": (json.dumps({**GOOD, "measurements": {}}).encode(), "measurements: expected a list"),
    "bad status": (json.dumps({**GOOD, "status": "passed"}).encode(), "status: must be one of"),
    "huge key": (json.dumps({**GOOD, "skips": [{"x" * 10_000: 1}]}).encode(), "skips[0]: missing required key"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_run_json_is_one_record_error(tmp_path, name):
    content, fragment = HOSTILE[name]
    (tmp_path / folder.RUN_FILE).write_bytes(content)
    with pytest.raises(RecordError) as excinfo:
        folder.read_run(tmp_path)
    message = str(excinfo.value)
    assert fragment in message and "\n" not in message and len(message) < 300, message
    assert main(["check", str(tmp_path)]) == EXIT_USAGE


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "MAX_RUN_BYTES", 100)
    (tmp_path / folder.RUN_FILE).write_text(json.dumps({**GOOD, "pad": "x" * 200}))
    with pytest.raises(RecordError, match="larger than the 100 bytes"):
        folder.read_run(tmp_path)


def test_a_folder_without_run_json_says_so(tmp_path):
    with pytest.raises(RecordError, match="no run.json here"):
        folder.read_run(tmp_path)


def test_a_malformed_verdict_json_is_refused_and_a_missing_one_is_none(tmp_path):
    assert folder.read_verdict(tmp_path) is None
    (tmp_path / folder.VERDICT_FILE).write_text('{"verdict": "pass", "verdict": "fail"}')
    with pytest.raises(RecordError, match="duplicate key 'verdict'"):
        folder.read_verdict(tmp_path)
    (tmp_path / folder.VERDICT_FILE).write_text('{"verdict": "pass"}')
    with pytest.raises(RecordError, match="missing required key"):
        folder.read_verdict(tmp_path)


@pytest.mark.parametrize("label", ["..", "../x", "a/b", ".hidden", "", "a\\b", "x" * 200, "tab\there"])
def test_unit_labels_stay_inside_the_units_folder(tmp_path, label):
    with pytest.raises(RecordError, match="not a plain folder name"):
        folder.RunFolder(tmp_path).unit(label)


def test_a_plain_unit_label_is_a_sub_folder(tmp_path):
    assert folder.RunFolder(tmp_path).unit("gpu-0").path == tmp_path / "units" / "gpu-0"


# --- the writer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_the_writer_never_writes_nan_or_infinity(tmp_path, bad):
    target = tmp_path / "run.json"
    with pytest.raises(RecordError, match=r"non-finite number \(NaN or Infinity\) at summary.value"):
        jsonfile.write_json(target, {"summary": {"value": bad}})
    assert not target.exists() and not list(tmp_path.iterdir())  # no temporary file left behind


def test_the_writer_replaces_atomically_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "run.json"
    jsonfile.write_json(target, {"a": 1})
    with pytest.raises(RecordError):
        jsonfile.write_json(target, {"a": math.nan})
    assert json.loads(target.read_text()) == {"a": 1}


def test_the_writer_honours_a_stricter_umask(tmp_path):
    old = os.umask(0o077)
    try:
        path = jsonfile.write_json(tmp_path / "x.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_numpy_scalars_are_written_as_numbers(tmp_path):
    np = pytest.importorskip("numpy")
    path = jsonfile.write_json(tmp_path / "x.json", {"n": np.int64(3), "v": np.float64(0.5)})
    assert json.loads(path.read_text()) == {"n": 3, "v": 0.5}


# --- the validator on its own ---------------------------------------------------------------------

def test_validator_distinguishes_int_float_and_bool():
    assert problems({"m": 1, "n": 2, "k": 3}, schema.GemmShape) is None
    assert "expected an integer, found a number" in problems({"m": 1.5, "n": 2, "k": 3}, schema.GemmShape)
    assert "expected an integer, found a boolean" in problems({"m": True, "n": 2, "k": 3}, schema.GemmShape)
    assert problems({"min": 1, "median": 2.0, "max": 3}, schema.Spread) is None  # an int is a number


def test_validator_checks_finiteness_inside_open_blocks_too():
    record = {"id": "x", "suite": "s", "kernel": "k", "dtype": "fp32", "shape": {}, "params": {"deep": [math.inf]},
              "reason": "r"}
    assert "params.deep[0]: not a finite number" in problems(record, schema.Skip)


def test_validator_messages_name_the_source_and_never_the_value():
    with pytest.raises(RecordError) as excinfo:
        validate({"name": "x" * 100_000, "version": 1, "git_commit": None}, schema.Tool, "t.json")
    assert str(excinfo.value) == "t.json: version: expected a string, found a number"


# --- docs/design.md's outline names what the schema names ----------------------------------------

def outline_tree(text: str) -> dict[str, dict]:
    """'a, b {c, d: [{e}]}, [f]' -> {'a': {}, 'b': {'c': {}, 'd': {'e': {}}}, 'f': {}}."""
    root: dict[str, dict] = {}
    stack, last = [root], ""
    for token in re.findall(r"[A-Za-z_][A-Za-z_0-9]*|[{}\[\]]", text):
        if token == "{":
            stack.append(stack[-1].setdefault(last, {}))
        elif token == "[":  # a list or an optional key: transparent
            stack.append(stack[-1])
        elif token in "}]":
            stack.pop()
        else:
            stack[-1].setdefault(token, {})
            last = token
    return root


def test_design_md_outline_names_every_key_of_a_single_device_run():
    design = (Path(__file__).parents[1] / "docs" / "design.md").read_text(encoding="utf-8")
    block = design.split("In outline, a single-device run:\n```\n", 1)[1].split("```", 1)[0]
    block = block.replace("search record", "").replace("dtype:", "").replace("..", "")
    tree = outline_tree(block)
    node_only = {"kind", "mode", "units", "problems"}
    assert set(tree) == set(typing.get_type_hints(schema.Run)) - node_only
    assert set(tree["measurements"]) == set(typing.get_type_hints(schema.Measurement))
    assert set(tree["skips"]) == set(typing.get_type_hints(schema.Skip))
    assert set(tree["summary"]) == set(typing.get_type_hints(schema.Summary))
    assert set(tree["audit"]) == set(typing.get_type_hints(schema.Audit))
    assert set(tree["measurements"]["throughput"]) == set(typing.get_type_hints(schema.Throughput))


def test_a_huge_or_odd_key_in_a_path_is_bounded_and_ascii():
    record = {"name": "n", "version": "v", "git_commit": None, "\u00e9" + "k" * 10_000: 1}
    message = problems(record, schema.Tool, strict=True)
    assert message.startswith("value: \\xe9kkk") and message.endswith(": unknown key (not in Tool)")
    assert len(message) < 300 and message.isascii()


@pytest.mark.parametrize("text", ['{"x": 1e999}', '{"x": -1e999}', '{"x": 123456789012345678901}'])
def test_numbers_another_parser_reads_differently_are_refused(text):
    with pytest.raises(RecordError, match="out of range|more than 20 digits"):
        jsonfile.parse_json(text, "t.json")


def test_numbers_at_the_bounds_still_read():
    assert jsonfile.parse_json('{"x": 12345678901234567890, "y": -1.5e308}', "t.json") == {
        "x": 12345678901234567890, "y": -1.5e308}
