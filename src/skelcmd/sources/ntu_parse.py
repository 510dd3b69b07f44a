"""Fast, strict reader of NTU RGB+D `.skeleton` files, and the vectorised tokenizer PKU-MMD shares.

File format (Kinect v2): line 1 the frame count T; per frame the body count; per body a
10-number info line (bodyID first), the joint count (25) and 25 lines of 12 numbers
(x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState).

Two readers give the same `RawSkeleton`:
- the fast path (`tokenize` + `parse_numbers` + one structural check in numpy) handles every
  file written the usual way (single spaces, LF or CRLF line ends): no Python loop over
  frames, bodies or joints, and only the numbers that are needed are converted;
- when the fast path refuses a file, the plain line-by-line reader (`_slow`) reads it
  again: it returns the same data for an unusual but valid file (tabs, double spaces) and
  otherwise raises the UserError that names the file, the line and what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skelcmd.errors import UserError, excerpt

NUM_JOINTS = 25
INFO_VALUES = 10
JOINT_VALUES = 12
_MAX_DIGITS = 14  # digits of a token converted in numpy: all sums stay below 2**53
_CHUNK = 1 << 16  # tokens converted per numpy batch (bounds temporary memory)
_POW10 = 10.0 ** np.arange(23)


@dataclass
class RawSkeleton:
    """The parts of a `.skeleton` file the pipeline uses; B = body records over all frames.

    num_frames: T, the frame count of the header (the number of frames in the file).
    frame: (B,) int64, 0-based frame of each body record.
    body: (B,) int64, which distinct bodyID the record has (0.. in order of first appearance).
    xyz: (3, B, 25) float64 camera coordinates in metres: x, y, z of every joint.
    """

    num_frames: int
    frame: np.ndarray
    body: np.ndarray
    xyz: np.ndarray

    @property
    def num_bodies(self) -> int:
        return int(self.body.max()) + 1 if self.body.size else 0


@dataclass
class Lines:
    """Non-empty lines of a canonical text, found with numpy.

    `seps` holds the positions of all separators (spaces, CR, LF, plus `len(buf)` at the end);
    line i starts at byte `start[i]`, has `ntok[i]` tokens, and its token k ends at separator
    `seps[first_sep[i] + k]` (a space, or the CR / LF that ends the line).
    """

    buf: np.ndarray
    start: np.ndarray
    ntok: np.ndarray
    first_sep: np.ndarray
    seps: np.ndarray


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


_ALLOWED = b"0123456789.+-eE \n\r"


def tokenize(raw: bytes) -> Lines | None:
    """Split a canonical text into lines and tokens with numpy; None if it is not canonical.

    Canonical: only the bytes `0-9 . + - e E`, single spaces between tokens, none at a line's
    start or end, no blank lines, lines ending in LF or CRLF.
    """
    if not raw or raw.translate(None, _ALLOWED):
        return None  # empty, or some other byte: a letter, a tab, a comma...
    buf = np.frombuffer(raw, dtype=np.uint8)
    seps = np.flatnonzero(buf <= 32)  # spaces, CR, LF
    if buf[-1] != 10:
        seps = np.append(seps, buf.size)  # the last line ends with the file
    if not seps.size or seps[0] == 0:
        return None  # the file starts with a separator
    kind = buf.take(seps, mode="clip")
    kind[-1] = 10
    is_cr = kind == 13
    touching = np.diff(seps) == 1
    if touching.any() or is_cr.any():
        # only CR + LF may touch: anything else is a double space, a space at a line's start
        # or end, a blank line or a stray CR
        if (touching != is_cr[:-1]).any() or (kind[1:][touching] != 10).any():
            return None
    line_end = np.flatnonzero(kind == 10)  # index in `seps` of each line's LF
    before = np.concatenate(([-1], line_end[:-1]))  # ... and of the previous line's LF
    start = seps.take(np.maximum(before, 0)) + 1
    start[0] = 0
    ntok = line_end - before - is_cr.take(line_end - 1, mode="clip")
    return Lines(buf, start, ntok, before + 1, seps)


def parse_numbers(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """Convert the decimal tokens `buf[start[i]:end[i]]` to float64, exactly as `float()` does.

    Plain decimals (sign, digits, one point, <= 14 digits) are converted in numpy: their
    digits form an exact integer that is divided once by an exact power of ten, which rounds
    correctly. Other tokens (exponents, long ones) go through `float()`. Returns None if a
    token is not a number.
    """
    out = np.empty(len(start), dtype=np.float64)
    for lo in range(0, len(start), _CHUNK):
        part = _parse_chunk(buf, start[lo : lo + _CHUNK], end[lo : lo + _CHUNK])
        if part is None:
            return None
        out[lo : lo + _CHUNK] = part
    return out


def _parse_chunk(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    n, length = len(start), end - start
    if n == 0:
        return np.empty(0)
    if length.min() < 1:
        return None
    width = min(int(length.max()), _MAX_DIGITS + 2)
    if width > 12 and np.count_nonzero(length > 12) < n // 100:
        width = 12  # the rare longer tokens (exponents...) take the float() path
    cols = np.arange(width)[:, None]
    padded = np.concatenate((np.full(width, 32, dtype=np.uint8), buf))
    chars = padded.take(cols + end)  # (width, n): token i right-aligned in column i
    first = np.maximum(width - length, 0)
    lead = chars.ravel().take(first * n + np.arange(n))
    neg = lead == 45
    signed = neg | (lead == 43)
    inside = cols >= first + signed  # the token without its sign
    digit = chars - np.uint8(48)
    is_digit = (digit < 10) & inside
    is_dot = (digit == 254) & inside
    ndot = is_dot.sum(axis=0, dtype=np.uint8).astype(np.int64)
    frac = (is_dot * (width - 1 - cols).astype(np.uint8)).sum(axis=0, dtype=np.uint8)
    ndigits = length - signed - ndot
    slow = (length > width) | (ndot > 1) | (ndigits < 1) | (ndigits > _MAX_DIGITS)
    slow |= (inside & ~(is_digit | is_dot)).any(axis=0)  # exponents, misplaced signs
    frac[slow] = 0
    # all digits as one integer (exact below 2**53), those left of the point weighed 10x:
    # split them off (floor is exact here), scale them down, then divide once
    whole = _POW10[width - 1 - cols[:, 0]] @ (digit * is_digit)
    scale = _POW10[frac]
    left = np.floor(whole / scale)
    result = np.where(ndot > 0, whole - left * scale + left * (scale / 10), whole) / scale
    result[neg] *= -1.0
    for i in np.flatnonzero(slow):
        try:
            result[i] = float(buf[start[i] : end[i]].tobytes())
        except ValueError:
            return None
    return result


def parse_skeleton(path: str | Path) -> RawSkeleton:
    """Read one `.skeleton` file strictly; any problem raises a UserError naming file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc.strerror}).") from None
    skeleton = _fast(raw)
    if skeleton is not None:
        return skeleton
    return _slow(path, raw)


