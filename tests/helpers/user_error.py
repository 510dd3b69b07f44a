"""Run the `skelcmd` CLI in a subprocess and check that it failed as a user's mistake should.

    result = expect_user_error(["import", "npz", str(bad), str(out)], names=[bad], tmp=tmp_path)

asserts exit status 2, no traceback, that every string of `names` (a path is given by its
name) appears in the message, and that nothing under `tmp` changed except the paths in
`allow_new`: no new file, no temporary left behind, no file of the user's lost or rewritten.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path


def snapshot_tree(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file below `root` ((-1, 0) for a folder)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if name in files:
                stat = path.lstat()
                out[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
            else:  # a folder's own mtime moves whenever an entry comes and goes
                out[str(path.relative_to(root))] = (-1, 0)
    return out


def run_cli(args: Sequence[str], *, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """`python -m skelcmd ARGS` with captured text output and no standard input."""
    return subprocess.run(
        [sys.executable, "-m", "skelcmd", *map(str, args)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        **kw,
    )


def expect_user_error(
    args: Sequence[str],
    *,
    names: Iterable[str | Path] = (),
    tmp: Path | None = None,
    allow_new: Iterable[str] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run the CLI and assert a clean user error (see the module docstring)."""
    before = snapshot_tree(tmp) if tmp is not None else None
    result = run_cli(args, timeout=timeout)
    message = result.stdout + result.stderr
    assert result.returncode == 2, f"exit {result.returncode}, wanted 2:\n{message}"
    assert "Traceback" not in message, message
    for name in names:
        text = name.name if isinstance(name, Path) else str(name)
        assert text in message, f"{text!r} not named in:\n{message}"
    if before is not None:
        after = snapshot_tree(tmp)
        allowed = set(allow_new)
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        assert changed <= allowed, f"files changed or left behind: {sorted(changed - allowed)}"
    return result
