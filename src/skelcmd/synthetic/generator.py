"""A built-in synthetic skeleton action data set, shaped like processed NTU RGB+D.

Every sample is made by forward kinematics on the NTU-25 tree: per-joint local rotations over
time (`synthetic_actions.py`) are composed from the root down `NTU25.parents`, starting from a
rest pose whose bone lengths belong to the subject. Joint, motion and bone streams are therefore
all meaningful, and without noise and dropout every bone keeps its length within a sample.

What varies, and how:
- subject: height, torso / shoulder / arm / leg proportions, motion amplitude and speed,
  posture (trunk lean, head tilt, arm and elbow carriage, knee bend, stance width);
- repetition: amplitude, speed, phase, lead-in and lead-out, facing direction, position;
- view: the whole scene is turned about the vertical axis (view 1 = 0 degrees, then -45, +45
  for three views) with a little pitch, roll and position jitter;
- sensor: Gaussian noise of std `noise` metres, and dropped joints, set to 0 for that frame
  (what Kinect reports for an untracked joint) with probability `drop_prob`.

Coordinates are metres in Kinect camera axes: y up, z depth away from the camera, x to the
camera's left (the right hand of a subject facing the camera is at +x). Before the view rotation
person 1 stands at the origin (spine_mid near 0, feet on the floor y ~ -1), facing 40 degrees
left or right of the camera (NTU subjects face one of two cameras); in an interaction person 1
faces sideways and person 2 stands facing them, 0.65 to 1 m away (0.35 m for a hug).
A missing second person is all zeros, and so is every frame from `lengths[i]` on.

`generate` returns these camera coordinates; `write_synthetic` prepares them as `skelcmd
prepare` prepares NTU RGB+D (`preprocess`, default "reference": person 1's spine-middle
subtracted in every frame, two rotations from frame 0, the padding filled with the repeated
sequence; "none" writes the camera coordinates, zero-padded, as before). Without the per-frame
centring a clip's place in the room tells its two views apart from the others, and the joint
stream learned that rather than the action (benchmarks/README.md, issue 16).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from skelcmd.data.writer import machine_memory, write_dataset
from skelcmd.errors import UserError
from skelcmd.names import BENCHMARKS as NAMED_BENCHMARKS
from skelcmd.skeleton import NTU25
from skelcmd.sources.normalize import (
    IMPORT_PREPROCESS,
    REFERENCE,
    check_preprocess,
    normalize_arrays,
    preprocess_extra,
)
from skelcmd.synthetic.actions import ACTIONS, Action, J, Motion

CLASS_NAMES: tuple[str, ...] = tuple(action.name for action in ACTIONS)
TWO_PERSON_CLASSES: frozenset[int] = frozenset(
    index for index, action in enumerate(ACTIONS) if action.partner is not None
)
XSUB_TRAIN_SUBJECTS: tuple[int, ...] = tuple(range(1, 1000, 2))  # the odd subject ids
XVIEW_TRAIN_VIEWS: tuple[int, ...] = (2, 3)  # the +-45 degree views; view 1 (frontal) is test
BENCHMARKS = {"xsub": ("subjects", XSUB_TRAIN_SUBJECTS), "xview": ("views", XVIEW_TRAIN_VIEWS)}

# Rest pose, in NTU25 joint order: each joint's offset from its parent (metres, for a 1.75 m
# adult; body frame: x = the subject's right, y up, facing -z) and the body part scaling it.
# The thumbs point forward; the hand tips hang off the thumbs, as in NTU25.parents.
_REST = (
    ((0.0, -0.24, 0.0), "torso"),  # spine_base <- spine_mid
    ((0.0, -0.26, 0.0), "torso"),  # spine_mid <- spine_shoulder
    ((0.0, 0.07, 0.0), "torso"),  # neck <- spine_shoulder
    ((0.0, 0.16, 0.0), "torso"),  # head <- neck
    ((-0.17, -0.04, 0.0), "width"),  # shoulder_left <- spine_shoulder
    ((0.0, -0.27, 0.0), "arms"),  # elbow_left
    ((0.0, -0.25, 0.0), "arms"),  # wrist_left
    ((0.0, -0.07, 0.0), "arms"),  # hand_left
    ((0.17, -0.04, 0.0), "width"),  # shoulder_right
    ((0.0, -0.27, 0.0), "arms"),  # elbow_right
    ((0.0, -0.25, 0.0), "arms"),  # wrist_right
    ((0.0, -0.07, 0.0), "arms"),  # hand_right
    ((-0.08, -0.06, 0.0), "width"),  # hip_left <- spine_base
    ((0.0, -0.42, 0.0), "legs"),  # knee_left
    ((0.0, -0.40, 0.0), "legs"),  # ankle_left
    ((0.0, -0.06, -0.11), "legs"),  # foot_left
    ((0.08, -0.06, 0.0), "width"),  # hip_right
    ((0.0, -0.42, 0.0), "legs"),  # knee_right
    ((0.0, -0.40, 0.0), "legs"),  # ankle_right
    ((0.0, -0.06, -0.11), "legs"),  # foot_right
    ((0.0, 0.0, 0.0), "torso"),  # spine_shoulder: the root
    ((0.0, -0.06, 0.04), "arms"),  # hand_tip_left <- thumb_left
    ((0.0, -0.03, -0.04), "arms"),  # thumb_left <- hand_left
    ((0.0, -0.06, 0.04), "arms"),  # hand_tip_right <- thumb_right
    ((0.0, -0.03, -0.04), "arms"),  # thumb_right <- hand_right
)
_PARTS = ("torso", "width", "arms", "legs")  # width: shoulders and hips
_OFFSETS = np.array([offset for offset, _ in _REST])  # (25, 3)
_PART_OF = np.array([_PARTS.index(part) for _, part in _REST])  # (25,)
_FEET = [J[name] for name in ("ankle_left", "foot_left", "ankle_right", "foot_right")]
_ABSOLUTE = J["spine_base"]  # its rotation is the pelvis orientation, not relative to its parent


def _tree_order() -> list[int]:
    """Joints ordered so that every parent comes before its children, root first."""
    order, frontier = [], [v for v, p in enumerate(NTU25.parents) if v == p]
    while frontier:
        order += frontier
        frontier = [v for v, p in enumerate(NTU25.parents) if p in frontier and v != p]
    return order


_ORDER = _tree_order()


@dataclass
class SyntheticSet:
    """N samples: `data` (N, 3, T_max, 25, 2) float32 xyz / frames / NTU25 joints / persons."""

    data: np.ndarray  # float32 (N, 3, T_max, 25, 2)
    lengths: np.ndarray  # int32 (N,) valid frames; later frames are exactly 0
    labels: np.ndarray  # int64 (N,) 0-based class index into class_names
    subjects: np.ndarray  # int32 (N,) 1-based subject id
    views: np.ndarray  # int32 (N,) 1-based view id
    names: list[str]  # unique, "S003V2R005A012": subject, view, repetition, 1-based action
    class_names: tuple[str, ...]


def _euler(angles: np.ndarray) -> np.ndarray:
    """(..., 3) radians about x, y, z -> (..., 3, 3) rotation matrices Rz @ Ry @ Rx."""
    ca, cb, cc = np.cos(angles[..., 0]), np.cos(angles[..., 1]), np.cos(angles[..., 2])
    sa, sb, sc = np.sin(angles[..., 0]), np.sin(angles[..., 1]), np.sin(angles[..., 2])
    rows = (
        (cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa),
        (sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa),
        (-sb, cb * sa, cb * ca),
    )
    return np.stack([np.stack(row, -1) for row in rows], -2)


def forward_kinematics(angles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Joint positions (n, T, 25, 3) from local rotations (n, T, 25, 3, radians) and rest
    offsets (n, 25, 3): a joint sits at its parent plus the parent's global rotation applied
    to its offset, so every bone keeps its rest length. The root (spine_shoulder) stays at the
    origin; its rotation and spine_base's are orientations in the person's facing frame."""
    n, frames = angles.shape[:2]
    identity = np.broadcast_to(np.eye(3), (n, frames, 3, 3))
    rotation: dict[int, np.ndarray] = {}
    position = np.zeros((len(_REST), n, frames, 3))
    for v in _ORDER:  # parents first
        p = NTU25.parents[v]
        local = _euler(angles[:, :, v]) if angles[:, :, v].any() else None  # None: no rotation
        if v == p or v == _ABSOLUTE:
            rotation[v] = identity if local is None else local
        else:
            rotation[v] = rotation[p] if local is None else rotation[p] @ local
        if v != p:
            position[v] = position[p] + (rotation[p] @ offsets[:, None, v, :, None])[..., 0]
    return position.transpose(1, 2, 0, 3)


