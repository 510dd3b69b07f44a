"""Text files of numbers, one frame a line (SBU's skeleton_pos.txt, a user's .csv / .txt clips).

Numbers are separated by commas or by whitespace (decided by the first data line); blank lines
are skipped, and a first line without any number is a header and skipped too. Every
problem is a UserError naming the file and its line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelcmd.errors import UserError


def _fields(line: str, comma: bool) -> list[str]:
    return [f.strip() for f in line.split(",")] if comma else line.split()


def is_number(text: str) -> bool:
    """Whether `float` reads `text` as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(R, W) float64 numbers of the data lines and (R,) their 1-based line numbers.

    Every data line must hold the same number W of finite numbers."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path} ({exc}); give a text file of numbers.") from None
    numbered = [(k + 1, line) for k, line in enumerate(text.splitlines()) if line.strip()]
    if numbered:
        comma = "," in numbered[0][1]
        if not any(is_number(f) for f in _fields(numbered[0][1], comma)):
            numbered = numbered[1:]  # a header: no number at all
    if not numbered:
        raise UserError(f"{path} holds no line of numbers; give one frame a line.")
    comma = "," in numbered[0][1]
    lines = np.array([k for k, _ in numbered])
    try:
        rows = np.loadtxt([line for _, line in numbered], delimiter="," if comma else None, ndmin=2)
    except ValueError:
        rows = None
    if rows is None:  # find the first bad line, to name it
        width = len(_fields(numbered[0][1], comma))
        for k, line in numbered:
            fields = _fields(line, comma)
            if len(fields) != width:
                raise UserError(
                    f"{path}, line {k}: {len(fields)} numbers, but the first line of numbers "
                    f"has {width}; every frame needs the same count."
                ) from None
            bad = next((f for f in fields if not is_number(f)), None)
            if bad is not None:
                raise UserError(f"{path}, line {k}: {bad!r} is not a number.") from None
        raise UserError(f"{path} could not be read as rows of numbers.")
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        raise UserError(f"{path}, line {lines[np.argmin(finite)]}: NaN or infinite numbers.")
    return rows, lines
