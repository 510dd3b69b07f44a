"""The preprocessing pipelines every source shares (`PREPROCESS`), and the tracked one.

- "reference" (the default of `prepare` and `import utd-mhad`): the CMD reference's data_gen
  and 2s-AGCN `pre_normalization`, step by step (docs/method.md#data-pipeline); its steps live in
  `skelcmd.sources.normalize_reference`.
- "tracked-first-frame" (skelcmd's earlier pipeline, this module): bodies tracked by bodyID,
  the 2 with the most motion kept; frames where nobody is present dropped and the rest
  repeated to the frame count; centred on person 1's origin joint in the first frame where
  person 1 is present and rotated into one orthonormal body frame of that frame.
- "none" (importers only): the coordinates as given.
`normalize_arrays` applies any of them to arrays an importer holds. The joints used come from
the layout's `body_frame` (NTU-25: spine-middle; hip -> spine; left / right shoulder).

Here a sequence is `x` float64 (3, T, V, M) (xyz, frames, joints, persons: the layout a data
set stores) with `present` bool (T, M), whether person m has a non-zero joint in frame t. An
absent person or an untracked joint is all zeros and stays exactly zero through every step.
`process` chains the tracked steps; nothing here loops over frames or joints in Python.
"""

from __future__ import annotations

import math

import numpy as np

from skelcmd.errors import UserError
from skelcmd.names import IMPORT_PREPROCESS, NONE, PREPROCESS, REFERENCE, TRACKED
from skelcmd.skeleton import NTU25, BodyFrame, Layout
from skelcmd.sources.normalize_reference import reference_sample
from skelcmd.sources.ntu_parse import RawSkeleton

VIEW = {  # what each pipeline does to the view, for meta.json
    REFERENCE: "person 1's origin joint (NTU-25: spine-middle) subtracted in every frame; "
    "rotated twice by person 1's frame 0: hip->spine onto +z, then the shoulders onto +x",
    TRACKED: "centred on person 1's origin joint in the first frame where person 1 is present "
    "and rotated into that frame's orthonormal body frame (hip->spine +z, shoulders +x)",
}
NTU_BODY_FRAME = NTU25.body_frame
_EPS = 1e-6


def check_preprocess(preprocess: str, allowed: tuple[str, ...] = PREPROCESS) -> str:
    """`preprocess` if it is one of `allowed`, else a UserError listing them."""
    if preprocess not in allowed:
        raise UserError(f"unknown --preprocess {preprocess!r}; choose from {', '.join(allowed)}.")
    return preprocess


def check_import_preprocess(preprocess: str, layout: Layout, align: bool = True) -> str:
    """`check_preprocess` for importers (NONE allowed), and that `layout` can be aligned if
    asked to, before anything is read or written."""
    check_preprocess(preprocess, IMPORT_PREPROCESS)
    if preprocess != NONE and align:
        layout.require_body_frame(f"--preprocess {preprocess}")
    return preprocess


def preprocess_extra(preprocess: str, align: bool) -> dict[str, object]:
    """The meta.json entries that record a pipeline choice (`aligned` sets `show`'s up axis)."""
    aligned = align and preprocess != NONE
    view = VIEW[preprocess] if aligned else "camera coordinates (not centred, not rotated)"
    return {"preprocess": preprocess, "aligned": aligned, "view": view}


def motion_energy(raw: RawSkeleton) -> np.ndarray:
    """(num_bodies,): per distinct bodyID, the sum over x, y, z of the standard deviation of
    its coordinates over all joints of the frames where it has a non-zero joint (0 if none).
    """
    used = (raw.xyz != 0).any(axis=0).any(axis=1)  # (B,) records with a non-zero joint
    body, xyz = raw.body[used], raw.xyz[:, used]
    size = raw.num_bodies
    count = np.bincount(body, minlength=size) * xyz.shape[2]
    safe = np.maximum(count, 1)
    energy = np.zeros(size)
    for axis in range(3):  # mean and variance per body from per-record sums
        total = np.bincount(body, weights=xyz[axis].sum(axis=1), minlength=size)
        squares = np.bincount(body, weights=(xyz[axis] ** 2).sum(axis=1), minlength=size)
        energy += np.sqrt(np.maximum(squares / safe - (total / safe) ** 2, 0.0))
    return np.where(count > 0, energy, 0.0)


