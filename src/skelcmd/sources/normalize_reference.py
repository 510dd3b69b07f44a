"""The reference preprocessing, vectorised: the CMD data_gen scripts with 2s-AGCN's
`pre_normalization`, as docs/method.md#data-pipeline states it step by step.

Arrays here are float64 (M, T, V, 3): persons, frames, joints, xyz (the reference's own
order). "Empty" means a coordinate SUM of zero, exactly as the reference tests it: a frame
of a person is empty when its V x 3 numbers sum to 0, a person when all its numbers do, and
centring leaves a joint alone when its x + y + z is 0.

- `record_slots` + `select_by_energy`: per frame, body record m (file order, no bodyID
  tracking) fills slot m < 4; the 2 slots with the most motion energy are kept.
- `fit_frames`: the sequence cut or zero-padded to the fixed length (300).
- `pre_normalize`: per person, leading empty frames moved behind the others and the trailing
  empty run filled by repeating the sequence (`pad_null_frames`); person 1's origin joint
  subtracted in every frame (`centre`); two rotations taken from person 1 in frame 0
  (`rotate_onto`: the body frame's up bone onto +z, then its shoulders onto +x).
Python loops run over persons (2) or slots (4) only, never over frames or joints. Sums run
over contiguous rows (`frame_sums`, `joint_sums`), not over the last axis of 3, which numpy
reduces far more slowly.
"""

from __future__ import annotations

import math

import numpy as np

from skelcmd.skeleton import BodyFrame
from skelcmd.sources.ntu_parse import RawSkeleton

MAX_SLOTS = 4  # body records per frame the reference reads
NUM_PERSONS = 2  # slots it keeps
_EPS = 1e-6
Z_AXIS = np.array([0.0, 0.0, 1.0])
X_AXIS = np.array([1.0, 0.0, 0.0])


def record_slots(raw: RawSkeleton, slots: int = MAX_SLOTS) -> np.ndarray:
    """(slots, T, V, 3): the m-th body record of frame t (in file order) at [m, t]; records
    beyond the first `slots` of a frame are dropped. T is the header's frame count."""
    first = np.searchsorted(raw.frame, raw.frame, side="left")  # records are in frame order
    slot = np.arange(len(raw.frame)) - first
    keep = slot < slots
    out = np.zeros((slots, raw.num_frames, raw.xyz.shape[2], 3))
    out[slot[keep], raw.frame[keep]] = raw.xyz[:, keep].transpose(1, 2, 0)
    return out


def frame_sums(x: np.ndarray) -> np.ndarray:
    """(M, T, V, 3) -> (M, T): the sum of each person's numbers in each frame."""
    return x.reshape(*x.shape[:2], -1).sum(axis=-1)


def joint_sums(x: np.ndarray) -> np.ndarray:
    """(..., 3) -> (...): x + y + z."""
    return x[..., 0] + x[..., 1] + x[..., 2]


def slot_energy(x: np.ndarray) -> np.ndarray:
    """(S, T, V, 3) -> (S,): std(x) + std(y) + std(z) (population std over frames and
    joints) over the frames whose coordinates do not sum to 0; 0 for a slot without any."""
    energy = np.zeros(len(x))
    for s, (slot, used) in enumerate(zip(x, frame_sums(x) != 0, strict=True)):
        if used.any():  # the same numpy calls as the reference: equal energies tie exactly
            frames = slot[used]
            energy[s] = frames[:, :, 0].std() + frames[:, :, 1].std() + frames[:, :, 2].std()
    return energy


def select_by_energy(x: np.ndarray, keep: int = NUM_PERSONS) -> np.ndarray:
    """(S, T, V, 3) -> (keep, T, V, 3): the slots of largest energy, largest first; among
    equal energies the later slot first (the reference reverses a stable ascending sort)."""
    order = np.argsort(slot_energy(x), kind="stable")[::-1][:keep]
    return x[order]


def fit_frames(x: np.ndarray, frames: int) -> np.ndarray:
    """(M, T, V, 3) -> (M, frames, V, 3) float64: the first `frames` frames, zeros after."""
    out = np.zeros((x.shape[0], frames, *x.shape[2:]))
    kept = min(frames, x.shape[1])
    out[:, :kept] = x[:, :kept]
    return out


def pad_null_frames(x: np.ndarray) -> np.ndarray:
    """Step 1, per person that is not all zero: if its frame 0 is empty, its non-empty frames
    move to the front (order kept), zeros after; then the frames from the start f of the
    trailing empty run to the end are filled with frames 0..f-1, repeated. An empty gap
    before the last non-empty frame stays empty. Returns a new array."""
    return _pad(x)[0]


def _pad(x: np.ndarray) -> tuple[np.ndarray, int]:
    """`pad_null_frames`, and a period P: in every person, frames P.. repeat frames 0..P-1
    (P = T when the persons' repetitions start at different frames, or nowhere)."""
    out = np.array(x, dtype=np.float64)  # a copy
    frames, starts = x.shape[1], set()
    for person, sums in zip(out, frame_sums(out), strict=True):  # views: edits land in `out`
        if person.sum() == 0:
            continue
        empty = sums == 0  # (T,)
        if empty[0]:
            kept = person[~empty]
            person[: len(kept)] = kept
            person[len(kept) :] = 0
            empty = np.arange(frames) >= len(kept)
        trailing = np.logical_and.accumulate(empty[::-1])[::-1]  # frames t.. all empty
        start = int(np.argmax(trailing)) if trailing[-1] else frames
        if 0 < start < frames:  # frames 0..start-1 repeated cyclically
            person[start:] = np.resize(person[:start], (frames - start, *person.shape[1:]))
        starts.add(start)
    return out, starts.pop() if len(starts) == 1 else frames


