"""Issue 13, inputs: what an importer refuses before writing anything, and every input it drops
is reported (numbers: the issue's items; options and messages are in test_safety_options.py)."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from skelcmd.data.format import open_dataset
from skelcmd.data.values import check_samples, to_float32
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError
from skelcmd.skeleton import NTU25
from skelcmd.sources.npz import import_npz
from skelcmd.sources.ntu import prepare_ntu
from skelcmd.sources.pku import prepare_pku
from skelcmd.sources.pyskl import import_pyskl
from skelcmd.sources.utd_mhad import import_utd_mhad
from skelcmd.synthetic.generator import write_synthetic
from test_prepare_ntu import made_up, skeleton_text
from test_prepare_pku import rows_of
from user_error import expect_user_error

HUGE = 1e300  # finite as float64, inf as float32


def npy(array: np.ndarray, shape: tuple | None = None) -> bytes:
    """`array` as .npy bytes; `shape` rewrites the shape in the header (a damaged file)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    raw = buffer.getvalue()
    if shape is not None:
        end = raw.index(b"\n")
        header = raw[:end].replace(repr(array.shape).encode(), repr(shape).encode())
        raw = header.ljust(end) + raw[end:]
    return raw


def write_npz(path: Path, **members: np.ndarray | bytes) -> Path:
    """x_train, y_train, x_test, y_test (4 samples each, NTU-25, T = 6) unless given."""
    x = np.random.default_rng(0).normal(size=(4, 6, 150))
    arrays = {"x_train": x, "y_train": np.arange(4), "x_test": x, "y_test": np.arange(4)}
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in {**arrays, **members}.items():
            archive.writestr(f"{key}.npy", value if isinstance(value, bytes) else npy(value))
    return path


def write_pyskl(path: Path, labels=(0, 1), keypoints=None, split=None) -> Path:
    kp = np.random.default_rng(1).normal(size=(1, 5, 25, 3))
    anns = [
        {"frame_dir": name, "label": label, "total_frames": 5, "keypoint": kp}
        for name, label in zip("ab", labels, strict=True)
    ]
    for name, value in (keypoints or {}).items():
        anns["ab".index(name)]["keypoint"] = value
    split = split or {"xsub_train": ["a"], "xsub_val": ["b"]}
    path.write_bytes(pickle.dumps({"split": split, "annotations": anns}))
    return path


