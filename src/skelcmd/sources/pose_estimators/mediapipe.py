"""Import MediaPipe Pose landmarks (33 a pose) written as CSV or JSON, one file a video.

Forms read (INPUT is such a file, or a folder of them):
- long CSV: a header with a frame column (`frame`, `frame_number`, `frame_index` or
  `frame_id`), `landmark` (a PoseLandmark name such as NOSE or LEFT_EYE_INNER, or its index
  0..32), `x`, `y`, `z`, optionally `visibility` and `person` (the pose's index in the frame,
  for multi-pose output): one row per landmark and frame;
- wide CSV: a frame column and one column per landmark and axis, named `NOSE_x`, `x_0`,
  `x0`, `landmark_0_x`, ... (axes x, y, z, visibility): one row per frame;
- JSON: a list of frames (or `{"frames": [...]}`), each `{"frame": n, "landmarks": [...]}`
  (also `pose_landmarks`, `pose_world_landmarks`, `world_landmarks`) with 33 `{x, y, z,
  visibility}` objects or [x, y, z(, visibility)] lists; empty or null where no pose was found.
Every frame a file lists must have all 33 landmarks; a missing one is an error naming the
frame and the landmarks.

World landmarks (`pose_world_landmarks`: metres, origin between the hips, y down) become a 3D
data set in skelcmd's camera axes, x and y turned half a turn about the view axis, (x, y, z)
-> (-x, -y, z): y points up and x as in Kinect data (a person facing the camera has the left
shoulder at the smaller x), a rotation, so left and right stay as they are. Their visibility
is not kept (xyz has no score channel). Image landmarks (`pose_landmarks`: x, y fractions of
the image) become 2D [-1, 1] image coordinates (`image.py`), with visibility as the score
when the file has it. --coordinates says which, or they are told apart by the hip centre:
at the origin in every frame for world landmarks, inside the image for image landmarks.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.errors import UserError, read_json
from skelcmd.skeleton import LAYOUTS
from skelcmd.sources.pose_estimators.dataset import (
    PoseImportSummary,
    PoseVideos,
    write_pose_videos,
)
from skelcmd.sources.pose_estimators.files import video_files
from skelcmd.sources.pose_estimators.image import fraction_to_unit
from skelcmd.sources.pose_estimators.people import Detections, track

LANDMARKS = tuple(  # MediaPipe's PoseLandmark names, index order
    "NOSE LEFT_EYE_INNER LEFT_EYE LEFT_EYE_OUTER RIGHT_EYE_INNER RIGHT_EYE RIGHT_EYE_OUTER "
    "LEFT_EAR RIGHT_EAR MOUTH_LEFT MOUTH_RIGHT LEFT_SHOULDER RIGHT_SHOULDER LEFT_ELBOW "
    "RIGHT_ELBOW LEFT_WRIST RIGHT_WRIST LEFT_PINKY RIGHT_PINKY LEFT_INDEX RIGHT_INDEX LEFT_THUMB "
    "RIGHT_THUMB LEFT_HIP RIGHT_HIP LEFT_KNEE RIGHT_KNEE LEFT_ANKLE RIGHT_ANKLE LEFT_HEEL "
    "RIGHT_HEEL LEFT_FOOT_INDEX RIGHT_FOOT_INDEX".split()
)
V = len(LANDMARKS)
AXES = ("x", "y", "z", "visibility")
FRAME_COLUMNS = ("frame", "frame_number", "frame_index", "frame_id", "frame_idx")
COORDINATES = ("auto", "world", "image")
WORLD_TO_CAMERA = np.array([-1.0, -1.0, 1.0])  # (x, y, z) -> (-x, -y, z)
_WIDE = re.compile(
    r"(?:(?:landmark|lm|kp|keypoint)[_\-. ]?)?(?:(?P<a1>x|y|z|visibility)[_\-. ]?(?P<l1>.+)|"
    r"(?P<l2>.+?)[_\-. ]?(?P<a2>x|y|z|visibility))",
    re.IGNORECASE,
)
WHAT = "MediaPipe Pose landmarks"


def _landmark(text: str) -> int | None:
    key = text.strip().upper()
    if key.isdigit():
        return int(key) if int(key) < V else None
    return LANDMARKS.index(key) if key in LANDMARKS else None


class Table:
    """One file's landmarks: per landmark row its frame number, person (pose index in the
    frame), landmark index and x, y, z, visibility (1 where the file has none)."""

    def __init__(self, path: Path):
        self.path = path
        self.frame = self.person = self.landmark = np.zeros(0, np.int64)
        self.values = np.zeros((0, 4))
        self.has_visibility = False
        self.world_hint: bool | None = None  # a JSON key that says world or image
        self.frames = np.zeros(0, np.int64)  # every frame listed, with or without a pose


def _floats(cells: np.ndarray, lines: np.ndarray, path: Path) -> np.ndarray:
    """A string array (R, ...) as float64; a UserError naming the line of the first bad cell."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        for row, line in zip(cells.reshape(len(cells), -1), lines, strict=True):
            for cell in row:
                try:
                    float(cell)
                except ValueError:
                    raise UserError(
                        f"{path}, line {line}: {str(cell)!r} is not a number."
                    ) from None
        raise


