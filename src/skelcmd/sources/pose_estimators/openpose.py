"""Import OpenPose `--write_json` output (versions 1.0 to 1.3): one JSON file a frame.

A file is `{"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x1, y1, c1,
x2, ...], ...}, ...]}` (1.0 names the list `pose_keypoints`). The folder INPUT (and its
subfolders) may hold several videos: files are grouped by the name before their frame number
(`skelcmd.sources.pose_estimators.files`) and sorted by that number.

- The model: 18 points a person is COCO-18 (`openpose18`); 25 points are BODY_25 or
  BODY_25B, told apart by where the joints lie (BODY_25's joint 1, the neck, sits between the
  shoulders 2 and 5 and its joint 8, the mid-hip, between the hips 9 and 12; in BODY_25B these
  are an eye, an elbow and other joints far from such midpoints); when the poses do not show
  it clearly, --model must say. Every file of a folder must hold the same model.
- A joint with confidence 0 or at (0, 0) is missing: stored as zeros, score 0.
- Coordinates in pixels (OpenPose's default), in [0, 1] or [-1, 1] (its --keypoint_scale 3
  and 4) become skelcmd's [-1, 1] image coordinates (`image.py`); pixels need the image size,
  from --image-size or the video beside the JSON folder.
- Persons: `person_id` when OpenPose tracked them, else the nearest-pose tracker (`people.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelcmd.errors import UserError, read_json
from skelcmd.skeleton import LAYOUTS
from skelcmd.sources.pose_estimators.dataset import (
    PoseImportSummary,
    PoseVideos,
    image_extra,
    write_pose_videos,
)
from skelcmd.sources.pose_estimators.files import frame_files
from skelcmd.sources.pose_estimators.image import (
    SCALES,
    detect_scale,
    image_size_of,
    parse_image_size,
    to_unit,
)
from skelcmd.sources.pose_estimators.people import Detections, track

MODELS = {"body25": "body25", "body25b": "body25b", "coco18": "openpose18"}
MIDPOINT_LIMIT = (0.15, 0.3)  # BODY_25 below the first, BODY_25B above the second
WHAT = "OpenPose --write_json"


def _read_video(frames: list[tuple[int, Path]]) -> tuple[list, list, list, dict[int, Path]]:
    """(frame number per row, keypoint list per row, person id per row, file per frame)."""
    numbers, keypoints, ids, where = [], [], [], {}
    for number, path in frames:
        info = read_json(path, WHAT)
        people = info.get("people") if isinstance(info, dict) else None
        if not isinstance(people, list):
            raise UserError(f"{path} has no 'people' list; it is not a file {WHAT} wrote.")
        where[number] = path
        for m, person in enumerate(people):
            points = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
            if not isinstance(points, list):
                raise UserError(f"{path}: person {m + 1} has no pose_keypoints_2d list.")
            if not points:
                continue  # a face- or hand-only detection: no body
            pid = person.get("person_id", -1)
            pid = pid[0] if isinstance(pid, list) and pid else pid
            numbers.append(number)
            keypoints.append(points)
            ids.append(pid if isinstance(pid, int) and not isinstance(pid, bool) else -1)
    return numbers, keypoints, ids, where


def _check_counts(keypoints: list, rows: list[tuple[Path, int]]) -> int:
    """The point count every person of the folder has; a UserError at the first that differs."""
    sizes = np.array([len(k) for k in keypoints])
    if (sizes % 3).any():
        path = rows[int(np.argmax(sizes % 3))][0]
        raise UserError(
            f"{path}: a person has {sizes[sizes % 3 > 0][0]} numbers, not x, y, c "
            "triples; the file is damaged or not OpenPose's."
        )
    if (sizes != sizes[0]).any():
        k = int(np.argmax(sizes != sizes[0]))
        raise UserError(
            f"{rows[k][0]} has a person of {sizes[k] // 3} points, but {rows[0][0]} has "
            f"{sizes[0] // 3}: this folder mixes OpenPose models (BODY_25, BODY_25B, COCO-18). "
            "Import each model's output from its own folder."
        )
    return int(sizes[0]) // 3


def detect_model(points: np.ndarray, where: str) -> str:
    """`body25` or `body25b` for (R, 25, 2) poses (zeros missing), from how far joints 1 and 8
    lie from the midpoints of joints 2, 5 and 9, 12, relative to those joints' distance
    (median over the poses); a UserError when that does not decide."""
    ratios = []
    for middle, a, b in ((1, 2, 5), (8, 9, 12)):
        ok = (points[:, [middle, a, b]] != 0).any(axis=2).all(axis=1)
        p = points[ok]
        span = np.linalg.norm(p[:, a] - p[:, b], axis=1)
        off = np.linalg.norm(p[:, middle] - (p[:, a] + p[:, b]) / 2, axis=1)
        good = span > 0
        if good.any():
            ratios.append(float(np.median(off[good] / span[good])))
    if ratios and max(ratios) < MIDPOINT_LIMIT[0]:
        return "body25"
    if ratios and min(ratios) > MIDPOINT_LIMIT[1]:
        return "body25b"
    raise UserError(
        f"{where}: 25 points a person are BODY_25 or BODY_25B, and these poses do not show "
        "which; give --model body25 (OpenPose's default) or --model body25b."
    )


def import_openpose(
    input: str | Path,
    out_dir: str | Path,
    *,
    model: str = "auto",
    keypoint_scale: str = "auto",
    image_size: str | tuple[int, int] | None = None,
    labels: str | Path | None = None,
    persons: int = 2,
    split: str = "train",
    allow_gaps: bool = False,
    overwrite: bool = False,
) -> PoseImportSummary:
    """Import the OpenPose JSON folder `input` as the data set `out_dir` (see the module
    docstring and `dataset.py` for labels, segments and splits)."""
    read = read_openpose(
        input, model=model, keypoint_scale=keypoint_scale, image_size=image_size,
        allow_gaps=allow_gaps,
    )  # fmt: skip
    return write_pose_videos(
        out_dir, read, labels=labels, persons=persons, split=split, overwrite=overwrite
    )


def read_openpose(
    input: str | Path,
    *,
    model: str = "auto",
    keypoint_scale: str = "auto",
    image_size: str | tuple[int, int] | None = None,
    allow_gaps: bool = False,
) -> PoseVideos:
    """The videos of the OpenPose JSON folder `input`, read and tracked (module docstring)."""
    if model not in ("auto", *MODELS):
        raise UserError(f"--model {model!r}: choose auto, {', '.join(MODELS)}.")
    if keypoint_scale not in SCALES:
        raise UserError(f"--keypoint-scale {keypoint_scale!r}: choose {', '.join(SCALES)}.")
    size = parse_image_size(image_size)
    root = Path(input)
    videos = {
        name: _read_video(frames) for name, frames in frame_files(root, ".json", WHAT).items()
    }
    rows = [(v[3][n], n) for v in videos.values() for n in v[0]]
    if not rows:
        raise UserError(f"no file below {root} lists a person; nothing to import.")
    count = _check_counts([k for v in videos.values() for k in v[1]], rows)
    try:
        every = np.array([k for v in videos.values() for k in v[1]], np.float64)
    except (TypeError, ValueError):
        raise UserError(f"a file below {root} holds keypoints that are not numbers.") from None
    every = every.reshape(len(every), count, 3)
    missing = (every[..., 2] == 0) | (every[..., :2] == 0).all(axis=2)
    every[missing] = 0.0
    fits = {18: ("coco18",), 25: ("body25", "body25b")}.get(count, ())
    if not fits:
        raise UserError(
            f"{rows[0][0]}: {count} points a person is no OpenPose body model "
            "skelcmd knows (BODY_25, BODY_25B: 25 points; COCO-18: 18)."
        )
    if model != "auto" and model not in fits:
        raise UserError(
            f"--model {model} has {LAYOUTS[MODELS[model]].num_joints} points a "
            f"person, but the files below {root} hold {count}."
        )
    if model != "auto":
        name = model
    else:
        name = fits[0] if len(fits) == 1 else detect_model(every[..., :2], str(root))
    scale = detect_scale(every[..., :2]) if keypoint_scale == "auto" else keypoint_scale
    tracked, sizes, start = [], {}, 0
    for video, (numbers, _, ids, where) in videos.items():
        rows_of = every[start : start + len(numbers)]
        start += len(numbers)
        first = next(iter(where.values()))
        if scale == "pixels":
            sizes[video], _ = image_size_of(
                video, [first.parent, first.parent.parent], size, str(first.parent)
            )
        ids_array = np.array(ids, np.int64)
        det = Detections(
            video,
            np.array(numbers, np.int64),
            to_unit(rows_of[..., :2], scale, sizes.get(video)),
            rows_of[..., 2],
            ids_array if len(ids) and (ids_array >= 0).all() else None,
            np.array(sorted(where), np.int64),
            lambda n, w=where, f=first: str(w.get(n, f.parent)),
        )
        tracked.append(track(det, allow_gaps=allow_gaps))
    return PoseVideos(
        tracked,
        layout=LAYOUTS[MODELS[name]],
        channels="xy+score",
        estimator="openpose",
        input_path=root,
        extra={"model": name, "keypoint_scale": scale, **image_extra(tracked, sizes)},
        notes=[f"model {name}" + (" (detected from the poses)" if model == "auto" else "")],
    )
