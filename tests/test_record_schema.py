"""The published JSON Schemas (docs/schema/) are what the generator makes from the code, accept what
accelbench really writes and ships, and agree with the loaders' own key tables."""

from __future__ import annotations

import datetime
import json
import typing
from pathlib import Path

import pytest

from bench.cli import main
from bench.kernels import registry
from bench.kernels.base import Suite
from bench.lab import plan
from bench.measure import config
from bench.measure.config_schema import TIMING_SCHEMA
from bench.record import inputs, schemagen
from bench.record.folder import read_run
from bench.record.validate import problems
from bench.rules import profiles, specs
from bench.yamlfile import read_yaml

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs" / "schema"


def published(name: str) -> dict:
    return json.loads((SCHEMA_DIR / schemagen.file_name(name)).read_text(encoding="utf-8"))


def messages(name: str, data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator(name).iter_errors(data)]


def validator(name: str):
    document = published(name)
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def as_json(data):
    """A YAML document as a lab would hand it to a JSON Schema validator (dates become strings)."""
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime.date) else str(v)))


@pytest.mark.parametrize("name", sorted(schemagen.DOCUMENTS))
def test_committed_schemas_are_what_the_generator_makes(name):
    committed = (SCHEMA_DIR / schemagen.file_name(name)).read_text(encoding="utf-8")
    assert committed == schemagen.text_of(name), "run: python -m bench.record.schemagen"


def test_check_mode_reports_a_stale_file(tmp_path):
    assert schemagen.main(["--out", str(tmp_path)]) == 0
    assert schemagen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "run.schema.json").write_text("{}\n")
    assert schemagen.main(["--check", "--out", str(tmp_path)]) == 1


# --- what accelbench writes validates ------------------------------------------------------------

@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A real, small CPU run with a verdict: GEMM (with its shape search) and STREAM in fp32."""
    out = tmp_path_factory.mktemp("schema") / "run"
    code = main(["run", "--device", "cpu", "--suite", "quick", "--suites", "gemm,stream", "--dtypes", "fp32",
                 "--out", str(out), "--quiet"])
    assert code == 0
    code = main(["check", str(out), "--json"])  # leaves verdict.json beside run.json
    assert code == json.loads((out / "verdict.json").read_text())["exit_code"]
    return out


def test_a_real_run_validates_against_the_published_run_schema(small_run):
    run = json.loads((small_run / "run.json").read_text())
    assert messages("run", run) == []


def test_the_stored_verdict_validates_against_the_published_verdict_schema(small_run):
    verdict = json.loads((small_run / "verdict.json").read_text())
    assert messages("verdict", verdict) == []


@pytest.mark.parametrize("name", ["cpu_sweep_run.json", "cpu_lot_run.json"])
def test_the_stored_reference_runs_validate_against_the_published_run_schema(name):
    path = ROOT / "tests" / "data" / name
    read_run(path, strict=True)
    assert messages("run", json.loads(path.read_text())) == []


def test_the_published_schema_refuses_what_the_reader_refuses(small_run):
    run = json.loads((small_run / "run.json").read_text())
    run["measurements"][0]["throughput"]["value"] = "fast"
    assert not validator("run").is_valid(run)
    run = json.loads((small_run / "run.json").read_text())
    run["status"] = "passed"
    assert not validator("run").is_valid(run)
    run = json.loads((small_run / "run.json").read_text())
    run["measurements"][0]["unlisted"] = 1  # strict, like the tests' own validation
    assert not validator("run").is_valid(run)


# --- shipped inputs validate, and the schemas agree with the loaders ---------------------------------

def shipped(folder: str) -> list[Path]:
    return sorted((ROOT / "configs" / folder).glob("*.yaml"))


@pytest.mark.parametrize("path", shipped("suites"), ids=lambda p: p.name)
def test_shipped_suite_configs_validate(path):
    data = as_json(read_yaml(path))
    assert messages("suite-config", data) == []
    assert problems(data, inputs.SuiteConfigFile, strict=True) is None


@pytest.mark.parametrize("path", [p for p in shipped("devices") if not p.name.startswith("_")], ids=lambda p: p.name)
def test_shipped_device_spec_files_validate(path):
    assert messages("device-spec", as_json(read_yaml(path))) == []


@pytest.mark.parametrize("path", shipped("profiles"), ids=lambda p: p.name)
def test_shipped_profiles_validate(path):
    assert messages("profile", as_json(read_yaml(path))) == []


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("plan*.yaml")), ids=lambda p: p.name)
def test_example_plans_validate(path):
    assert messages("plan", as_json(read_yaml(path))) == []


def keys(typed_dict) -> set[str]:
    return set(typing.get_type_hints(typed_dict))


TYPE_IT = ("type it in bench/record/inputs.py (a TypedDict, Required[...] for its required keys) and "
           "regenerate docs/schema with `python -m bench.record.schemagen`")


def typed_config_gaps(typed, schema: dict, where: str) -> list[str]:
    """Where a suite-config TypedDict and the loader's schema differ, nested mappings included."""
    hints = typing.get_type_hints(typed)
    gaps = [f"{where}.{key}: the loader takes it but {typed.__name__} lacks it: {TYPE_IT}"
            for key in schema if key not in hints]
    gaps += [f"{where}.{key}: {typed.__name__} has it but the loader does not" for key in hints if key not in schema]
    for key, rule in schema.items():
        if isinstance(rule, dict) and key in hints:
            gaps += typed_config_gaps(hints[key], rule, f"{where}.{key}")
    return gaps


