"""Import Ultralytics YOLO-pose results (COCO-17 keypoints): save_txt rows or a JSON of tracks.

INPUT is either
- a folder of `save_txt` files (`<video>_<frame>.txt`, as `model.predict(video, save_txt=True)`
  or `model.track(...)` write them), one row per person: class, box x, y, w, h, then 17
  keypoints x, y[, confidence], then the box confidence (`save_conf=True`) and the track id
  (tracking) if written. Coordinates are fractions of the image. Ultralytics writes no file
  for a frame without a person, so missing frame numbers are such frames (counted, reported);
- a JSON file (or a folder of them; its .txt files are then not read), one per video: a
  list of frames, each either an object `{"frame": n, "<anything>_<track id>": {"nose":
  {"x": .., "y": ..[, "confidence": ..]}, ...}, ...}` (17 COCO keypoint names, or a list of
  17 [x, y(, c)]) or a list of
  `Results.summary()` dicts `{"track_id": id, "keypoints": {"x": [...], "y": [...],
  "visible": [...]}}`. Pixels: the image size comes from --image-size or the video beside.
Ultralytics sets keypoints under 0.5 confidence to (0, 0): such a keypoint is missing.
"""

from __future__ import annotations

import re
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
from skelcmd.sources.pose_estimators.files import frame_files, video_files
from skelcmd.sources.pose_estimators.image import (
    detect_scale,
    image_size_of,
    parse_image_size,
    to_unit,
)
from skelcmd.sources.pose_estimators.people import Detections, track
from skelcmd.sources.rows import read_rows

K = COCO17.num_joints
NAMES = {  # Ultralytics / COCO keypoint names -> coco17 index ("left_eye" is eye_left)
    "_".join(reversed(name.split("_"))): v for v, name in enumerate(COCO17.joint_names)
}
SCORE_KEYS = ("confidence", "conf", "score", "visible", "visibility")
TRACK_KEY = re.compile(r".*?(\d+)$")
WHAT = "Ultralytics YOLO-pose"


def _txt_video(name: str, frames: list[tuple[int, Path]]) -> Detections:
    """One video's save_txt files -> Detections (x, y as fractions of the image)."""
    blocks, numbers = [], []
    for number, path in frames:  # one file a frame: reading is a step per frame
        rows, _ = read_rows(path)
        blocks.append(rows)
        numbers.append(np.full(len(rows), number))
    widths = {b.shape[1] for b in blocks}
    width = widths.pop()
    if widths:
        raise UserError(
            f"{frames[0][1].parent}: the files of {name} have rows of different "
            "lengths; give the output of one save_txt run."
        )
    rows, numbers = np.concatenate(blocks), np.concatenate(numbers)
    dims = {5 + 3 * K: 3, 6 + 3 * K: 3, 7 + 3 * K: 3, 5 + 2 * K: 2, 6 + 2 * K: 2, 7 + 2 * K: 2}
    if width not in dims:
        raise UserError(
            f"{frames[0][1]}: rows of {width} numbers; YOLO-pose save_txt rows hold class, box "
            f"(4), {K} keypoints x, y[, confidence], then optionally the box confidence and "
            f"the track id: {', '.join(map(str, sorted(dims)))} numbers."
        )
    d = dims[width]
    extra = rows[:, 5 + d * K :]
    ids = None
    if extra.shape[1] == 2 or (extra.shape[1] == 1 and _integers(extra[:, 0])):
        ids = extra[:, -1].astype(np.int64)
    kp = rows[:, 5 : 5 + d * K].reshape(len(rows), K, d)
    points = kp[..., :2].copy()
    scores = kp[..., 2].copy() if d == 3 else None
    missing = (points == 0).all(axis=2)
    if scores is not None:
        scores[missing] = 0.0
    where = {n: p for n, p in frames}
    return Detections(
        name,
        numbers.astype(np.int64),
        points,
        scores,
        ids,
        np.array(sorted(where), np.int64),
        lambda n: str(where.get(n, frames[0][1].parent)),
        gaps_allowed=True,
    )


def _integers(column: np.ndarray) -> bool:
    """Whether a last column holds track ids (integers >= 1) rather than box confidences."""
    return bool((column == np.round(column)).all() and (column >= 1).all())


def _person(value: Any, where: str) -> tuple[list, list | None]:
    """One person's 17 keypoints as ([[x, y], ...], [score, ...] or None)."""
    if isinstance(value, dict) and isinstance(value.get("x"), list):  # Results.summary()
        xs, ys = value["x"], value["y"]
        score = next((value[k] for k in SCORE_KEYS if k in value), None)
        return [list(p) for p in zip(xs, ys, strict=False)], score
    if isinstance(value, dict):
        unknown = [k for k in value if k not in NAMES]
        if unknown or len(value) != K:
            raise UserError(
                f"{where}: keypoints {sorted(value)[:4]}...; expected the 17 COCO "
                f"names ({', '.join(list(NAMES)[:3])}, ...)."
            )
        order = sorted(value, key=NAMES.__getitem__)
        points = [[value[n].get("x"), value[n].get("y")] for n in order]
        key = next((k for k in SCORE_KEYS if k in value[order[0]]), None)
        return points, None if key is None else [value[n].get(key) for n in order]
    if isinstance(value, list) and value and isinstance(value[0], list):
        return [p[:2] for p in value], [p[2] for p in value] if len(value[0]) > 2 else None
    raise UserError(f"{where}: a person's keypoints are neither named points nor a list.")


