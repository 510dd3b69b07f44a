"""pyskl annotation-pickle import: round trips, the restricted unpickler, every user error."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import NTU25
from skelcmd.sources.classnames import ntu_class_names
from skelcmd.sources.pyskl import import_pyskl, load_pickle

# frame_dir, label, persons, frames
SAMPLES = [
    ("S001C001P001R001A001", 0, 1, 5),
    ("S001C002P002R002A060", 59, 2, 7),
    ("S002C003P001R001A013", 12, 1, 3),
    ("S017C001P003R002A050", 49, 2, 4),
    ("S003C002P004R001A002", 1, 1, 6),
]
TRAIN = ["S001C001P001R001A001", "S001C002P002R002A060", "S017C001P003R002A050"]
TEST = ["S002C003P001R001A013", "S003C002P004R001A002"]


def _annotation(frame_dir: str, label: int, m: int, t: int, c: int = 3, v: int = 25) -> dict:
    seed = sum(map(ord, frame_dir))
    kp = np.random.default_rng(seed).normal(size=(m, t, v, c)).astype(np.float32)
    return {
        "frame_dir": frame_dir,
        "label": label,
        "keypoint": kp,
        "keypoint_score": np.ones((m, t, v), np.float32),
        "total_frames": t,
        "img_shape": (1080, 1920),
    }


def _content(samples=SAMPLES, split=None) -> dict:
    return {
        "split": split or {"xsub_train": [*TRAIN], "xsub_val": [*TEST], "xview_train": TEST[:1]},
        "annotations": [_annotation(*sample) for sample in samples],
    }


def _dump(path: Path, content, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=protocol)
    return path


def _assert_no_output(out: Path) -> None:
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_round_trip(tmp_path: Path, protocol: int) -> None:
    content = _content()
    path = _dump(tmp_path / "ntu.pkl", content, protocol)
    out = import_pyskl(path, tmp_path / "ds", split="xsub")
    assert out == tmp_path / "ds"
    ds = open_dataset(out)
    assert ds.layout == NTU25 and ds.class_names == ntu_class_names(60)
    assert (ds.source, ds.benchmark) == ("pyskl", "xsub")
    by_dir = {ann["frame_dir"]: ann for ann in content["annotations"]}
    for split_name, names in (("train", TRAIN), ("test", TEST)):
        split = ds.split(split_name)
        assert split.names == names
        assert split.data.shape == (len(names), 3, 7, 25, 2)  # T_max, M_max over both splits
        for i, name in enumerate(names):
            kp = by_dir[name]["keypoint"]
            persons, frames = kp.shape[:2]
            assert split.lengths[i] == frames and split.labels[i] == by_dir[name]["label"]
            assert split.ids["setups"][i] == int(name[1:4])
            assert split.ids["views"][i] == int(name[5:8])
            assert split.ids["subjects"][i] == int(name[9:12])
            assert split.ids["replications"][i] == int(name[13:16])
            for c in range(3):
                for f in range(7):
                    for v in range(25):
                        for m in range(2):
                            want = kp[m, f, v, c] if m < persons and f < frames else 0.0
                            assert split.data[i, c, f, v, m] == want


def test_single_person_test_split_and_plain_names(tmp_path: Path) -> None:
    samples = [("clip_a", 0, 1, 3), ("clip_b", 2, 1, 5), ("clip_c", 1, 1, 2)]
    split = {
        "cv_train": np.array(["clip_a", "clip_b"]),
        "cv_val": ["clip_a"],
        "cv_test": ["clip_c"],
    }
    path = _dump(tmp_path / "a.pkl", _content(samples, split))
    ds = open_dataset(import_pyskl(path, tmp_path / "ds", split="cv", class_names=["x", "y", "z"]))
    assert ds.class_names == ("x", "y", "z")
    assert ds.split("test").names == ["clip_c"]  # `_test` is preferred over `_val`
    assert ds.split("train").data.shape == (2, 3, 5, 25, 1)
    assert ds.split("train").ids == {}  # names are not NTU-style: no ids
    assert ds.split("train").names == ["clip_a", "clip_b"]
    np.testing.assert_array_equal(ds.split("train").labels, [0, 2])
    np.testing.assert_array_equal(ds.split("train").lengths, [3, 5])


def test_numpy1_pickle_loads(tmp_path: Path) -> None:
    """Pickles written by NumPy 1.x name numpy.core.multiarray, which NumPy 2 renamed."""
    blob = pickle.dumps(_content(), protocol=2)
    assert b"numpy._core.multiarray" in blob
    path = tmp_path / "old.pkl"
    path.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    content = load_pickle(path)
    np.testing.assert_array_equal(
        content["annotations"][1]["keypoint"], _content()["annotations"][1]["keypoint"]
    )


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


@pytest.mark.parametrize("payload", ["system", "eval", "class"])
def test_malicious_pickle_is_refused(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    content = _content()
    if payload == "system":
        content["annotations"][0]["keypoint"] = _Evil(marker)
        match = r"evil\.pkl asks to load the global (posix|os|nt)\.system"
    elif payload == "eval":
        content = _EvalPayload(f"open({str(marker)!r}, 'w')")
        match = r"global builtins\.eval"
    else:
        content["annotations"][0]["extra"] = _Evil  # a class from a test module
        match = r"global (tests\.sources\.)?test_import_pyskl\._Evil"
    path = _dump(tmp_path / "evil.pkl", content)
    with pytest.raises(UserError, match=match):
        import_pyskl(path, tmp_path / "ds", split="xsub")
    assert not marker.exists()
    _assert_no_output(tmp_path / "ds")


class _EvalPayload:
    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


def _with(change) -> dict:
    content = _content()
    change(content)
    return content


def _set(index: int, key: str, value):
    return lambda c: c["annotations"][index].__setitem__(key, value)


@pytest.mark.parametrize(
    ("content", "kwargs", "match"),
    [
        ([1, 2], {}, "is not a pyskl annotation file"),
        ({"annotations": []}, {}, "is not a pyskl annotation file"),
        (_content(), {"split": "xset"}, r"no splits xset_train.*xsub_train, xsub_val.*\(xsub\)"),
        (_content(), {"split": "xview"}, "no splits xview_train and xview_val"),
        (
            _with(lambda c: c["split"]["xsub_val"].append("S009C001P001R001A001")),
            {},
            "'xsub_val' lists 1 frame_dir without annotation, e.g. S009C001P001R001A001",
        ),
        (_with(lambda c: c["split"].__setitem__("xsub_val", [])), {}, "'xsub_val' is empty"),
        (
            _with(lambda c: c["annotations"].append(c["annotations"][0])),
            {},
            "S001C001P001R001A001' is annotated twice",
        ),
        (
            _with(lambda c: c["annotations"].append({"label": 1})),
            {},
            "annotation 5 is not a dict with a 'frame_dir'",
        ),
        (
            _with(lambda c: c["annotations"][1].update(_annotation(TRAIN[1], 59, 2, 7, c=2))),
            {},
            "mixes 2D and 3D keypoints",
        ),
        (_content(), {"layout": "kinect20"}, r"shape \(1, 5, 25, 3\); expected \(M, T, 20, 3\)"),
        (_with(_set(2, "total_frames", 4)), {}, "A013'.*total_frames is 4 but keypoint holds 3"),
        (_with(_set(2, "label", -1)), {}, "A013'.*label -1 is outside 0"),
        (_with(_set(2, "label", "drink")), {}, "A013'.*label is 'drink'; expected an integer"),
        (_with(_set(2, "keypoint", np.full((1, 3, 25, 3), np.nan))), {}, "A013'.*NaN"),
        (_with(_set(2, "keypoint", [[1.0]])), {}, "A013'.*expected a numeric array"),
        (_with(lambda c: c["annotations"][2].pop("label")), {}, "A013' lacks label"),
        (_content(), {"class_names": "ntu120"}, "gives 120 class names, but .* has 60 classes"),
    ],
)
def test_errors(tmp_path: Path, content, kwargs: dict, match: str) -> None:
    path = _dump(tmp_path / "a.pkl", content)
    kwargs = {"split": "xsub", **kwargs}
    with pytest.raises(UserError, match=match) as info:
        import_pyskl(path, tmp_path / "ds", **kwargs)
    assert "a.pkl" in str(info.value)
    _assert_no_output(tmp_path / "ds")


def test_missing_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nope\.pkl does not exist"):
        import_pyskl(tmp_path / "nope.pkl", tmp_path / "ds", split="xsub")
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04garbage")
    with pytest.raises(UserError, match=r"bad\.pkl is not a readable pickle"):
        import_pyskl(tmp_path / "bad.pkl", tmp_path / "ds", split="xsub")
    _assert_no_output(tmp_path / "ds")


def test_output_exists(tmp_path: Path) -> None:
    path = _dump(tmp_path / "a.pkl", _content())
    (tmp_path / "ds").mkdir()
    with pytest.raises(UserError, match="already exists"):
        import_pyskl(path, tmp_path / "ds", split="xsub")
    import_pyskl(path, tmp_path / "ds", split="xsub", overwrite=True)
    assert len(open_dataset(tmp_path / "ds").split("train")) == 3
