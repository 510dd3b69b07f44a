"""UTD-MHAD import: round trip on tiny .mat files, every user error, and the real release."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from benchmarks import reference_prepare as literal
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20
from skelcmd.sources.utd_mhad import UTD_MHAD_CLASSES, import_utd_mhad
from tests.helpers.data_paths import SHARED_DATA

REAL = SHARED_DATA / "utd_mhad"

# (action, subject, trial, frames): two train subjects (1, 3), two test subjects (2, 4).
RECORDINGS = [(1, 1, 1, 5), (27, 3, 2, 7), (2, 1, 4, 3), (5, 2, 1, 6), (1, 4, 3, 4)]


def _skel(action: int, subject: int, trial: int, frames: int) -> np.ndarray:
    """A distinct (20, 3, T) float64 array per recording, as in the raw files."""
    rng = np.random.default_rng(action * 100 + subject * 10 + trial)
    return rng.normal(size=(20, 3, frames))


def _write_raw(folder: Path, recordings=RECORDINGS) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Skeleton_joint_order.txt").write_text("1 head\n2 shoulder center\n")
    skels = {}
    for a, s, t, frames in recordings:
        skels[f"a{a}_s{s}_t{t}"] = skel = _skel(a, s, t, frames)
        scipy.io.savemat(folder / f"a{a}_s{s}_t{t}_skeleton.mat", {"d_skel": skel})
    return skels


def _assert_no_output(out: Path) -> None:
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if ".tmp-" in p.name]


def test_round_trip(tmp_path: Path) -> None:
    skels = _write_raw(tmp_path / "raw")
    out = import_utd_mhad(tmp_path / "raw", tmp_path / "ds", preprocess="none")
    assert out == tmp_path / "ds"
    ds = open_dataset(out)
    assert ds.extra["aligned"] is False and ds.extra["preprocess"] == "none"
    assert ds.layout == KINECT20
    assert ds.class_names == UTD_MHAD_CLASSES and len(ds.class_names) == 27
    assert ds.class_names[0] == "swipe left" and ds.class_names[26] == "squat"
    assert (ds.source, ds.benchmark) == ("utd-mhad", "xsub")
    assert set(ds.splits) == {"train", "test"}
    expected_names = {
        "train": ["a1_s1_t1", "a2_s1_t4", "a27_s3_t2"],
        "test": ["a1_s4_t3", "a5_s2_t1"],
    }
    for split_name, names in expected_names.items():
        split = ds.split(split_name)
        assert split.names == names
        assert split.data.shape == (len(names), 3, 7, 20, 1)  # T_max over both splits
        assert split.data.dtype == np.float32
        for i, name in enumerate(names):
            a, s, t = (int(part[1:]) for part in name.split("_"))
            skel = skels[name]
            frames = skel.shape[2]
            assert split.labels[i] == a - 1
            assert split.ids["subjects"][i] == s
            assert split.ids["replications"][i] == t
            assert split.lengths[i] == frames
            for c in range(3):
                for f in range(7):
                    for v in range(20):
                        want = np.float32(skel[v, c, f]) if f < frames else 0.0
                        assert split.data[i, c, f, v, 0] == want
        assert sorted(split.ids) == ["replications", "subjects"]


def test_output_exists_without_overwrite(tmp_path: Path) -> None:
    _write_raw(tmp_path / "raw")
    (tmp_path / "ds").mkdir()
    with pytest.raises(UserError, match="already exists"):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")
    import_utd_mhad(tmp_path / "raw", tmp_path / "ds", overwrite=True)
    assert len(open_dataset(tmp_path / "ds").split("train")) == 3


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        import_utd_mhad(tmp_path / "nope", tmp_path / "ds")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no aA_sS_tT_skeleton\.mat"):
        import_utd_mhad(tmp_path / "empty", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


def test_stray_mat_files_are_listed(tmp_path: Path) -> None:
    _write_raw(tmp_path / "raw")
    (tmp_path / "raw" / "notes.txt").write_text("ignored")
    scipy.io.savemat(tmp_path / "raw" / "a1_s1_t1_depth.mat", {"d_depth": np.zeros(3)})
    scipy.io.savemat(tmp_path / "raw" / "extra.mat", {"d_skel": np.zeros((20, 3, 2))})
    with pytest.raises(UserError, match=r"a1_s1_t1_depth\.mat, extra\.mat"):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"skeleton": np.zeros((20, 3, 4))}, "no variable 'd_skel'.*skeleton"),
        ({"d_skel": np.zeros((25, 3, 4))}, r"shape \(25, 3, 4\)"),
        ({"d_skel": np.zeros((20, 3))}, r"shape \(20, 3\)"),
        ({"d_skel": np.full((20, 3, 4), np.nan)}, "NaN"),
    ],
)
def test_bad_file_content(tmp_path: Path, content: dict, match: str) -> None:
    _write_raw(tmp_path / "raw")
    scipy.io.savemat(tmp_path / "raw" / "a3_s5_t1_skeleton.mat", content)
    with pytest.raises(UserError, match=f"a3_s5_t1_skeleton.mat.*{match}"):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


def test_unreadable_mat(tmp_path: Path) -> None:
    _write_raw(tmp_path / "raw")
    (tmp_path / "raw" / "a3_s5_t1_skeleton.mat").write_bytes(b"not matlab at all")
    with pytest.raises(UserError, match=r"a3_s5_t1_skeleton\.mat is not a readable MATLAB"):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


@pytest.mark.parametrize(
    ("recording", "match"),
    [((28, 1, 1, 3), "action 28 is outside 1..27"), ((1, 9, 1, 3), "subject 9 is outside")],
)
def test_ids_out_of_range(tmp_path: Path, recording: tuple, match: str) -> None:
    _write_raw(tmp_path / "raw", [*RECORDINGS, recording])
    with pytest.raises(UserError, match=match):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


def test_duplicate_recording(tmp_path: Path) -> None:
    _write_raw(tmp_path / "raw")
    scipy.io.savemat(tmp_path / "raw" / "a01_s1_t1_skeleton.mat", {"d_skel": np.ones((20, 3, 2))})
    with pytest.raises(UserError, match="both recording a1_s1_t1"):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")


def test_empty_split(tmp_path: Path) -> None:
    _write_raw(tmp_path / "raw", [r for r in RECORDINGS if r[1] % 2 == 1])
    with pytest.raises(UserError, match="'test' split would be empty"):
        import_utd_mhad(tmp_path / "raw", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


def test_real_release(tmp_path: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent")
    start = time.perf_counter()
    ds = open_dataset(import_utd_mhad(REAL, tmp_path / "utd", align=False))
    print(f"real UTD-MHAD import + open: {time.perf_counter() - start:.2f} s")
    train, test = ds.split("train"), ds.split("test")
    assert len(train) + len(test) == 861
    assert set(np.unique(train.ids["subjects"])) == {1, 3, 5, 7}
    assert set(np.unique(test.ids["subjects"])) == {2, 4, 6, 8}
    assert ds.num_classes == 27 and ds.layout == KINECT20
    labels = np.concatenate([train.labels, test.labels])
    assert set(np.unique(labels)) == set(range(27))
    lengths = np.concatenate([train.lengths, test.lengths])
    assert (lengths.min(), lengths.max()) == (41, 125)
    assert train.data.shape[2:] == (125, 20, 1)
    raw = scipy.io.loadmat(REAL / "a1_s1_t1_skeleton.mat")["d_skel"]
    index = train.names.index("a1_s1_t1")
    frames = raw.shape[2]
    assert train.lengths[index] == frames
    np.testing.assert_array_equal(
        train.data[index, :, :frames, :, 0], raw.transpose(1, 2, 0).astype(np.float32)
    )


def _plain_alignment(skel: np.ndarray) -> np.ndarray:
    """(20, 3, T) raw -> (3, T, 20) aligned, written out joint by joint and frame by frame: the
    body frame of frame 0 (z: hip centre -> spine, x: left -> right shoulder without its z part,
    y = z x x), origin at the spine joint of frame 0."""
    hip, spine, left, right = (KINECT20.index(j) for j in BODY_JOINTS)
    first = skel[:, :, 0]
    z = first[spine] - first[hip]
    z = z / np.linalg.norm(z)
    x = first[right] - first[left]
    x = x - np.dot(x, z) * z
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    out = np.zeros((3, skel.shape[2], 20))
    for t in range(skel.shape[2]):
        for v in range(20):
            d = skel[v, :, t] - first[spine]
            out[:, t, v] = [np.dot(x, d), np.dot(y, d), np.dot(z, d)]
    return out


BODY_JOINTS = ("hip_center", "spine", "shoulder_left", "shoulder_right")


def test_tracked_import_aligns_each_recording_to_its_first_frame(tmp_path: Path) -> None:
    skels = _write_raw(tmp_path / "raw")
    out = import_utd_mhad(tmp_path / "raw", tmp_path / "ds", preprocess="tracked-first-frame")
    ds = open_dataset(out)
    assert ds.extra["aligned"] is True and ds.extra["preprocess"] == "tracked-first-frame"
    for split in (ds.split("train"), ds.split("test")):
        for i, name in enumerate(split.names):
            frames = split.lengths[i]
            got = split.data[i, :, :frames, :, 0]
            np.testing.assert_allclose(got, _plain_alignment(skels[name]), atol=1e-5)
            assert (split.data[i, :, frames:] == 0).all()


def _literal_reference(skel: np.ndarray, frames: int) -> np.ndarray:
    """(20, 3, T) raw -> (3, frames, 20): benchmarks/reference_prepare.py's loops, with
    kinect20's joints (origin spine, hip centre -> spine, shoulders)."""
    data = np.zeros((1, 3, frames, 20, 1), np.float32)
    data[0, :, : skel.shape[2], :, 0] = skel.transpose(1, 2, 0)
    frame = KINECT20.body_frame
    return literal.pre_normalization(data, frame.origin, frame.up, frame.across)[0, ..., 0]