def centre(x: np.ndarray, origin: int) -> np.ndarray:
    """Step 2, in place (returns `x`): subtract person 1's joint `origin` of the same frame
    from every person that is not all zero, at the joints whose x + y + z is not 0 (the
    others stay as they are, zero in practice). Frames where person 1 is empty subtract 0."""
    if x.sum() == 0:
        return x
    shift = np.tile(x[0, :, origin, None], (1, x.shape[2], 1))  # (T, V, 3), like `person`
    for person in x:
        if person.sum() != 0:
            keep = joint_sums(person) != 0  # (T, V)
            person -= shift
            person[~keep] = 0
    return x


def rotation_between(v: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) R (apply as R @ p) turning `v` towards `target` about the axis v x target by
    the angle between them (Rodrigues' formula); the identity when |v|_1 < 1e-6, or when the
    axis or the angle is below 1e-6 (so also for v parallel or opposite to the target).
    Plain floats: numpy's overhead on 3-vectors costs more than the arithmetic."""
    (a, b, c), (p, q, r) = map(float, v), map(float, target)
    axis = (b * r - c * q, c * p - a * r, a * q - b * p)
    angle = 0.0
    if abs(a) + abs(b) + abs(c) >= _EPS and abs(p) + abs(q) + abs(r) >= _EPS:
        cosine = (a * p + b * q + c * r) / math.sqrt(
            (a * a + b * b + c * c) * (p * p + q * q + r * r)
        )
        angle = math.acos(min(1.0, max(-1.0, cosine)))
    if sum(map(abs, axis)) < _EPS or angle < _EPS:
        return np.eye(3)
    norm = math.sqrt(sum(e * e for e in axis))
    x, y, z = (e / norm for e in axis)
    cos, sin = math.cos(angle), math.sin(angle)
    k = 1.0 - cos
    return np.array(
        [
            [cos + k * x * x, k * x * y - sin * z, k * x * z + sin * y],
            [k * y * x + sin * z, cos + k * y * y, k * y * z - sin * x],
            [k * z * x - sin * y, k * z * y + sin * x, cos + k * z * z],
        ]
    )


def rotate_onto(x: np.ndarray, bone: tuple[int, int], target: np.ndarray) -> np.ndarray:
    """Step 3 (once per bone), in place (returns `x`): R = `rotation_between` person 1's bone
    (to - from) in frame 0 and `target`, applied to every joint of every non-empty frame of
    every person that is not all zero."""
    if x.sum() == 0:
        return x
    rotation = rotation_between(x[0, 0, bone[1]] - x[0, 0, bone[0]], target)
    for person, sums in zip(x, frame_sums(x), strict=True):
        if person.sum() == 0:
            continue
        live = sums != 0  # (T,) frames
        frames = person if live.all() else person[live]
        rotated = (frames.reshape(-1, 3) @ rotation.T).reshape(frames.shape)
        if live.all():
            person[:] = rotated
        else:
            person[live] = rotated
    return x


def pre_normalize(x: np.ndarray, frame: BodyFrame, *, align: bool = True) -> np.ndarray:
    """(M, T, V, 3) -> float64 (M, T, V, 3): `pad_null_frames`, then unless `align` is False
    `centre` on `frame.origin` and `rotate_onto` +z (`frame.up`) and then +x (`frame.across`),
    the second rotation measured on the already rotated data. A sample whose numbers sum to
    0 is returned as it is.

    Centring and rotation work frame by frame (the rotations are measured on frame 0), so
    where every person repeats its first P frames from frame P on, they run on those P
    frames only and the result is repeated likewise.
    """
    if np.sum(x) == 0:
        return np.array(x, dtype=np.float64)
    x, period = _pad(x)  # a float64 copy, which the next steps change in place
    if align:
        head = x[:, :period]  # a view
        centre(head, frame.origin)
        rotate_onto(head, frame.up, Z_AXIS)
        rotate_onto(head, frame.across, X_AXIS)
        for person in x:
            person[period:] = np.resize(person[:period], person[period:].shape)
    return x + 0.0  # -0.0 -> 0.0


def reference_sample(
    persons: np.ndarray, frame: BodyFrame, *, align: bool = True, max_frames: int = 300
) -> tuple[np.ndarray, int, bool] | None:
    """(M, T, V, 3) persons of one sample -> (float32 (3, max_frames, V, M), length, cut), or
    None when its first `max_frames` frames hold no non-zero number.

    The reference's array: the first `max_frames` frames, zero-padded, then `pre_normalize`d;
    length = min(T, max_frames) (the reference records T); `cut` says T > max_frames.
    """
    x = fit_frames(persons, max_frames)
    if not x.any():
        return None
    data = pre_normalize(x, frame, align=align).astype(np.float32).transpose(3, 1, 2, 0)
    frames = persons.shape[1]
    return data, min(frames, max_frames), frames > max_frames
