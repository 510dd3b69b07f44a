"""What `skelcmd predict` reads: a split of a skelcmd data set, or raw recordings prepared
exactly as the classifier's training set was.

A raw recording goes through its importer's own per-file code, with the parameters the
training set's meta.json recorded (`ClassifierFile.preparation`), never through a second
implementation:

    .skeleton   NTU RGB+D: `sources.ntu.prepare_skeleton_file` (body selection, empty frames,
                view alignment as `preprocess` / `aligned` / `max_frames` say)
    .json       a Kinetics-skeleton clip: `sources.kinetics.load_clip` (ST-GCN's reading)
    .csv        a clips manifest (path,label,split): `sources.clips.read_clip` for each clip
    .npy        one clip (T, V, C) or (M, T, V, C): `sources.clips.read_clip`
    a pose estimator's output (OpenPose, MediaPipe, MMPose, YOLO-pose): the importer's
                reader, mapped to the classifier's layout (`evaluate.predict_pose`)

Clips read from a manifest, a .npy file or an estimator's output (which hold coordinates as
recorded) then get the training set's `preprocess` when it recorded one
(`sources.normalize.normalize_arrays`, as the importers apply it). With `whole=True` (sliding
windows over a long recording) a recording is never cut or resampled to the training set's
`max_frames`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from skelcmd.channels import (
    image_coordinate_factor,
    num_channels,
    rescale_image_coordinates,
    rescale_note,
)
from skelcmd.data.format import Dataset, Split, is_dataset, open_dataset
from skelcmd.data.loader import make_loader
from skelcmd.data.writer import stack_samples
from skelcmd.errors import UserError, read_json
from skelcmd.evaluate.classifier import ClassifierFile
from skelcmd.evaluate.predict_pose import PoseOptions, pose_clips, pose_format
from skelcmd.names import NONE, REFERENCE
from skelcmd.skeleton import NTU25, OPENPOSE18, Layout
from skelcmd.sources import clips as clip_files
from skelcmd.sources import kinetics, ntu
from skelcmd.sources.normalize import normalize_arrays

RAW_SUFFIXES = (".skeleton", ".json", ".csv", ".npy")
NTU_SOURCES = ("ntu60", "ntu120")


@dataclass
class Recording:
    """One clip to classify: data float32 (C, T, V, M) whose first `length` frames are valid;
    `label` its class index among the classifier's classes, where known; `note` how it was
    read when that is worth telling (a layout mapping)."""

    name: str
    data: np.ndarray
    length: int
    label: int | None = None
    note: str = ""


@dataclass
class Batch:
    """Clips (B, C, T, V, M) on the CPU with lengths (B,), true labels (B,) (-1: unknown), and
    the name of each row; `notes` the recordings' notes."""

    clips: Tensor
    lengths: Tensor
    labels: Tensor
    names: list[str]
    notes: list[str] = field(default_factory=list)


def _expects(model: ClassifierFile) -> str:
    return f"the classifier {model.path} expects {model.describe_input()}"


def check_dataset(model: ClassifierFile, dataset: Dataset, split: Split) -> None:
    """UserError unless the data set's clips fit the classifier (layout, channels, persons)."""
    persons = split.data.shape[4]
    if (
        dataset.layout.joint_names != model.layout.joint_names
        or dataset.channels != model.channels
        or persons > model.num_persons
    ):
        raise UserError(
            f"data set {dataset.path} holds clips of layout {dataset.layout.name!r} "
            f"({dataset.layout.num_joints} joints), {dataset.channels}, {persons} person(s) per "
            f"frame, but {_expects(model)}. Give a data set prepared like the classifier's "
            "training set, or a classifier trained on this kind of data."
        )


def class_map(model: ClassifierFile, names: Sequence[str]) -> np.ndarray | None:
    """For each class of a data set, its index among the classifier's classes (None when the
    data set has a class the classifier does not know: its labels are then not compared)."""
    index = {name: k for k, name in enumerate(model.classes)}
    if not all(name in index for name in names):
        return None
    return np.array([index[name] for name in names], dtype=np.int64)


def dataset_batches(
    model: ClassifierFile, path: str | Path, split_name: str, batch_size: int
) -> Iterator[Batch]:
    """The batches of the split, in order (true labels -1 where the data set's classes are not
    the classifier's); one batch is in memory at a time (the data is memory-mapped)."""
    dataset = open_dataset(path)
    split = dataset.split(split_name)
    check_dataset(model, dataset, split)
    mapping = class_map(model, dataset.class_names)
    loader = make_loader(split, batch_size, shuffle=False, drop_last=False)
    scale = image_coordinate_factor(dataset.image_coordinates, model.image_coordinates)
    note = rescale_note(dataset.image_coordinates, model.image_coordinates)
    notes = [f"data set {dataset.path}: {note}"] if note else []

    def batches() -> Iterator[Batch]:
        row = 0
        for data, lengths, labels in loader:
            names = [split.sample_name(i) for i in range(row, row + len(data))]
            row += len(data)
            known = torch.from_numpy(mapping)[labels] if mapping is not None else labels.fill_(-1)
            if scale != 1:
                data[:, :2] *= scale  # (a fresh batch, not the memory-mapped file)
            yield Batch(_pad_persons(data, model.num_persons), lengths, known, names, notes)

    return batches()


