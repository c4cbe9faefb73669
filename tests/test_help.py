"""Every command's --help shows at least two examples, and every example parses."""

import shlex

import pytest

from bench.cli import build_parser
from bench.cli.common_args import EXAMPLES

DOCUMENTED = ("run", "check", "verify", "fleet", "report", "compare", "specs", "sign", "keygen")


@pytest.mark.parametrize("command", DOCUMENTED)
def test_help_shows_examples_that_parse(command, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    shown = capsys.readouterr().out
    lines = [line.strip() for line in shown.splitlines() if line.strip().startswith(f"bench {command}")]
    assert len(lines) >= 2, shown
    assert command not in EXAMPLES or all(line.strip() in lines for line in EXAMPLES[command].splitlines()[1:])
    for line in lines:
        argv = shlex.split(line.replace("<run-id>", "r1"), comments=True)
        assert argv[:2] == ["bench", command]
        args = parser.parse_args(argv[1:])  # an unknown option would exit here
        assert args.command == command
