"""The one exception type for mistakes a user can fix: the CLI prints it without a traceback;
and the helpers its messages share (a path that must be a file, a JSON file the user gave
read or refused with a message naming it, file contents quoted safely).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class UserError(Exception):
    """Bad input, a missing file, a wrong option: the message says what and what to do."""


def excerpt(text: str, limit: int = 60, *, quote: bool = True) -> str:
    """`text` for a message: control characters escaped (as `repr` shows them, so a binary
    file cannot garble the terminal), cut after `limit` characters, quoted unless `quote` is
    false."""
    shown = repr(text[:limit])
    return (shown if quote else shown[1:-1]) + ("..." if len(text) > limit else "")


def looks_binary(text: str) -> bool:
    """Whether decoded file contents look like a binary file rather than text: a NUL, or more
    than 1 in 10 characters undecodable or control characters other than whitespace."""
    if "\0" in text:
        return True
    odd = sum(
        1
        for ch in text[:4096]
        if ch == "\ufffd" or (not ch.isprintable() and ch not in "\t\n\r\f\v")
    )
    return odd * 10 > min(len(text), 4096)


def require_file(path: str | Path, what: str, hint: str = "") -> Path:
    """`path` if it is a file, else a UserError saying whether it is missing or a folder:
    "{what} {path} does not exist; {hint}." or "... is a folder, not a file; {hint}."."""
    path = Path(path)
    if path.is_file():
        return path
    state = "is a folder, not a file" if path.is_dir() else "does not exist"
    raise UserError(f"{what} {path} {state}" + (f"; {hint}" if hint else "") + ".")


def read_json(path: str | Path, what: str, hint: str = "") -> Any:
    """The parsed JSON of `path` (read as UTF-8), or a UserError naming it and `what` it
    should hold: "{path} is not a readable JSON file of {what}: {reason}; {hint}." for a
    missing, unreadable or folder path, bytes that are not UTF-8 and invalid JSON (with the
    decoder's message), "{path} is nested too deeply to be a JSON file of {what}..." for
    nesting deeper than the decoder can follow (a RecursionError, never a traceback)."""
    path = Path(path)
    tail = f"; {hint}." if hint else "."
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        if path.is_dir():
            reason = "it is a folder, not a file"
        elif not path.exists():
            reason = "it does not exist"
        else:
            reason = f"it cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        reason = f"it is not UTF-8 text (byte 0x{byte} at offset {exc.start})"
    except ValueError as exc:  # json.JSONDecodeError, or e.g. an integer too long to convert
        reason = f"it is not valid JSON ({exc})"
    except RecursionError:
        raise UserError(f"{path} is nested too deeply to be a JSON file of {what}{tail}") from None
    raise UserError(f"{path} is not a readable JSON file of {what}: {reason}{tail}")
