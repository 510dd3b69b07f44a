"""What the data set reader and writer refuse: values beyond float32, labels outside the
class names, a meta.json of the wrong shape, pickled arrays (numbered comments: the items
of issue 13)."""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from skelcmd.data.format import open_dataset, read_npy
from skelcmd.data.values import check_samples, to_float32
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError
from skelcmd.skeleton import NTU25
from skelcmd.sources.npz import import_npz
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.npy_bytes import npy
from tests.helpers.user_error import expect_user_error


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


def test_the_writer_refuses_a_label_outside_its_class_names(tmp_path):
    labels = np.array([0, 2**64 - 1], np.uint64)  # as int64 this would be -1
    with pytest.raises(UserError, match=r"sample t\[1\] has label 18446744073709551615"):
        with DatasetWriter(tmp_path / "ds", NTU25, ["a", "b"], source="s", benchmark="") as w:
            w.add_split("t", 2, 4, 1).append(np.zeros((2, 3, 4, 25, 1)), [4, 4], labels)
    assert list(tmp_path.iterdir()) == []


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


def test_no_advice_to_load_pickled_data(tmp_path):
    objects = npy(np.array([None, 1], dtype=object))
    (tmp_path / "o.npy").write_bytes(objects)
    (tmp_path / "p.npy").write_bytes(pickle.dumps({"a": 1}))
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        for key in ("x_train", "x_test"):
            archive.writestr(f"{key}.npy", npy(np.zeros((2, 4, 150))))
        archive.writestr("y_train.npy", objects)
        archive.writestr("y_test.npy", npy(np.arange(2)))
    messages = []
    for call in (
        lambda: read_npy(tmp_path / "o.npy"),
        lambda: read_npy(tmp_path / "p.npy", mmap=True),
        lambda: import_npz(tmp_path / "a.npz", tmp_path / "out"),
    ):
        with pytest.raises(UserError) as info:
            call()
        messages.append(str(info.value))
    assert all("allow_pickle" not in m and "unsafely" not in m for m in messages), messages
    assert "pickled Python objects, which skelcmd never loads" in messages[0]
    assert "does not start with the .npy header" in messages[1]
