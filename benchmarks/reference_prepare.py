"""The reference preparation written the plain way: text read into a dict per joint, loops
over frames, bodies and joints, one `np.dot` per joint (our own code, after the CMD
reference's data_gen/ntu_gendata.py, pku_gendata.py and the 2s-AGCN `pre_normalization`
they call, as docs/method.md#data-pipeline states them).

It is the slow, obviously literal version that `tests/test_normalize_reference.py` checks
skelcmd's vectorised pipeline against, and the baseline of `benchmarks/prepare_speed.py`.
It keeps the reference's dtypes: the read is float64, the data set array float32, and
`pre_normalization` works in that float32 array in place.

    data, num_frame = ntu_arrays(paths)              # (N, 3, 300, 25, 2) float32, (N,)
    data, num_frame = pku_arrays([(skeleton, label, row)])
    pre_normalization(data)                          # in place; NTU-25 joints by default
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

BODY_KEYS = (
    "bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState "
    "isResticted leanX leanY trackingState"
).split()
JOINT_KEYS = (
    "x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ "
    "trackingState"
).split()
MAX_FRAMES, SLOTS, PERSONS, JOINTS = 300, 4, 2, 25
UP = (0, 1)  # hip -> spine-middle, onto +z
ACROSS = (4, 8)  # left shoulder, right shoulder: right - left onto +x
ORIGIN = 1


def read_skeleton_file(path: str | Path) -> dict:
    """A .skeleton file as nested dicts: numFrame, frameInfo[t] = {numBody, bodyInfo[b] =
    {bodyID.., numJoint, jointInfo[j] = {x, y, z, ...}}}, read line by line."""
    with open(path) as f:
        sequence = {"numFrame": int(f.readline()), "frameInfo": []}
        for _ in range(sequence["numFrame"]):
            frame = {"numBody": int(f.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                body = {k: float(v) for k, v in zip(BODY_KEYS, f.readline().split(), strict=True)}
                body["numJoint"] = int(f.readline())
                body["jointInfo"] = []
                for _ in range(body["numJoint"]):
                    values = f.readline().split()
                    joint = {k: float(v) for k, v in zip(JOINT_KEYS, values, strict=True)}
                    body["jointInfo"].append(joint)
                frame["bodyInfo"].append(body)
            sequence["frameInfo"].append(frame)
    return sequence


def energy(slot: np.ndarray) -> float:
    """Motion energy of one slot (T, V, 3): over the frames whose numbers do not sum to 0,
    std(x) + std(y) + std(z) over frames and joints; 0 when there is no such frame."""
    frames = [t for t in range(len(slot)) if slot[t].sum(-1).sum(-1) != 0]
    if not frames:
        return 0.0
    used = slot[frames]
    return used[:, :, 0].std() + used[:, :, 1].std() + used[:, :, 2].std()


def read_xyz(path: str | Path) -> np.ndarray:
    """(3, T, 25, 2) float64: body record m of each frame in slot m (m < 4), then the 2
    slots of largest energy, largest first (reverse of a stable ascending sort)."""
    sequence = read_skeleton_file(path)
    data = np.zeros((SLOTS, sequence["numFrame"], JOINTS, 3))
    for t, frame in enumerate(sequence["frameInfo"]):
        for m, body in enumerate(frame["bodyInfo"]):
            for j, joint in enumerate(body["jointInfo"]):
                if m < SLOTS and j < JOINTS:
                    data[m, t, j] = [joint["x"], joint["y"], joint["z"]]
    energies = np.array([energy(slot) for slot in data])
    order = np.argsort(energies, kind="stable")[::-1][:PERSONS]
    return data[order].transpose(3, 1, 2, 0)


def ntu_arrays(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The reference's NTU data set arrays before `pre_normalization`: float32
    (N, 3, 300, 25, 2) with zeros after each file's frames, and num_frame (N,), the file's
    frame count. (A file of more than 300 frames makes the reference fail; here its first
    300 are kept.)"""
    data = np.zeros((len(paths), 3, MAX_FRAMES, JOINTS, PERSONS), dtype=np.float32)
    num_frame = np.zeros(len(paths), dtype=np.int64)
    for i, path in enumerate(paths):
        sample = read_xyz(path)
        data[i, :, : sample.shape[1]] = sample[:, :MAX_FRAMES]
        num_frame[i] = sample.shape[1]
    return data, num_frame