def test_default_import_is_the_reference_pipeline(tmp_path: Path) -> None:
    skels = _write_raw(tmp_path / "raw")
    ds = open_dataset(import_utd_mhad(tmp_path / "raw", tmp_path / "ds"))
    assert ds.extra["aligned"] is True and ds.extra["preprocess"] == "reference"
    for split in (ds.split("train"), ds.split("test")):
        for i, name in enumerate(split.names):
            expected = _literal_reference(skels[name], split.data.shape[2])
            np.testing.assert_allclose(split.data[i, ..., 0], expected, atol=1e-5)


def test_real_release_aligned_stands_upright(tmp_path: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent")
    ds = open_dataset(import_utd_mhad(REAL, tmp_path / "utd"))
    train = ds.split("train")
    index = train.names.index("a1_s1_t1")
    raw = scipy.io.loadmat(REAL / "a1_s1_t1_skeleton.mat")["d_skel"]
    expected = _literal_reference(raw, train.data.shape[2])
    np.testing.assert_allclose(train.data[index, ..., 0], expected, atol=1e-5)
    spine = train.data[:, :, :, KINECT20.index("spine"), 0]  # (N, 3, T)
    assert (spine == 0).all()  # the origin, in every frame
    first = train.data[:, :, 0, :, 0]  # (N, 3, 20) first frames
    head_above_hips = (
        first[:, 2, KINECT20.index("head")] > first[:, 2, KINECT20.index("hip_center")]
    )
    assert head_above_hips.all()
