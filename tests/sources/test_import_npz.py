"""CTR-GCN-style .npz import and class-name resolution: round trips and every user error."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20, NTU25
from skelcmd.sources import npz as npz_module
from skelcmd.sources.classnames import ntu_class_names, resolve_class_names
from skelcmd.sources.npz import import_npz
from tests.helpers.npy_bytes import npy

T = 6


def _samples(n: int, v: int, m: int, lengths: list[int], seed: int) -> np.ndarray:
    """(n, 3, T, v, m) with non-zero values only in frames < length; frame 1 is all zero."""
    x = np.random.default_rng(seed).normal(size=(n, 3, T, v, m)).astype(np.float32)
    for i, length in enumerate(lengths):
        x[i, :, length:] = 0
        if length > 2:
            x[i, :, 1] = 0  # an inner zero frame does not end the sequence
    if n > 1 and m > 1:
        x[1, :, lengths[1] - 1, :, 0] = 0  # the last frame holds only the second person
    return x


def _flat(x: np.ndarray) -> np.ndarray:
    """(N, C, T, V, M) -> (N, T, M*V*C): per frame person, joint, xyz, written out by hand."""
    n_, c_, t_, v_, m_ = x.shape
    flat = np.zeros((n_, t_, m_ * v_ * c_), x.dtype)
    for n in range(n_):
        for t in range(t_):
            for m in range(m_):
                for v in range(v_):
                    for c in range(c_):
                        flat[n, t, m * v_ * c_ + v * c_ + c] = x[n, c, t, v, m]
    return flat


def _one_hot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1
    return out


def _source(v: int = 25, m: int = 2):
    x_train = _samples(4, v, m, [6, 3, 1, 5], seed=1)
    x_test = _samples(3, v, m, [2, 6, 4], seed=2)
    return x_train, np.array([0, 3, 59, 2]), x_test, np.array([1, 0, 7])


def _assert_split(split, x: np.ndarray, y: np.ndarray, lengths: list[int]) -> None:
    assert split.data.dtype == np.float32
    np.testing.assert_array_equal(split.data, x)
    np.testing.assert_array_equal(split.labels, y)
    np.testing.assert_array_equal(split.lengths, lengths)
    assert split.ids == {} and split.names is None


def _assert_no_output(out: Path) -> None:
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("chunk", [512, 2])
@pytest.mark.parametrize("compressed", [False, True])
def test_flat_one_hot(tmp_path: Path, monkeypatch, chunk: int, compressed: bool) -> None:
    monkeypatch.setattr(npz_module, "CHUNK", chunk)
    x_train, y_train, x_test, y_test = _source()
    save = np.savez_compressed if compressed else np.savez
    save(
        tmp_path / "ntu.npz",
        x_train=_flat(x_train),
        y_train=_one_hot(y_train, 60),
        x_test=_flat(x_test),
        y_test=_one_hot(y_test, 60),
    )
    ds = open_dataset(import_npz(tmp_path / "ntu.npz", tmp_path / "ds", benchmark="xsub"))
    assert ds.layout == NTU25 and ds.benchmark == "xsub" and ds.source == "npz"
    assert ds.class_names == ntu_class_names(60) and ds.class_names[0] == "drink water"
    _assert_split(ds.split("train"), x_train, y_train, [6, 3, 1, 5])
    _assert_split(ds.split("test"), x_test, y_test, [2, 6, 4])


def test_nctvm_int_labels(tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = _source(v=20, m=1)
    np.savez(
        tmp_path / "a.npz",
        x_train=x_train.astype(np.float64),
        y_train=y_train,
        x_test=np.asfortranarray(x_test),  # not C-ordered: read whole, still correct
        y_test=y_test.astype(np.float32),
    )
    ds = open_dataset(import_npz(tmp_path / "a.npz", tmp_path / "ds", layout="kinect20"))
    assert ds.layout == KINECT20
    assert ds.class_names == tuple(f"class_{k}" for k in range(1, 61))  # not NTU joints
    _assert_split(ds.split("train"), x_train, y_train, [6, 3, 1, 5])
    _assert_split(ds.split("test"), x_test, y_test, [2, 6, 4])


def test_class_names_spec(tmp_path: Path) -> None:
    x_train, _, x_test, _ = _source(v=20, m=1)
    kw = dict(x_train=x_train, y_train=np.array([0, 1, 2, 1]), x_test=x_test)
    np.savez(tmp_path / "a.npz", **kw, y_test=np.array([2, 0, 1]))
    names = ["walk", "run", "jump"]
    ds = open_dataset(
        import_npz(tmp_path / "a.npz", tmp_path / "ds", layout="kinect20", class_names=names)
    )
    assert ds.class_names == ("walk", "run", "jump")
    (tmp_path / "names.txt").write_text("walk\n\nrun\njump\n")
    ds = open_dataset(
        import_npz(
            tmp_path / "a.npz",
            tmp_path / "ds",
            layout="kinect20",
            class_names=str(tmp_path / "names.txt"),
            overwrite=True,
        )
    )
    assert ds.class_names == ("walk", "run", "jump")


def test_resolve_class_names() -> None:
    assert resolve_class_names(None, 120, "x") == ntu_class_names(120)
    assert len(ntu_class_names(120)) == 120 and ntu_class_names(60) == ntu_class_names()[:60]
    assert resolve_class_names(None, 60, "x", layout_name="kinect20")[-1] == "class_60"
    assert resolve_class_names("ntu120", 120, "x")[119] == ntu_class_names()[119]
    with pytest.raises(UserError, match=r"the built-in set .ntu60. gives 60 class names.*120"):
        resolve_class_names("ntu60", 120, "the labels of a.npz")
    with pytest.raises(UserError, match="no such file"):
        resolve_class_names("missing.txt", 3, "x")
    with pytest.raises(UserError, match="repeats"):
        resolve_class_names(["a", "b", "a"], 3, "x")
    with pytest.raises(UserError, match="empty class name"):
        resolve_class_names(["a", " "], 2, "x")


def _write(path: Path, **arrays) -> Path:
    x_train, y_train, x_test, y_test = _source()
    base = dict(x_train=_flat(x_train), y_train=y_train, x_test=_flat(x_test), y_test=y_test)
    np.savez(path, **{k: v for k, v in {**base, **arrays}.items() if v is not None})
    return path


def _bad_sample(kind: str) -> np.ndarray:
    x_train = _flat(_source()[0])
    if kind == "zeros":
        x_train[2] = 0
    else:
        x_train[2, 4, 7] = np.inf
    return x_train


@pytest.mark.parametrize(
    ("arrays", "kwargs", "match"),
    [
        ({"y_test": None}, {}, "lacks y_test"),
        ({}, {"x_format": "nctvm"}, "3 dimensions, which is the ntmvc layout.*--x-format ntmvc"),
        ({"x_test": np.zeros((3, 3, T, 25, 2))}, {"x_format": "ntmvc"}, "--x-format nctvm"),
        ({}, {"x_format": "ctv"}, "unknown x format 'ctv'"),
        ({}, {"layout": "kinect20"}, "150 is not a multiple of V\\*3 = 60"),
        ({"x_test": np.zeros((3, 2, T, 25, 2))}, {}, r"expected \(N, 3, T, 25, M\)"),
        ({"x_test": np.zeros((3, T, 25, 6))}, {}, "expected \\(N, T, M\\*V\\*3\\)"),
        ({"y_train": np.array([[0, 1], [1, 1], [1, 0], [0, 1]])}, {}, "row 1 is not one-hot"),
        ({"y_train": np.array([[0, 1], [0.5, 0], [1, 0], [0, 1]])}, {}, "row 1 is not one-hot"),
        ({"y_train": np.array([0, -1, 2, 3])}, {}, "y_train: sample 1 has label -1"),
        ({"y_train": np.array([0, 1.5, 2, 3])}, {}, "sample 1 has label 1.5"),
        ({"y_train": np.array([0, 1, 2])}, {}, "x_train holds 4 samples but y_train 3"),
        (
            {"x_test": np.zeros((0, T, 150)), "y_test": np.zeros(0, int)},
            {},
            "test split is empty",
        ),
        ({"x_train": _bad_sample("zeros")}, {}, "train sample 2 is all zeros"),
        ({"x_train": _bad_sample("nan")}, {}, r"sample train\[2\] holds coordinates that are NaN"),
        (
            {
                "y_train": _one_hot(np.array([0, 3, 59, 2]), 60),
                "y_test": _one_hot(np.array([1, 0, 7]), 9),
            },
            {},
            "one-hot with different widths",
        ),
        ({"y_test": _one_hot(np.array([1, 0, 7]), 9)}, {}, "sample 2 has label 59.*9 classes"),
        ({"y_test": np.array([1, 0, 119])}, {"class_names": "ntu60"}, "60 class names.*120"),
        ({"y_test": np.array([1, 0, 119])}, {"class_names": ["a"] * 3}, "3 class names.*120"),
    ],
)
def test_errors(tmp_path: Path, arrays: dict, kwargs: dict, match: str) -> None:
    path = _write(tmp_path / "a.npz", **arrays)
    with pytest.raises(UserError, match=match) as info:
        import_npz(path, tmp_path / "ds", **kwargs)
    if "unknown x format" not in match:
        assert "a.npz" in str(info.value)
    _assert_no_output(tmp_path / "ds")


def test_missing_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        import_npz(tmp_path / "nope.npz", tmp_path / "ds")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(UserError, match=r"plain\.npy is not a readable \.npz archive"):
        import_npz(tmp_path / "plain.npy", tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


def test_truncated_member(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.npz")
    buffer = io.BytesIO()
    np.save(buffer, np.ones((4, T, 150), np.float32))
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(path, "a") as archive,  # a later same-named member wins on read
    ):
        archive.writestr("x_train.npy", buffer.getvalue()[:-100])
    with pytest.raises(UserError, match=r"x_train is not a readable \.npy member.*truncated"):
        import_npz(path, tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")


def test_output_exists(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.npz")
    (tmp_path / "ds").mkdir()
    with pytest.raises(UserError, match="already exists"):
        import_npz(path, tmp_path / "ds")
    assert import_npz(path, tmp_path / "ds", overwrite=True) == tmp_path / "ds"
    assert open_dataset(tmp_path / "ds").class_names == ntu_class_names(60)


# Issue 22, item 8: a member whose header claims far more than the archive holds is an error
# naming it (the labels were numpy's ArrayMemoryError; the samples a 3.6 TB sparse file).
@pytest.mark.parametrize(
    ("member", "array", "shape"),
    [
        ("y_train", np.zeros(4, np.int64), (10**12,)),
        ("x_train", np.zeros((4, T, 150)), (6, 10**9, 150)),
    ],
)
def test_a_member_claiming_more_than_it_holds(tmp_path: Path, member, array, shape) -> None:
    path = _write(tmp_path / "a.npz")
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(path, "a") as archive,  # a later same-named member wins on read
    ):
        archive.writestr(f"{member}.npy", npy(array, shape=shape))
    with pytest.raises(UserError, match=rf"a\.npz.*{member}.*claims"):
        import_npz(path, tmp_path / "ds")
    _assert_no_output(tmp_path / "ds")
