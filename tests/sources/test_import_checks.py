"""What an importer refuses before writing anything, and every input it drops is reported
(numbered comments: the items of issue 13)."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from skelcmd.errors import UserError
from skelcmd.sources.npz import import_npz
from skelcmd.sources.ntu import prepare_ntu
from skelcmd.sources.pku import prepare_pku
from skelcmd.sources.pyskl import import_pyskl
from skelcmd.sources.utd_mhad import import_utd_mhad
from tests.helpers.npy_bytes import npy
from tests.sources.test_prepare_ntu import made_up, skeleton_text
from tests.sources.test_prepare_pku import rows_of

HUGE = 1e300  # finite as float64, inf as float32


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
    with pytest.raises(UserError, match="too large for float32") as info, warnings.catch_warnings():
        warnings.simplefilter("error")  # issue 22 item 12: no raw numpy warning first
        run(tmp_path)
    assert sample in str(info.value)
    assert not (tmp_path / "out").exists()


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


# Issue 22 item 3: --overwrite never deletes a --classes or --layout file that lies inside the
# data set it replaces: those files are inputs.
def _clips(root: Path, out: Path, **kw) -> None:
    from skelcmd.sources.clips import import_clips

    layout = kw.pop("layout", "ntu25")
    np.save(root / "a.npy", np.zeros((4, 25 if layout == "ntu25" else 2, 3)))
    (root / "m.csv").write_text("path,label,split\na.npy,abseiling,train\n")
    import_clips(root / "m.csv", out, layout=layout, **kw)


def _kinetics(root: Path, out: Path, **kw) -> None:
    from skelcmd.sources.kinetics import import_kinetics
    from tests.sources.test_import_kinetics import write_release

    import_kinetics(*write_release(root / "raw", {"c_a": 0, "c_b": 1}), out, split="train", **kw)


def _npz(root: Path, out: Path, **kw) -> None:
    y = np.array([0, 1, 2, 0])
    import_npz(write_npz(root / "a.npz", y_train=y, y_test=y), out, **kw)


def _pyskl(root: Path, out: Path, **kw) -> None:
    import_pyskl(write_pyskl(root / "a.pkl", labels=(0, 2)), out, split="xsub", **kw)


@pytest.mark.parametrize("importer", [_clips, _kinetics, _npz, _pyskl])
def test_overwrite_keeps_a_classes_file_inside_the_replaced_data_set(importer, tmp_path):
    out = tmp_path / "ow"
    importer(tmp_path, out)
    names = out / "classes.txt"
    names.write_text("abseiling\nair drumming\nanswering questions\n")
    with pytest.raises(UserError, match=r"ow contains the input .*classes\.txt"):
        importer(tmp_path, out, class_names=names, overwrite=True)
    assert names.is_file()


def test_overwrite_keeps_a_layout_file_inside_the_replaced_data_set(tmp_path):
    out = tmp_path / "ow"
    _clips(tmp_path, out)
    layout = out / "layout.yaml"
    layout.write_text("name: stick\njoints: [a, b]\nparents: [a, a]\n")
    with pytest.raises(UserError, match=r"ow contains the input .*layout\.yaml"):
        _clips(tmp_path, out, layout=layout, overwrite=True)
    assert layout.is_file()