def _fast(raw: bytes) -> RawSkeleton | None:
    """The vectorised reader; None when the file needs the line-by-line reader."""
    lines = tokenize(raw)
    if lines is None:
        return None
    ntok, count = lines.ntok, len(lines.ntok)
    if ntok[0] != 1:
        return None
    info = np.flatnonzero(ntok == INFO_VALUES)
    block = info[:, None] + np.arange(2, NUM_JOINTS + 2)  # the 25 joint lines of each body
    if info.size and block[-1, -1] >= count:
        return None
    if _count(ntok[info + 1] != 1) or _count(ntok[block] != JOINT_VALUES):
        return None
    is_frame = ntok == 1
    is_frame[0] = False
    is_frame[info + 1] = False
    frames = np.flatnonzero(is_frame)  # the body-count line of every frame
    if count != 1 + len(frames) + (NUM_JOINTS + 2) * len(info):
        return None
    counts = np.concatenate(([0], frames, info + 1))  # the one-number lines
    joints = block.ravel()
    xyz_end = lines.seps.take(lines.first_sep.take(joints) + np.arange(3)[:, None])
    start = (lines.start.take(counts), lines.start.take(joints), xyz_end[0] + 1, xyz_end[1] + 1)
    end = (lines.seps.take(lines.first_sep.take(counts)), xyz_end.ravel())
    values = parse_numbers(lines.buf, np.concatenate(start), np.concatenate(end))
    if values is None:
        return None
    ints, xyz = values[: len(counts)], values[len(counts) :]
    if (ints != np.floor(ints)).any() or ints.min() < 0 or not np.isfinite(xyz).all():
        return None
    num_frames, per_frame = int(ints[0]), ints[1 : 1 + len(frames)]
    if num_frames != len(frames) or (ints[1 + len(frames) :] != NUM_JOINTS).any():
        return None
    if frames.size and (
        (np.diff(np.searchsorted(info, np.append(frames, count))) != per_frame).any()
        or (info.size and info[0] < frames[0])
    ):
        return None
    if not frames.size and info.size:
        return None
    frame = np.searchsorted(frames, info) - 1
    xyz = xyz.reshape(3, len(info), NUM_JOINTS)
    return RawSkeleton(num_frames, frame, _body_index(lines, info), xyz)


