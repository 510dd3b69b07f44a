"""Import MMPose / RTMPose predictions: COCO-17 keypoints with scores, per instance and frame.

One JSON file a video (INPUT is such a file, or a folder of them), as MMPose writes it:
- `MMPoseInferencer(...)(video, pred_out_dir=...)`: a list of frames `{"frame_id": i,
  "instances": [{"keypoints": [[x, y], ...], "keypoint_scores": [...], "bbox": ...,
  "bbox_score": ...}, ...]}`;
- the demo scripts' `--save-predictions`: `{"meta_info": {...}, "instance_info": [frames as
  above]}`.
An instance may carry `track_id` (MMPose's pose tracker); otherwise persons are tracked by
nearest pose (`people.py`). Keypoints are 17 (COCO), or COCO-WholeBody's 133 / Halpe's 26,
whose first 17 are COCO-17's, kept. Coordinates are pixels: the image size comes from
--image-size or the video beside the file (`image.py`). A keypoint at (0, 0) is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.errors import UserError, read_json
from skelcmd.skeleton import COCO17
from skelcmd.sources.pose_estimators.dataset import (
    PoseImportSummary,
    PoseVideos,
    image_extra,
    write_pose_videos,
)
from skelcmd.sources.pose_estimators.files import video_files
from skelcmd.sources.pose_estimators.image import image_size_of, parse_image_size, to_unit
from skelcmd.sources.pose_estimators.people import Detections, track

BODY = 17  # COCO-17 first in every keypoint set read here
KEYPOINT_SETS = {17: "COCO-17", 26: "Halpe-26", 133: "COCO-WholeBody"}
WHAT = "MMPose predictions"


def _frames(info: Any, path: Path) -> list[dict[str, Any]]:
    frames = info.get("instance_info") if isinstance(info, dict) else info
    ok = isinstance(frames, list) and all(
        isinstance(f, dict) and isinstance(f.get("instances"), list) for f in frames
    )
    if not ok:
        raise UserError(
            f"{path} is not MMPose video predictions: expected a list of frames "
            "{frame_id, instances: [{keypoints, keypoint_scores}, ...]} (or the demo's "
            "{meta_info, instance_info})."
        )
    return frames


def read_predictions(path: Path, name: str) -> tuple[Detections, int]:
    """One predictions file as Detections in pixels, and its keypoints per instance."""
    frames = _frames(read_json(path, WHAT), path)
    numbers, points, scores, ids, listed = [], [], [], [], []
    for k, frame in enumerate(frames):  # parsing: one step per frame
        number = frame.get("frame_id", k)
        if isinstance(number, bool) or not isinstance(number, int):
            raise UserError(f"{path}, frame entry {k + 1}: frame_id {number!r} is no integer.")
        listed.append(number)
        for m, instance in enumerate(frame["instances"]):
            kp, sc = instance.get("keypoints"), instance.get("keypoint_scores")
            if np.ndim(kp) != 2 or np.shape(kp)[1] != 2 or np.shape(sc) != np.shape(kp)[:1]:
                raise UserError(
                    f"{path}, frame {number}, instance {m + 1}: keypoints of shape "
                    f"{np.shape(kp)} and keypoint_scores of {np.shape(sc)}; expected (K, 2) "
                    "and (K,) (2D keypoints; 3D lifter output is not read)."
                )
            numbers.append(number)
            points.append(kp)
            scores.append(sc)
            track_id = instance.get("track_id", -1)
            ids.append(track_id if isinstance(track_id, int) else -1)
    sizes = {len(p) for p in points}
    if len(sizes) > 1 or not sizes <= set(KEYPOINT_SETS):
        raise UserError(
            f"{path}: instances have {sorted(sizes)} keypoints; skelcmd reads one set a file: "
            + ", ".join(f"{n} ({s})" for n, s in KEYPOINT_SETS.items())
            + ", the first 17 being COCO-17's."
        )
    try:
        kp = np.array(points, np.float64).reshape(len(points), -1, 2)[:, :BODY]
        sc = np.array(scores, np.float64).reshape(len(points), -1)[:, :BODY]
    except (TypeError, ValueError):
        raise UserError(f"{path}: keypoints or scores hold something not a number.") from None
    missing = (kp == 0).all(axis=2)
    kp[missing], sc[missing] = 0.0, 0.0
    id_array = np.array(ids, np.int64)
    det = Detections(
        name,
        np.array(numbers, np.int64),
        kp,
        sc,
        id_array if len(ids) and (id_array >= 0).all() else None,
        np.array(listed, np.int64),
        lambda n: f"{path}, frame {n}",
    )
    return det, (sizes.pop() if sizes else BODY)


def import_mmpose(
    input: str | Path,
    out_dir: str | Path,
    *,
    image_size: str | tuple[int, int] | None = None,
    labels: str | Path | None = None,
    persons: int = 2,
    split: str = "train",
    allow_gaps: bool = False,
    overwrite: bool = False,
) -> PoseImportSummary:
    """Import MMPose predictions (see the module docstring) as the data set `out_dir`."""
    read = read_mmpose(input, image_size=image_size, allow_gaps=allow_gaps)
    return write_pose_videos(
        out_dir, read, labels=labels, persons=persons, split=split, overwrite=overwrite
    )


def read_mmpose(
    input: str | Path,
    *,
    image_size: str | tuple[int, int] | None = None,
    allow_gaps: bool = False,
) -> PoseVideos:
    """The videos of MMPose predictions, read and tracked (module docstring)."""
    root = Path(input)
    size = parse_image_size(image_size)
    tracked, sizes, notes = [], {}, []
    for name, path in video_files(root, (".json",), WHAT).items():
        det, count = read_predictions(path, name)
        if count != BODY:
            notes.append(f"{name}: {KEYPOINT_SETS[count]} keypoints, the body's 17 kept")
        sizes[name], _ = image_size_of(
            path.stem, [path.parent, path.parent.parent], size, str(path)
        )
        det.points = to_unit(det.points, "pixels", sizes[name])
        tracked.append(track(det, allow_gaps=allow_gaps))
    return PoseVideos(
        tracked,
        layout=COCO17,
        channels="xy+score",
        estimator="mmpose",
        input_path=root,
        extra=image_extra(tracked, sizes),
        notes=notes,
    )