def pku_clip(skeleton: str | Path, label: str | Path, row: int) -> np.ndarray:
    """(3, T, 25, 2) float64: rows [start, end) of the skeleton file for label row `row`."""
    rows = np.loadtxt(skeleton)
    labels = np.loadtxt(label, delimiter=",", ndmin=2)
    start, end = int(labels[row][1]), int(labels[row][2])
    clip = rows[start:end]
    return clip.reshape(len(clip), 2, JOINTS, 3).transpose(3, 0, 2, 1)


def pku_arrays(clips: list[tuple[Path, Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Like `ntu_arrays` for PKU-MMD clips (skeleton file, label file, label row): only the
    first 300 frames kept; num_frame is the clip's full length (end - start), as the
    reference records it."""
    data = np.zeros((len(clips), 3, MAX_FRAMES, JOINTS, PERSONS), dtype=np.float32)
    num_frame = np.zeros(len(clips), dtype=np.int64)
    for i, clip in enumerate(clips):
        sample = pku_clip(*clip)
        kept = min(sample.shape[1], MAX_FRAMES)
        data[i, :, :kept] = sample[:, :kept]
        num_frame[i] = sample.shape[1]
    return data, num_frame


def quaternion_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` about `axis` (right hand), from the Euler-Rodrigues
    parameters a = cos(angle / 2), (b, c, d) = -unit(axis) sin(angle / 2); the identity when
    |axis|_1 < 1e-6 or |angle| < 1e-6."""
    if np.abs(axis).sum() < 1e-6 or abs(angle) < 1e-6:
        return np.eye(3)
    axis = np.asarray(axis, dtype=np.float64) / math.sqrt(float(np.dot(axis, axis)))
    a = math.cos(angle / 2)
    b, c, d = -axis * math.sin(angle / 2)
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c + a * d), 2 * (b * d - a * c)],
            [2 * (b * c - a * d), a * a + c * c - b * b - d * d, 2 * (c * d + a * b)],
            [2 * (b * d + a * c), 2 * (c * d - a * b), a * a + d * d - b * b - c * c],
        ]
    )


def angle_to(v: np.ndarray, target: list[float]) -> float:
    """The angle between v and target; 0 when either is ~0 (|.|_1 < 1e-6)."""
    target = np.asarray(target, dtype=np.float64)
    if np.abs(v).sum() < 1e-6 or np.abs(target).sum() < 1e-6:
        return 0.0
    cosine = np.dot(v / np.linalg.norm(v), target / np.linalg.norm(target))
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _rotate_sample(sample: np.ndarray, bone: tuple[int, int], target: list[float]) -> None:
    """Rotate (M, T, V, 3) in place: person 0's bone in frame 0 onto target, every joint of
    every non-empty frame of every non-empty person, one joint at a time."""
    if sample.sum() == 0:
        return
    v = sample[0, 0, bone[1]] - sample[0, 0, bone[0]]
    rotation = quaternion_rotation(np.cross(v, target), angle_to(v, target))
    for person in sample:
        if person.sum() == 0:
            continue
        for frame in person:
            if frame.sum() == 0:
                continue
            for j in range(len(frame)):
                frame[j] = np.dot(rotation, frame[j])


def pre_normalization(
    data: np.ndarray, origin: int = ORIGIN, up: tuple = UP, across: tuple = ACROSS
) -> np.ndarray:
    """2s-AGCN's pre_normalization of (N, 3, T, V, M), in place (returns `data`); `origin`,
    `up` and `across` are the joints it uses (NTU-25's by default)."""
    s = data.transpose(0, 4, 2, 3, 1)  # a view: (N, M, T, V, C)
    for sample in s:  # 1. leading empty frames to the back, trailing ones filled
        for person in sample:
            if person.sum() == 0:
                continue
            if person[0].sum() == 0:
                moved = person[person.sum(-1).sum(-1) != 0].copy()
                person[:] = 0
                person[: len(moved)] = moved
            for t in range(len(person)):
                if person[t].sum() == 0 and person[t:].sum() == 0:
                    for k in range(t, len(person)):
                        person[k] = person[(k - t) % t]
                    break
    for sample in s:  # 2. person 0's origin joint of each frame subtracted
        if sample.sum() == 0:
            continue
        centre = sample[0, :, origin : origin + 1].copy()  # (T, 1, 3)
        for person in sample:  # per person, as the scripts do; joints summing to 0 stay
            if person.sum() == 0:
                continue
            person[:] = (person - centre) * (person.sum(-1) != 0)[:, :, None]
    for sample in s:  # 3. two rotations, each from person 0 in frame 0 of the current data
        _rotate_sample(sample, up, [0, 0, 1])
        _rotate_sample(sample, across, [1, 0, 0])
    return data
