"""Tracked videos -> a skelcmd data set: one clip per video, or per labelled segment.

Without a labels file every video becomes one clip of the class `unlabelled` (for
pretraining). A labels file is a CSV with a header and the columns

    video,label[,start,end][,split]

`video` a video's name as the import lists it (its file or folder name without the frame
number), `label` a class name, `start` / `end` the first and last frame of a segment in the
files' own frame numbers (both or neither; empty: the whole video), `split` the split (default:
the importer's --split). Class names are the labels sorted (by number when all are integers).
Videos the labels file does not name are left out and listed; a name it gives that no video
has is an error, and so are two segments of one video in different splits that share frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.data.format import check_split_name
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout
from skelcmd.sources.clips import class_order, read_csv_table
from skelcmd.sources.pose_estimators.people import ClipReport, Tracked

UNLABELLED = "unlabelled"
COLUMNS = ("video", "label", "start", "end", "split")


@dataclass
class Segment:
    video: str
    label: str
    start: int | None  # first frame number, inclusive (None: the first frame)
    end: int | None  # last frame number, inclusive (None: the last frame)
    split: str
    where: str  # "labels.csv, line N" for messages

    @property
    def name(self) -> str:
        return self.video if self.start is None else f"{self.video}@{self.start}-{self.end}"


@dataclass
class PoseImportSummary:
    """What a pose-estimator import wrote and left out; `format()` is what the CLI prints."""

    out: Path
    estimator: str
    layout: str
    channels: str
    splits: dict[str, int] = field(default_factory=dict)
    clips: list[ClipReport] = field(default_factory=list)
    unlabelled_videos: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def format(self) -> str:
        sizes = ", ".join(f"{split} {count}" for split, count in self.splits.items())
        lines = [
            f"wrote {self.out}: {self.estimator} poses, layout {self.layout}, channels "
            f"{self.channels}; clips: {sizes}"
        ]
        lines += [f"  {clip.line()}" for clip in self.clips[:50]]
        if len(self.clips) > 50:
            lines.append(f"  ... and {len(self.clips) - 50} more clips")
        empty = sum(clip.empty_frames for clip in self.clips)
        if empty:
            lines.append(f"{empty} frames with no person in all, left empty (not filled in).")
        if self.unlabelled_videos:
            shown = ", ".join(self.unlabelled_videos[:5])
            lines.append(
                f"{len(self.unlabelled_videos)} videos the labels file does not name "
                f"were left out: {shown}{', ...' if len(self.unlabelled_videos) > 5 else ''}"
            )
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def read_labels(path: str | Path, default_split: str) -> list[Segment]:
    """The segments a labels CSV lists (see the module docstring), each checked."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"labels file {path} does not exist; give a CSV video,label[,start,end].")
    columns, rows = read_csv_table(path, "the labels file")
    unknown = [c for c in columns if c not in COLUMNS]
    if not {"video", "label"} <= set(columns) or unknown:
        raise UserError(
            f"{path}: the header has {', '.join(columns) or 'no columns'}; it needs video,label "
            "and may have start,end (a segment's first and last frame) and split."
        )
    if ("start" in columns) != ("end" in columns):
        raise UserError(f"{path}: give both start and end columns, or neither.")
    segments = []
    for line, raw in rows:
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        where = f"{path}, line {line}"
        if None in raw or not row.get("video") or not row.get("label"):
            raise UserError(f"{where}: give a video name and a label (and no extra values).")
        span = [row.get("start", ""), row.get("end", "")]
        if any(span) and not all(s.isdigit() for s in span):
            raise UserError(f"{where}: start and end are frame numbers; got {span}.")
        start, end = (int(s) for s in span) if any(span) else (None, None)
        if start is not None and start > end:
            raise UserError(f"{where}: the segment starts ({start}) after it ends ({end}).")
        split = check_split_name(row["split"], where) if row.get("split") else default_split
        segments.append(Segment(row["video"], row["label"], start, end, split, where))
    if not segments:
        raise UserError(f"{path} lists no video.")
    return segments


def _segments(
    videos: Sequence[Tracked], labels: str | Path | None, split: str
) -> tuple[list[tuple[Segment, Tracked]], list[str]]:
    """(segment, its video) to write, and the videos left out for want of a label."""
    by_name = {video.detections.name: video for video in videos}
    if labels is None:
        return [
            (Segment(name, UNLABELLED, None, None, split, name), video)
            for name, video in by_name.items()
        ], []
    segments = read_labels(labels, split)
    missing = [s for s in segments if s.video not in by_name]
    if missing:
        raise UserError(
            f"{missing[0].where}: no video is named {missing[0].video!r}; the videos are "
            f"{', '.join(list(by_name)[:8])}{', ...' if len(by_name) > 8 else ''}."
        )
    named = {s.video for s in segments}
    return [(s, by_name[s.video]) for s in segments], [v for v in by_name if v not in named]


def _span(segment: Segment, video: Tracked) -> tuple[int, int]:
    """Frame positions [lo, hi) of a segment, checked against the video's frames."""
    if segment.start is None:
        return 0, video.num_frames
    last = video.first + video.num_frames - 1
    if segment.start < video.first or segment.end > last:
        raise UserError(
            f"{segment.where}: frames {segment.start}..{segment.end} are outside "
            f"{segment.video}'s frames {video.first}..{last}."
        )
    return segment.start - video.first, segment.end - video.first + 1


