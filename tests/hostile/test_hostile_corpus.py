"""The hostile corpus (issue 9): every case in cases.py through `bench.cli.main`, in process.

Each case asserts its exit code and no traceback; a bad input (exit 2) must give exactly one message
line; a verdict case must show its outcome. Cases whose fix lives on another helper's branch are
expected failures (strict) named after that helper, listed in OWNED_ELSEWHERE, so they turn green
(and then fail as XPASS, to be unmarked) when that branch is merged."""

from __future__ import annotations

import re

import pytest
from cases import TRACEBACK, all_cases, one_line_errors

from bench.cli import main

CASES = all_cases()

# Cases that fail on this branch and whose fix belongs to another helper (Case.owner says whose).
FAILING_ON_THIS_BRANCH: set[str] = set()  # every case passes on main; a new failing case goes here first


def _param(case):
    marks = []
    if case.id in FAILING_ON_THIS_BRANCH:
        assert case.owner not in (None, "B"), f"{case.id} is this branch's to fix"
        marks.append(pytest.mark.xfail(strict=True, reason=f"fixed by {case.owner}'s branch"))
    return pytest.param(case, id=case.id, marks=marks)


class MeasuringStarted(BaseException):
    """Raised where the first kernel would run: a bad input must be refused before that."""


def _refuse_to_measure(*_args, **_kwargs):
    raise MeasuringStarted()


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_case(case, lab, tmp_path, capsys, monkeypatch):
    if case.code == 2:
        monkeypatch.setattr("bench.measure.runner.Runner.run", _refuse_to_measure)
        monkeypatch.setattr("bench.lab.node.popen_spawner", _refuse_to_measure)  # one worker process per unit
    argv = case.build(lab, tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # a command that exits by itself still owes a clear code
        code = exc.code
    except MeasuringStarted:
        pytest.fail("the input was not refused before the first measurement")
    out, err = capsys.readouterr()
    assert not TRACEBACK.search(out + err), (out + err)[-2000:]
    assert code == case.code, f"exit {code}, expected {case.code}\n{(out + err)[-1500:]}"
    if case.kind == "error" and case.code == 2:
        lines = one_line_errors(err)
        assert len(lines) == 1, f"expected one message line, got {lines[:5]}"
        assert len(lines[0]) < 600, f"message of {len(lines[0])} characters"
        if case.message:
            assert re.search(case.message, lines[0]), lines[0]
    elif case.message:
        assert re.search(case.message, out + err), (out + err)[-2000:]


def test_corpus_size_and_spread():
    """At least 150 cases, across every command and every reader."""
    assert len(CASES) >= 150
    prefixes = {c.id.split("/")[0].split("-")[0] for c in CASES}
    assert {"check", "verify", "fleet", "sign", "report", "compare", "run", "plan", "suite", "manifest",
            "declared", "profile", "keygen", "specs", "forged", "cli"} <= prefixes


def test_expected_failures_are_counted_by_owner():
    """The lead's tally: which helper's merge should turn which cases green."""
    by_owner: dict[str, int] = {}
    for case in CASES:
        if case.id in FAILING_ON_THIS_BRANCH:
            by_owner[case.owner] = by_owner.get(case.owner, 0) + 1
    assert sum(by_owner.values()) == len(FAILING_ON_THIS_BRANCH)
    assert set(FAILING_ON_THIS_BRANCH) <= {c.id for c in CASES}
