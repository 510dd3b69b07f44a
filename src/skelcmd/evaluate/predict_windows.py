"""Sliding-window recognition on long recordings (`skelcmd predict --window W --stride S`).

Windows of W frames start every S frames (0, S, 2S, ... while the window fits; the last frames
of a recording that no window reaches stay unlabelled). Each window is one clip of W valid
frames, prepared and scored as any clip (`TrainedClassifier.scores`); windows are cut from the
recording as one strided view and scored in batches. A window whose best probability is below
`min_score` is left unlabelled. The timeline gives every window the S frames around its centre
and merges neighbours of the same label into segments (`window_segments`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from skelcmd.errors import UserError
from skelcmd.evaluate.predict_inputs import Recording

UNLABELLED = -1


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """First frames of the windows of a recording of `length` frames."""
    return np.arange(0, length - window + 1, stride)


@torch.no_grad()
def window_scores(
    scores: Callable[[Tensor, Tensor], Tensor],
    recording: Recording,
    window: int,
    stride: int,
    batch_size: int = 256,
) -> tuple[np.ndarray, Tensor]:
    """(window starts (W,), probabilities (W, K)) of one recording; `scores(clips, lengths)`
    gives the probabilities of a batch of clips (`TrainedClassifier.scores`)."""
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
        parts.append(scores(clips, lengths).cpu())
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