def _pad_persons(data: Tensor, persons: int) -> Tensor:
    if data.shape[4] == persons:
        return data
    pad = data.new_zeros((*data.shape[:4], persons - data.shape[4]))
    return torch.cat([data, pad], dim=4)


def raw_batches(
    model: ClassifierFile,
    paths: Sequence[str | Path],
    batch_size: int,
    pose: PoseOptions | None = None,
) -> Iterator[Batch]:
    """Batches of raw recordings in the order given, zero-padded to the batch's longest."""
    chunk: list[Recording] = []
    for path in paths:
        for recording in read_recordings(model, path, pose=pose):
            chunk.append(recording)
            if len(chunk) == batch_size:
                yield stack(chunk, model.num_persons)
                chunk = []
    if chunk:
        yield stack(chunk, model.num_persons)


def stack(recordings: Sequence[Recording], persons: int) -> Batch:
    data = stack_samples([r.data for r in recordings], persons=persons)
    labels = [-1 if r.label is None else r.label for r in recordings]
    return Batch(
        torch.from_numpy(data),
        torch.tensor([r.length for r in recordings]),
        torch.tensor(labels),
        [r.name for r in recordings],
        list(dict.fromkeys(r.note for r in recordings if r.note)),
    )


def read_recordings(
    model: ClassifierFile,
    path: str | Path,
    *,
    whole: bool = False,
    pose: PoseOptions | None = None,
) -> Iterator[Recording]:
    """The clip(s) of one raw file (a manifest lists several; an estimator's output one per
    video), prepared for `model`."""
    path = Path(path)
    suffix = path.suffix.lower()
    pose = pose or PoseOptions()
    fmt = pose_format(path, pose.format) if pose.format or path.exists() else None
    if fmt is not None:
        for clip in pose_clips(model, path, fmt, pose):
            data = _preprocess(model, clip.data)
            recording = Recording(clip.name, data, data.shape[1], note=clip.note)
            yield _checked(model, recording)
        return
    if path.is_dir():
        what = "a skelcmd data set: give it alone" if is_dataset(path) else "a folder"
        raise UserError(
            f"{path} is {what}. Give a data set folder alone, raw recordings "
            f"({', '.join(RAW_SUFFIXES)} files) or a pose estimator's output folder "
            "(--format openpose | yolo-pose)."
        )
    if not path.is_file():
        raise UserError(f"{path} does not exist; give a data set or raw recording files.")
    if suffix not in RAW_SUFFIXES:
        raise UserError(
            f"{path}: unknown format {suffix or '(no suffix)'}; skelcmd predict reads a data "
            "set folder, NTU .skeleton files, Kinetics-skeleton .json clips, a clips manifest "
            ".csv (path,label,split), one clip as .npy (T, V, C) / (M, T, V, C), or a pose "
            "estimator's output (--format)."
        )
    if suffix == ".skeleton":
        recordings = [_ntu(model, path, whole)]
    elif suffix == ".json":
        recordings = [_kinetics(model, path, whole)]
    else:
        recordings = _clips(model, path)
    for recording in recordings:
        yield _checked(model, recording)


def _require(model: ClassifierFile, path: Path, layout: Layout, channels: str, what: str) -> None:
    if model.layout.joint_names != layout.joint_names or model.channels != channels:
        raise UserError(
            f"{path} is {what} (layout {layout.name!r}, {channels}), but {_expects(model)}. Give "
            "recordings of the kind the classifier was trained on."
        )


def _ntu(model: ClassifierFile, path: Path, whole: bool) -> Recording:
    _require(model, path, NTU25, "xyz", "an NTU RGB+D .skeleton file")
    extra = model.preparation.get("extra", {})
    preprocess = extra.get("preprocess", REFERENCE)
    if preprocess == NONE:
        raise UserError(
            f"{path}: the classifier's training set was imported without preprocessing, so "
            "there is no record of how to read a raw .skeleton file for it; import the file "
            "as its training set was imported, then predict on that data set."
        )
    max_frames = int(extra.get("max_frames", model.preparation.get("frames", 300)))
    if whole:  # a long recording is windowed, never cut or resampled
        max_frames = max(max_frames, _ntu_header_frames(path))
    payload = (str(path), path.stem, 0, {}, bool(extra.get("aligned", True)), max_frames,
               preprocess)  # fmt: skip
    outcome = ntu.prepare_skeleton_file(payload)
    if outcome.error is not None:
        raise UserError(f"{outcome.error} Fix or remove this file.")
    if not outcome.samples:
        raise UserError(
            f"{path}: no frame has a body, so there is nothing to classify; leave this file out."
        )
    sample = outcome.samples[0]
    label = None
    if model.preparation.get("source") in NTU_SOURCES and ntu.NAME_PATTERN.match(path.name):
        action = int(ntu.parse_names([path.name]).action[0]) - 1
        label = action if action < len(model.classes) else None
    return Recording(path.name, sample.data, sample.length, label)


