"""Test plans: validation errors name file and key; the plan's SHA-256 lands in every run.json."""

import hashlib
import json

import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.lab.plan import load_plan, validate_against_config

GOOD = """name: lot-x
suite: quick
set: ["suites.gemm.dtypes=[fp32]", "suites.gemm.shapes=[[128,128,128]]", "suites.stream.kernels=[triad]",
      "suites.stream.llc_multiple=0.25", "timing.samples=3", "timing.max_samples=3"]
suites: [gemm, stream]
device: cpu
profile: us-2026-01
decision_rule: simple
manifest:
  lot: L1
  units:
    - {serial: S-1, label: a, stand_in: true}
    - {serial: S-2, label: b, stand_in: true}
"""


def write(tmp_path, text, name="plan.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_plan_loads(tmp_path):
    path = write(tmp_path, GOOD)
    plan = load_plan(path)
    assert plan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert plan.decision_rule == "simple" and [u.serial for u in plan.stand_ins] == ["S-1", "S-2"]
    assert validate_against_config(plan)["name"] == "quick"


@pytest.mark.parametrize("change,key", [
    (("name: lot-x\n", ""), "name"),
    (("decision_rule: simple", "decision_rule: lenient"), "decision_rule"),
    (("device: cpu", "device: cpu\nk: 3"), "k"),
    (("device: cpu", "device: cpu\nrepeatz: 2"), "repeatz"),
    (("{serial: S-2, label: b, stand_in: true}", "{label: b}"), "manifest.units[1]"),
    (("serial: S-2", "serial: S-1"), "manifest.units"),
    (("device: cpu", "device: cuda:all"), "manifest.units"),
    (("label: b,", "label: ../../x,"), "manifest.units[1].label"),
    (("profile: us-2026-01", "declared: NVIDIA H20"), "declared"),
    (("label: b,", "label: 'a/b',"), "manifest.units[1].label"),
])
def test_bad_plan_is_one_error_naming_file_and_key(tmp_path, change, key):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_bad_suite_in_plan_fails_before_running(tmp_path):
    path = write(tmp_path, GOOD.replace("suites: [gemm, stream]", "suites: [gemm, nosuch]"))
    code = main(["run", "--plan", str(path), "--out", str(tmp_path / "r")])
    assert code == 2 and not (tmp_path / "r").exists()


def test_plan_options_cannot_be_overridden(tmp_path):
    path = write(tmp_path, GOOD)
    assert main(["run", "--plan", str(path), "--suite", "quick", "--out", str(tmp_path / "r")]) == 2


def test_single_device_plan_records_sha_and_verdict(tmp_path):
    path = write(tmp_path, GOOD.split("manifest:")[0])
    main(["run", "--plan", str(path), "--quiet", "--out", str(tmp_path / "r")])
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["plan"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert run["plan"]["name"] == "lot-x"
    assert run["verdict"]["parameters"] == {"profile": "us-2026-01", "declared": None, "rule": "simple"}
    assert {m["suite"] for m in run["measurements"]} <= {"gemm", "stream"}


@pytest.mark.parametrize("item,key", [("timing.samples=100000000000000000000", "timing.samples"),
                                      ("suites.gemm.max_iteration_s=-1", "suites.gemm.max_iteration_s"),
                                      ("timing.max_measure_s=.inf", "timing.max_measure_s")])
def test_numbers_a_plan_sets_are_bounded(tmp_path, item, key):
    path = write(tmp_path, GOOD.replace('"timing.samples=3"', f'"{item}"'))
    with pytest.raises(ConfigError) as err:
        validate_against_config(load_plan(path))
    assert str(path) in str(err.value) and key in str(err.value) and "\n" not in str(err.value)
