"""RunRequest: built once from argv, plans make new ones, worker argv parses back to the same request."""

import dataclasses

import pytest

from bench.cli import build_parser, main
from bench.errors import UsageError
from bench.lab.plan import load_plan
from bench.lab.request import RunRequest, UnitRole, check_device_syntax

PLAN = """name: lot-x
suite: quick
set: ["timing.samples=3"]
suites: [stream]
device: cpu
profile: us-2026-01
decision_rule: simple
"""


def parse(argv):
    return RunRequest.from_args(build_parser().parse_args(["run", *argv]))


def test_defaults_of_the_parser_are_the_request_defaults():
    assert parse([]) == RunRequest()


def test_worker_argv_parses_back_to_the_same_request():
    request = RunRequest(device="cuda:0", suite="quick", overrides=("timing.samples=3", "seed=2"),
                         suites=("gemm", "stream"), dtypes=("bf16",), out="/r/units/a", force=True,
                         profile="us-2026-01", declared="NVIDIA H20", decision_rule="simple", quiet=True,
                         worker_timeout=30.5, dist_timeout=12.0, stand_in=True,
                         unit=UnitRole("a", "pid", "a note", "SIM-1", True, "cuda:3"))
    assert parse(request.worker_argv()) == request


def test_plan_apply_returns_a_new_request_and_leaves_the_old_one(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    plan = load_plan(path)
    before = parse(["--plan", str(path), "--quiet"])
    after = plan.apply(before)
    assert before.suite == "default" and before.plan is None  # untouched
    assert (after.suite, after.suites, after.profile, after.decision_rule, after.device) == \
        ("quick", ("stream",), "us-2026-01", "simple", "cpu")
    assert after.quiet and after.plan is plan


def test_plan_device_only_replaces_auto(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    assert load_plan(path).apply(RunRequest(device="cpu:0")).device == "cpu:0"


def test_plan_clash_compares_with_the_request_defaults(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    plan = load_plan(path)
    with pytest.raises(UsageError, match="--set"):
        plan.apply(RunRequest(overrides=("timing.samples=9",)))
    with pytest.raises(UsageError, match="--decision-rule"):
        plan.apply(RunRequest(decision_rule="simple"))
    worker = plan.apply(dataclasses.replace(RunRequest(suite="quick"), unit=UnitRole("u")))
    assert worker.suite == "quick"  # the parent built it: no clash check


def test_plan_worker_argv_carries_the_plan_path_alone(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    plan = load_plan(path)
    parent = plan.apply(parse(["--plan", str(path)]))
    worker = parent.for_unit(UnitRole("a", "pid"), "cpu", str(tmp_path / "units" / "a"))
    argv = worker.worker_argv()
    assert "--suite" not in argv and argv[argv.index("--plan") + 1] == str(path)
    assert plan.apply(parse(argv)) == dataclasses.replace(worker, command=())


@pytest.mark.parametrize("text", ["cpu:²", "cuda:1.0", "cuda:-1", "cu da", "cpu:", "cuda:٣"])
def test_device_syntax_is_ascii_kind_index_or_all(text):
    with pytest.raises(UsageError):
        check_device_syntax(text)


def test_non_ascii_device_index_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--device", "cpu:²", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv,fragment", [
    (["--stand-ins", "-1"], "--stand-ins"),
    (["--dist-timeout", "-5"], "--dist-timeout"),
    (["--dist-timeout", "inf"], "--dist-timeout"),
    (["--worker-timeout", "nan"], "--worker-timeout"),
])
def test_numbers_on_the_command_line_are_bounded(argv, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse(argv)
