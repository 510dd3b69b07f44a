"""Skeleton layouts: joint names, the (joint, parent) bone pairs, and graphs derived from them.

A layout is all the project knows about a skeleton. Bones (`bone_pairs`), the undirected graph
(`edges`, `adjacency`) and the hop distances that graph encoders partition by all come from
the one list of parents. Built-in layouts live in `LAYOUTS`; users describe their own in YAML:

    name: my_layout
    joints: [pelvis, spine, head, ...]
    parents: [pelvis, pelvis, spine, ...]   # names or 1-based indices; a root is its own parent
    center: spine                           # optional graph centre (default: the first root)
    body_frame:                             # optional: the joints view normalisation uses
      origin: spine                         #   centred on this joint
      up: [pelvis, spine]                   #   this bone (from, to) rotated onto +z
      across: [shoulder_l, shoulder_r]      #   right minus left rotated onto +x

A layout without `body_frame` can be imported and trained on, but not aligned
(`--preprocess reference` / `tracked-first-frame` need it; see `skelcmd.sources.normalize`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.errors import UserError, require_file
from skelcmd.layouts_pose import POSE_LAYOUTS


@dataclass(frozen=True)
class BodyFrame:
    """The joints (0-based) that view normalisation uses: the scene is centred on `origin`,
    then rotated so that the bone `up` = (from, to) points along +z and `across` = (left,
    right), right minus left, along +x. NTU-25: origin 1 (spine-middle), up (0, 1), across
    (4, 8), the reference's joints 2, 1 -> 2 and 5 -> 9."""

    origin: int
    up: tuple[int, int]
    across: tuple[int, int]

    @property
    def joints(self) -> tuple[int, ...]:
        return (self.origin, *self.up, *self.across)


