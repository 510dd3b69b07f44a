"""Safe writes: what an output may replace, atomic replacement, and cleaning up after a crash.

Every file and folder skelcmd writes goes through `atomic_path`: it is built under a temporary
name beside the target and renamed into place at the end, so a crash or an error leaves the old
target (or nothing) under the final name, never half a file. The rules, in one place:

- A single-file output never replaces a folder (`export --out runs/a` with runs/a a run
  directory is an error, not an ONNX file in its place), and a folder output never replaces a
  file; what a folder output may replace beyond that is its caller's rule (data sets:
  `skelcmd.data.writer.check_replaceable`). `check_output_file` applies the file rule early.
- Temporaries are named `.NAME.tmp-PID-TAG` (the old target, while it is swapped out,
  `.NAME.old-PID-TAG`; TAG starts with a digest of the host name). A process killed without a
  chance to clean up (SIGKILL, power loss) leaves them behind; the next write of the same
  target on the same host removes those of dead processes, and puts back an old target that a
  crash left swapped out.
- Folders created for an output are removed again if the write fails and they stayed empty.
- An output never lies inside a folder the command reads (its input data sets):
  `check_outside_inputs`, which every command with --out applies to its inputs.
- A full disk (ENOSPC, EDQUOT, or any error while the target's file system has under 1 MiB
  left: torch reports a short write as a RuntimeError) is the UserError "disk full while
  writing FILE", the temporaries removed.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import re
import shutil
import signal
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from skelcmd.errors import UserError

_TEMP = re.compile(
    r"\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-(?P<host>[0-9a-f]{4})[0-9a-f]{4}"
)
# (a process id means something only on its own machine: temporaries of other hosts are kept)
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:4]
_IN_TEXT = re.compile(r"(?<![^/\\\s(\"'])\.(?P<name>[^/\\\s]+?)\.(?:tmp|old)-\d+-[0-9a-f]{8}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process, or no way to tell: keep its files
    return True


def temporary_of(name: str) -> tuple[str, str] | None:
    """(the final name, "tmp" or "old") of a temporary file name that `temp_sibling` makes
    (`.NAME.tmp-PID-TAG`), else None."""
    match = _TEMP.fullmatch(name)
    return (match["name"], match["kind"]) if match else None


def temp_sibling(final: Path, kind: str = "tmp") -> Path:
    """A fresh temporary name beside `final` that `sweep_stale` recognises as this process's."""
    return final.with_name(f".{final.name}.{kind}-{os.getpid()}-{_HOST}{uuid.uuid4().hex[:4]}")


# The longest message the CLI prints, in characters; the rest is cut (a value quoted from a
# file can be megabytes long).
MESSAGE_LIMIT = 2000


def user_text(text: str) -> str:
    """`text` (a message, a path) with every temporary name (`.NAME.tmp-PID-TAG`, `.NAME.old-
    PID-TAG`) shown as the NAME the user gave, cut after MESSAGE_LIMIT characters (saying so):
    the CLI passes every message through this."""
    shown = _IN_TEXT.sub(r"\g<name>", text[: 2 * MESSAGE_LIMIT])
    if len(shown) <= MESSAGE_LIMIT and len(text) <= 2 * MESSAGE_LIMIT:
        return shown
    return f"{shown[:MESSAGE_LIMIT]} ... [message cut: {len(text):,} characters in all]"


def sweep_stale(final: str | Path) -> None:
    """Remove the temporaries of `final` left by processes that no longer run; restore an old
    target that a crash left swapped out (`.NAME.old-*` while NAME itself is missing)."""
    final = Path(final)
    if not final.parent.is_dir():
        return
    for path in sorted(final.parent.glob(f".{glob.escape(final.name)}.*-*")):
        match = _TEMP.fullmatch(path.name)
        if match is None or match["name"] != final.name or match["host"] != _HOST:
            continue
        if _alive(int(match["pid"])):
            continue
        if match["kind"] == "old" and not (final.exists() or final.is_symlink()):
            os.replace(path, final)
        else:
            _remove(path)


