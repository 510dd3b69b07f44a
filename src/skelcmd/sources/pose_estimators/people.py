"""The step every pose-estimator importer shares: per-frame people -> tracked persons ->
one (C, T, V, M) array with a score channel.

An importer reads its files into `Detections`: one row per person the estimator listed in a
frame, with the frame's number as the files give it, the coordinates (exactly 0 where a
joint is missing), the confidences if the estimator wrote them, and its track ids if it
wrote them. `track` then
- checks the values (NaN, negative confidences) and the frame numbers (duplicates; gaps
  unless allowed), each mistake a UserError naming the file and frame;
- gives every row a track: the estimator's ids (OpenPose `person_id`, a YOLO track id) when
  it wrote them, one track when no frame lists two persons, else a tracker that continues
  each track with the nearest pose of the next frame (`assign_by_pose`);
and `Tracked.clip` ranks the tracks of a span of frames by the frames they are present in
(ties: summed confidence, then the earlier start), keeps the `persons` first and writes them
as channels x, y (or x, y, z) and the score. Frames with no person stay empty (zeros), and
are counted for the report, never filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from skelcmd.errors import UserError

GATE = 0.5  # a pose continues a track if its joints moved < half the track's body size
GAPS_HINT = (
    "pass --allow-gaps to keep the missing frames as frames with no person (they are counted "
    "and reported), or give the missing files"
)


@dataclass
class Detections:
    """The persons one video's output lists, one row each (R rows, V joints, D coordinates)."""

    name: str  # the clip (video) name
    numbers: np.ndarray  # (R,) int frame number of each row, as the files number frames
    points: np.ndarray  # (R, V, D) float64, exactly 0 where a joint is missing
    scores: np.ndarray | None  # (R, V) float64 confidences, or None when none were written
    ids: np.ndarray | None  # (R,) int track ids the estimator wrote, or None
    frames: np.ndarray  # (F,) int every frame number the output covers, people or not
    where: Callable[[int], str]  # frame number -> "FILE" or "FILE, frame N" for messages
    gaps_allowed: bool = False  # the format leaves frames without people out (YOLO txt)


@dataclass
class ClipReport:
    """What `Tracked.clip` kept: frames, empty frames, and the frames each track is in."""

    name: str
    frames: int
    empty_frames: int
    kept: list[int] = field(default_factory=list)  # frames present, per kept person
    dropped: list[int] = field(default_factory=list)  # frames present, per dropped track

    def line(self) -> str:
        text = f"{self.name}: {self.frames} frames, {len(self.kept)} person(s) kept"
        text += f" (in {', '.join(map(str, self.kept))} frames)" if self.kept else ""
        if self.dropped:
            text += f"; {len(self.dropped)} more left out (in {_frames(self.dropped)})"
        if self.empty_frames:
            text += f"; {self.empty_frames} frames with no person (left empty)"
        return text


def _frames(counts: list[int]) -> str:
    shown = ", ".join(map(str, counts[:5])) + (", ..." if len(counts) > 5 else "")
    return f"{shown} frames"


@dataclass
class Tracked:
    """Detections with a track per row and a position per row (frame number - first)."""

    detections: Detections
    first: int  # the first frame number
    num_frames: int  # frames from the first to the last frame number
    positions: np.ndarray  # (R,) frame position of each row
    tracks: np.ndarray  # (R,) track index of each row, 0..K-1
    method: str  # how the tracks were made, for the report

    def clip(self, lo: int, hi: int, persons: int, name: str) -> tuple[np.ndarray, ClipReport]:
        """Frame positions lo..hi-1 as float32 (D + score, hi - lo, V, persons) and a report."""
        det = self.detections
        rows = np.flatnonzero((self.positions >= lo) & (self.positions < hi))
        k = int(self.tracks.max()) + 1 if len(self.tracks) else 0
        track, pos = self.tracks[rows], self.positions[rows] - lo
        count = np.bincount(track, minlength=k)
        total = np.bincount(track, weights=_row_scores(det)[rows], minlength=k)
        start = np.full(k, np.iinfo(np.int64).max)
        np.minimum.at(start, track, pos)
        order = np.lexsort((start, -total, -count))
        order = order[count[order] > 0]
        keep = order[:persons]
        slot = np.full(k, -1)
        slot[keep] = np.arange(len(keep))
        chosen = slot[track] >= 0
        d = det.points.shape[2]
        c = d + (det.scores is not None)
        out = np.zeros((c, hi - lo, det.points.shape[1], persons), np.float32)
        r = rows[chosen]
        out[:d, pos[chosen], :, slot[track[chosen]]] = det.points[r].transpose(0, 2, 1)
        if det.scores is not None:
            out[d, pos[chosen], :, slot[track[chosen]]] = det.scores[r]
        occupied = np.zeros(hi - lo, bool)
        occupied[pos] = True
        report = ClipReport(
            name,
            hi - lo,
            int((~occupied).sum()),
            count[keep].tolist(),
            count[order[persons:]].tolist(),
        )
        return out, report


def _row_scores(det: Detections) -> np.ndarray:
    """(R,) summed confidence of each row (its present joints when there is no score)."""
    if det.scores is not None:
        return det.scores.sum(axis=1)
    return (det.points != 0).any(axis=2).sum(axis=1).astype(np.float64)


