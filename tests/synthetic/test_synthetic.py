import json
import time

import numpy as np
import pytest

from skelcmd.errors import UserError
from skelcmd.skeleton import NTU25
from skelcmd.synthetic.generator import (
    CLASS_NAMES,
    TWO_PERSON_CLASSES,
    XSUB_TRAIN_SUBJECTS,
    XVIEW_TRAIN_VIEWS,
    generate,
    raw_knn_accuracy,
    write_synthetic,
)
from tests.helpers.user_error import expect_user_error

PARENTS = np.array(NTU25.parents)
SHOULDER_LEFT, SHOULDER_RIGHT = NTU25.index("shoulder_left"), NTU25.index("shoulder_right")


@pytest.fixture(scope="module")
def small():
    return generate(240, seed=3)


@pytest.fixture(scope="module")
def clean():
    """No sensor noise, no dropped joints: the pure forward-kinematics output."""
    return generate(480, seed=5, noise=0.0, drop_prob=0.0)


def bone_lengths(data: np.ndarray) -> np.ndarray:
    """(N, 3, T, 25, M) -> (N, T, 25, M) length of each joint's bone to its parent."""
    return np.linalg.norm(data - data[:, :, :, PARENTS], axis=1)


def slow_knn_accuracy(train_x, train_y, test_x, test_y) -> float:
    """The obvious 1-nearest neighbour: one distance at a time."""
    correct = 0
    for x, y in zip(test_x, test_y, strict=True):
        best, best_label = np.inf, None
        for xt, yt in zip(train_x, train_y, strict=True):
            d = np.sum((x.astype(np.float64) - xt.astype(np.float64)) ** 2)
            if d < best:
                best, best_label = d, yt
        correct += best_label == y
    return correct / len(test_y)


def test_shapes_and_dtypes(small):
    n = 240
    assert small.data.shape == (n, 3, 100, 25, 2) and small.data.dtype == np.float32
    assert small.lengths.shape == (n,) and small.lengths.dtype == np.int32
    assert small.labels.shape == (n,) and small.labels.dtype == np.int64
    assert small.subjects.dtype == np.int32 and small.views.dtype == np.int32
    assert small.subjects.min() == 1 and small.views.min() == 1 and small.views.max() == 3
    assert len(small.names) == n and len(set(small.names)) == n
    assert small.names[0][0] == "S" and len(small.names[0]) == len("S003V2R005A012")
    assert small.class_names == CLASS_NAMES
    other = generate(30, seed=1, max_frames=60, num_subjects=4, num_views=2)
    assert other.data.shape == (30, 3, 60, 25, 2) and other.lengths.max() <= 60
    assert other.subjects.max() <= 4 and set(other.views) <= {1, 2}


def test_deterministic(small):
    again = generate(240, seed=3)
    assert np.array_equal(small.data, again.data)
    assert np.array_equal(small.lengths, again.lengths) and small.names == again.names
    assert not np.array_equal(small.data, generate(240, seed=4).data)


def test_padding_is_zero_and_lengths_vary(small):
    frames = np.arange(small.data.shape[2])
    beyond = frames[None, :] >= small.lengths[:, None]  # (N, T)
    assert not np.any(small.data.transpose(0, 2, 1, 3, 4)[beyond])
    valid_person1 = np.abs(small.data[..., 0]).sum(axis=(1, 3))  # (N, T)
    assert np.all(valid_person1[~beyond] > 0)
    assert len(np.unique(small.lengths)) > 15
    assert small.lengths.min() >= 40 and small.lengths.max() <= 100


def test_classes_balanced_and_persons(small):
    assert len(CLASS_NAMES) >= 20 and len(set(CLASS_NAMES)) == len(CLASS_NAMES)
    assert len(TWO_PERSON_CLASSES) >= 3 and TWO_PERSON_CLASSES <= set(range(len(CLASS_NAMES)))
    counts = np.bincount(small.labels, minlength=len(CLASS_NAMES))
    assert counts.min() > 0 and counts.max() - counts.min() <= 1
    second = np.abs(small.data[..., 1]).sum(axis=(1, 2, 3)) > 0
    two = np.isin(small.labels, list(TWO_PERSON_CLASSES))
    assert np.all(second[two]) and not np.any(second[~two])


def test_splits_cover_every_class(small):
    for train in (
        np.isin(small.subjects, XSUB_TRAIN_SUBJECTS),
        np.isin(small.views, XVIEW_TRAIN_VIEWS),
    ):
        assert set(small.labels[train]) == set(range(len(CLASS_NAMES)))
        assert set(small.labels[~train]) == set(range(len(CLASS_NAMES)))


