"""The reference pipeline (`--preprocess reference`) against the literal per-frame, per-joint
version in benchmarks/reference_prepare.py: the 13 real NTU samples, crafted .skeleton and
PKU-MMD files, importer arrays; arrays and frame counts to 1e-5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import reference_prepare as literal
from skelcmd.cli import build_parser
from skelcmd.data.format import open_dataset
from skelcmd.skeleton import KINECT20, NTU25
from skelcmd.sources import normalize
from skelcmd.sources.normalize import normalize_arrays
from skelcmd.sources.normalize_reference import pad_null_frames, rotation_between
from skelcmd.sources.npz import import_npz
from skelcmd.sources.ntu import prepare_ntu
from skelcmd.sources.pku import prepare_pku
from skelcmd.sources.pyskl import import_pyskl
from tests.helpers.data_paths import SHARED_DATA
from tests.helpers.user_error import expect_user_error
from tests.sources.test_import_pyskl import _content, _dump
from tests.sources.test_prepare_ntu import skeleton_text

SAMPLES = SHARED_DATA / "ntu_samples"
REAL = sorted(SAMPLES.glob("*.skeleton")) if SAMPLES.is_dir() else []
NAME = "S001C001P001R001A001"


def written(out: Path) -> dict[str, tuple[np.ndarray, int]]:
    """name -> (data (3, 300, V, M), length) of every sample of a prepared data set."""
    found = {}
    for split in open_dataset(out).splits.values():
        for i, name in enumerate(split.names):
            found[name] = (np.asarray(split.data[i]), int(split.lengths[i]))
    return found


def assert_matches(data: np.ndarray, length: int, expected: np.ndarray, num_frame: int) -> None:
    assert length == min(num_frame, 300)
    assert data.shape == expected.shape
    np.testing.assert_allclose(data, expected, rtol=0, atol=1e-5)
    # absent joints (all three coordinates) exactly zero in both
    assert np.array_equal((data == 0).all(axis=0), (expected == 0).all(axis=0))


@pytest.mark.skipif(not REAL, reason="real NTU samples absent (../shared/data)")
def test_real_samples_match_the_literal_reference(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in REAL:
        (raw / path.name).symlink_to(path)
    prepare_ntu(raw, tmp_path / "out", dataset="ntu60", benchmarks=["xview"], progress=False)
    found = written(tmp_path / "out" / "xview")
    expected, num_frame = literal.ntu_arrays(REAL)
    literal.pre_normalization(expected)
    for i, path in enumerate(REAL):
        assert_matches(*found[path.stem], expected[i], num_frame[i])
    data = open_dataset(tmp_path / "out" / "xview")
    assert data.extra["preprocess"] == "reference" and data.extra["aligned"] is True


def body(seed: int, scale: float = 0.3, shift: float = 0.0) -> np.ndarray:
    """(25, 3) joints of one made-up body around (shift, 0, 3)."""
    return np.random.default_rng(seed).normal(size=(25, 3)) * scale + [shift, 0.0, 3.0]


def moving(seed: int, frames: int, scale: float = 0.3, shift: float = 0.0) -> list[np.ndarray]:
    return [body(seed * 1000 + t, scale, shift) for t in range(frames)]


def _cases() -> dict[str, list]:
    a, b, c = moving(1, 60), moving(2, 60, 0.5, 1.0), moving(3, 60, 0.1, -1.0)
    d, e = moving(4, 60, 0.2, 2.0), moving(5, 60, 0.9, -2.0)
    zero = np.zeros((25, 3))
    rng = np.random.default_rng(8)
    dyadic = [rng.integers(-8, 8, size=(25, 3)) / 8 + [0.0, 0.0, 3.0] for _ in range(30)]
    holed = [j.copy() for j in a]
    for t in range(0, 60, 4):
        holed[t][7] = 0  # an untracked joint: x + y + z = 0, left alone by the centring
    return {
        "first frames empty": [[]] * 5 + [[("1", j)] for j in a[:35]],
        "empty gap": [[("1", j)] for j in a[:15]] + [[]] * 5 + [[("1", j)] for j in a[20:40]],
        "trailing empty frames": [[("1", j)] for j in a[:30]] + [[]] * 6,
        "3 bodies": [[("1", x), ("2", y), ("3", z)] for x, y, z in zip(a, b, c, strict=True)],
        "4 bodies": [
            [("1", x), ("2", y), ("3", z), ("4", w)] for x, y, z, w in zip(a, b, c, d, strict=True)
        ],
        "5 bodies, the fifth most moving": [
            [("1", x), ("2", y), ("3", z), ("4", w), ("5", v)]
            for x, y, z, w, v in zip(a, b, c, d, e, strict=True)
        ],
        "bodies in swapped order": [
            [("1", x), ("2", y)] if t % 2 else [("2", y), ("1", x)]
            for t, (x, y) in enumerate(zip(a, b, strict=True))
        ],
        "second person appears late": [
            [("1", x)] + ([("2", y)] if t >= 25 else [])
            for t, (x, y) in enumerate(zip(a, b, strict=True))
        ],
        "first person leaves early": [
            ([("1", x)] if t < 20 else []) + [("2", y)]
            for t, (x, y) in enumerate(zip(a, b, strict=True))
        ],
        "an all-zero person": [[("1", zero), ("2", x)] for x in a],
        "untracked joints": [[("1", j)] for j in holed],
        "equal energies: the later slot first": [  # dyadic numbers: the energies tie exactly
            [("1", x), ("2", x + np.array([1.0, 0.0, 0.0]))] for x in dyadic
        ],
        "one frame": [[("1", a[0])]],
        "more than 300 frames": [[("1", j)] for j in moving(6, 320)],
    }


CASES = _cases()


@pytest.mark.parametrize("case", CASES)
def test_crafted_skeleton_files_match_the_literal_reference(tmp_path, case):
    raw = tmp_path / "raw"
    raw.mkdir()
    path = raw / f"{NAME}.skeleton"
    path.write_text(skeleton_text(CASES[case]))
    prepare_ntu(raw, tmp_path / "out", dataset="ntu60", benchmarks=["xview"], progress=False)
    expected, num_frame = literal.ntu_arrays([path])
    literal.pre_normalization(expected)
    assert_matches(*written(tmp_path / "out" / "xview")[NAME], expected[0], num_frame[0])


PKU_LABELS = [  # (action, start, end): what each clip exercises
    (1, 0, 50),  # person 1 only
    (2, 45, 70),  # an empty gap, then a second person
    (3, 52, 80),  # first frames empty for both
    (4, 110, 135),  # person 1 leaves while person 2 stays
    (5, 122, 138),  # person 1 all zero
    (6, 128, 160),  # person 1 empty in its first frames
    (7, 100, 450),  # more than 300 frames: cut, not resampled
]


def pku_rows() -> np.ndarray:
    rows = np.zeros((480, 150))
    rng = np.random.default_rng(7)
    one = rng.normal(size=(480, 75)) * 0.3 + [0.0, 0.0, 3.0] * 25
    two = rng.normal(size=(480, 75)) * 0.4 + [1.0, 0.0, 3.0] * 25
    rows[:50, :75] = one[:50]  # 50-59: nobody
    rows[60:120, :75], rows[60:140, 75:] = one[60:120], two[60:140]  # 120-139: person 2
    rows[140:, :75] = one[140:]
    return rows


def test_crafted_pku_clips_match_the_literal_reference(tmp_path):
    for folder in ("skeleton", "label"):
        (tmp_path / folder).mkdir()
    video = "0002-M"
    np.savetxt(tmp_path / "skeleton" / f"{video}.txt", pku_rows(), fmt="%.6f")
    labels = "".join(f"{a},{s},{e},1\n" for a, s, e in PKU_LABELS)
    (tmp_path / "label" / f"{video}.txt").write_text(labels)
    split = tmp_path / "cross-view.txt"
    split.write_text(f"Training videos: \n{video}\nValidataion videos: \n\n")
    summary = prepare_pku(
        tmp_path / "skeleton", tmp_path / "label", tmp_path / "out", split_file=split,
        progress=False,
    )  # fmt: skip
    found = written(tmp_path / "out" / "xview")
    clips = [(tmp_path / "skeleton" / f"{video}.txt", tmp_path / "label" / f"{video}.txt", i)
             for i in range(len(PKU_LABELS))]  # fmt: skip
    expected, num_frame = literal.pku_arrays(clips)
    literal.pre_normalization(expected)
    assert num_frame.tolist() == [e - s for _, s, e in PKU_LABELS]
    for i in range(len(PKU_LABELS)):
        assert_matches(*found[f"{video}_{i + 1:02d}"], expected[i], num_frame[i])
    meta = open_dataset(tmp_path / "out" / "xview").extra
    assert meta["num_cut"] == 1 and "cut to their first 300 frames" in summary.format()


@pytest.mark.parametrize(
    ("layout", "persons"), [(NTU25, 2), (KINECT20, 1)], ids=["ntu25", "kinect20"]
)
def test_importer_arrays_match_the_literal_reference(layout, persons):
    rng = np.random.default_rng(3)
    n, t, v = 6, 40, layout.num_joints
    data = (rng.normal(size=(n, 3, t, v, persons)) * 0.3 + [[[[0]]], [[[0]]], [[[3]]]]).astype(
        np.float32
    )
    lengths = np.array([40, 30, 25, 12, 40, 1])
    for i, length in enumerate(lengths):
        data[i, :, length:] = 0
    data[2, :, :4] = 0  # first frames empty
    data[3, :, 5:8] = 0  # a gap
    if persons == 2:
        data[4, :, :10, :, 1] = 0  # person 2 appears late
        data[5, :, :, :, 0] = 0  # person 1 absent
    out = normalize_arrays(data, lengths, layout, "reference")
    frame = layout.body_frame
    expected = literal.pre_normalization(data.copy(), frame.origin, frame.up, frame.across)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_pad_null_frames_moves_leading_empty_frames_and_repeats_the_rest():
    x = np.zeros((2, 7, 25, 3))
    for t, value in ((1, 1.0), (2, 2.0), (4, 4.0)):
        x[0, t] = value  # person 1: empty, 1, 2, empty, 4, empty, empty
    x[1, 0], x[1, 2] = 5.0, 6.0  # person 2: 5, empty (a gap), 6, then empty
    out = pad_null_frames(x)
    assert out[0, :, 0, 0].tolist() == [1, 2, 4, 1, 2, 4, 1]
    assert out[1, :, 0, 0].tolist() == [5, 0, 6, 5, 0, 6, 5]  # the gap is repeated too


def test_rotation_matches_the_euler_rodrigues_literal():
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.normal(size=3)
        for target in ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]):
            r = rotation_between(v, np.array(target))
            expected = literal.quaternion_rotation(np.cross(v, target), literal.angle_to(v, target))
            np.testing.assert_allclose(r, expected, atol=1e-12)
            assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
            assert np.allclose(r @ v, np.linalg.norm(v) * np.array(target))  # v onto target
    z = np.array([0.0, 0.0, 1.0])
    for degenerate in (np.zeros(3), 2 * z, -z, np.array([1e-8, 0.0, 1.0])):
        assert np.array_equal(rotation_between(degenerate, z), np.eye(3))


def importer_arrays(n: int, t: int = 30, v: int = 25, seed: int = 0) -> np.ndarray:
    """(n, 3, t, v, 2) float32 samples of decreasing length, zero-padded; person 2 late."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 3, t, v, 2)) * 0.3).astype(np.float32)
    x[:, 2] += 3.0
    for i in range(n):
        x[i, :, t - 3 * i :] = 0
    x[:, :, :5, :, 1] = 0
    return x