def _json_video(path: Path, name: str) -> Detections:
    frames = read_json(path, WHAT)
    if not isinstance(frames, list):
        raise UserError(f"{path}: expected a list of frames, one per video frame.")
    numbers, points, scores, ids, listed = [], [], [], [], []
    for k, frame in enumerate(frames):  # parsing: one step per frame
        where = f"{path}, frame entry {k + 1}"
        if isinstance(frame, dict):
            number = next((frame[c] for c in ("frame", "frame_id", "frame_index") if c in frame), k)
            people = [
                (int(TRACK_KEY.fullmatch(key)[1]), value)
                for key, value in frame.items()
                if not key.startswith("frame") and TRACK_KEY.fullmatch(key)
            ]
        elif isinstance(frame, list):
            number = k
            people = [
                (d.get("track_id", -1), d.get("keypoints")) for d in frame if isinstance(d, dict)
            ]
        else:
            raise UserError(f"{where} is neither an object nor a list of detections.")
        listed.append(number)
        for track_id, value in people:
            kp, sc = _person(value, where)
            if len(kp) != K:
                raise UserError(f"{where}: a person has {len(kp)} keypoints, not {K} (COCO).")
            numbers.append(number)
            points.append(kp)
            scores.append(sc)
            ids.append(track_id if isinstance(track_id, int) else -1)
    scored = bool(scores) and all(s is not None for s in scores)
    try:
        kp = np.array(points, np.float64).reshape(len(points), K, 2)
        sc = np.array(scores, np.float64).reshape(len(points), K) if scored else None
        numbers_array = np.array(numbers, np.int64)
    except (TypeError, ValueError):
        raise UserError(f"{path}: keypoints hold something that is not a number.") from None
    missing = (kp == 0).all(axis=2)
    if sc is not None:
        sc[missing] = 0.0
    id_array = np.array(ids, np.int64)
    return Detections(
        name,
        numbers_array,
        kp,
        sc,
        id_array if len(ids) and (id_array >= 0).all() else None,
        np.array(listed, np.int64),
        lambda n: f"{path}, frame {n}",
    )


def import_yolo_pose(
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
    """Import YOLO-pose results (see the module docstring) as the data set `out_dir`."""
    read = read_yolo_pose(input, image_size=image_size, allow_gaps=allow_gaps)
    return write_pose_videos(
        out_dir, read, labels=labels, persons=persons, split=split, overwrite=overwrite
    )


def read_yolo_pose(
    input: str | Path,
    *,
    image_size: str | tuple[int, int] | None = None,
    allow_gaps: bool = False,
) -> PoseVideos:
    """The videos of YOLO-pose results, read and tracked (module docstring)."""
    root = Path(input)
    size = parse_image_size(image_size)
    json_files = root.is_dir() and any(root.rglob("*.json"))
    txt = root.is_dir() and not json_files and any(root.rglob("*.txt"))
    if root.is_dir() and not (json_files or txt):
        raise UserError(
            f"{root} holds no .json or .txt file of {WHAT} results; give the folder of "
            "`save_txt` files (<video>_<frame>.txt, the labels/ folder `model.predict(..., "
            "save_txt=True)` writes) or JSON file(s) of tracks, one per video."
        )
    if root.is_file() and root.suffix.lower() == ".txt":
        raise UserError(
            f"{root} is one `save_txt` file, a single frame; give the folder that holds it "
            f"(all frames of the video: {root.parent})."
        )
    if txt:
        videos = {
            n: (_txt_video(n, f), f[0][1].parent)
            for n, f in frame_files(root, ".txt", f"{WHAT} save_txt").items()
        }
    else:
        named = video_files(root, (".json",), WHAT)
        videos = {n: (_json_video(p, n), p.parent) for n, p in named.items()}
    tracked, sizes = [], {}
    for name, (det, folder) in videos.items():
        if detect_scale(det.points) == "pixels":
            video = name.rsplit("/", 1)[-1]
            sizes[name], _ = image_size_of(video, [folder, folder.parent], size, str(folder))
            det.points = to_unit(det.points, "pixels", sizes[name])
        else:
            det.points = to_unit(det.points, "unit", None)
        tracked.append(track(det, allow_gaps=allow_gaps))
    scored = {t.detections.scores is not None for t in tracked}
    if len(scored) > 1:
        raise UserError(
            f"{root}: some videos have keypoint confidences and some not; import them separately."
        )
    return PoseVideos(
        tracked,
        layout=COCO17,
        channels="xy+score" if scored.pop() else "xy",
        estimator="yolo-pose",
        input_path=root,
        extra=image_extra(tracked, sizes),
    )