@dataclass(frozen=True)
class Layout:
    """A skeleton: `parents[v]` is the 0-based parent of joint `v`; a root is its own parent.
    `body_frame` (optional) names the joints that centring and rotation use."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    center: int
    body_frame: BodyFrame | None = None

    def __post_init__(self) -> None:
        v = len(self.joint_names)
        where = f"layout {self.name!r}"
        if v == 0:
            raise UserError(f"{where} has no joints.")
        if len(set(self.joint_names)) != v:
            raise UserError(f"{where} repeats a joint name: {list(self.joint_names)}.")
        if len(self.parents) != v:
            raise UserError(f"{where} has {v} joints but {len(self.parents)} parents.")
        for joint, parent in enumerate(self.parents):
            if not 0 <= parent < v:
                raise UserError(
                    f"{where}: joint {self.joint_names[joint]!r} has parent index {parent}, "
                    f"outside 0..{v - 1}."
                )
        if not 0 <= self.center < v:
            raise UserError(f"{where}: centre joint index {self.center} is outside 0..{v - 1}.")
        if self.body_frame is not None and not all(0 <= j < v for j in self.body_frame.joints):
            raise UserError(
                f"{where}: body frame {self.body_frame} names a joint outside 0..{v - 1}."
            )
        self._check_acyclic()

    def _check_acyclic(self) -> None:
        for start in range(self.num_joints):
            seen, joint = set(), start
            while self.parents[joint] != joint:
                if joint in seen:
                    raise UserError(
                        f"layout {self.name!r}: the parents of joint "
                        f"{self.joint_names[start]!r} form a cycle; every chain must end in a "
                        "root (a joint that is its own parent)."
                    )
                seen.add(joint)
                joint = self.parents[joint]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bone_pairs(self) -> list[tuple[int, int]]:
        """One (joint, parent) pair per joint, in joint order; a root's bone is zero."""
        return list(enumerate(self.parents))

    @property
    def edges(self) -> list[tuple[int, int]]:
        """The graph's edges: the bone pairs without self-loops."""
        return [(v, p) for v, p in self.bone_pairs if v != p]

    def index(self, joint_name: str) -> int:
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise UserError(
                f"layout {self.name!r} has no joint {joint_name!r}; its joints are "
                f"{', '.join(self.joint_names)}."
            ) from None

    def require_body_frame(self, why: str) -> BodyFrame:
        """The body frame, or a UserError saying that `why` (e.g. "--preprocess reference")
        needs one."""
        if self.body_frame is None:
            raise UserError(
                f"layout {self.name!r} has no body frame, which {why} needs (the joints to "
                "centre on and to rotate by). Add `body_frame: {origin: JOINT, up: [FROM, TO], "
                "across: [LEFT, RIGHT]}` to the layout's YAML, or use --preprocess none."
            )
        return self.body_frame

    def adjacency(self) -> np.ndarray:
        """(V, V) symmetric 0/1 matrix of the edges, no self-loops."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for v, p in self.edges:
            a[v, p] = a[p, v] = 1.0
        return a

    def hop_distance(self) -> np.ndarray:
        """(V, V) number of edges between joints; `inf` where no path exists."""
        v = self.num_joints
        reach = np.eye(v, dtype=bool)
        step = self.adjacency().astype(bool) | np.eye(v, dtype=bool)
        hops = np.where(reach, 0.0, np.inf)
        for d in range(1, v):
            reach = (reach.astype(np.int32) @ step.astype(np.int32)) > 0
            hops[reach & np.isinf(hops)] = d
        return hops

    def to_dict(self) -> dict[str, Any]:
        """A plain description that `layout_from_dict` turns back into this layout."""
        spec: dict[str, Any] = {
            "name": self.name,
            "joints": list(self.joint_names),
            "parents": [self.joint_names[p] for p in self.parents],
            "center": self.joint_names[self.center],
        }
        if self.body_frame is not None:
            name = self.joint_names
            frame = self.body_frame
            spec["body_frame"] = {
                "origin": name[frame.origin],
                "up": [name[j] for j in frame.up],
                "across": [name[j] for j in frame.across],
            }
        return spec


def layout_from_dict(spec: dict[str, Any], source: str = "layout") -> Layout:
    """Build a layout from `{name, joints, parents, center?, body_frame?}`; joints are given
    by name or 1-based index."""
    if not isinstance(spec, dict):
        raise UserError(f"{source}: a layout must be a mapping with keys name, joints, parents.")
    missing = [key for key in ("name", "joints", "parents") if key not in spec]
    if missing:
        raise UserError(f"{source}: the layout lacks {', '.join(missing)}.")
    for key in ("joints", "parents"):
        if not isinstance(spec[key], (list, tuple)) or not spec[key]:
            raise UserError(f"{source}: the layout's {key} must be a non-empty list.")
    joints = [str(j) for j in spec["joints"]]

    def resolve(ref: Any, what: str) -> int:
        if isinstance(ref, bool):
            raise UserError(f"{source}: {what} {ref!r} is neither a joint name nor an index.")
        if isinstance(ref, int):
            if not 1 <= ref <= len(joints):
                raise UserError(f"{source}: {what} {ref} is outside 1..{len(joints)} (1-based).")
            return ref - 1
        if str(ref) in joints:
            return joints.index(str(ref))
        raise UserError(f"{source}: {what} {ref!r} is not one of the joints {joints}.")

    if len(spec["parents"]) != len(joints):
        raise UserError(
            f"{source}: {len(joints)} joints but {len(spec['parents'])} parents; give one parent "
            "per joint (a root is its own parent)."
        )
    parents = tuple(
        resolve(p, f"parent of joint {j!r}") for j, p in zip(joints, spec["parents"], strict=True)
    )
    roots = [v for v, p in enumerate(parents) if v == p]
    if not roots:
        raise UserError(f"{source}: no root; make one joint its own parent.")
    center = resolve(spec["center"], "centre") if spec.get("center") is not None else roots[0]
    frame = spec.get("body_frame")
    if frame is not None:
        pairs = isinstance(frame, dict) and all(
            isinstance(frame.get(k), (list, tuple)) and len(frame[k]) == 2 for k in ("up", "across")
        )
        if not pairs or "origin" not in frame:
            raise UserError(
                f"{source}: body_frame must be a mapping {{origin: JOINT, up: [FROM, TO], "
                f"across: [LEFT, RIGHT]}}, found {frame!r}."
            )
        frame = BodyFrame(
            resolve(frame["origin"], "body_frame origin"),
            tuple(resolve(j, "body_frame up joint") for j in frame["up"]),
            tuple(resolve(j, "body_frame across joint") for j in frame["across"]),
        )
    return Layout(str(spec["name"]), tuple(joints), parents, center, frame)


def _builtin(
    name: str,
    joints: str,
    parents_1based: list[int],
    center_1based: int,
    body_frame: tuple[str, tuple[str, str], tuple[str, str]] | None = None,
) -> Layout:
    """A layout from its joint names, 1-based parents and centre; `body_frame` by joint names
    (origin, (up from, up to), (left, right))."""
    names = tuple(joints.split())
    frame = None
    if body_frame is not None:
        origin, up, across = body_frame
        frame = BodyFrame(
            names.index(origin), tuple(map(names.index, up)), tuple(map(names.index, across))
        )
    return Layout(name, names, tuple(p - 1 for p in parents_1based), center_1based - 1, frame)


# Kinect v2 (NTU RGB+D, PKU-MMD). Parents are the reference code's bone list, kept for fidelity:
# (21, 21) makes the spine-shoulder bone zero, and the hand tips hang off the thumbs.
NTU25 = _builtin(
    "ntu25",
    "spine_base spine_mid neck head shoulder_left elbow_left wrist_left hand_left "
    "shoulder_right elbow_right wrist_right hand_right hip_left knee_left ankle_left foot_left "
    "hip_right knee_right ankle_right foot_right spine_shoulder hand_tip_left thumb_left "
    "hand_tip_right thumb_right",
    [2, 21, 21, 3, 21, 5, 6, 7, 21, 9, 10, 11, 1, 13, 14, 15, 1, 17, 18, 19, 21, 23, 8, 25, 12],
    21,
    ("spine_mid", ("spine_base", "spine_mid"), ("shoulder_left", "shoulder_right")),
)

# Kinect v1 as in UTD-MHAD, rooted like ntu25 at the shoulder centre.
KINECT20 = _builtin(
    "kinect20",
    "head shoulder_center spine hip_center shoulder_left elbow_left wrist_left hand_left "
    "shoulder_right elbow_right wrist_right hand_right hip_left knee_left ankle_left foot_left "
    "hip_right knee_right ankle_right foot_right",
    [2, 2, 2, 3, 2, 5, 6, 7, 2, 9, 10, 11, 4, 13, 14, 15, 4, 17, 18, 19],
    2,
    ("spine", ("hip_center", "spine"), ("shoulder_left", "shoulder_right")),
)

# SBU Kinect Interaction, 15 joints in the data set's order, rooted at the torso.
SBU15 = _builtin(
    "sbu15",
    "head neck torso shoulder_left elbow_left hand_left shoulder_right elbow_right hand_right "
    "hip_left knee_left foot_left hip_right knee_right foot_right",
    [2, 3, 3, 2, 4, 5, 2, 7, 8, 3, 10, 11, 3, 13, 14],
    3,
    ("torso", ("torso", "neck"), ("shoulder_left", "shoulder_right")),
)

# 2D keypoints from video. COCO-17 is the order of COCO, MMPose (HRNet) and pyskl's 2D
# annotations; its tree and graph centre (the nose) are pyskl's `coco` graph.
COCO17 = _builtin(
    "coco17",
    "nose eye_left eye_right ear_left ear_right shoulder_left shoulder_right elbow_left "
    "elbow_right wrist_left wrist_right hip_left hip_right knee_left knee_right ankle_left "
    "ankle_right",
    [1, 1, 1, 2, 3, 1, 1, 6, 7, 8, 9, 6, 7, 12, 13, 14, 15],
    1,
)

# OpenPose COCO-18, the order of the Kinetics-skeleton release; tree and graph centre (the
# neck) are ST-GCN's `openpose` graph.
OPENPOSE18 = _builtin(
    "openpose18",
    "nose neck shoulder_right elbow_right wrist_right shoulder_left elbow_left wrist_left "
    "hip_right knee_right ankle_right hip_left knee_left ankle_left eye_right eye_left "
    "ear_right ear_left",
    [2, 2, 2, 3, 4, 2, 6, 7, 3, 9, 10, 6, 12, 13, 1, 1, 15, 16],
    2,
)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (NTU25, KINECT20, SBU15, COCO17, OPENPOSE18)
}
# The skeletons of video pose estimators (OpenPose BODY_25 / BODY_25B, MediaPipe Pose).
LAYOUTS.update({spec["name"]: layout_from_dict(spec, "built-in") for spec in POSE_LAYOUTS})


def printable(text: str) -> str:
    """`text` with each non-printable character (an ANSI escape, a control character) written
    as its Python escape (`\\x1b`): a name read from a file, printed, never drives the
    terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def get_layout(name_or_path: str | Path | dict[str, Any] | Layout) -> Layout:
    """A built-in layout by name, a YAML file describing one, or a layout dict."""
    if isinstance(name_or_path, Layout):
        return name_or_path
    if isinstance(name_or_path, dict):
        return layout_from_dict(name_or_path)
    key = str(name_or_path)
    if key in LAYOUTS:
        return LAYOUTS[key]
    path = Path(key)
    if path.suffix in (".yaml", ".yml", ".json"):
        from skelcmd.config import read_yaml_file  # (lazily: config imports torch)

        spec = read_yaml_file(require_file(path, "layout file"), "layout file")
        return layout_from_dict(spec, source=str(path))
    raise UserError(
        f"unknown layout {key!r}. Built-in layouts: {', '.join(sorted(LAYOUTS))}; "
        "or give a YAML file with name, joints and parents."
    )
