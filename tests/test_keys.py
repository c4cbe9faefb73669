"""Private keys: created outside any repository by default, refused inside a work tree, and a
public key passed to `sign` is named as such."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from report_fixtures import cpu_run, write

from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_keygen_defaults_to_the_per_user_config_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["keygen"]) == 0
    key = tmp_path / "config" / "accelbench" / "keys" / "lab.key"
    assert key.is_file() and (key.parent / "lab.key.pub").is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert str(key) in capsys.readouterr().out


def test_keygen_without_xdg_uses_dot_config(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["keygen"]) == 0
    assert (tmp_path / ".config" / "accelbench" / "keys" / "lab.key").is_file()


def test_keygen_refuses_a_git_work_tree_unless_allowed(tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    target = repo / "keys" / "lab.key"
    assert main(["keygen", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inside the git work tree" in err[0] and "--allow-in-repo" in err[0]
    assert not target.exists()
    assert main(["keygen", "--out", str(target), "--allow-in-repo"]) == 0 and target.is_file()
    worktree = tmp_path / "wt"  # a `git worktree` has a .git file, not a folder
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    assert main(["keygen", "--out", str(worktree / "lab.key")]) == 2


def test_keys_are_git_ignored_in_this_repository():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to check the ignore rule against")
    result = subprocess.run(["git", "check-ignore", "-q", "keys/lab.key"], cwd=ROOT, timeout=30)
    assert result.returncode == 0


def test_sign_names_a_public_key_passed_as_the_private_key(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path / "k" / "lab.key")]) == 0
    folder = write(tmp_path / "run", cpu_run())
    capsys.readouterr()
    assert main(["sign", str(folder), "--key", str(tmp_path / "k" / "lab.key.pub")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"bench sign: error: private key {tmp_path / 'k' / 'lab.key.pub'}: this is the public key; " \
                  f"pass {tmp_path / 'k' / 'lab.key'}"
    assert main(["sign", str(folder), "--key", str(tmp_path / "k" / "lab.key")]) == 0