def select_persons(raw: RawSkeleton, max_persons: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The `max_persons` bodies with the most motion energy, most first (ties: first seen),
    each body's records placed at its frames: x (3, T, 25, M), present (T, M).

    A bodyID listed twice in one frame keeps its first record.
    """
    t, size = raw.num_frames, raw.num_bodies
    x = np.zeros((3, t, raw.xyz.shape[2], max_persons))
    present = np.zeros((t, max_persons), dtype=bool)
    if size == 0:
        return x, present
    person = np.full(size, -1)
    order = np.argsort(-motion_energy(raw), kind="stable") if size > 1 else np.zeros(1, int)
    person[order[:max_persons]] = np.arange(min(size, max_persons))
    keep = person[raw.body] >= 0
    key = raw.body * t + raw.frame
    if np.bincount(key, minlength=size * t).max() > 1:
        first = np.zeros(len(key), dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True
        keep &= first
    frame, slot, xyz = raw.frame[keep], person[raw.body[keep]], raw.xyz[:, keep]
    x[:, frame, :, slot] = xyz.transpose(1, 0, 2)
    present[frame, slot] = (xyz != 0).any(axis=0).any(axis=1)
    return x, present


def fill_null_frames(x: np.ndarray, present: np.ndarray):
    """Drop null frames, then repeat the remaining sequence to the original frame count.

    A null frame is one where no person has a non-zero joint. The remaining frames keep
    their order; if there are fewer than T of them they are repeated (1 2 3 1 2 3 1 ...) to
    fill T frames, as the common implementation pads null frames. Persons stay in step: a
    frame where only one of them is present keeps zeros for the other. Returns (x, present),
    or None when no frame has a person.
    """
    valid = present.any(axis=1)
    kept = int(valid.sum())
    if kept == 0:
        return None
    if kept == len(valid):
        return x, present
    index = np.flatnonzero(valid)[np.arange(len(valid)) % kept]
    return x[:, index], present[index]


def view_rotation(hip, spine, left, right) -> np.ndarray:
    """(3, 3) rotation R (apply as R @ v) whose rows are the body frame's x, y, z axes:
    z along hip -> spine, x along the left -> right shoulder line made orthogonal to z
    (joint 9 - joint 5 onto +x, as the reference code does), y = z cross x. Degenerate bones
    fall back to the camera axes. Arguments are 3-vectors."""
    z = [s - h for s, h in zip(spine, hip, strict=True)]
    norm = math.sqrt(sum(c * c for c in z))
    if norm < _EPS:
        return np.eye(3)
    z = [c / norm for c in z]
    for candidate in ([r - l for r, l in zip(right, left, strict=True)], [1.0, 0, 0], [0, 1.0, 0]):
        along = sum(c * d for c, d in zip(candidate, z, strict=True))
        x = [c - along * d for c, d in zip(candidate, z, strict=True)]
        norm = math.sqrt(sum(c * c for c in x))
        if norm >= _EPS:
            break
    x = [c / norm for c in x]
    y = [z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]]
    return np.array([x, y, z])


def align_view(x: np.ndarray, present: np.ndarray, frame: BodyFrame = NTU_BODY_FRAME) -> np.ndarray:
    """Centre on person 1's `frame.origin` joint and rotate into person 1's body frame
    (`view_rotation` of the `frame.up` bone and the `frame.across` shoulders), both taken
    from the first frame where person 1 is present (NTU-25: origin spine-middle, joint 2).
    One matmul for all persons, frames and joints; absent joints stay exactly 0."""
    (hip, spine), (left, right) = frame.up, frame.across
    first = int(np.argmax(present[:, 0]))
    coords = x[:, first, :, 0].T.tolist()  # (V, 3) of person 1
    rotation = view_rotation(coords[hip], coords[spine], coords[left], coords[right])
    origin = np.array(coords[frame.origin])[:, None]
    out = (rotation @ (x.reshape(3, -1) - origin)).reshape(x.shape)
    out *= (x != 0).any(axis=0)
    out += 0.0  # turns the -0.0 of absent joints into 0.0
    return out


def resample(x: np.ndarray, present: np.ndarray, frames: int):
    """(3, T, V, M) -> (3, frames, V, M) by linear interpolation over time (first and last
    frames kept); where a person is absent in one of the two neighbouring frames, the nearer
    frame is taken instead, so no joint is pulled towards the origin. Returns (x, present)."""
    t = x.shape[1]
    pos = np.linspace(0.0, t - 1, frames)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = pos - lo
    near = np.where(w < 0.5, lo, hi)
    both = (present[lo] & present[hi])[None, :, None, :]
    w = w[None, :, None, None]
    out = np.where(both, x[:, lo] * (1 - w) + x[:, hi] * w, x[:, near])
    return out, np.where(both[0, :, 0], present[lo], present[near])


def process(
    x: np.ndarray,
    present: np.ndarray,
    *,
    align: bool = True,
    max_frames: int = 300,
    frame: BodyFrame = NTU_BODY_FRAME,
) -> tuple[np.ndarray, int, bool] | None:
    """The tracked pipeline: (3, T, V, M), (T, M) -> (float32 (3, T', V, M), T', resampled)
    or None if empty.

    Steps: `fill_null_frames`; sequences longer than `max_frames` are `resample`d to it;
    `align_view` by `frame` unless `align` is False (raw camera coordinates). T' <=
    max_frames is the frame count; the data set pads to max_frames with zeros.
    """
    filled = fill_null_frames(x, present)
    if filled is None:
        return None
    x, present = filled
    if not present[:, 0].any():  # persons with data first
        order = np.argsort(~present.any(axis=0), kind="stable")
        x, present = x[..., order], present[:, order]
    resampled = x.shape[1] > max_frames
    if resampled:
        x, present = resample(x, present, max_frames)
    if align:
        x = align_view(x, present, frame)
    return x.astype(np.float32), x.shape[1], resampled


def normalize_sequence(
    persons: np.ndarray,
    preprocess: str,
    *,
    frame: BodyFrame = NTU_BODY_FRAME,
    align: bool = True,
    max_frames: int = 300,
) -> tuple[np.ndarray, int, bool] | None:
    """One sample's persons (M, T, V, 3) -> (float32 (3, T', V, M), length, shortened), or None
    when it holds no non-zero number.

    "reference": `reference_sample` (T' = max_frames: the first max_frames frames, the
    trailing empty frames filled; length = min(T, max_frames)); "tracked-first-frame":
    `process` (T' = length <= max_frames, longer sequences resampled).
    """
    if preprocess == REFERENCE:
        return reference_sample(persons, frame, align=align, max_frames=max_frames)
    present = (persons != 0).any(axis=(2, 3)).T  # (T, M)
    return process(
        persons.transpose(3, 1, 2, 0), present, align=align, max_frames=max_frames, frame=frame
    )


def normalize_arrays(
    data: np.ndarray,
    lengths: np.ndarray,
    layout: Layout,
    preprocess: str,
    *,
    align: bool = True,
    frames: int | None = None,
) -> np.ndarray:
    """An importer's samples, float (n, 3, T, V, M), valid `lengths` (n,) -> float32
    (n, 3, frames, V, M) (`frames` defaults to T, and must be >= T and the lengths).

    "reference": each sample normalised over all `frames` (the padded length, as the
    reference normalises its 300-frame arrays), so the padding holds the repeated sequence;
    "tracked-first-frame": each sample's valid frames, zeros after; "none": the data as it
    is, zero-padded. Aligning needs the layout's body frame (a UserError otherwise).
    Non-finite input stays non-finite, silently: the writer refuses it, naming the sample.
    """
    frames = data.shape[2] if frames is None else frames
    out = np.zeros((*data.shape[:2], frames, *data.shape[3:]), np.float32)
    out[:, :, : data.shape[2]] = data
    if preprocess == NONE:
        return out
    body = layout.require_body_frame(f"--preprocess {preprocess}") if align else NTU_BODY_FRAME
    for i, (sample, length) in enumerate(zip(out, lengths, strict=True)):
        span = frames if preprocess == REFERENCE else int(length)
        persons = sample[:, :span].transpose(3, 1, 2, 0).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            result = normalize_sequence(
                persons, preprocess, frame=body, align=align, max_frames=span
            )
        if result is not None:
            out[i, :, :span] = result[0]
    return out
