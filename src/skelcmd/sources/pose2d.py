"""2D keypoints of pyskl's annotation files (HRNet / MMPose poses, COCO-17 order).

A 2D annotation holds `keypoint` (M, T, V, 2) in pixels and usually `keypoint_score`
(M, T, V). It becomes channels `xy+score` (`xy` without scores), normalised as pyskl's
`PreNormalize2D` does before a GCN sees it: x -> (x - w/2) / (w/2), y -> (y - h/2) / (h/2)
with the annotation's `img_shape` (h, w), or pyskl's default 1080 x 1920 where it has none,
so the image spans [-1, 1] whatever its resolution (y still points down). The score is
appended as the third channel, as pyskl's `GenSkeFeat` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from skelcmd.errors import UserError

DEFAULT_IMAGE = (1080, 1920)  # pyskl's PreNormalize2D default (h, w)


def check_scores(ann: Mapping[str, Any], where: str) -> None:
    """UserError unless a 2D annotation's keypoint_score (if any) is finite, (M, T, V), and
    its img_shape (if any) two positive numbers."""
    kp = ann["keypoint"]
    if "keypoint_score" in ann:
        score = ann["keypoint_score"]
        if not isinstance(score, np.ndarray) or score.shape != kp.shape[:3]:
            raise UserError(
                f"{where}: keypoint_score has shape {getattr(score, 'shape', type(score))}; "
                f"expected {kp.shape[:3]} (one score per keypoint)."
            )
        if score.dtype.kind not in "fiu" or not np.isfinite(score).all():
            raise UserError(f"{where}: keypoint_score holds NaN, infinite or non-numbers.")
    shape = ann.get("img_shape", DEFAULT_IMAGE)
    ok = np.shape(shape) == (2,) and all(
        isinstance(s, (int, float, np.integer, np.floating)) and s > 0 for s in shape
    )
    if not ok:
        raise UserError(f"{where}: img_shape is {shape!r}; expected (height, width) in pixels.")


def annotation_channels(anns: Sequence[Mapping[str, Any]], where: str) -> str:
    """`xyz` for 3D keypoints, `xy+score` for 2D ones with scores, `xy` for 2D without; a file
    that mixes them is a UserError."""
    dims = {ann["keypoint"].shape[-1] for ann in anns}
    if len(dims) > 1:
        raise UserError(f"{where} mixes 2D and 3D keypoints; import one kind per data set.")
    if dims == {3}:
        return "xyz"
    scored = {"keypoint_score" in ann for ann in anns}
    if len(scored) > 1:
        raise UserError(
            f"{where}: some 2D annotations have keypoint_score and some not; give all or none."
        )
    return "xy+score" if scored == {True} else "xy"


def keypoints_2d(ann: Mapping[str, Any]) -> np.ndarray:
    """(M, T, V, 2 or 3) float64: x, y normalised by the image size (see the module
    docstring), then the score if the annotation has one."""
    kp = np.asarray(ann["keypoint"], dtype=np.float64)
    h, w = (float(s) for s in ann.get("img_shape", DEFAULT_IMAGE))
    channels = [(kp[..., 0] - w / 2) / (w / 2), (kp[..., 1] - h / 2) / (h / 2)]
    if "keypoint_score" in ann:
        channels.append(np.asarray(ann["keypoint_score"], dtype=np.float64))
    return np.stack(channels, axis=-1)
