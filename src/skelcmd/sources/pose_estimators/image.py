"""Image coordinates of 2D keypoints: the image size, and the normalisation skelcmd stores.

2D keypoints are stored as pyskl normalises them (`skelcmd.sources.pose2d`): x -> (x - w/2) /
(w/2), y -> (y - h/2) / (h/2), so the image spans [-1, 1] whatever its size (y still points
down); a missing joint stays exactly (0, 0). Estimators that write pixels need the image size:
`--image-size WIDTHxHEIGHT`, or the video found beside the output (`find_video`), whose size
`video_size` reads from its MP4 / MOV header (no video library needed).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from skelcmd.errors import UserError

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
_CONTAINERS = {b"moov", b"trak", b"mdia"}


def parse_image_size(text: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """`"1920x1080"` (or a (width, height) pair) -> (1920, 1080); None stays None."""
    if text is None or isinstance(text, tuple):
        return text
    match = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", str(text))
    if not match or 0 in (int(match[1]), int(match[2])):
        raise UserError(f"--image-size {text!r}: give WIDTHxHEIGHT in pixels, e.g. 1920x1080.")
    return int(match[1]), int(match[2])


def _boxes(f, start: int, end: int) -> Iterable[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the ISO-BMFF boxes between start and end."""
    at = start
    while at + 8 <= end:
        f.seek(at)
        size, kind = struct.unpack(">I4s", f.read(8))
        head = 8
        if size == 1:
            (size,) = struct.unpack(">Q", f.read(8))
            head = 16
        elif size == 0:
            size = end - at
        if size < head:
            return
        yield kind, at + head, min(at + size, end)
        at += size


def _track_size(f, start: int, end: int) -> tuple[bytes, tuple[int, int]] | None:
    """(handler type, (width, height) as displayed) of one trak box."""
    handler, size = b"", None
    stack = [(start, end)]
    while stack:
        for kind, payload, box_end in _boxes(f, *stack.pop()):
            if kind in _CONTAINERS:
                stack.append((payload, box_end))
            elif kind == b"hdlr":
                f.seek(payload + 8)
                handler = f.read(4)
            elif kind == b"tkhd":
                f.seek(payload)
                version = f.read(1)[0]
                f.seek(payload + 4 + (32 if version == 1 else 20) + 16)
                matrix = struct.unpack(">9i", f.read(36))
                width, height = (v / 65536 for v in struct.unpack(">II", f.read(8)))
                if matrix[0] == 0 and matrix[1] != 0:  # rotated by 90 or 270 degrees
                    width, height = height, width
                size = (round(width), round(height))
    return (handler, size) if size else None


def video_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of an MP4 / MOV video as it is shown, or None if it is not readable."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            end = f.tell()
            for kind, payload, box_end in _boxes(f, 0, end):
                if kind != b"moov":
                    continue
                for inner, start, stop in _boxes(f, payload, box_end):
                    found = _track_size(f, start, stop) if inner == b"trak" else None
                    if found and found[0] == b"vide" and all(found[1]):
                        return found[1]
    except (OSError, struct.error, IndexError):
        return None
    return None


def find_video(name: str, near: Iterable[Path]) -> Path | None:
    """The video `name`.mp4 (or .mov, .m4v) in one of the folders `near`, if there is one."""
    for folder in near:
        for suffix in VIDEO_SUFFIXES:
            candidate = Path(folder) / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def image_size_of(
    name: str, near: Iterable[Path], given: tuple[int, int] | None, where: str
) -> tuple[tuple[int, int], str]:
    """The image size of clip `name` and where it came from: `given`, else the video found
    beside the output; a UserError saying what to give when there is neither."""
    if given is not None:
        return given, "--image-size"
    near = list(near)
    video = find_video(name, near)
    size = video_size(video) if video is not None else None
    if size is None:
        raise UserError(
            f"{where} holds pixel coordinates, and skelcmd needs the image size to normalise "
            f"them: give --image-size WIDTHxHEIGHT, or put the video {name}.mp4 beside the "
            f"output (looked in {', '.join(str(p) for p in near)})."
        )
    return size, str(video)


def pixels_to_unit(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., 2) pixel x, y -> [-1, 1] (pyskl's PreNormalize2D); (0, 0) (missing) stays 0."""
    w, h = size
    half = np.array([w / 2, h / 2])
    out = (points - half) / half
    return np.where((points == 0).all(axis=-1, keepdims=True), 0.0, out)


def fraction_to_unit(points: np.ndarray) -> np.ndarray:
    """(..., 2) x, y as fractions of the image (0..1) -> [-1, 1]; (0, 0) stays 0."""
    return np.where((points == 0).all(axis=-1, keepdims=True), 0.0, 2.0 * points - 1.0)


SCALES = ("auto", "pixels", "unit", "signed")  # OpenPose's --keypoint_scale 0, 3 and 4


def detect_scale(points: np.ndarray) -> str:
    """How (..., 2) x, y are scaled, from their present (non-zero) values: `unit` when all
    lie in [0, 1] (fractions of the image), `signed` when in [-1, 1] with some negative,
    else `pixels`."""
    values = points[(points != 0).any(axis=-1)]
    if values.size and values.min() >= 0 and values.max() <= 1:
        return "unit"
    if values.size and values.min() >= -1 and values.max() <= 1:
        return "signed"
    return "pixels"


def to_unit(points: np.ndarray, scale: str, size: tuple[int, int] | None) -> np.ndarray:
    """(..., 2) x, y in `scale` -> skelcmd's [-1, 1] (`size` needed for pixels)."""
    if scale == "pixels":
        assert size is not None
        return pixels_to_unit(points, size)
    if scale == "unit":
        return fraction_to_unit(points)
    return points.astype(np.float64)