def test_npz_import_offers_the_pipelines(tmp_path):
    x_train, x_test = importer_arrays(3), importer_arrays(2, seed=1)
    archive = tmp_path / "a.npz"
    np.savez(archive, x_train=x_train, y_train=np.arange(3), x_test=x_test, y_test=np.arange(2))
    plain = open_dataset(import_npz(archive, tmp_path / "none"))
    assert plain.extra["preprocess"] == "none" and plain.extra["aligned"] is False
    np.testing.assert_array_equal(plain.split("train").data, x_train)  # the default: as given
    aligned = open_dataset(import_npz(archive, tmp_path / "ref", preprocess="reference"))
    assert aligned.extra["preprocess"] == "reference" and aligned.extra["aligned"] is True
    for name, x in (("train", x_train), ("test", x_test)):
        expected = literal.pre_normalization(x.copy())
        np.testing.assert_allclose(aligned.split(name).data, expected, rtol=0, atol=1e-5)


def test_pyskl_import_normalises_over_the_longest_sample(tmp_path):
    path = _dump(tmp_path / "a.pkl", _content())
    ds = open_dataset(import_pyskl(path, tmp_path / "ds", split="xsub", preprocess="reference"))
    plain = open_dataset(import_pyskl(path, tmp_path / "raw", split="xsub"))
    for name in ("train", "test"):
        raw = np.array(plain.split(name).data)  # zero-padded to T_max
        expected = literal.pre_normalization(raw)
        np.testing.assert_allclose(ds.split(name).data, expected, rtol=0, atol=1e-5)