def test_bone_lengths_constant_within_sample_and_differ_between_subjects(clean):
    lengths = bone_lengths(clean.data)  # (N, T, 25, 2)
    per_subject = {}
    for i in range(len(clean.labels)):
        persons = 2 if clean.labels[i] in TWO_PERSON_CLASSES else 1
        valid = lengths[i, : clean.lengths[i], :, :persons]
        assert np.abs(valid - valid[:1]).max() < 1e-4, clean.names[i]
        per_subject.setdefault(int(clean.subjects[i]), valid[0, :, 0])
    # one body per subject: the same bones in all its samples, different from other subjects
    for i in range(len(clean.labels)):
        assert np.allclose(lengths[i, 0, :, 0], per_subject[int(clean.subjects[i])], atol=1e-4)
    bodies = np.stack(list(per_subject.values()))
    for a in range(len(bodies)):
        for b in range(a):
            assert np.abs(bodies[a] - bodies[b]).max() > 1e-3


def test_noise_and_dropout(small, clean):
    dropped = (small.data == 0).all(axis=1)[..., 0]  # (N, T, V) joints at exactly 0
    valid = np.arange(100)[None, :, None] < small.lengths[:, None, None]
    rate = dropped[np.broadcast_to(valid, dropped.shape)].mean()
    assert 0.0005 < rate < 0.01
    spread = bone_lengths(small.data[:20, :, :40])[..., :20, 0].std(axis=1)  # over time
    assert spread.mean() > 0.003  # noisy bones; `clean` is exact (tested above)


def test_coordinates_are_metres_y_up(clean):
    first = clean.data[:, :, 0, :, 0]  # (N, 3, 25) frame 0, person 1
    head, feet = first[:, 1, NTU25.index("head")], first[:, 1, NTU25.index("foot_left")]
    assert np.all(head - feet > 1.2) and np.all(head - feet < 2.1)
    spine_mid = first[:, :, NTU25.index("spine_mid")]
    assert np.abs(spine_mid).max() < 1.0  # person 1 near the origin
    two = np.flatnonzero(np.isin(clean.labels, list(TWO_PERSON_CLASSES)))
    root = NTU25.index("spine_shoulder")
    apart = np.linalg.norm(clean.data[two, :, 0, root, 0] - clean.data[two, :, 0, root, 1], axis=1)
    assert np.all(apart > 0.2) and np.all(apart < 1.5) and np.median(apart) > 0.6


def test_views_rotate_the_scene(clean):
    single = ~np.isin(clean.labels, list(TWO_PERSON_CLASSES))
    shoulders = clean.data[:, :, 0, SHOULDER_RIGHT, 0] - clean.data[:, :, 0, SHOULDER_LEFT, 0]
    yaw = np.arctan2(shoulders[:, 2], shoulders[:, 0])  # about the vertical axis
    mean = {
        v: np.degrees(np.angle(np.exp(1j * yaw[single & (clean.views == v)]).mean()))
        for v in (1, 2, 3)
    }
    assert abs(mean[1]) < 15
    assert 30 < abs(mean[2] - mean[1]) < 60 and 30 < abs(mean[3] - mean[1]) < 60
    assert np.sign(mean[2] - mean[1]) != np.sign(mean[3] - mean[1])


def test_batched_knn_matches_slow_loop(small):
    train = np.isin(small.subjects, XSUB_TRAIN_SUBJECTS)
    tr, te = np.flatnonzero(train)[:70], np.flatnonzero(~train)[:50]
    x, y = small.data, small.labels
    fast = raw_knn_accuracy(x[tr], y[tr], x[te], y[te])
    assert fast == pytest.approx(slow_knn_accuracy(x[tr], y[tr], x[te], y[te]))


def test_raw_knn_leaves_room_for_learning():
    ds = generate(1000, seed=0)
    train = np.isin(ds.subjects, XSUB_TRAIN_SUBJECTS)
    x, y = ds.data, ds.labels
    accuracy = raw_knn_accuracy(x[train], y[train], x[~train], y[~train])
    assert 0.15 < accuracy < 0.6


def test_generation_is_fast():
    start = time.perf_counter()
    generate(2000, seed=1)
    assert time.perf_counter() - start < 10.0


def test_bad_arguments():
    with pytest.raises(UserError):
        generate(0)
    with pytest.raises(UserError):
        generate(10, max_frames=5)
    with pytest.raises(UserError):
        generate(10, drop_prob=1.5)