def check_values(det: Detections) -> None:
    """UserError at the first row with NaN / infinite numbers or a negative confidence."""
    bad = ~np.isfinite(det.points).all(axis=(1, 2))
    if det.scores is not None:
        bad |= ~np.isfinite(det.scores).all(axis=1)
    if bad.any():
        raise UserError(
            f"{det.where(int(det.numbers[bad.argmax()]))} holds NaN or infinite coordinates or "
            "confidences; re-run the estimator on this video or remove the file."
        )
    if det.scores is not None and (det.scores < 0).any():
        row = int((det.scores < 0).any(axis=1).argmax())
        raise UserError(
            f"{det.where(int(det.numbers[row]))} has a negative confidence "
            f"({det.scores[row].min():g}); confidences are 0 (missing) to 1. Check that the "
            "file is this estimator's output."
        )


def track(det: Detections, *, allow_gaps: bool = False) -> Tracked:
    """Check `det` (see the module docstring) and give every row a track."""
    check_values(det)
    frames = np.unique(det.frames)
    if len(frames) == 0:
        raise UserError(f"{det.where(0)} lists no frame; nothing to import.")
    steps = np.diff(frames)
    if not (allow_gaps or det.gaps_allowed) and (steps > 1).any():
        k = int(np.argmax(steps > 1))
        lost = (
            f"frame {frames[k] + 1} is"
            if steps[k] == 2
            else f"frames {frames[k] + 1}..{frames[k + 1] - 1} are"
        )
        raise UserError(
            f"{det.where(int(frames[k]))}: the next frame is {frames[k + 1]}, so {lost} "
            f"missing; {GAPS_HINT}."
        )
    keep = (det.points != 0).any(axis=(1, 2))  # rows with at least one joint
    if not keep.all():
        det = _rows(det, keep)
    if len(det.numbers) == 0:
        raise UserError(
            f"{det.where(int(frames[0]))}: no frame of {det.name} has a person; nothing to "
            "import. Check that the estimator saw someone, or leave this video out."
        )
    positions = det.numbers - frames[0]
    if det.ids is not None:
        tracks, method = _given_tracks(det, positions), "the estimator's track ids"
    elif np.bincount(positions).max() <= 1:
        tracks, method = np.zeros(len(positions), np.int64), "one person a frame"
    else:
        tracks, method = assign_by_pose(positions, det.points), "nearest pose, frame to frame"
    return Tracked(det, int(frames[0]), int(frames[-1] - frames[0] + 1), positions, tracks, method)


def _rows(det: Detections, keep: np.ndarray) -> Detections:
    return Detections(
        det.name,
        det.numbers[keep],
        det.points[keep],
        None if det.scores is None else det.scores[keep],
        None if det.ids is None else det.ids[keep],
        det.frames,
        det.where,
        det.gaps_allowed,
    )


def _given_tracks(det: Detections, positions: np.ndarray) -> np.ndarray:
    """Track index per row from the estimator's ids; one id twice in a frame is a UserError."""
    ids, tracks = np.unique(det.ids, return_inverse=True)
    key = positions * len(ids) + tracks
    unique, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        twice = unique[counts.argmax()]
        number = int(det.numbers[np.flatnonzero(key == twice)[0]])
        raise UserError(
            f"{det.where(number)} lists track id {ids[twice % len(ids)]} twice in frame "
            f"{number}; a track id names one person a frame. Check the file."
        )
    return tracks.astype(np.int64)


def assign_by_pose(positions: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(R,) track per row: frame by frame, each pose continues the track whose last pose is
    nearest (mean distance over the joints both have, relative to the track's body size,
    an optimal one-to-one assignment), if that is below `GATE`; otherwise it starts a track.

    The loop runs once per frame (O(frames)); the matching inside it is vectorised."""
    order = np.argsort(positions, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(positions[order])) + 1)
    v, d = points.shape[1:]
    last, last_ok = np.zeros((0, v, d)), np.zeros((0, v), bool)
    tracks = np.empty(len(positions), np.int64)
    for rows in groups:
        pose, ok = points[rows], (points[rows] != 0).any(axis=2)
        assigned = np.full(len(rows), -1)
        if len(last):
            both = ok[:, None] & last_ok[None]  # (n, K, V)
            dist = np.linalg.norm(pose[:, None] - last[None], axis=3)
            common = both.sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                cost = (dist * both).sum(axis=2) / common / _size(last, last_ok)[None]
            cost[common == 0] = np.inf
            r, c = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e12))
            good = cost[r, c] < GATE
            assigned[r[good]] = c[good]
        new = assigned < 0
        assigned[new] = len(last) + np.arange(new.sum())
        last = np.concatenate([last, np.zeros((new.sum(), v, d))])
        last_ok = np.concatenate([last_ok, np.zeros((new.sum(), v), bool)])
        last[assigned] = np.where(ok[..., None], pose, last[assigned])
        last_ok[assigned] |= ok
        tracks[rows] = assigned
    return tracks


def _size(poses: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(K,) the diagonal of each pose's bounding box over its present joints (>= tiny)."""
    high = np.where(ok[..., None], poses, -np.inf).max(axis=1)
    low = np.where(ok[..., None], poses, np.inf).min(axis=1)
    span = np.where(np.isfinite(high), high - low, 0.0)
    return np.maximum(np.linalg.norm(span, axis=1), 1e-9)
