"""Pose estimators' outputs as `skelcmd predict` input: read by the importers' own readers
(`read_openpose`, `read_mediapipe`, `read_mmpose`, `read_yolo_pose`), then mapped to the
classifier's layout by `skelcmd.layout_map` (the table `skelcmd convert-layout` uses).

The estimator is told from the input's form (a folder of OpenPose `*_keypoints.json` files or
of YOLO `save_txt` files, a landmark CSV with a frame column, a JSON whose frames hold
`landmarks` or `instances`), or named (`--format`) where the form does not say. Each video
becomes one clip of the classifier's persons (the most present first, as the import keeps
them); a layout the classifier was not trained on is mapped when every joint of the
classifier's layout means a body point the input has, else refused with the mapping's error.
3D coordinates are never made 2D or the reverse: other channels are an error. 2D image
coordinates are rescaled to the classifier's training set's convention (`skelcmd.channels`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.channels import rescale_image_coordinates, rescale_note
from skelcmd.data.format import is_dataset
from skelcmd.errors import UserError, read_json
from skelcmd.evaluate.classifier import ClassifierFile
from skelcmd.layout_map import describe_map, map_joints
from skelcmd.sources.pose_estimators.dataset import PoseVideos, reader_image_coordinates
from skelcmd.sources.pose_estimators.mediapipe import FRAME_COLUMNS

FORMATS = ("openpose", "mediapipe", "mmpose", "yolo-pose")
LANDMARK_KEYS = ("landmarks", "pose_landmarks", "pose_world_landmarks", "world_landmarks")


@dataclass
class PoseOptions:
    """How to read an estimator's output: `format` (None: from its form) and, for pixel
    coordinates, the video's `image_size` "WxH" (None: from the video beside the output)."""

    format: str | None = None
    image_size: str | None = None


@dataclass
class PoseClip:
    """One video of an estimator's output prepared for a classifier: float32 (C, T, V, M)."""

    name: str
    data: np.ndarray
    note: str


def _reader(name: str) -> Callable[..., PoseVideos]:
    from skelcmd.sources.pose_estimators import mediapipe, mmpose, openpose, yolo_pose

    return {
        "openpose": openpose.read_openpose,
        "mediapipe": mediapipe.read_mediapipe,
        "mmpose": mmpose.read_mmpose,
        "yolo-pose": yolo_pose.read_yolo_pose,
    }[name]


def pose_format(path: Path, named: str | None) -> str | None:
    """The estimator whose output `path` is (`named` when given), or None when `path` is one
    of predict's other inputs (a data set, .skeleton, Kinetics .json, manifest, .npy)."""
    if named is not None:
        if named not in FORMATS:
            raise UserError(f"--format {named!r}: choose {', '.join(FORMATS)}.")
        return named
    if path.is_dir():
        return None if is_dataset(path) else _folder_format(path)
    suffix = path.suffix.lower()
    if suffix == ".csv" and path.is_file():
        return "mediapipe" if _has_frame_column(path) else None
    if suffix == ".json" and path.is_file():
        return _json_format(path)
    return None


def _folder_format(path: Path) -> str | None:
    jsons = sorted(path.rglob("*.json"))
    if jsons:
        return _json_format(jsons[0])  # None: Kinetics clips, refused as a folder
    if any(path.rglob("*.txt")):
        return "yolo-pose"
    if any(path.rglob("*.csv")):
        return "mediapipe"
    return None


def _has_frame_column(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig") as f:
            header = [c.strip().lower() for c in f.readline().split(",")]
    except (OSError, UnicodeDecodeError):
        return False
    return any(c in header for c in FRAME_COLUMNS)


def _json_format(path: Path) -> str | None:
    """openpose, mediapipe, mmpose, yolo-pose or None (a Kinetics-skeleton clip) from the
    keys of the file; a UserError asking for --format when they do not say."""
    try:
        info: Any = read_json(path, "a pose estimator's output")
    except UserError:
        return None  # the reader it goes to names the problem
    if isinstance(info, dict):
        if "data" in info:
            return None
        if "people" in info:
            return "openpose"
        if "instance_info" in info:
            return "mmpose"
        if "frames" in info:
            return "mediapipe"
    frames = info if isinstance(info, list) else []
    first = next((f for f in frames if f), None)
    if isinstance(first, dict) and "instances" in first:
        return "mmpose"
    if isinstance(first, dict) and any(key in first for key in LANDMARK_KEYS):
        return "mediapipe"
    if isinstance(first, list) or (
        isinstance(first, dict) and any(isinstance(v, dict) for v in first.values())
    ):
        return "yolo-pose"  # Results.summary() dicts, or {"person_<id>": {"nose": ...}}
    raise UserError(
        f"{path}: cannot tell which pose estimator wrote this JSON file; name it with "
        f"--format {' | '.join(FORMATS)}."
    )


def pose_clips(model: ClassifierFile, path: Path, fmt: str, options: PoseOptions) -> list[PoseClip]:
    """Every video of the estimator output `path` as a clip for `model`: read by the
    importer's reader, the classifier's persons kept, mapped to its layout when it differs."""
    kwargs = {} if fmt == "mediapipe" else {"image_size": options.image_size}
    read = _reader(fmt)(path, **kwargs)
    expects = f"the classifier {model.path} expects {model.describe_input()}"
    if read.channels != model.channels:
        raise UserError(
            f"{path}: {fmt} output read as {read.channels} ({_kind(read.channels)}), but "
            f"{expects}. {_channels_hint(read.channels, model.channels)}"
        )
    source, target = read.layout, model.layout
    mapped = source.joint_names != target.joint_names
    note = f"{path}: {fmt} poses, layout {source.name}"
    if mapped:
        try:
            lines = describe_map(source, target)
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
        same = [line for line in lines if len(set(line.split(" <- "))) == 1]
        other = [line for line in lines if line not in same]
        note += f" mapped to {target.name} as `skelcmd convert-layout --to {target.name}` maps "
        note += f"it ({'; '.join([f'{len(same)} joints of the same name', *other])})"
    scale = reader_image_coordinates(read.channels)
    rescaled = rescale_note(scale, model.image_coordinates)
    note += f"; {rescaled}" if rescaled else ""
    clips = []
    for video in read.videos:
        name = video.detections.name
        data, _ = video.clip(0, video.num_frames, model.num_persons, name)
        if mapped:
            data = map_joints(data[None], source, target, read.channels)[0]
        data = rescale_image_coordinates(data, scale, model.image_coordinates)
        clips.append(PoseClip(name, data, note))
    return clips


def _kind(channels: str) -> str:
    return "3D coordinates" if channels == "xyz" else "2D image coordinates"


def _channels_hint(given: str, expected: str) -> str:
    """What to give instead when an estimator's `given` channels are not the classifier's."""
    if expected == "xyz":
        what = "3D poses (e.g. MediaPipe world landmarks)"
    elif given == "xyz":
        what = "2D poses (e.g. OpenPose, MMPose, YOLO-pose or MediaPipe image landmarks)"
    elif expected == "xy+score":
        what = "2D poses with a confidence score per joint (xy+score)"
    else:
        what = "2D poses without confidence scores (xy)"
    trained = _kind(given) if (given == "xyz") != (expected == "xyz") else given
    return f"Give {what}, or a classifier trained on {trained}."