def test_write_synthetic_splits_by_subject_and_view(tmp_path):
    from skelcmd.data.format import open_dataset
    from skelcmd.synthetic.generator import XSUB_TRAIN_SUBJECTS, XVIEW_TRAIN_VIEWS, write_synthetic

    paths = write_synthetic(tmp_path / "synth", num_samples=120, seed=3, preprocess="none")
    assert [p.name for p in paths] == ["xsub", "xview"]
    expected = generate(120, seed=3)
    for path, key, train_ids in (
        (paths[0], "subjects", XSUB_TRAIN_SUBJECTS),
        (paths[1], "views", XVIEW_TRAIN_VIEWS),
    ):
        ds = open_dataset(path)
        assert ds.benchmark == path.name and ds.source == "synthetic"
        assert ds.class_names == expected.class_names and ds.layout.name == "ntu25"
        train, test = ds.split("train"), ds.split("test")
        assert len(train) + len(test) == 120
        assert np.isin(train.ids[key], train_ids).all()
        assert not np.isin(test.ids[key], train_ids).any()
        # every sample lands unchanged in exactly one split, in generation order
        by_name = {name: i for i, name in enumerate(expected.names)}
        for split in (train, test):
            index = [by_name[name] for name in split.names]
            assert index == sorted(index)
            np.testing.assert_array_equal(split.data, expected.data[index])
            np.testing.assert_array_equal(split.lengths, expected.lengths[index])
            np.testing.assert_array_equal(split.labels, expected.labels[index])


def test_write_synthetic_prepares_like_ntu_by_default(tmp_path):
    """The default is the reference pipeline of `prepare ntu60`: person 1's spine-middle
    subtracted in every frame (0 there, in every valid frame), the padding the repeated
    sequence; the same numbers as `normalize_arrays` (tested against the literal reference)."""
    from skelcmd.data.format import open_dataset
    from skelcmd.skeleton import NTU25
    from skelcmd.sources.normalize import normalize_arrays
    from skelcmd.synthetic.generator import write_synthetic

    (path,) = write_synthetic(tmp_path / "synth", num_samples=60, seed=4, benchmarks=["xsub"])
    ds = open_dataset(path)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["extra"]["preprocess"] == "reference" and meta["extra"]["aligned"]
    raw = generate(60, seed=4)
    expected = normalize_arrays(raw.data, raw.lengths, NTU25, "reference")
    by_name = {name: i for i, name in enumerate(raw.names)}
    spine = NTU25.joint_names.index("spine_mid")
    for split in (ds.split("train"), ds.split("test")):
        index = [by_name[name] for name in split.names]
        np.testing.assert_array_equal(split.data, expected[index])
        for sample, length in zip(split.data, split.lengths, strict=True):
            assert np.abs(sample[:, :length, spine, 0]).max() < 1e-6
            if length < sample.shape[1]:  # padded with the sequence again, not zeros
                np.testing.assert_allclose(sample[:, length], sample[:, 0], atol=1e-6)
    with pytest.raises(UserError, match="unknown --preprocess"):
        write_synthetic(tmp_path / "other", num_samples=60, preprocess="camera")
    # --no-align: the reference's padding only, the camera coordinates kept
    (path,) = write_synthetic(
        tmp_path / "camera", num_samples=60, seed=4, benchmarks=["xsub"], align=False
    )
    train = open_dataset(path).split("train")
    for name, sample, length in zip(train.names, train.data, train.lengths, strict=True):
        np.testing.assert_array_equal(sample[:, :length], raw.data[by_name[name]][:, :length])


# 14. synth with fewer samples than one per class and one more: a clear error, nothing left.
def test_synth_with_too_few_samples(tmp_path):
    result = expect_user_error(["synth", tmp_path / "out", "--samples", "5"], tmp=tmp_path)
    assert "at least 25 samples" in result.stderr
    for samples in (1, 24):
        with pytest.raises(UserError, match="test split would be empty"):
            write_synthetic(tmp_path / "out", num_samples=samples)
    assert list(tmp_path.iterdir()) == []
    assert [p.name for p in write_synthetic(tmp_path / "out", num_samples=25)] == ["xsub", "xview"]


# Issue 22, item 8: a sample count the machine's memory cannot hold is refused before anything
# is allocated (it was numpy's ArrayMemoryError).
def test_too_many_samples_for_the_memory_are_refused(tmp_path):
    result = expect_user_error(
        ["synth", tmp_path / "out", "--samples", "99999999999999"], tmp=tmp_path
    )
    assert "99,999,999,999,999 samples need about" in result.stderr
    assert "GB of memory" in result.stderr and "--samples" in result.stderr
