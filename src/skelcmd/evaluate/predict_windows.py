"""Sliding-window recognition on long recordings (`skelcmd predict --window W --stride S`).

Windows of W frames start every S frames (0, S, 2S, ... while the window fits; the last frames
of a recording that no window reaches stay unlabelled). Each window is one clip of W valid
frames, prepared and scored as any clip (`TrainedClassifier.scores`); windows are cut from the
recording as one strided view and scored in batches. A window whose best probability is below
`min_score` is left unlabelled. The timeline gives every window the S frames around its centre
and merges neighbours of the same label into segments (`window_segments`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from skelcmd.atomic import atomic_path
from skelcmd.data.format import is_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.predict_inputs import Recording, read_recordings

if TYPE_CHECKING:
    from skelcmd.evaluate.predict import PredictSummary, TrainedClassifier

UNLABELLED = -1


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """First frames of the windows of a recording of `length` frames."""
    return np.arange(0, length - window + 1, stride)


@torch.no_grad()
def window_scores(
    classifier: TrainedClassifier,
    recording: Recording,
    window: int,
    stride: int,
    batch_size: int = 256,
) -> tuple[np.ndarray, Tensor]:
    """(window starts (W,), probabilities (W, K)) of one recording."""
    if window > recording.length:
        raise UserError(
            f"{recording.name} has {recording.length} frames, fewer than --window {window}; give "
            "a shorter --window, or classify the recording whole (without --window)."
        )
    x = torch.from_numpy(np.ascontiguousarray(recording.data[:, : recording.length]))
    starts = window_starts(recording.length, window, stride)
    views = x.unfold(1, window, stride)  # (C, W, V, M, window): no copy
    parts = []
    for first in range(0, len(starts), batch_size):
        clips = views[:, first : first + batch_size].permute(1, 0, 4, 2, 3).contiguous()
        lengths = torch.full((len(clips),), window)
        parts.append(classifier.scores(clips, lengths).cpu())
    return starts, torch.cat(parts)


def window_labels(probs: Tensor, min_score: float) -> np.ndarray:
    """The best class of every window, UNLABELLED where its probability is below `min_score`."""
    best, labels = probs.max(dim=1)
    return np.where(best.numpy() >= min_score, labels.numpy(), UNLABELLED)


def window_segments(
    starts: np.ndarray, labels: np.ndarray, window: int, stride: int
) -> list[tuple[int, int, int]]:
    """(first frame, end frame (exclusive), label) of the runs of equal labels, each window
    owning the `stride` frames around its centre (the first from frame 0, the last to its end)."""
    if len(starts) == 0:
        return []
    centre = starts + (window - stride) // 2
    begin = np.concatenate([[0], centre[1:]])
    end = np.concatenate([centre[1:], [starts[-1] + window]])
    change = np.flatnonzero(np.diff(labels) != 0) + 1
    firsts = np.concatenate([[0], change])
    lasts = np.concatenate([change, [len(labels)]]) - 1
    return [
        (int(begin[a]), int(end[b]), int(labels[a])) for a, b in zip(firsts, lasts, strict=True)
    ]


def predict_windows(
    classifier: TrainedClassifier,
    inputs: Sequence[str | Path],
    out: Path,
    *,
    window: int,
    stride: int,
    top_k: int = 5,
    batch_size: int = 256,
    min_score: float = 0.0,
) -> PredictSummary:
    """Per-window rows of every raw recording of `inputs` into `out`, and the timeline picture
    `<out>_timeline.png`."""
    from skelcmd.evaluate.plots import timeline_plot
    from skelcmd.evaluate.predict import PredictSummary, header, side_file, top_columns

    if window < 1 or stride < 1:
        raise UserError(f"--window and --stride must be at least 1 frame, not {window}, {stride}.")
    if not 0 <= min_score <= 1:
        raise UserError(f"--min-score is a probability in [0, 1], not {min_score}.")
    classes = classifier.classes
    top_k = min(top_k, len(classes))
    summary = PredictSummary(out=out)
    timelines = []
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header(top_k, ["input", "start", "end", "label"]))
        for path in inputs:
            if is_dataset(path):
                raise UserError(
                    f"{path} is a data set: --window classifies windows of raw recordings. "
                    "Drop --window to classify the data set's clips whole."
                )
            for recording in read_recordings(classifier.info, path, whole=True):
                starts, probs = window_scores(classifier, recording, window, stride, batch_size)
                labels = window_labels(probs, min_score)
                top = top_columns(probs, classes, top_k)
                for i, start in enumerate(starts.tolist()):
                    name = classes[labels[i]] if labels[i] != UNLABELLED else ""
                    writer.writerow([recording.name, start, start + window, name, *top[i]])
                summary.rows += len(starts)
                segments = window_segments(starts, labels, window, stride)
                timelines.append((recording.name, recording.length, segments, starts, probs))
    picture = side_file(out, "timeline", ".png")
    summary.files = [timeline_plot(timelines, classes, window, picture)]
    return summary
