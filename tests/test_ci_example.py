"""examples/ci/github-actions.yml cannot rot: it is a well-formed workflow, installs the CPU build of
torch, and every `bench` command it runs parses with our own argparse parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from bench.cli import build_parser

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "ci" / "github-actions.yml"
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1"}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def scripts() -> list[str]:
    return [step["run"] for step in steps() if "run" in step]


def commands(tool: str) -> list[list[str]]:
    """Each invocation of `tool` in the run scripts, as argv, with ${{ }} expressions and shell
    variables replaced by placeholders and shell operators cut off."""
    found = []
    for script in scripts():
        joined = re.sub(r"\\\n\s*", " ", script)
        for line in joined.splitlines():
            line = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", line)
            tokens = shlex.split(line, comments=True)
            for start, token in enumerate(tokens):
                if token == tool:
                    argv = []
                    for arg in tokens[start + 1:]:
                        if arg in SHELL_OPERATORS:
                            break
                        argv.append(arg)
                    found.append(argv)
    return found


def test_the_workflow_is_well_formed():
    doc = workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    for step in steps():
        assert ("uses" in step) != ("run" in step), step
    assert any(step.get("uses", "").startswith("actions/checkout@") for step in steps())


def test_run_scripts_take_expressions_through_env_not_inline():
    # ${{ }} pasted into a script is a shell-injection path; the example passes them as env variables
    assert not any("${{" in script for script in scripts())


def test_torch_comes_from_the_cpu_wheel_index_before_accelbench():
    text = "\n".join(scripts())
    torch_line = next(line for line in text.splitlines() if "install torch" in line)
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line
    assert text.index(torch_line) < text.index("pip install -e .")


def test_it_measures_compares_writes_the_job_summary_and_gates():
    names = [argv[0] for argv in commands("bench")]
    assert names.count("run") >= 2 and "compare" in names
    compare = next(argv for argv in commands("bench") if argv[0] == "compare")
    assert "--fail-on-regression" in compare and "--summary-md" in compare
    assert "$GITHUB_STEP_SUMMARY" in compare


@pytest.mark.parametrize("argv", commands("bench"), ids=lambda argv: " ".join(argv[:1]))
def test_every_bench_command_parses(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed why
        pytest.fail(f"`bench {' '.join(argv)}` does not parse (exit {exc.code})")
    assert getattr(args, "handler", None) is not None
