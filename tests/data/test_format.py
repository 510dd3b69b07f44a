import errno
import json
import os

import numpy as np
import pytest

from skelcmd.data.format import check_split_name, is_dataset, open_dataset, read_npy
from skelcmd.data.writer import DatasetWriter, _truncate_npy
from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20, NTU25
from tests.helpers.npy_bytes import npy


def make_split(rng, n, t, v=25, m=2):
    data = rng.normal(size=(n, 3, t, v, m)).astype(np.float32)
    lengths = rng.integers(1, t + 1, size=n)
    labels = rng.integers(0, 3, size=n)
    return data, lengths, labels


def write(path, splits, layout=NTU25, classes=("a", "b", "c"), **kw):
    with DatasetWriter(path, layout, classes, source="test", benchmark="b", **kw) as writer:
        for name, batches in splits.items():
            t_max = max(b["data"].shape[2] for b in batches)
            m = batches[0]["data"].shape[4]
            total = sum(len(b["data"]) for b in batches)
            split = writer.add_split(name, capacity=total, max_frames=t_max, num_persons=m)
            for batch in batches:
                split.append(**batch)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_round_trip_with_padding_ids_and_names(tmp_path, rng):
    d1, l1, y1 = make_split(rng, 4, 10)
    d2, l2, y2 = make_split(rng, 3, 6)
    batches = [
        dict(data=d1, lengths=l1, labels=y1, subjects=[1, 2, 3, 4], names=list("abcd")),
        dict(data=d2, lengths=l2, labels=y2, subjects=[5, 6, 7], names=list("efg")),
    ]
    test_data, test_len, test_y = make_split(rng, 2, 8)
    path = write(
        tmp_path / "ds",
        {"train": batches, "test": [dict(data=test_data, lengths=test_len, labels=test_y)]},
        extra={"note": 1},
    )
    ds = open_dataset(path)
    assert ds.layout == NTU25 and ds.class_names == ("a", "b", "c") and ds.extra == {"note": 1}
    assert (ds.source, ds.benchmark, list(ds.splits)) == ("test", "b", ["train", "test"])
    train = ds.split("train")
    assert isinstance(train.data, np.memmap) and train.data.dtype == np.float32
    assert train.data.shape == (7, 3, 10, 25, 2)
    np.testing.assert_array_equal(train.data[:4], d1)
    np.testing.assert_array_equal(train.data[4:, :, :6], d2)
    assert not train.data[4:, :, 6:].any()  # zero padding beyond the batch's frames
    np.testing.assert_array_equal(train.lengths, np.concatenate([l1, l2]))
    np.testing.assert_array_equal(train.labels, np.concatenate([y1, y2]))
    np.testing.assert_array_equal(train.ids["subjects"], np.arange(1, 8))
    assert train.names == list("abcdefg") and train.sample_name(2) == "c"
    test = ds.split("test")
    assert test.ids == {} and test.names is None and test.sample_name(1) == "test[1]"
    assert len(test) == 2


def test_unused_capacity_is_trimmed(tmp_path, rng):
    data, lengths, labels = make_split(rng, 5, 4, v=20, m=1)
    with DatasetWriter(tmp_path / "ds", KINECT20, ["a", "b", "c"], source="s", benchmark="") as w:
        w.add_split("train", capacity=100_000, max_frames=4, num_persons=1).append(
            data, lengths, labels
        )
    ds = open_dataset(tmp_path / "ds")
    np.testing.assert_array_equal(ds.split("train").data, data)
    file = tmp_path / "ds" / "train" / "data.npy"
    assert file.stat().st_size <= 128 + data.nbytes  # header plus the five samples, no more


@pytest.mark.parametrize("count", [1, 9, 10, 999])
def test_truncate_npy_matches_numpy(tmp_path, count):
    full = np.arange(1000 * 6, dtype=np.float32).reshape(1000, 2, 3)
    path = tmp_path / "a.npy"
    np.save(path, full)
    _truncate_npy(path, count)
    np.testing.assert_array_equal(np.load(path), full[:count])


