"""Claiming the folder a `bench run` writes: checked before the first kernel, locked while it runs.

A folder that already holds anything (above all a signed or judged run) is refused unless the
user passes --force; a second run into the same folder fails at once on an exclusive,
non-blocking flock of LOCK_FILE; an --out that is a file, a dangling link or in a place that
cannot be written is a UsageError. (Unit labels: bench.record.folder.safe_label.)"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from pathlib import Path

from bench.errors import UsageError

LOCK_FILE = ".bench-run.lock"
EVIDENCE = {"signature.dsse.json": "signed", "verdict.json": "judged"}  # bench.evidence.signing, bench.rules.verdict
def check_out(path: Path, force: bool, contents: bool = True, option: str = "--out") -> None:
    """Refuse an output folder that cannot or must not be written, before anything is measured."""
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{option} {path}: a dangling symbolic link (to {os.readlink(path)})")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a folder")
    if path.is_dir():
        if contents:
            _check_contents(path, force)
        _probe(path, f"{option} {path}: folder is not writable")
        return
    parent = _existing_parent(path)
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is not a folder")
    _probe(parent, f"{option} {path}: cannot create it in {parent}")


def _probe(folder: Path, message: str) -> None:
    """Create and remove a file: the one test of writability that also holds for root and
    read-only mounts (os.access does not)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".bench-probe-")
    except OSError as exc:
        raise UsageError(f"{message} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _busy(folder: Path) -> str | None:
    """The pid written in a lock file that another process holds, else None (or '' if unknown)."""
    try:
        handle = (folder / LOCK_FILE).open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def _refuse_busy(folder: Path, holder: str) -> UsageError:
    return UsageError(f"--out {folder}: another bench run is writing there" + (f" (pid {holder})" if holder else "")
                      + "; wait for it or choose another folder")


def _check_contents(path: Path, force: bool, locked_here: bool = False) -> None:
    holder = None if locked_here else _busy(path)
    if holder is not None:
        raise _refuse_busy(path, holder)
    entries = sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE)
    if not entries or force:
        return
    evidence = [what for name, what in EVIDENCE.items() if name in entries]
    kind = f"a {' and '.join(evidence)} run" if evidence else f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    raise UsageError(f"--out {path}: folder is not empty ({kind}, e.g. {entries[0]}); "
                     "choose a new folder or pass --force to write over it")


class FolderLock:
    """An exclusive flock on DIR/.bench-run.lock for as long as the run writes DIR."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.handle = None
        self.removed: list[str] = []

    def acquire(self) -> "FolderLock":
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+")
        except OSError as exc:
            raise UsageError(f"--out {self.folder}: cannot write there ({exc.strerror or exc})") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _refuse_busy(self.folder, holder) from None
            raise UsageError(f"--out {self.folder}: cannot lock ({exc.strerror or exc})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is None:
            return
        self.path.unlink(missing_ok=True)  # the folder holds only the run's files again (signing hashes all)
        self.handle.close()
        self.handle = None

    def __enter__(self) -> "FolderLock":
        return self if self.handle is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(folder: Path, force: bool) -> FolderLock:
    """Check, lock, then look inside the output folder (under the lock, so that of two runs
    started together one is told another run is writing, not that the folder is full). With
    --force, a signature or verdict of the run being replaced is removed: it would describe
    numbers that are no longer there."""
    check_out(folder, force, contents=False)
    lock = FolderLock(folder).acquire()
    try:
        _check_contents(folder, force, locked_here=True)
        for name in EVIDENCE:
            if force and (folder / name).is_file():
                (folder / name).unlink()
                lock.removed.append(name)
    except BaseException:
        lock.release()
        raise
    return lock