def make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing ancestors; return those created, deepest first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def remove_if_empty(folders: Iterable[Path]) -> None:
    """Remove each folder (deepest first) while it is empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def check_outside_inputs(out: str | Path, datasets: Iterable[str | Path]) -> Path:
    """`out` (a file or folder output) unless it is, or lies inside, one of `datasets` (the
    folders the command reads, e.g. its input data sets): then a UserError, before any work.

    Paths are compared resolved (symbolic links, `..`), so no spelling of an input's path
    lets an output land in it, side files included."""
    out = Path(out)
    target = out.resolve()
    for folder in datasets:
        where = Path(folder).resolve()
        if target == where or where in target.parents:
            raise UserError(
                f"{out} lies inside the input {folder}; writing there could destroy what this "
                "command reads. Give an output outside it. Nothing was written."
            )
    return out


def check_output_file(
    path: str | Path, inputs: Iterable[str | Path] = (), *, datasets: Iterable[str | Path] = ()
) -> Path:
    """`path` as a single-file output: a UserError if it is a folder, one of `inputs`, or
    inside one of the folders `datasets` (`check_outside_inputs`)."""
    path = check_outside_inputs(path, datasets)
    if path.is_dir():
        raise UserError(
            f"{path} is a folder; this output is a single file and never replaces a folder. "
            f"Give a file name (e.g. {path / 'NAME'}). Nothing was written."
        )
    for source in inputs:
        if path.exists() and Path(source).exists() and path.samefile(source):
            raise UserError(
                f"{path} is also this command's input; writing there would destroy it. Give "
                "another output file."
            )
    return path


def disk_full(error: BaseException, folder: Path) -> bool:
    """Whether `error`, raised while writing into `folder`, comes from a full disk."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 1 << 20


@contextmanager
def full_disk_named(output: Path, folder: Path) -> Iterator[None]:
    """Turn an error of the block that writes `output` into `folder` into the UserError "disk
    full while writing OUTPUT" when a full disk caused it (`disk_full`)."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, UserError) or not disk_full(exc, folder):
            raise
        raise UserError(
            f"disk full while writing {output} ({exc}); the partial output was removed. Free "
            "some space and run again."
        ) from exc


@contextmanager
def atomic_path(
    final: str | Path, overwrite: bool = True, *, directory: bool = False
) -> Iterator[Path]:
    """Yield a temporary sibling path to write a file (or, with `directory=True`, a folder) to;
    rename it to `final` when the block ends without an error.

    With `overwrite=False` an existing `final` is an error (checked before any work is done).
    A file never replaces a folder nor a folder a file (UserError). Replacing an existing
    folder moves it aside first, so the old one survives a failure.
    """
    final = Path(final)
    sweep_stale(final)
    if not directory:
        check_output_file(final)
    elif final.exists() and not final.is_dir():
        raise UserError(f"{final} is a file; a folder cannot replace it. Give another path.")
    if final.exists() and not overwrite:
        raise UserError(f"{final} already exists; pass --overwrite to replace it.")
    created = make_parents(final.parent)
    tmp = temp_sibling(final)
    done = False
    try:
        with full_disk_named(final, final.parent):
            yield tmp
        if final.is_dir() and not final.is_symlink():
            old = temp_sibling(final, "old")
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
        done = True
    finally:
        _remove(tmp)
        if not done:
            remove_if_empty(created)


_STOP_SIGNALS = [signal.SIGINT, *([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])]


@contextmanager
def _final_step() -> Iterator[None]:
    """Hold SIGTERM and Ctrl-C while the block puts a command's last outputs in place: once it
    has, they are complete and the command ends normally, so a signal held meanwhile is
    dropped; if the block fails, the signal is delivered after it. Outside the main thread
    (where handlers cannot be set) nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    for number, handler in previous.items():
        if handler is not None:  # (None: set outside Python, left alone)
            signal.signal(number, lambda signum, frame: held.append(signum))
    done = False
    try:
        yield
        done = True
    finally:
        for number, handler in previous.items():
            if handler is not None:
                signal.signal(number, handler)
        if held and not done:
            signal.raise_signal(held[0])


@contextmanager
def staged_outputs(folder: str | Path, name: str = "outputs") -> Iterator[Path]:
    """Yield an empty temporary folder for several files that all belong in `folder`; when the
    block ends without an error, each is moved into `folder` (replacing a file of that name),
    otherwise none is and `folder` is as it was. This is a command's last step: a SIGTERM or
    Ctrl-C while the files are moved neither splits them nor fails the finished command."""
    folder = Path(folder)
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise UserError(
            f"{folder} is a file; these outputs go into a folder, and a folder never replaces "
            "a file. Give a folder (new or existing). Nothing was written."
        )
    anchor = folder / name
    sweep_stale(anchor)
    created = make_parents(folder)
    stage = temp_sibling(anchor)
    stage.mkdir()
    done = False
    try:
        with full_disk_named(folder, folder):
            yield stage
        entries = sorted(stage.iterdir())
        for entry in entries:
            check_output_file(folder / entry.name)
        with _final_step():
            for entry in entries:
                os.replace(entry, folder / entry.name)
            _remove(stage)
            done = True
    finally:
        if not done:
            _remove(stage)
            remove_if_empty(created)