def test_failed_write_leaves_nothing(tmp_path, rng):
    data, lengths, labels = make_split(rng, 2, 5)
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "ds", NTU25, ["a", "b", "c"], source="s", benchmark="") as w:
            w.add_split("train", 2, 5, 2).append(data, lengths, labels)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_and_a_failure_keeps_the_old_data_set(tmp_path, rng):
    d, l, y = make_split(rng, 2, 5)
    path = write(tmp_path / "ds", {"train": [dict(data=d, lengths=l, labels=y)]})
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        write(path, {"train": [dict(data=d, lengths=l, labels=y)]})
    with pytest.raises(ValueError):  # the new split received no samples
        with DatasetWriter(path, NTU25, ["a"], source="s", benchmark="", overwrite=True) as w:
            w.add_split("train", 3, 5, 2)
    np.testing.assert_array_equal(open_dataset(path).split("train").data, d)
    d2, l2, y2 = make_split(rng, 3, 5)
    write(path, {"train": [dict(data=d2, lengths=l2, labels=y2)]}, overwrite=True)
    np.testing.assert_array_equal(open_dataset(path).split("train").data, d2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_writer_rejects_inconsistent_batches(tmp_path, rng):
    d, l, y = make_split(rng, 2, 5)
    with pytest.raises(ValueError):
        with DatasetWriter(tmp_path / "ds", NTU25, ["a", "b", "c"], source="s", benchmark="") as w:
            split = w.add_split("train", 10, 5, 2)
            split.append(d, l, y, subjects=[1, 2])
            split.append(d, l, y)  # ids missing this time
    with pytest.raises(ValueError, match=r"expected \(n, 3, T, 25, 2\)"):
        with DatasetWriter(tmp_path / "ds", NTU25, ["a", "b", "c"], source="s", benchmark="") as w:
            w.add_split("train", 10, 5, 2).append(d[..., :1], l, y)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "name", ["../escaped", "/tmp/abs", "a/b", "a\\b", "..", ".", ".hidden", "", "meta.json",
             "META.JSON", "c:x", "tr\x1b[31main", "tr\nain"],
)  # fmt: skip
def test_split_names_are_plain_names_on_write(tmp_path, rng, name):
    """Issue 22 item 2: a split name was joined to the output path as given."""
    d, l, y = make_split(rng, 2, 5)
    root = tmp_path / "a" / "b"
    root.mkdir(parents=True)
    with pytest.raises(UserError, match="is not a plain name"):
        write(root / "ds", {name: [dict(data=d, lengths=l, labels=y)]})
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")] == ["a", "a/b"]


def test_split_names_are_plain_names_on_read(tmp_path, rng):
    d, l, y = make_split(rng, 2, 5)
    outside = write(tmp_path / "outside", {"train": [dict(data=d, lengths=l, labels=y)]})
    path = write(tmp_path / "ds", {"train": [dict(data=d, lengths=l, labels=y)]})
    meta = json.loads((path / "meta.json").read_text())
    meta["splits"]["../outside/train"] = meta["splits"].pop("train")
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"meta\.json: 'splits': the split name '\.\./outside"):
        open_dataset(path)
    assert check_split_name("fold 1", "x") == "fold 1" and is_dataset(outside)


def test_a_data_set_is_never_written_inside_an_input_data_set(tmp_path, rng):
    """Issue 22 item 1: an output inside a data set the command reads is refused."""
    d, l, y = make_split(rng, 2, 5)
    source = write(tmp_path / "ds", {"train": [dict(data=d, lengths=l, labels=y)]})
    for out in (source / "train" / "new", source / "new"):
        with pytest.raises(UserError, match="lies inside the input"):
            write(out, {"train": [dict(data=d, lengths=l, labels=y)]}, inputs=[source])
    assert sorted(p.name for p in source.iterdir()) == ["meta.json", "train"]
    write(tmp_path / "new", {"train": [dict(data=d, lengths=l, labels=y)]}, inputs=[source])


@pytest.fixture
def dataset(tmp_path, rng):
    d, l, y = make_split(rng, 6, 5)
    return write(
        tmp_path / "ds", {"train": [dict(data=d, lengths=l, labels=y, names=list("uvwxyz"))]}
    )