def _draw_subjects(num_subjects: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-subject body and style, indexed by the 1-based subject id (row 0 unused)."""
    n = num_subjects + 1
    return {
        "height": np.clip(rng.normal(1.0, 0.06, n), 0.85, 1.15),
        "parts": np.clip(rng.normal(1.0, 0.05, (n, len(_PARTS))), 0.88, 1.12),
        "amp": rng.lognormal(0.0, 0.25, n),
        "speed": rng.lognormal(0.0, 0.2, n),
        # degrees: trunk lean, head tilt, arm abduction, elbow flexion, knee flexion, stance
        "posture": rng.normal([3, 0, 10, 15, 5, 5], [6, 8, 7, 10, 5, 3], (n, 6)),
    }


def _add_posture(m: Motion, person: int, posture: np.ndarray) -> None:
    lean, head, arm, elbow, knee, stance = (posture[:, k, None] for k in range(6))
    m.chest(person, lean=lean)
    m.rot(person, "neck", x=-head)
    for side in ("left", "right"):
        m.arm(person, side, flex=lean, abduct=arm, elbow=elbow)
        m.leg(person, side, abduct=stance, knee=knee)


def _yaw_matrix(degrees: np.ndarray) -> np.ndarray:
    return _euler(np.stack([0 * degrees, np.radians(degrees), 0 * degrees], -1))


def _view_yaws(num_views: int) -> np.ndarray:
    """View 1 is frontal where possible, then views alternate left and right up to +-45 deg."""
    yaws = np.linspace(-45.0, 45.0, num_views) if num_views > 1 else np.zeros(1)
    return np.array(sorted(yaws, key=abs))


def _perform(
    action: Action,
    subjects: np.ndarray,
    views: np.ndarray,
    body: dict[str, np.ndarray],
    rng: np.random.Generator,
    max_frames: int,
    num_views: int,
    noise: float,
    drop_prob: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Scenes (n, 3, T, 25, P) for the P persons of the action, and lengths (n,), for n samples."""
    n, persons = len(subjects), 1 if action.partner is None else 2
    people = [subjects, subjects % (len(body["amp"]) - 1) + 1][:persons]  # the partner: next id
    speed = body["speed"][subjects] * rng.lognormal(0.0, 0.12, n)
    amp = body["amp"][subjects] * rng.lognormal(0.0, 0.15, n)
    duration = action.frames * rng.uniform(0.85, 1.15, n) / speed
    lengths = np.clip(np.rint(duration), min(40, max_frames), max_frames).astype(np.int32)
    # Time: a smooth monotone warp of the clip (uneven pace), then idle lead-in and lead-out.
    frame = np.arange(max_frames)
    last = np.maximum(lengths[:, None] - 1, 1)
    clip_time = np.minimum(frame, last) / last  # (n, T) in [0, 1]
    clip_time += rng.uniform(-0.6, 0.6, (n, 1)) * clip_time * (1.0 - clip_time)
    t = clip_time * last  # warped frame index, drives periodic motions
    lead, tail = rng.uniform(0.0, 0.25, (2, n, 1))
    u = np.clip((clip_time - lead) / (1.0 - lead - tail), 0.0, 1.0)
    m = Motion(t, u, speed[:, None], amp[:, None], rng.uniform(0, 2 * np.pi, (n, 1)), persons)
    action.perform(m)

    # Person 1 faces 40 degrees left or right of the camera, or sideways in an interaction.
    facing = rng.choice([-40.0, 40.0] if persons == 1 else [-90.0, 90.0], n)
    facing += rng.normal(0.0, 25.0, n)
    # The view: turn the scene about the vertical axis, jitter pitch, yaw, roll and position.
    tilt = rng.normal(0.0, [5.0, 4.0, 2.0], (n, 3))  # degrees about x, y, z
    tilt[:, 1] += _view_yaws(num_views)[views - 1]
    camera = _euler(np.radians(tilt))  # (n, 3, 3)
    origin = rng.normal(0.0, [0.1, 0.06, 0.1], (n, 3))
    valid = (frame < lengths[:, None])[:, :, None, None]
    scene = np.zeros((n, max_frames, 25, 3, persons), dtype=np.float32)
    for k, who in enumerate(people):
        _add_posture(m, k, body["posture"][who])
        scale = body["height"][who, None] * body["parts"][who][:, _PART_OF]  # (n, 25)
        offsets = _OFFSETS * scale[..., None]
        if k == 0:  # the floor is where person 1 stands, 1 spine_mid height below the origin
            rest = forward_kinematics(np.zeros((n, 1, 25, 3)), offsets)[:, 0]
            floor = rest[:, _FEET, 1].min(1) - rest[:, J["spine_mid"], 1]
        pose = forward_kinematics(np.radians(m.angles[k]), offsets)
        pose[..., 1] += floor[:, None, None] - pose[:, :, _FEET, 1].min(2)[..., None]
        pose += m.shift[k][:, :, None]
        turn = camera[:, None] @ _yaw_matrix(facing[:, None] + m.yaw[k] + 180.0 * k)  # (n,T,3,3)
        place = origin
        if k == 1:
            distance, lateral = action.partner
            where = np.array([lateral, 0.0, -distance]) + rng.normal(0.0, 0.05, (n, 3)) * [1, 0, 1]
            place = origin + (camera @ _yaw_matrix(facing) @ where[..., None])[..., 0]
        pose = pose @ turn.transpose(0, 1, 3, 2) + place[:, None, None]
        pose += noise * rng.standard_normal(pose.shape, dtype=np.float32)
        pose *= (rng.random((*pose.shape[:3], 1), dtype=np.float32) >= drop_prob) & valid
        scene[..., k] = pose
    return scene.transpose(0, 3, 1, 2, 4), lengths


def generate(
    num_samples: int = 2000,
    seed: int = 0,
    *,
    num_subjects: int = 10,
    num_views: int = 3,
    max_frames: int = 100,
    noise: float = 0.01,
    drop_prob: float = 0.002,
) -> SyntheticSet:
    """A seeded, deterministic synthetic set: classes balanced (sample i has class i mod C);
    subjects and views cycle within each class so that the x-sub and x-view splits both see
    every class in train and test once num_samples >= 2 * len(CLASS_NAMES)."""
    if num_samples < 1 or num_subjects < 1 or num_views < 1:
        raise UserError("synthetic data: num_samples, num_subjects and num_views must be >= 1.")
    if seed < 0:
        raise UserError(f"synthetic data: the seed must be a whole number >= 0, not {seed}.")
    if max_frames < 10:
        raise UserError(f"synthetic data: max_frames must be at least 10, not {max_frames}.")
    if noise < 0 or not 0 <= drop_prob < 1:
        raise UserError("synthetic data: noise must be >= 0 and drop_prob within [0, 1).")
    need = num_samples * 3 * max_frames * 25 * 2 * 4 * 3  # float32, held in about 3 copies
    if need > machine_memory():
        raise UserError(
            f"synthetic data: {num_samples:,} samples need about {need / 1e9:,.0f} GB of memory "
            f"while they are generated; this machine has {machine_memory() / 1e9:,.0f} GB. Give "
            "fewer samples (--samples)."
        )
    labels = np.arange(num_samples) % len(ACTIONS)
    repetition = np.arange(num_samples) // len(ACTIONS)
    subjects = (repetition % num_subjects + 1).astype(np.int32)
    views = ((repetition + repetition // num_subjects) % num_views + 1).astype(np.int32)
    body = _draw_subjects(num_subjects, np.random.default_rng([seed, 0]))

    data = np.zeros((num_samples, 3, max_frames, 25, 2), dtype=np.float32)
    lengths = np.zeros(num_samples, dtype=np.int32)
    for c, action in enumerate(ACTIONS[:num_samples]):  # one batch per class
        idx = slice(c, None, len(ACTIONS))  # the samples of class c
        rng = np.random.default_rng([seed, 1, c])
        scene, lengths[idx] = _perform(
            action, subjects[idx], views[idx], body, rng, max_frames, num_views, noise, drop_prob
        )
        data[idx, ..., : scene.shape[-1]] = scene
    seen: Counter[tuple[int, int, int]] = Counter()
    names = []
    for s, v, a in zip(subjects.tolist(), views.tolist(), labels.tolist(), strict=True):
        seen[s, v, a] += 1
        names.append(f"S{s:03d}V{v}R{seen[s, v, a]:03d}A{a + 1:03d}")
    return SyntheticSet(data, lengths, labels.astype(np.int64), subjects, views, names, CLASS_NAMES)


def raw_knn_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Top-1 accuracy of the Euclidean 1-nearest neighbour on flattened samples (batched)."""
    a = train_x.reshape(len(train_x), -1).astype(np.float64)
    b = test_x.reshape(len(test_x), -1).astype(np.float64)
    a_sq = np.einsum("ij,ij->i", a, a)
    pred = np.empty(len(b), dtype=np.asarray(train_y).dtype)
    for start in range(0, len(b), 1024):  # chunks of test rows bound the distance matrix
        d = a_sq[None, :] - 2.0 * b[start : start + 1024] @ a.T  # |b|^2 is constant per row
        pred[start : start + 1024] = np.asarray(train_y)[d.argmin(1)]
    return float(np.mean(pred == np.asarray(test_y)))


def write_synthetic(
    out_dir: str | Path,
    *,
    num_samples: int = 2000,
    seed: int = 0,
    benchmarks: list[str] | tuple[str, ...] = NAMED_BENCHMARKS["synthetic"],
    overwrite: bool = False,
    preprocess: str = REFERENCE,
    align: bool = True,
) -> list[Path]:
    """Generate the set once and write one data set per benchmark to `out_dir/<benchmark>`,
    prepared by `preprocess` (reference, tracked-first-frame or none; see the module doc;
    `align=False` skips its centring and rotation, as `--no-align` of the importers)."""
    check_preprocess(preprocess, IMPORT_PREPROCESS)
    unknown = sorted(set(benchmarks) - set(BENCHMARKS))
    if unknown:
        raise UserError(
            f"unknown synthetic benchmark(s) {unknown}; choose from {list(BENCHMARKS)}."
        )
    synth = generate(num_samples, seed)
    arrays = asdict(synth)
    arrays["data"] = normalize_arrays(synth.data, synth.lengths, NTU25, preprocess, align=align)
    masks = {b: np.isin(arrays[BENCHMARKS[b][0]], BENCHMARKS[b][1]) for b in benchmarks}
    for benchmark, train in masks.items():
        if train.all() or not train.any():
            raise UserError(
                f"--samples {num_samples} is too few for the {benchmark} benchmark: its "
                f"{'test' if train.all() else 'train'} split would be empty (the first "
                f"{len(ACTIONS)} samples, one per class, share one subject and one view). Give "
                f"at least {len(ACTIONS) + 1} samples, {2 * len(ACTIONS)} for every class in "
                "both splits."
            )
    paths = []
    for benchmark, train in masks.items():
        paths.append(
            write_dataset(
                Path(out_dir) / benchmark,
                NTU25,
                synth.class_names,
                arrays,
                {"train": train, "test": ~train},
                source="synthetic",
                benchmark=benchmark,
                extra={
                    "seed": seed,
                    "num_samples": num_samples,
                    **preprocess_extra(preprocess, align),
                },
                overwrite=overwrite,
            )
        )
    return paths