def _read_csv(path: Path) -> Table:
    table = Table(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {path} ({exc}).") from None
    header = [c.strip().lower() for c in rows[0]] if rows else []
    frame_col = next((header.index(c) for c in FRAME_COLUMNS if c in header), None)
    if frame_col is None:
        raise UserError(
            f"{path}: no frame column (one of {', '.join(FRAME_COLUMNS)}) in the "
            f"header {', '.join(header) or '(none)'}."
        )
    lines = np.array([k + 1 for k, r in enumerate(rows) if k and any(c.strip() for c in r)])
    body = [rows[k - 1] for k in lines]
    widths = np.array([len(r) for r in body])
    if len(body) == 0:
        raise UserError(f"{path} has a header but no rows of landmarks.")
    if (widths != len(header)).any():
        k = int(np.argmax(widths != len(header)))
        raise UserError(
            f"{path}, line {lines[k]}: {widths[k]} values, but the header has {len(header)}."
        )
    cells = np.char.strip(np.array(body, dtype=str))
    table.frames = _floats(cells[:, frame_col], lines, path).astype(np.int64)
    if "landmark" in header:
        _read_long(table, cells, lines, header)
    else:
        _read_wide(table, cells, lines, header, frame_col)
    return table


def _read_long(table: Table, cells: np.ndarray, lines: np.ndarray, header: list[str]) -> None:
    missing = [a for a in AXES[:3] if a not in header]
    if missing:
        raise UserError(f"{table.path}: the header lacks {', '.join(missing)}.")
    names, which = np.unique(cells[:, header.index("landmark")], return_inverse=True)
    index = np.array([_landmark(n) if _landmark(n) is not None else -1 for n in names])
    if (index < 0).any():
        bad = int(np.argmax(index[which] < 0))
        raise UserError(
            f"{table.path}, line {lines[bad]}: {str(names[which[bad]])!r} is not a "
            "MediaPipe Pose landmark (a name such as LEFT_WRIST, or 0..32)."
        )
    table.has_visibility = "visibility" in header
    axes = [header.index(a) for a in AXES if a in header]
    values = _floats(cells[:, axes], lines, table.path)
    if not table.has_visibility:
        values = np.concatenate([values, np.ones((len(values), 1))], axis=1)
    person = (
        _floats(cells[:, header.index("person")], lines, table.path).astype(np.int64)
        if "person" in header
        else np.zeros(len(cells), np.int64)
    )
    table.frame, table.person, table.landmark = table.frames, person, index[which]
    table.values = values


def _read_wide(
    table: Table, cells: np.ndarray, lines: np.ndarray, header: list[str], frame_col: int
) -> None:
    column: dict[tuple[int, str], int] = {}
    for c, name in enumerate(header):
        match = _WIDE.fullmatch(name) if c != frame_col else None
        landmark = _landmark(match["l1"] or match["l2"]) if match else None
        if landmark is not None:
            column[landmark, (match["a1"] or match["a2"]).lower()] = c
    lacking = [f"{LANDMARKS[v]} {a}" for v in range(V) for a in AXES[:3] if (v, a) not in column]
    if lacking:
        raise UserError(
            f"{table.path}: no column for {', '.join(lacking[:6])}"
            f"{', ...' if len(lacking) > 6 else ''}; a wide landmark CSV has a frame column and "
            "x, y, z columns of all 33 landmarks (named like NOSE_x or x_0), or use the long "
            "form frame,landmark,x,y,z."
        )
    table.has_visibility = all((v, "visibility") in column for v in range(V))
    axes = AXES if table.has_visibility else AXES[:3]
    picked = cells[:, [column[v, a] for v in range(V) for a in axes]]
    empty = picked == ""
    pose = ~empty.all(axis=1)  # rows with a pose; an all-empty row is a frame without one
    if (empty[pose]).any():
        k = int(np.flatnonzero(pose)[np.argmax(empty[pose].any(axis=1))])
        lacking = [LANDMARKS[v] for v in sorted({j // len(axes) for j in np.flatnonzero(empty[k])})]
        raise UserError(
            f"{table.path}, line {lines[k]} (frame {table.frames[k]}): landmarks missing: "
            f"{', '.join(lacking[:8])}. Every frame needs all 33 landmarks; re-export it, or "
            "leave the frame out (then it has no person: pass --allow-gaps)."
        )
    values = _floats(picked[pose], lines[pose], table.path).reshape(-1, V, len(axes))
    if not table.has_visibility:
        values = np.concatenate([values, np.ones((*values.shape[:2], 1))], axis=2)
    table.frame = np.repeat(table.frames[pose], V)
    table.person = np.zeros(len(table.frame), np.int64)
    table.landmark = np.tile(np.arange(V), int(pose.sum()))
    table.values = values.reshape(-1, 4)


def _read_json(path: Path) -> Table:
    table = Table(path)
    info = read_json(path, WHAT)
    frames = info.get("frames") if isinstance(info, dict) else info
    if not isinstance(frames, list):
        raise UserError(f"{path}: expected a list of frames (or {{'frames': [...]}}).")
    numbers, poses, listed = [], [], []
    for k, frame in enumerate(frames):  # parsing: one step per frame, a pose at a time
        where = f"{path}, frame entry {k + 1}"
        number, found = k, frame
        if isinstance(frame, dict):
            number = next((frame[c] for c in FRAME_COLUMNS if c in frame), k)
            key = next(
                (
                    c
                    for c in (
                        "pose_world_landmarks",
                        "world_landmarks",
                        "pose_landmarks",
                        "landmarks",
                    )
                    if c in frame
                ),
                None,
            )
            if key is None:
                raise UserError(f"{where} has no landmarks (or pose_world_landmarks) list.")
            table.world_hint = "world" in key
            found = frame[key]
        listed.append(_number(number, where))
        if not found:
            continue
        if isinstance(found[0], dict) or np.ndim(found[0]) == 1:
            found = [found]  # one pose
        for pose in found:
            if not isinstance(pose, list) or len(pose) != V:
                raise UserError(
                    f"{where}: a pose has {len(pose) if isinstance(pose, list) else 0} "
                    f"landmarks; MediaPipe Pose gives {V}, each x, y, z."
                )
            rows = [
                [p.get(a) for a in AXES]
                if isinstance(p, dict)
                else list(p)[:4] + [None] * (4 - len(p))
                for p in pose
            ]
            try:
                values = np.array(rows, dtype=np.float64)
            except (TypeError, ValueError):
                raise UserError(
                    f"{where}: a landmark holds something that is not a number."
                ) from None
            if np.isnan(values[:, :3]).any():
                v = int(np.isnan(values[:, :3]).any(axis=1).argmax())
                raise UserError(f"{where}: landmark {LANDMARKS[v]} lacks x, y or z.")
            table.has_visibility |= not np.isnan(values[:, 3]).all()
            numbers.append(listed[-1])
            poses.append(np.nan_to_num(values, nan=1.0))
    table.frames = np.array(listed, np.int64)
    if poses:
        table.frame = np.repeat(np.array(numbers, np.int64), V)
        table.person = np.repeat(np.arange(len(poses)), V)  # a pose of its own each
        table.landmark = np.tile(np.arange(V), len(poses))
        table.values = np.concatenate(poses)
    return table


def _number(text: Any, where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {text!r} is not a number.") from None


def _poses(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """(frame number per pose, (P, 33, 4) x, y, z, visibility); a pose with a landmark
    missing or twice is a UserError naming the frame."""
    if not len(table.frame):
        raise UserError(f"{table.path} lists no landmarks; nothing to import.")
    keys, pose_of = np.unique(np.stack([table.frame, table.person]), axis=1, return_inverse=True)
    pose_of = pose_of.reshape(-1)
    counts = np.zeros((keys.shape[1], V), np.int64)
    np.add.at(counts, (pose_of, table.landmark), 1)
    bad = (counts != 1).any(axis=1)
    if bad.any():
        p = int(bad.argmax())
        lacking = [LANDMARKS[v] for v in np.flatnonzero(counts[p] == 0)]
        twice = [LANDMARKS[v] for v in np.flatnonzero(counts[p] > 1)]
        raise UserError(
            f"{table.path}, frame {keys[0, p]}: "
            + "; ".join(
                ([f"landmarks missing: {', '.join(lacking)}"] if lacking else [])
                + ([f"listed twice: {', '.join(twice)}"] if twice else [])
            )
            + ". Every frame needs all 33 landmarks once; re-export the frame, or leave it out "
            "(then it is a frame with no person: pass --allow-gaps)."
        )
    poses = np.zeros((keys.shape[1], V, 4))
    poses[pose_of, table.landmark] = table.values
    return keys[0], poses


def detect_world(poses: np.ndarray, hint: bool | None, where: str) -> bool:
    """Whether (P, 33, >=2) landmarks are world landmarks (hip centre at the origin)."""
    if hint is not None:
        return hint
    hips = np.abs(poses[:, 23:25, :2].mean(axis=1))  # (P, 2)
    if np.median(hips.max(axis=1)) < 0.05:
        return True
    if ((poses[..., :2] > -0.5) & (poses[..., :2] < 1.5)).mean() > 0.95:
        return False
    raise UserError(
        f"{where}: cannot tell world landmarks from image landmarks; give "
        "--coordinates world or --coordinates image."
    )


def import_mediapipe(
    input: str | Path,
    out_dir: str | Path,
    *,
    coordinates: str = "auto",
    labels: str | Path | None = None,
    persons: int = 2,
    split: str = "train",
    allow_gaps: bool = False,
    overwrite: bool = False,
) -> PoseImportSummary:
    """Import MediaPipe Pose landmark files (see the module docstring) as `out_dir`."""
    read = read_mediapipe(input, coordinates=coordinates, allow_gaps=allow_gaps)
    return write_pose_videos(
        out_dir, read, labels=labels, persons=persons, split=split, overwrite=overwrite
    )


def read_mediapipe(
    input: str | Path, *, coordinates: str = "auto", allow_gaps: bool = False
) -> PoseVideos:
    """The videos of MediaPipe Pose landmark files, read and tracked (module docstring)."""
    if coordinates not in COORDINATES:
        raise UserError(f"--coordinates {coordinates!r}: choose {', '.join(COORDINATES)}.")
    root = Path(input)
    tables = {
        name: _read_json(path) if path.suffix.lower() == ".json" else _read_csv(path)
        for name, path in video_files(root, (".csv", ".json"), WHAT).items()
    }
    poses = {name: _poses(table) for name, table in tables.items()}
    first = next(iter(tables.values()))
    world = {
        name: coordinates == "world"
        or (
            coordinates == "auto"
            and detect_world(p[1], tables[name].world_hint, str(tables[name].path))
        )
        for name, p in poses.items()
    }
    if len(set(world.values())) > 1:
        raise UserError(f"{INPUT_MIX}: import world and image landmarks separately.")
    is_world = next(iter(world.values()))
    scored = not is_world and all(t.has_visibility for t in tables.values())
    tracked = []
    for name, (numbers, values) in poses.items():
        table = tables[name]
        if is_world:
            points, scores = values[..., :3] * WORLD_TO_CAMERA, None
        else:
            points = fraction_to_unit(values[..., :2])
            scores = np.where((points == 0).all(axis=2), 0.0, values[..., 3]) if scored else None
        det = Detections(
            name,
            numbers,
            points,
            scores,
            None,
            np.array(sorted(table.frames)),
            lambda n, p=table.path: f"{p}, frame {n}",
        )
        tracked.append(track(det, allow_gaps=allow_gaps))
    channels = "xyz" if is_world else ("xy+score" if scored else "xy")
    view = (
        "world landmarks in metres, origin between the hips, axes (-x, -y, z) of MediaPipe's: y up"
        if is_world
        else "image landmarks, [-1, 1], y down"
    )
    return PoseVideos(
        tracked,
        layout=LAYOUTS["mediapipe33"],
        channels=channels,
        estimator="mediapipe",
        input_path=root,
        extra={"coordinates": view, "aligned": False},
        notes=[f"{first.path.name} ...: {view}"] if len(tables) > 1 else [view],
    )


INPUT_MIX = "these files mix world landmarks (metres) and image landmarks"
