"""Finding an estimator's output files and the videos and frames they belong to.

Estimators that write one file a frame name it after the video and the frame number:
OpenPose `my video_000000000123_keypoints.json`, Pose2Sim's renamed `cam01.0123.json`,
Ultralytics `clip_123.txt`. `split_frame_name` takes the last number in the name as the frame
number and what comes before it (without trailing separators) as the video, so such files are
grouped into videos and sorted by frame number, never by name.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from skelcmd.errors import UserError

FRAME_NAME = re.compile(r"(?P<video>.*?)[ _.\-]*(?P<number>\d+)(?P<rest>\D*)")


def split_frame_name(stem: str) -> tuple[str, int] | None:
    """`"du_wohn_wo_000000000123_keypoints"` -> ("du_wohn_wo", 123); None without a number."""
    match = FRAME_NAME.fullmatch(stem)
    return (match["video"], int(match["number"])) if match else None


def _unique_names(groups: dict[tuple[Path, str], Any], root: Path) -> dict[str, Any]:
    """Name each (folder, video) group by its video name, or by folder/video when two
    folders hold a video of the same name."""
    videos = [video for _, video in groups]
    named = {}
    for (folder, video), value in groups.items():
        name = video
        if videos.count(video) > 1 and folder != root:
            name = f"{folder.relative_to(root).as_posix()}/{video}"
        named[name] = value
    return named


def frame_files(root: str | Path, suffix: str, what: str) -> dict[str, list[tuple[int, Path]]]:
    """{video name: [(frame number, file), ...] sorted by number} of the `suffix` files below
    the folder `root` (`what` says whose output it is, for messages)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give the folder of {what} files.")
    files = sorted(p for p in root.rglob(f"*{suffix}") if p.is_file())
    if not files:
        raise UserError(f"{root} holds no {suffix} file; give the folder {what} wrote.")
    groups: dict[tuple[Path, str], list[tuple[int, Path]]] = {}
    for path in files:
        parts = split_frame_name(path.stem)
        if parts is None:
            raise UserError(
                f"{path}: its name has no frame number; {what} files are named after the "
                "video and the frame (e.g. clip_000000000012_keypoints.json, clip.0012.json, "
                "clip_12.txt)."
            )
        video = parts[0] or path.parent.name
        groups.setdefault((path.parent, video), []).append((parts[1], path))
    for frames in groups.values():
        frames.sort(key=lambda item: item[0])
        for (a, first), (b, second) in itertools.pairwise(frames):
            if a == b:
                raise UserError(
                    f"{first} and {second} both hold frame {a} of the same video; remove one."
                )
    return _unique_names(groups, root)


def input_files(path: str | Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """`path` itself if it is a file, else the files with one of `suffixes` below it."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"{path} does not exist; give a {what} file or a folder of them.")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise UserError(f"{path} holds no {' or '.join(suffixes)} file of {what}.")
    return files


def file_names(files: list[Path], root: Path) -> dict[str, Path]:
    """{video name: file} for one-file-a-video outputs: the file's stem, or its path below
    `root` without the suffix where two files share a stem."""
    stems = [p.stem for p in files]
    return {
        (p.stem if stems.count(p.stem) == 1 else p.relative_to(root).with_suffix("").as_posix()): p
        for p in files
    }


def video_files(path: str | Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    """{video name: file} of `path`, a file or a folder of files with one of `suffixes`
    (`input_files`), named by `file_names` below the folder."""
    path = Path(path)
    files = input_files(path, suffixes, what)
    return file_names(files, path if path.is_dir() else path.parent)