def write_pku(root: Path, rows: dict[str, np.ndarray], labels: dict[str, str], split: str):
    for folder in ("skeleton", "label"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for video, values in rows.items():
        np.savetxt(root / "skeleton" / f"{video}.txt", values, fmt="%.6g")
        (root / "label" / f"{video}.txt").write_text(labels[video])
    (root / "cross-subject.txt").write_text(split)
    return root


def pku(root: Path, **kw):
    files = root / "skeleton", root / "label", root / "out"
    return prepare_pku(*files, split_file=root / "cross-subject.txt", progress=False, **kw)


def huge_npz(root: Path) -> None:
    import_npz(write_npz(root / "a.npz", x_train=np.full((4, 6, 150), HUGE)), root / "out")


def huge_pyskl(root: Path) -> None:
    file = write_pyskl(root / "a.pkl", keypoints={"b": np.full((1, 5, 25, 3), HUGE)})
    import_pyskl(file, root / "out", split="xsub")


def huge_utd(root: Path) -> None:
    (root / "utd").mkdir()
    for subject in range(1, 9):
        skel = np.random.default_rng(subject).normal(size=(20, 3, 8))
        skel[3, 1, 5] *= HUGE if subject == 2 else 1
        scipy.io.savemat(root / "utd" / f"a1_s{subject}_t1_skeleton.mat", {"d_skel": skel})
    import_utd_mhad(root / "utd", root / "out")


def huge_ntu(root: Path) -> None:
    frames = made_up()
    frames[2][0][1][3, 1] = HUGE
    (root / "ntu").mkdir()
    (root / "ntu" / "S001C001P002R001A001.skeleton").write_text(skeleton_text(frames))
    prepare_ntu(root / "ntu", root / "out", dataset="ntu60", progress=False)


def huge_pku(root: Path) -> None:
    rows = {"0002-L": rows_of(0), "0003-L": rows_of(1)}
    rows["0002-L"][20, 7] = HUGE
    split = "Training videos: \n0002-L\nValidataion videos: \n0003-L\n"
    pku(write_pku(root, rows, dict.fromkeys(rows, "1,10,49,1\n"), split))


HUGE_IMPORTS = {  # a source with one coordinate of 1e300: (import it into root/out, the sample)
    "npz": (huge_npz, "train[0]"),
    "pyskl": (huge_pyskl, "sample b"),
    "utd-mhad": (huge_utd, "a1_s2_t1"),
    "ntu": (huge_ntu, "S001C001P002R001A001"),
    "pku": (huge_pku, "0002-L_01"),
}


# 4. Coordinates that overflow float32 are refused after the cast, naming the sample.
@pytest.mark.parametrize("source", list(HUGE_IMPORTS))
def test_coordinates_beyond_float32_are_refused_naming_the_sample(source, tmp_path):
    run, sample = HUGE_IMPORTS[source]
    with pytest.raises(UserError, match="too large for float32") as info:
        run(tmp_path)
    assert sample in str(info.value)
    assert not (tmp_path / "out").exists()


def test_the_value_check_is_the_float32_cast_checked_sample_by_sample():
    data = np.random.default_rng(0).normal(size=(5, 3, 4, 25, 2))
    data[3, 1, 2, 7, 0] = 3.5e38  # beyond float32's largest, 3.4028e38
    data[1, 0, 0, 0, 1] = 3.4e38  # still fits
    with np.errstate(over="ignore"):  # the plain way: cast each sample, look at every value
        finite = [bool(np.isfinite(sample.astype(np.float32)).all()) for sample in data]
    assert finite == [True, True, True, False, True]
    kw = {"max_frames": 4, "num_classes": 2, "name_of": "abcde".__getitem__}
    with pytest.raises(UserError, match="sample d holds coordinates"):
        check_samples(to_float32(data), np.full(5, 4), np.zeros(5, int), {}, **kw)
    check_samples(to_float32(np.delete(data, 3, 0)), np.full(4, 4), np.zeros(4, int), {}, **kw)


# 5. Labels: bounded by the class count before any cast; no billion made-up class names.
def npz_labels(root: Path, y: np.ndarray) -> Path:
    return import_npz(write_npz(root / "a.npz", y_train=y), root / "out")


def pyskl_labels(root: Path, labels: tuple) -> Path:
    return import_pyskl(write_pyskl(root / "a.pkl", labels=labels), root / "out", split="xsub")


@pytest.mark.parametrize(
    ("run", "labels", "match"),
    [
        (npz_labels, np.array([0, 1, 2, 2**64 - 1], np.uint64), "sample 3 has label 1844"),
        (npz_labels, np.array([0, 1, 2, 10**9]), "labels up to 1,000,000,000.*at most 10,000"),
        (pyskl_labels, (0, np.uint64(2**64 - 1)), "'b': label 18446744073709551615 is outside"),
        (pyskl_labels, (0, 10**9), "labels up to 1,000,000,000"),
    ],
    ids=["npz-uint64", "npz-1e9", "pyskl-uint64", "pyskl-1e9"],
)
def test_labels_beyond_the_classes_are_refused(run, labels, match, tmp_path):
    with pytest.raises(UserError, match=match):
        run(tmp_path, labels)
    assert not (tmp_path / "out").exists()


def test_the_writer_refuses_a_label_outside_its_class_names(tmp_path):
    labels = np.array([0, 2**64 - 1], np.uint64)  # as int64 this would be -1
    with pytest.raises(UserError, match=r"sample t\[1\] has label 18446744073709551615"):
        with DatasetWriter(tmp_path / "ds", NTU25, ["a", "b"], source="s", benchmark="") as w:
            w.add_split("t", 2, 4, 1).append(np.zeros((2, 3, 4, 25, 1)), [4, 4], labels)
    assert list(tmp_path.iterdir()) == []


# 9. pyskl: a frame_dir twice in a split, or in both train and test, is refused.
@pytest.mark.parametrize(
    ("split", "match"),
    [
        ({"xsub_train": ["a", "a"], "xsub_val": ["b"]}, "'xsub_train' lists 1 frame_dir more"),
        ({"xsub_train": ["a", "b"], "xsub_val": ["b"]}, "in both 'xsub_train' and 'xsub_val'"),
    ],
)
def test_pyskl_refuses_repeated_and_shared_samples(split, match, tmp_path):
    file = write_pyskl(tmp_path / "a.pkl", split=split)
    with pytest.raises(UserError, match=match):
        import_pyskl(file, tmp_path / "out", split="xsub")


# 10. Every dropped input is reported: an empty label file, a benchmark without a test split.
def test_pku_reports_an_empty_label_file_and_a_missing_test_split(tmp_path):
    rows = {"0002-L": rows_of(0), "0003-L": rows_of(1)}
    split = "Training videos: \n0002-L, 0003-L\n"  # no validation part
    write_pku(tmp_path, rows, {"0002-L": "1,10,49,1\n", "0003-L": ""}, split)
    text = pku(tmp_path).format()
    assert "1 videos whose label file lists no action" in text
    assert "0003-L.txt lists no action" in text
    assert "the xsub data set has no test split" in text


def test_ntu_reports_a_benchmark_without_one_of_its_splits(tmp_path):
    (tmp_path / "raw").mkdir()  # subject 1 is an x-sub training subject, camera 1 x-view test
    (tmp_path / "raw" / "S001C001P001R001A001.skeleton").write_text(skeleton_text(made_up()))
    summary = prepare_ntu(tmp_path / "raw", tmp_path / "out", dataset="ntu60", progress=False)
    text = summary.format()
    assert "the xsub data set has no test split" in text
    assert "the xview data set has no train split" in text


# 13. meta.json of the wrong shape: a UserError naming the key, in every command.
META_EDITS = {
    "a list": (lambda meta: [meta], "holds a list, not a mapping"),
    "splits an int": (lambda meta: {**meta, "splits": 3}, "'splits' is 3"),
    "class_names an int": (lambda meta: {**meta, "class_names": 7}, "'class_names' is 7"),
    "class_names of ints": (lambda meta: {**meta, "class_names": [1, 2]}, "one string per"),
    "a split a list": (lambda meta: {**meta, "splits": {"train": [1]}}, "split 'train' must"),
    "ids an int": (
        lambda m: {**m, "splits": {"train": {**m["splits"]["train"], "ids": 4}}},
        "has ids 4",
    ),
    "joints an int": (lambda m: {**m, "layout": {**m["layout"], "joints": 5}}, "joints must be"),
    "channels a list": (lambda meta: {**meta, "channels": ["xyz"]}, "'channels' is"),
    "extra a list": (lambda meta: {**meta, "extra": [1]}, r"'extra' is \[1\]"),
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    (path,) = write_synthetic(root, num_samples=30, benchmarks=["xsub"])
    return path


@pytest.mark.parametrize("case", list(META_EDITS))
def test_meta_json_of_the_wrong_shape_is_a_user_error(case, synthetic, tmp_path):
    edit, match = META_EDITS[case]
    copy = shutil.copytree(synthetic, tmp_path / "ds")
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps(edit(meta)))
    with pytest.raises(UserError, match=match) as info:
        open_dataset(copy)
    assert "meta.json" in str(info.value)


@pytest.mark.parametrize("command", [["info"], ["show", "--out", "x.png"]])
def test_meta_json_of_the_wrong_shape_in_the_cli(command, synthetic, tmp_path):
    copy = shutil.copytree(synthetic, tmp_path / "ds")
    (copy / "meta.json").write_text("[1, 2]")
    args = [command[0], copy, *command[1:]]
    expect_user_error(args, names=["meta.json", "not a mapping"], tmp=tmp_path)


# 14. synth with fewer samples than one per class and one more: a clear error, nothing left.
def test_synth_with_too_few_samples(tmp_path):
    result = expect_user_error(["synth", tmp_path / "out", "--samples", "5"], tmp=tmp_path)
    assert "at least 25 samples" in result.stderr
    for samples in (1, 24):
        with pytest.raises(UserError, match="test split would be empty"):
            write_synthetic(tmp_path / "out", num_samples=samples)
    assert list(tmp_path.iterdir()) == []
    assert [p.name for p in write_synthetic(tmp_path / "out", num_samples=25)] == ["xsub", "xview"]


# 15. An .npy header with a negative dimension is a damaged file, not a ValueError.
@pytest.mark.parametrize(
    "members",
    [
        {"x_train": npy(np.zeros((4, 6, 150)), (4, -6, 150))},
        {"x_test": npy(np.zeros((4, 6, 150)), (-4, 6, 150))},
        {"y_train": npy(np.arange(4), (-4,))},
    ],
    ids=["x-inner", "x-samples", "y"],
)
def test_npz_with_a_negative_dimension(members, tmp_path):
    file = write_npz(tmp_path / "a.npz", **members)
    with pytest.raises(UserError, match=r"a\.npz:[xy]_(train|test)") as info:
        import_npz(file, tmp_path / "out")
    assert "negative" in str(info.value) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("label", [10**9, -1, 2**40])
def test_names_by_index_refuses_stray_labels_at_once(label):
    from skelcmd.sources.classnames import names_by_index

    pairs = [(0, "walk"), (1, "run"), (label, None)]
    with pytest.raises(UserError, match="label"):
        names_by_index(pairs, None, "labels.json")
