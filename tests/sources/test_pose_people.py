"""The step all pose-estimator importers share: tracking persons frame to frame and writing the
most present ones, each against a plain version written here; the checks of bad values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from skelcmd.errors import UserError
from skelcmd.sources.pose_estimators.people import GATE, Detections, assign_by_pose, track


def crowd(seed=0, frames=30, people=3, v=5):
    """Rows of `people` persons walking apart from each other, listed in a shuffled order per
    frame, some absent in some frames, some joints missing (zero); (frame, points, scores)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-1, 1, size=(people, v, 2)) * 0.2 + np.arange(people)[:, None, None]
    numbers, points, scores = [], [], []
    for t in range(frames):
        present = [p for p in range(people) if rng.uniform() > 0.2 * p]
        for p in rng.permutation(present):
            pose = base[p] + 0.01 * t + rng.normal(scale=0.005, size=(v, 2))
            score = rng.uniform(0.2, 1, size=v)
            gone = rng.uniform(size=v) < 0.15
            pose[gone], score[gone] = 0, 0
            numbers.append(t)
            points.append(pose)
            scores.append(score)
    return np.array(numbers), np.array(points), np.array(scores)


def plain_assign(positions, points):
    """The tracker written out: frame by frame, the complete matching of the frame's poses to
    the tracks with the least summed cost (by trying every one), its pairs under GATE kept,
    the other poses starting new tracks; a track keeps the last position of every joint."""
    tracks, last = [0] * len(positions), []  # last: per track {joint: position}
    for t in sorted(set(positions.tolist())):
        rows = [r for r in range(len(positions)) if positions[r] == t]

        def cost(r, k):
            common = [v for v in range(points.shape[1]) if points[r, v].any() and v in last[k]]
            if not common:
                return np.inf
            joints = np.array(list(last[k].values()))
            size = np.linalg.norm(joints.max(axis=0) - joints.min(axis=0))
            distance = np.mean([np.linalg.norm(points[r, v] - last[k][v]) for v in common])
            return distance / max(size, 1e-9)

        best, best_cost = {}, np.inf
        size = min(len(rows), len(last))
        for chosen in itertools.permutations(range(len(last)), size):
            for subset in itertools.combinations(rows, size):
                total = sum(min(cost(r, k), 1e12) for r, k in zip(subset, chosen, strict=True))
                if total < best_cost - 1e-12:
                    best, best_cost = dict(zip(subset, chosen, strict=True)), total
        for r in rows:
            k = best.get(r)
            if k is None or not cost(r, k) < GATE:
                last.append({})
                k = len(last) - 1
            tracks[r] = k
        for r in rows:
            for v in range(points.shape[1]):
                if points[r, v].any():
                    last[tracks[r]][v] = points[r, v]
    return np.array(tracks)


@pytest.mark.parametrize("seed", range(4))
def test_tracker_equals_a_plain_search(seed):
    numbers, points, _ = crowd(seed, frames=12)
    np.testing.assert_array_equal(assign_by_pose(numbers, points), plain_assign(numbers, points))


def test_tracker_follows_each_person():
    numbers, points, _ = crowd(1, frames=40)
    tracks = assign_by_pose(numbers, points)
    who = np.round(
        np.nanmean(np.where(points != 0, points, np.nan)[..., 0], axis=1) - 0.01 * numbers
    ).astype(int)
    for person in np.unique(who):
        assert len(np.unique(tracks[who == person])) == 1


def detections(numbers, points, scores, ids=None, frames=None, name="clip"):
    return Detections(
        name,
        numbers,
        points,
        scores,
        ids,
        np.unique(numbers) if frames is None else frames,
        lambda n: f"clip.json, frame {n}",
    )


def plain_clip(numbers, points, scores, tracks, lo, hi, persons):
    """Tracked.clip written out: rank the tracks in [lo, hi) by frames present, then summed
    score, then first frame; write the first `persons` into (3, hi - lo, V, persons)."""
    stats = {}
    for r, t in enumerate(numbers):
        if lo <= t < hi:
            count, total, first = stats.get(tracks[r], (0, 0.0, t))
            stats[tracks[r]] = (count + 1, total + scores[r].sum(), min(first, t))
    ranked = sorted(stats, key=lambda k: (-stats[k][0], -stats[k][1], stats[k][2]))[:persons]
    out = np.zeros((3, hi - lo, points.shape[1], persons))
    for r, t in enumerate(numbers):
        if lo <= t < hi and tracks[r] in ranked:
            m = ranked.index(tracks[r])
            for v in range(points.shape[1]):
                out[0, t - lo, v, m], out[1, t - lo, v, m] = points[r, v]
                out[2, t - lo, v, m] = scores[r, v]
    return out