def _check_disjoint_splits(segments: Sequence[Segment], spans: Sequence[tuple[int, int]]) -> None:
    """UserError when two segments of one video in different splits share frames: a model
    would then be tested on frames it was trained on. Overlaps within a split are allowed."""
    by_video: dict[str, list[tuple[Segment, tuple[int, int]]]] = {}
    for segment, span in zip(segments, spans, strict=True):
        by_video.setdefault(segment.video, []).append((segment, span))
    for items in by_video.values():
        for (a, (lo_a, hi_a)), (b, (lo_b, hi_b)) in itertools.combinations(items, 2):
            if a.split != b.split and lo_a < hi_b and lo_b < hi_a:
                raise UserError(
                    f"{b.where}: this segment of {b.video!r} ({b.split}) shares frames with "
                    f"the one of {a.where} ({a.split}), so a model would be tested on frames it "
                    "was trained on; make the segments of different splits disjoint."
                )


def image_extra(videos: Sequence[Tracked], sizes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The meta `extra` of 2D keypoints in image coordinates: their axes, each video's size in
    pixels (where known) and how each video's persons were tracked."""
    return {
        "image_axes": "y down",
        "image_sizes": {k: list(v) for k, v in sizes.items()},
        "tracking": {t.detections.name: t.method for t in videos},
    }


def reader_image_coordinates(channels: str) -> str | None:
    """The scale (`skelcmd.channels`) of the coordinates every `read_<estimator>` gives: 2D
    image coordinates in [-1, 1] (`image.to_unit`), "signed"; None for 3D."""
    return None if channels == "xyz" else "signed"


@dataclass
class PoseVideos:
    """An estimator's output read as tracked videos, before any data set is written: what
    each importer's `read_<estimator>` returns, for `write_pose_videos` (the import) and for
    `skelcmd predict` (`skelcmd.evaluate.predict_pose`)."""

    videos: list[Tracked]
    layout: Layout
    channels: str
    estimator: str
    input_path: Path
    extra: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def write_pose_videos(
    out: str | Path,
    read: PoseVideos,
    *,
    labels: str | Path | None,
    persons: int,
    split: str,
    overwrite: bool,
) -> PoseImportSummary:
    """`write_pose_dataset` of what a `read_<estimator>` returned."""
    return write_pose_dataset(
        out,
        read.videos,
        layout=read.layout,
        channels=read.channels,
        estimator=read.estimator,
        labels=labels,
        persons=persons,
        split=split,
        overwrite=overwrite,
        input_path=read.input_path,
        extra=read.extra,
        notes=read.notes,
    )


def write_pose_dataset(
    out: str | Path,
    videos: Sequence[Tracked],
    *,
    layout: Layout,
    channels: str,
    estimator: str,
    labels: str | Path | None,
    persons: int,
    split: str,
    overwrite: bool,
    input_path: Path,
    extra: dict[str, Any],
    notes: Sequence[str] = (),
) -> PoseImportSummary:
    """Write every segment of `videos` (see the module docstring) as one data set; the
    estimator's output `input_path` and the `labels` file are recorded as its inputs."""
    if persons < 1:
        raise UserError(f"--persons must be at least 1, got {persons}.")
    check_split_name(split, "--split")
    chosen, left_out = _segments(videos, labels, split)
    names = (UNLABELLED,) if labels is None else tuple(class_order([s.label for s, _ in chosen]))
    index = {name: k for k, name in enumerate(names)}
    spans = [_span(segment, video) for segment, video in chosen]
    _check_disjoint_splits([segment for segment, _ in chosen], spans)
    t_max = max(hi - lo for lo, hi in spans)
    splits: dict[str, list[int]] = {}
    for k, (segment, _) in enumerate(chosen):
        splits.setdefault(segment.split, []).append(k)
    summary = PoseImportSummary(
        Path(out), estimator, layout.name, channels, unlabelled_videos=left_out, notes=list(notes)
    )
    extra = {"estimator": estimator, "labelled": labels is not None, **extra}
    if reader_image_coordinates(channels) is not None:
        extra["image_coordinates"] = reader_image_coordinates(channels)
    with DatasetWriter(
        out,
        layout,
        names,
        source=estimator,
        benchmark="",
        extra=extra,
        overwrite=overwrite,
        channels=channels,
        inputs=[input_path] if labels is None else [input_path, Path(labels)],
    ) as writer:
        for name, members in splits.items():
            target = writer.add_split(name, len(members), t_max, persons)
            for k in members:  # one clip at a time: memory stays one clip
                segment, video = chosen[k]
                data, report = video.clip(*spans[k], persons, segment.name)
                target.append(
                    data[None],
                    np.array([data.shape[1]]),
                    np.array([index[segment.label]]),
                    names=[segment.name],
                )
                summary.clips.append(report)
            summary.splits[name] = len(members)
        writer.meta["extra"]["frames_without_person"] = sum(c.empty_frames for c in summary.clips)
    return summary
