"""Atomic writes: build under a temporary name beside the target, rename into place at the end.

A crash or an error leaves the old target (or nothing) under the final name, never half a file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skelcmd.errors import UserError


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(final: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling path to write a file or a directory to; rename it to `final`.

    With `overwrite=False` an existing `final` is an error (checked before any work is done).
    Replacing an existing directory moves it aside first, so the old one survives a failure.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise UserError(f"{final} already exists; pass --overwrite to replace it.")
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = final.with_name(f".{final.name}.tmp-{tag}")
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            old = final.with_name(f".{final.name}.old-{tag}")
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    finally:
        _remove(tmp)
