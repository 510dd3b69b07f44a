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
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import socket
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


def temp_sibling(final: Path, kind: str = "tmp") -> Path:
    """A fresh temporary name beside `final` that `sweep_stale` recognises as this process's."""
    return final.with_name(f".{final.name}.{kind}-{os.getpid()}-{_HOST}{uuid.uuid4().hex[:4]}")


def user_text(text: str) -> str:
    """`text` (a message, a path) with every temporary name (`.NAME.tmp-PID-TAG`, `.NAME.old-
    PID-TAG`) shown as the NAME the user gave: the CLI passes every message through this."""
    return _IN_TEXT.sub(r"\g<name>", text)


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


def check_output_file(path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """`path` as a single-file output: a UserError if it is a folder or one of `inputs`."""
    path = Path(path)
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


@contextmanager
def staged_outputs(folder: str | Path, name: str = "outputs") -> Iterator[Path]:
    """Yield an empty temporary folder for several files that all belong in `folder`; when the
    block ends without an error, each is moved into `folder` (replacing a file of that name),
    otherwise none is and `folder` is as it was."""
    folder = Path(folder)
    anchor = folder / name
    sweep_stale(anchor)
    created = make_parents(folder)
    stage = temp_sibling(anchor)
    stage.mkdir()
    done = False
    try:
        yield stage
        entries = sorted(stage.iterdir())
        for entry in entries:
            check_output_file(folder / entry.name)
        for entry in entries:
            os.replace(entry, folder / entry.name)
        done = True
    finally:
        _remove(stage)
        if not done:
            remove_if_empty(created)