def suite_config_gaps() -> list[str]:
    """Every difference between bench/record/inputs.py's suite config and the registry's suites."""
    gaps = typed_config_gaps(inputs.SuiteConfigFile, config.top_schema(), "suite file")
    typed_suites = typing.get_type_hints(inputs.SuitesConfig)
    for name, suite in registry.SUITES.items():
        if name in typed_suites and typed_suites[name].__required_keys__ != set(suite.required):
            gaps.append(f"suite file.suites.{name}: required {sorted(typed_suites[name].__required_keys__)} in "
                        f"{typed_suites[name].__name__}, {sorted(suite.required)} on the registry Suite")
    return gaps


def test_suite_config_keys_agree_with_the_loader():
    assert suite_config_gaps() == []


def test_a_registered_suite_without_its_typed_config_is_named_with_what_to_add(monkeypatch):
    toy = Suite(lambda config, info, probe=None: [], lambda case, backend, seed=0: None,
                config_schema={"sizes": (lambda v: True, "anything"), "timing": TIMING_SCHEMA})
    monkeypatch.setitem(registry.SUITES, "toy", toy)
    assert suite_config_gaps() == [f"suite file.suites.toy: the loader takes it but SuitesConfig lacks it: {TYPE_IT}"]


def test_plan_keys_agree_with_the_loader():
    assert keys(inputs.PlanFile) == set(plan.KEYS)
    assert keys(inputs.ManifestUnitEntry) == set(plan.UNIT_KEYS)
    assert typing.get_args(typing.get_type_hints(inputs.PlanFile)["decision_rule"]) == plan.RULES


def test_device_spec_keys_agree_with_the_loader():
    assert keys(inputs.DeviceEntry) == specs.DEVICE_KEYS
    hints = typing.get_type_hints(inputs.DeviceEntry)
    assert typing.get_args(hints["confidence"]) == specs.CONFIDENCE
    assert typing.get_args(typing.get_type_hints(inputs.PeakEntry)["unit"]) == specs.PEAK_UNITS
    assert typing.get_args(hints["kind"]) == specs.KINDS
    assert keys(inputs.MemoryEntry) == specs.MEMORY_KEYS
    assert keys(inputs.DieAreaEntry) == specs.AREA_KEYS
    assert keys(inputs.InterconnectEntry) == specs.LINK_KEYS


def test_profile_keys_agree_with_the_loader():
    assert keys(inputs.ProfileFile) == profiles.PROFILE_KEYS
    assert typing.get_args(typing.get_type_hints(inputs.MetricCondition)["op"]) == profiles.OPS
    assert typing.get_args(typing.get_type_hints(inputs.ProfileRule)["item"]) == profiles.ITEMS
    assert typing.get_args(typing.get_type_hints(inputs.MetricCondition)["edge"]) == profiles.EDGES


VERDICT_EXIT = {"pass": 0, "conditional pass": 0, "fail": 1, "conditional fail": 1, "inconclusive": 3}


def expected_unit_code(unit: dict) -> int:
    """A unit's exit code from what its record stores: 3 unless complete, else its verdict's code,
    raised to 1 by a failed check."""
    if unit["status"] != "complete":
        return 3
    verdict = unit["verdict"]
    code = max(VERDICT_EXIT[verdict["verdict"]], 1 if unit["summary"]["counts"]["failed_checks"] else 0)
    assert unit["exit_code"] == code and verdict["exit_code"] == VERDICT_EXIT[verdict["verdict"]]
    return code


@pytest.mark.slow
def test_a_real_multi_unit_plan_run_validates_node_and_units(tmp_path):
    """The example plan (two CPU stand-ins, a verdict each): the node record with its `units`, and
    each unit's own run.json, validate strictly and against the published schema."""
    out = tmp_path / "lot"
    code = main(["run", "--plan", str(ROOT / "examples" / "plan-cpu-two-units.yaml"), "--out", str(out), "--quiet"])
    node = read_run(out, strict=True)
    assert node["kind"] == "multi-unit" and node["plan"] and len(node["units"]) == 2
    assert code == max(expected_unit_code(unit) for unit in node["units"])  # the verdicts are host-measured
    assert all(unit["verdict"]["parameters"]["profile"] == "us-2026-01" for unit in node["units"])
    assert messages("run", json.loads((out / "run.json").read_text())) == []
    for unit in node["units"]:
        read_run(out / unit["run_dir"], strict=True)
        assert messages("run", json.loads((out / unit["run_dir"] / "run.json").read_text())) == []