def _ntu_header_frames(path: Path) -> int:
    """The frame count on the first line of a .skeleton file (0 if it has none: the parser
    then names the problem)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return max(0, int(f.readline().strip() or 0))
    except (OSError, ValueError):
        return 0


def _kinetics(model: ClassifierFile, path: Path, whole: bool) -> Recording:
    _require(model, path, OPENPOSE18, "xy+score", "a Kinetics-skeleton .json clip")
    frames = int(model.preparation.get("frames", kinetics.MAX_FRAMES))
    if whole:  # a long recording is windowed, never cut to the training set's frames
        frames = max(frames, _kinetics_frames(path))
    data, length, label = kinetics.load_clip(path, frames)
    if data is None:
        raise UserError(
            f"{path}: no frame has a person, so there is nothing to classify; leave this file out."
        )
    known = model.preparation.get("source") == "kinetics-skeleton" and isinstance(label, int)
    target = model.image_coordinates  # ST-GCN's reading (x, y - 0.5) is centred
    note = rescale_note("centred", target)
    return Recording(
        path.name,
        rescale_image_coordinates(data, "centred", target),
        length,
        label if known and label < len(model.classes) else None,
        f"{path}: Kinetics-skeleton clip, {note}" if note else "",
    )


def _kinetics_frames(path: Path) -> int:
    """The largest frame_index of a Kinetics-skeleton clip (0 if it cannot be read: the
    reader then names the problem)."""
    try:
        frames = read_json(path, "a Kinetics-skeleton clip").get("data", [])
        return max([f["frame_index"] for f in frames if isinstance(f.get("frame_index"), int)])
    except (UserError, ValueError, AttributeError, TypeError, KeyError):
        return 0


def _clips(model: ClassifierFile, path: Path) -> list[Recording]:
    c = num_channels(model.channels)
    if path.suffix.lower() == ".npy":
        entries = [clip_files.Clip(0, path.name, path, "", "")]
    else:
        entries = clip_files.read_manifest(path, labels_required=False)
    index = {name: k for k, name in enumerate(model.classes)}
    unknown = next((entry for entry in entries if entry.label and entry.label not in index), None)
    if unknown is not None:
        raise UserError(_unknown_label(model, path, unknown))
    out = []
    for entry in entries:
        where = f"{path}, line {entry.line}" if entry.line else str(path)
        data = clip_files.read_clip(entry, model.layout, c, where)
        data = _preprocess(model, data)
        label = index[entry.label] if entry.label else None
        out.append(Recording(entry.name, data, data.shape[1], label))
    return out


def _unknown_label(model: ClassifierFile, path: Path, entry: clip_files.Clip) -> str:
    """What to say of a manifest label that is none of the classifier's classes."""
    close = difflib.get_close_matches(entry.label, model.classes, n=3)
    known = model.classes[:5] + (["..."] if len(model.classes) > 5 else [])
    hint = (
        f"the closest of its classes: {', '.join(map(repr, close))}"
        if close
        else f"its classes: {', '.join(known)}"
    )
    return (
        f"{path}, line {entry.line}: label {entry.label!r} is not one of the classes of the "
        f"classifier {model.path} ({hint}). Fix the label, or leave the label column empty to "
        "predict without comparing."
    )


def _preprocess(model: ClassifierFile, data: np.ndarray) -> np.ndarray:
    """The training set's recorded `preprocess` applied to one clip as the importers apply it."""
    extra = model.preparation.get("extra", {})
    preprocess = extra.get("preprocess", NONE)
    if preprocess == NONE:
        return data
    align = bool(extra.get("aligned", True))
    lengths = np.array([data.shape[1]])
    return normalize_arrays(data[None], lengths, model.layout, preprocess, align=align)[0]


def _checked(model: ClassifierFile, recording: Recording) -> Recording:
    """`recording` checked (persons, finite values), zero-padded to the classifier's persons
    (as a data set's clips are; windows are cut from it as it is)."""
    persons = recording.data.shape[3]
    if persons > model.num_persons:
        raise UserError(
            f"{recording.name} holds {persons} persons per frame, but {_expects(model)}. Keep "
            f"the {model.num_persons} main person(s) of the recording."
        )
    if not np.isfinite(recording.data[:, : recording.length]).all():
        raise UserError(f"{recording.name} holds NaN or infinite values; fix the recording.")
    if persons < model.num_persons:
        pad = np.zeros((*recording.data.shape[:3], model.num_persons - persons), np.float32)
        recording.data = np.concatenate([recording.data, pad], axis=3)
    return recording