@pytest.mark.parametrize(("lo", "hi", "persons"), [(0, 30, 2), (5, 17, 1), (0, 30, 4)])
def test_clip_keeps_the_most_present_persons_as_a_plain_loop_does(lo, hi, persons):
    numbers, points, scores = crowd(2)
    tracked = track(detections(numbers, points, scores))
    data, report = tracked.clip(lo, hi, persons, "clip")
    expected = plain_clip(numbers, points, scores, tracked.tracks, lo, hi, persons)
    np.testing.assert_allclose(data, expected, atol=1e-6)
    assert data.dtype == np.float32 and report.frames == hi - lo
    assert report.kept == sorted(report.kept, reverse=True)
    assert len(report.kept) + len(report.dropped) == len(
        np.unique(tracked.tracks[(numbers >= lo) & (numbers < hi)])
    )


def test_given_track_ids_are_kept_and_frames_without_anybody_counted():
    numbers = np.array([3, 3, 4, 6, 6])  # frame 5 lists nobody
    points = np.ones((5, 4, 2)) * np.arange(1, 6)[:, None, None]
    ids = np.array([7, 2, 2, 2, 7])
    tracked = track(detections(numbers, points, None, ids, frames=np.arange(3, 7)))
    assert tracked.method == "the estimator's track ids"
    data, report = tracked.clip(0, tracked.num_frames, 2, "clip")
    assert data.shape == (2, 4, 4, 2) and report.empty_frames == 1
    assert data[0, :, 0, 0].tolist() == [2, 3, 0, 4]  # id 2: in 3 frames, person 1
    assert data[0, :, 0, 1].tolist() == [1, 0, 0, 5]
    with pytest.raises(UserError, match="track id 2 twice in frame 3"):
        track(detections(numbers, points, None, np.array([2, 2, 2, 2, 7]), np.arange(3, 7)))


def test_one_person_a_frame_is_one_track_and_all_zero_rows_are_nobody():
    numbers = np.array([0, 1, 2, 2])
    points = np.ones((4, 3, 2))
    points[3] = 0  # listed, but without a single joint
    tracked = track(detections(numbers, points, np.ones((4, 3))))
    assert tracked.method == "one person a frame" and tracked.tracks.tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, s: p.__setitem__((2, 1, 0), np.nan), "clip.json, frame 2 holds NaN"),
        (lambda p, s: s.__setitem__((3, 0), -0.1), "clip.json, frame 3 has a negative confidence"),
        (lambda p, s: s.__setitem__((1, 2), np.inf), "clip.json, frame 1 holds NaN or infinite"),
    ],
)
def test_bad_values_name_the_frame(change, message):
    numbers, points, scores = np.arange(5), np.ones((5, 3, 2)), np.ones((5, 3))
    change(points, scores)
    with pytest.raises(UserError, match=message):
        track(detections(numbers, points, scores))


def test_gaps_are_refused_unless_allowed_and_then_empty_frames():
    numbers, points = np.array([10, 11, 14]), np.ones((3, 2, 2))
    with pytest.raises(
        UserError,
        match=r"frame 11: the next frame is 14, so frames 12..13 are "
        r"missing; pass --allow-gaps",
    ):
        track(detections(numbers, points, None))
    tracked = track(detections(numbers, points, None), allow_gaps=True)
    data, report = tracked.clip(0, tracked.num_frames, 1, "clip")
    assert data.shape == (2, 5, 2, 1) and report.empty_frames == 2
    assert "2 frames with no person (left empty)" in report.line()


def test_no_person_in_any_frame_is_an_error():
    with pytest.raises(UserError, match="no frame of clip has a person"):
        track(detections(np.array([0, 1]), np.zeros((2, 3, 2)), None))