def test_aligning_a_layout_without_body_frame_is_a_user_error(tmp_path):
    layout = tmp_path / "stick.yaml"
    layout.write_text("name: stick\njoints: [a, b, c, d]\nparents: [a, a, b, b]\n")
    x = importer_arrays(2, v=4)
    archive = tmp_path / "a.npz"
    np.savez(archive, x_train=x, y_train=np.arange(2), x_test=x, y_test=np.arange(2))
    args = ["import", "npz", archive, tmp_path / "out", "--layout", layout]
    expect_user_error([*args, "--preprocess", "reference"], names=["stick", "body"], tmp=tmp_path)


def test_cli_choices_are_the_pipelines():
    def preprocess_choices(*command: str) -> tuple[str, ...]:
        parser = build_parser()
        for word in command:
            parser = next(a for a in parser._actions if a.dest in ("command", "kind")).choices[word]
        return tuple(next(a for a in parser._actions if a.dest == "preprocess").choices)

    assert preprocess_choices("prepare", "ntu60") == normalize.PREPROCESS
    assert preprocess_choices("prepare", "pku-mmd") == normalize.PREPROCESS
    assert preprocess_choices("import", "npz") == normalize.IMPORT_PREPROCESS
    assert preprocess_choices("synth") == normalize.IMPORT_PREPROCESS
