"""`bench keygen [--out PATH]`: create an Ed25519 key pair for `bench sign`.

The private key goes to a per-user folder outside any repository by default
($XDG_CONFIG_HOME/accelbench/keys/lab.key, else ~/.config/accelbench/keys/lab.key), mode 0600;
the public key next to it as PATH.pub, to hand to whoever verifies. A private key inside a git
work tree is refused unless --allow-in-repo (one `git add .` would publish it).

Examples:
  bench keygen
  bench keygen --out ~/.config/accelbench/keys/operator.key
  bench sign results/demo-lot --key ~/.config/accelbench/keys/lab.key"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.errors import EXIT_OK, UsageError
from bench.evidence.signing import generate_keys

KEY_NAME = "lab.key"


def default_key_dir() -> Path:
    """$XDG_CONFIG_HOME/accelbench/keys, else ~/.config/accelbench/keys (the XDG default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"  # XDG: ignore a relative value
    return root / "accelbench" / "keys"


def git_work_tree(path: Path) -> Path | None:
    """The git work tree holding the file `path` (a folder above it has a .git folder or file), or None."""
    for folder in (path.parent, *path.parent.parents):
        if (folder / ".git").exists():
            return folder
    return None


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "keygen", help="create an Ed25519 key pair for signing results",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", metavar="PATH",
                        help=f"private key file (default {default_key_dir() / KEY_NAME}); the public key goes to PATH.pub")
    parser.add_argument("--force", action="store_true", help="replace existing key files")
    parser.add_argument("--allow-in-repo", action="store_true",
                        help="write the private key inside a git work tree anyway (make sure git ignores it)")
    return parser


def run(args: argparse.Namespace) -> int:
    target = Path(args.out).expanduser() if args.out else default_key_dir() / KEY_NAME
    tree = git_work_tree(target.absolute())
    if tree is not None and not args.allow_in_repo:
        raise UsageError(f"{target} is inside the git work tree {tree}, where a private key is one `git add` from being "
                         f"published; write it outside (default {default_key_dir() / KEY_NAME}) or pass --allow-in-repo")
    if not args.out:
        default_key_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = generate_keys(target, overwrite=args.force)
    print(f"private key: {keys.private_path} (mode 0600; never put it in a results folder)")
    print(f"public key:  {keys.public_path}")
    print(f"key id:      {keys.key_id}")
    return EXIT_OK
