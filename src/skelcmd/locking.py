"""One process at a time in a folder: `folder_lock(run_dir, "pretrain")`.

The lock is an advisory `flock` on `FOLDER/.skelcmd.lock`, which records who holds it. The
operating system releases it when its process ends however it ends (even by SIGKILL), so a
lock is never stale; the file is removed when the holder finishes. A symbolic link or anything
but a regular file in its place is refused, never followed. Where `fcntl` does not exist
(Windows) nothing is locked.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skelcmd.atomic import make_parents, remove_if_empty
from skelcmd.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".skelcmd.lock"


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text or "a process that has not said who it is yet"


def _open_lock(path: Path) -> int:
    """The lock file opened for writing, created if missing; a symbolic link or anything but a
    regular file there is a UserError (never followed: the lock is written and removed)."""
    not_regular = UserError(
        f"{path} is not a regular file (a symbolic link, a folder or a device); skelcmd writes "
        "its lock there and removes it afterwards, so it never uses what is in its place. "
        "Remove it and run again."
    )
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        if path.is_symlink() or path.exists():  # ELOOP, EISDIR, ENXIO...
            raise not_regular from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise not_regular
    return fd


@contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold `folder` (created if missing) for this process while the block runs; a folder held
    by another process is a UserError that names it. `what` says what holds it, e.g. "pretrain".

    A folder this creates is removed again if it is empty when the block ends.
    """
    folder = Path(folder)
    if fcntl is None:
        yield folder
        return
    created = make_parents(folder)
    path = folder / LOCK_FILE
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(
                f"{folder} is in use by another `skelcmd {what}`: {_holder(path)}. Two runs in "
                "one folder would mix their files; wait for it to finish, stop it, or give "
                "another --out."
            ) from None
        try:  # the previous holder may have removed the file between our open and flock
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        command = " ".join(["skelcmd", *sys.argv[1:]]) if sys.argv else "skelcmd"
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since {started} "
                     f"({command[:200]})\n".encode())  # fmt: skip
        yield folder
    finally:
        try:
            os.unlink(path)
        finally:
            os.close(fd)
            remove_if_empty(created)