def _body_index(lines: Lines, info: np.ndarray) -> np.ndarray:
    """Index of each info line's bodyID among the distinct IDs, in order of first appearance.

    IDs are compared as text: they exceed 2**53 and would collide as floats.
    """
    if not info.size:
        return np.zeros(0, dtype=np.int64)
    start, end = lines.start.take(info), lines.seps.take(lines.first_sep.take(info))
    cols = np.arange(int((end - start).max()))[:, None]
    chars = lines.buf.take(cols + start, mode="clip")
    chars *= cols < end - start  # (width, B): each ID left-aligned, zero-padded
    if (chars == chars[:, :1]).all():
        return np.zeros(len(info), dtype=np.int64)  # one body throughout
    keys = np.ascontiguousarray(chars.T).view(f"S{len(cols)}").ravel()
    return first_appearance_index(keys)


def first_appearance_index(keys: np.ndarray) -> np.ndarray:
    """(n,) -> (n,) int64: the rank of each key's first appearance among the distinct keys."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.ravel()]


def _slow(path: Path, raw: bytes) -> RawSkeleton:
    """Line-by-line reader, used only for files the fast path refuses: it returns the same
    `RawSkeleton` or raises a UserError naming the line (1-based, blank lines counted)."""
    rows = [(i + 1, line.split()) for i, line in enumerate(raw.decode("latin-1").split("\n"))]
    rows = [(n, tokens) for n, tokens in rows if tokens]
    if not rows:
        raise UserError(f"{path}: the file is empty; expected the frame count on line 1.")
    last_line, pos, declared, reached = rows[-1][0], 0, -1, 0  # reached: last frame begun

    def fail(line: int, problem: str) -> None:
        if line == last_line and 1 <= reached < declared:
            problem += f"; the file ends on this line: {short()}"
        raise UserError(f"{path}: line {line}: {problem}.")

    def short() -> str:
        return (
            f"fewer frames than the header says ({declared} declared, data ends in frame {reached})"
        )

    def take(count: int, what: str) -> tuple[int, list[str], list[float]]:
        nonlocal pos
        if pos >= len(rows):
            raise UserError(f"{path}: {short()}; the file is cut off.")
        line, tokens = rows[pos]
        pos += 1
        if len(tokens) != count:
            fail(
                line, f"expected {count} number{'s' * (count > 1)} for {what}, found {len(tokens)}"
            )
        values = []
        for token in tokens:
            try:
                values.append(float(token))
            except ValueError:
                fail(line, f"{excerpt(token)} is not a number ({what})")
            if not math.isfinite(values[-1]):
                fail(line, f"NaN or infinite value {excerpt(token)} ({what})")
        return line, tokens, values

    def take_int(what: str) -> int:
        line, tokens, (value,) = take(1, what)
        if value != int(value) or value < 0:
            fail(line, f"expected a whole number >= 0 for {what}, found {excerpt(tokens[0])}")
        return int(value)

    declared = take_int("the frame count")
    frames, ids, xyz = [], [], []
    for frame in range(1, declared + 1):
        num_bodies = take_int(f"the body count of frame {frame}")
        reached = frame
        for body in range(1, num_bodies + 1):
            where = f"frame {frame}, body {body}"
            _, tokens, _ = take(INFO_VALUES, f"the body info line ({where})")
            line, _, (joints,) = take(1, f"the joint count ({where})")
            if joints != NUM_JOINTS:
                fail(line, f"the body has {joints:g} joints, expected {NUM_JOINTS} ({where})")
            block = [
                take(JOINT_VALUES, f"a joint ({where}, joint {j + 1})")[2]
                for j in range(NUM_JOINTS)
            ]
            frames.append(frame - 1)
            ids.append(tokens[0])
            xyz.append([values[:3] for values in block])
    if pos < len(rows):
        fail(rows[pos][0], f"unexpected data after the last of the {declared} frames declared")
    return RawSkeleton(
        declared,
        np.array(frames, dtype=np.int64),
        first_appearance_index(np.array(ids, dtype=str)),
        np.array(xyz, dtype=np.float64).reshape(len(frames), NUM_JOINTS, 3).transpose(2, 0, 1),
    )