def corrupt_array(path, name, value):
    np.save(path / "train" / name, value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: corrupt_array(p, "labels.npy", np.array([0, 1, 2, 3, 0, 1])),
            r"sample x .*label 3",
        ),
        (
            lambda p: corrupt_array(p, "lengths.npy", np.array([1, 1, 0, 1, 1, 1])),
            r"sample w has 0 frames",
        ),
        (lambda p: corrupt_array(p, "lengths.npy", np.array([1, 6, 1, 1, 1, 1])), r"outside 1..5"),
        (
            lambda p: corrupt_array(p, "labels.npy", np.zeros(5, int)),
            r"labels.npy has shape \(5,\)",
        ),
        (lambda p: corrupt_array(p, "labels.npy", np.zeros(6)), r"integers"),
        (lambda p: corrupt_array(p, "data.npy", np.zeros((6, 3, 5, 25, 2))), "dtype float64"),
        (
            lambda p: corrupt_array(p, "data.npy", np.zeros((6, 3, 5, 20, 2), np.float32)),
            "layout 'ntu25'",
        ),
        (
            lambda p: corrupt_array(p, "data.npy", np.zeros((5, 3, 5, 25, 2), np.float32)),
            "holds 5 samples",
        ),
        (lambda p: (p / "train" / "lengths.npy").unlink(), "lengths.npy is missing"),
        (lambda p: (p / "train" / "labels.npy").write_bytes(b"junk"), "not a readable .npy"),
        (lambda p: (p / "train" / "names.txt").write_text("a\nb\n"), "2 names for 6 samples"),
        (lambda p: (p / "meta.json").write_text("{"), "not valid JSON"),
        (lambda p: (p / "meta.json").write_text('{"format_version": 99}'), "format version 99"),
        (lambda p: (p / "meta.json").write_text('{"format_version": 1}'), "lacks the key 'layout'"),
    ],
)
def test_loading_rejects_bad_files_and_names_them(dataset, mutate, message):
    mutate(dataset)
    with pytest.raises(UserError, match=message) as info:
        open_dataset(dataset)
    assert str(dataset) in str(info.value)


def test_non_finite_values_name_the_sample(dataset):
    data = np.load(dataset / "train" / "data.npy")
    data[4, 1, 2, 3, 0] = np.nan
    np.save(dataset / "train" / "data.npy", data)
    with pytest.raises(UserError, match=r"sample y \(index 4\) holds NaN"):
        open_dataset(dataset)
    assert len(open_dataset(dataset, check_values=False).split("train")) == 6


def test_missing_and_parent_directories_are_explained(tmp_path, dataset):
    with pytest.raises(UserError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(UserError, match=r"has no meta\.json"):
        open_dataset(tmp_path / "ds" / "train")
    with pytest.raises(UserError, match=r"holds several data sets \(ds\)"):
        open_dataset(tmp_path)
    with pytest.raises(UserError, match="no split 'val'; it has train"):
        open_dataset(dataset).split("val")
    assert is_dataset(dataset) and not is_dataset(tmp_path)


def test_meta_is_plain_json(dataset):
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["format_version"] == 1
    assert meta["layout"]["name"] == "ntu25"
    assert meta["splits"]["train"] == {
        "num_samples": 6,
        "max_frames": 5,
        "num_persons": 2,
        "ids": [],
    }


# Issue 22, item 7: the data file is allocated before it is mapped, so a full disk is an
# error naming the data set (writing into a sparse map of a full disk was a SIGBUS).
def test_a_full_disk_is_found_before_the_data_file_is_mapped(tmp_path, rng, monkeypatch):
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    data, lengths, labels = make_split(rng, 2, 5)
    batch = {"data": data, "lengths": lengths, "labels": labels}
    with pytest.raises(UserError, match=f"disk full while writing {tmp_path / 'ds'}"):
        write(tmp_path / "ds", {"train": [batch]})
    assert list(tmp_path.iterdir()) == []


# Issue 22, item 8: a 1 KB .npy whose header claims 10^12 numbers is an error naming the file
# (it was numpy's ArrayMemoryError for 3.64 TiB), for every array a data set reads.
def test_a_header_claiming_more_than_the_file_holds_is_refused(tmp_path, dataset):
    big = tmp_path / "big.npy"
    big.write_bytes(npy(np.zeros(10, np.float32), shape=(10**12,)))
    assert big.stat().st_size < 1024
    with pytest.raises(UserError, match=r"big\.npy .*claims 1,000,000,000,000 numbers"):
        read_npy(big)
    (dataset / "train" / "lengths.npy").write_bytes(npy(np.ones(6, np.int64), shape=(10**12,)))
    with pytest.raises(UserError, match=r"lengths\.npy .*claims"):
        open_dataset(dataset)
    (dataset / "meta.json").write_text("[" * 200_000 + "]" * 200_000)  # (was a RecursionError)
    with pytest.raises(UserError, match=r"meta\.json is nested too deeply"):
        open_dataset(dataset)
