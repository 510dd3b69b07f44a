"""The vectorised NTU processing (align.py) against plain per-frame, per-joint loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skelcmd.sources.normalize import (
    align_view,
    fill_null_frames,
    motion_energy,
    process,
    resample,
    select_persons,
    view_rotation,
)
from skelcmd.sources.ntu_parse import RawSkeleton, parse_skeleton
from tests.helpers.data_paths import SHARED_DATA

SAMPLES = SHARED_DATA / "ntu_samples"
REAL = sorted(SAMPLES.glob("*.skeleton")) if SAMPLES.is_dir() else []


def random_raw(seed: int, frames: int = 40, bodies: int = 4) -> RawSkeleton:
    """Bodies that come and go, frames without anyone, an untracked (zero) joint."""
    rng = np.random.default_rng(seed)
    frame, body, xyz = [], [], []
    for t in range(frames):
        if t % 7 == 3:
            continue  # a null frame
        for b in range(bodies):
            if rng.random() < 0.4 and b > 0:
                continue
            joints = rng.normal(size=(25, 3)) * (0.1 + b) + [0, 0, 3]
            if rng.random() < 0.2:
                joints[rng.integers(25)] = 0
            frame.append(t)
            body.append(b)
            xyz.append(joints)
    xyz = np.array(xyz).transpose(2, 0, 1)
    return RawSkeleton(frames, np.array(frame), np.array(body), xyz)


# --- plain loops, written to be obviously right --------------------------------------------


def loop_energy(raw: RawSkeleton) -> list[float]:
    energies = []
    for b in range(raw.num_bodies):
        values: list[list[float]] = [[], [], []]
        for r in range(len(raw.frame)):
            if raw.body[r] == b and any(raw.xyz[c, r, j] != 0 for c in range(3) for j in range(25)):
                for j in range(25):
                    for c in range(3):
                        values[c].append(raw.xyz[c, r, j])
        energy = 0.0
        for c in range(3):
            if values[c]:
                mean = sum(values[c]) / len(values[c])
                energy += math.sqrt(sum((v - mean) ** 2 for v in values[c]) / len(values[c]))
        energies.append(energy)
    return energies


def loop_process(raw: RawSkeleton, align: bool = True) -> tuple[np.ndarray, int]:
    energy = loop_energy(raw)
    chosen = sorted(range(raw.num_bodies), key=lambda b: -energy[b])[:2]
    t_max = raw.num_frames
    x = np.zeros((2, t_max, 25, 3))
    seen = set()
    for r in range(len(raw.frame)):
        b, t = int(raw.body[r]), int(raw.frame[r])
        if b in chosen and (b, t) not in seen:
            seen.add((b, t))
            for j in range(25):
                for c in range(3):
                    x[chosen.index(b), t, j, c] = raw.xyz[c, r, j]
    valid = [
        t
        for t in range(t_max)
        if any(x[m, t, j, c] != 0 for m in range(2) for j in range(25) for c in range(3))
    ]
    filled = np.zeros_like(x)
    for t in range(t_max):
        filled[:, t] = x[:, valid[t % len(valid)]]
    if align:
        first = next(t for t in range(t_max) if filled[0, t].any())
        hip, spine, left, right = filled[0, first, [0, 1, 4, 8]]  # copies
        z = (spine - hip) / np.linalg.norm(spine - hip)
        across = (right - left) - np.dot(right - left, z) * z
        xa = across / np.linalg.norm(across)
        ya = np.cross(z, xa)
        for m in range(2):
            for t in range(t_max):
                for j in range(25):
                    v = filled[m, t, j]
                    if v.any():
                        d = v - spine
                        filled[m, t, j] = [np.dot(xa, d), np.dot(ya, d), np.dot(z, d)]
    return filled.transpose(3, 1, 2, 0), t_max


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_energy_matches_loop(seed):
    raw = random_raw(seed)
    assert np.allclose(motion_energy(raw), loop_energy(raw), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("align", [True, False])
def test_process_matches_loop(seed, align):
    raw = random_raw(seed)
    data, length, resampled = process(*select_persons(raw), align=align)
    expected, expected_length = loop_process(raw, align)
    assert length == expected_length and not resampled
    assert data.dtype == np.float32 and data.shape == (3, length, 25, 2)
    assert np.allclose(data, expected, atol=1e-5)
    # absent joints are exactly zero (single coordinates of present joints may round to 0
    # in one computation and not the other, e.g. the hip's x and y, which lie on the z axis)
    assert np.array_equal((data == 0).all(axis=0), (expected == 0).all(axis=0))


@pytest.mark.skipif(not REAL, reason="real NTU samples absent (../shared/data)")
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_real_samples_match_loop(path):
    raw = parse_skeleton(path)
    data, length, _ = process(*select_persons(raw))
    expected, expected_length = loop_process(raw)
    assert length == expected_length == raw.num_frames
    assert np.allclose(data, expected, atol=1e-5)


def test_duplicate_body_in_a_frame_keeps_the_first_record():
    raw = random_raw(0, frames=5, bodies=1)
    frame = np.concatenate((raw.frame, [2]))
    body = np.concatenate((raw.body, [0]))
    xyz = np.concatenate((raw.xyz, np.full((3, 1, 25), 9.0)), axis=1)
    x, _ = select_persons(RawSkeleton(5, frame, body, xyz))
    assert not (x == 9.0).any()


def test_rotation_puts_spine_on_z_and_shoulders_on_x():
    rng = np.random.default_rng(1)
    for _ in range(20):
        hip, spine, left, right = rng.normal(size=(4, 3))
        r = view_rotation(hip, spine, left, right)
        assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
        bone = r @ (spine - hip)
        assert np.allclose(bone[:2], 0) and bone[2] > 0
        shoulders = r @ (right - left)
        assert np.isclose(shoulders[1], 0) and shoulders[0] > 0
    assert np.array_equal(view_rotation(*np.zeros((4, 3))), np.eye(3))  # degenerate: identity


def test_align_centres_on_spine_of_first_present_frame_and_keeps_zeros():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 6, 25, 2))
    x[:, 0, :, 0] = 0  # person 1 absent in frame 0
    x[:, :, :, 1] = 0  # no person 2
    x[:, 4, 7, 0] = 0  # an untracked joint
    present = (x != 0).any(axis=(0, 2))
    out = align_view(x, present)
    assert np.allclose(out[:, 1, 1, 0], 0)  # spine-middle of frame 1 is the origin
    assert (out[:, :, :, 1] == 0).all() and (out[:, 4, 7, 0] == 0).all()
    assert not np.signbit(out[:, :, :, 1]).any()  # +0.0, not -0.0


def test_fill_null_frames_repeats_the_valid_frames():
    x = np.zeros((3, 7, 25, 2))
    for t in (1, 2, 4):
        x[:, t, :, 0] = t
    present = (x != 0).any(axis=(0, 2))
    filled, filled_present = fill_null_frames(x, present)
    assert filled[0, :, 0, 0].tolist() == [1, 2, 4, 1, 2, 4, 1]
    assert filled_present[:, 0].all() and not filled_present[:, 1].any()
    assert fill_null_frames(np.zeros_like(x), np.zeros_like(present)) is None


def test_resample_is_linear_and_keeps_the_ends():
    x = np.zeros((3, 11, 25, 2))
    x[:, :, :, 0] = np.arange(1, 12)[None, :, None]
    x[:, 5:, :, 1] = 1.0  # person 2 appears in frame 5
    present = (x != 0).any(axis=(0, 2))
    out, out_present = resample(x, present, 21)
    assert np.allclose(out[0, :, 0, 0], np.linspace(1, 11, 21))
    assert set(np.unique(out[..., 1])) <= {0.0, 1.0}  # never halfway to the origin
    assert out_present[-1, 1] and not out_present[0, 1]


def test_long_sequences_are_resampled():
    raw = random_raw(3, frames=50, bodies=1)
    data, length, resampled = process(*select_persons(raw), max_frames=20)
    assert resampled and length == 20 and data.shape == (3, 20, 25, 2)
