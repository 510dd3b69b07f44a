"""`skelcmd import clips`: a manifest of .npy / .csv / .txt clips, every accepted form against
the arrays the test wrote, and every user error naming the manifest line and the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20
from skelcmd.sources.clips import import_clips
from tests.helpers.user_error import expect_user_error

V = KINECT20.num_joints


def clip(rng, t, m=1, c=3) -> np.ndarray:
    """(M, T, V, C) numbers, as a user has them."""
    return rng.normal(size=(m, t, V, c)).round(4)


def write_csv(path: Path, x: np.ndarray, *, frames=False, header=False, sep=",") -> None:
    """One frame a line: person 1's joints (C numbers each), then person 2's ..."""
    m, t, v, c = x.shape
    table = x.transpose(1, 0, 2, 3).reshape(t, m * v * c)
    if frames:
        table = np.column_stack([np.arange(1, t + 1) * 2, table])
    lines = [sep.join(f"{value:g}" for value in row) for row in table]
    if header:
        lines.insert(0, sep.join(f"c{k}" for k in range(table.shape[1])))
    path.write_text("\n".join(lines) + "\n")


def write_folder(root: Path, rng) -> dict[str, np.ndarray]:
    """Five clips in every accepted form, and the manifest listing them."""
    clips = {
        "a.npy": clip(rng, 7)[0],  # (T, V, C): one person
        "sub/b.npy": clip(rng, 5, m=2).astype(np.float64),  # (M, T, V, C)
        "c.csv": clip(rng, 4, m=2),
        "d.txt": clip(rng, 6),
        "e.csv": clip(rng, 3),
    }
    (root / "sub").mkdir(parents=True)
    np.save(root / "a.npy", clips["a.npy"])
    np.save(root / "sub/b.npy", clips["sub/b.npy"])
    write_csv(root / "c.csv", clips["c.csv"], frames=True, header=True)
    write_csv(root / "d.txt", clips["d.txt"], sep=" ")
    write_csv(root / "e.csv", clips["e.csv"], frames=True)
    rows = [
        "path,label,split,subject,person_count",
        "a.npy,wave,train,1,1",
        "sub/b.npy,hug,train,2,2",
        "c.csv,wave,test,3,",
        "d.txt,clap,test,4,1",
        "e.csv,hug,train,1,",
    ]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return clips


def test_every_form_is_read_as_written(tmp_path):
    clips = write_folder(tmp_path / "mine", np.random.default_rng(0))
    out = import_clips(tmp_path / "mine" / "manifest.csv", tmp_path / "ds", layout="kinect20")
    ds = open_dataset(out)
    assert (ds.layout, ds.channels, ds.class_names) == (KINECT20, "xyz", ("clap", "hug", "wave"))
    assert list(ds.splits) == ["train", "test"]
    want = {"train": ["a.npy", "sub/b.npy", "e.csv"], "test": ["c.csv", "d.txt"]}
    labels = {"a.npy": 2, "sub/b.npy": 1, "e.csv": 1, "c.csv": 2, "d.txt": 0}
    for name, split in ds.splits.items():
        assert split.names == want[name]
        assert split.data.shape == (len(want[name]), 3, 7, V, 2)
        for i, path in enumerate(split.names):
            x = clips[path] if clips[path].ndim == 4 else clips[path][None]  # (M, T, V, C)
            m, t = x.shape[:2]
            assert split.lengths[i] == t and split.labels[i] == labels[path]
            for p in range(2):
                for f in range(7):
                    for v in range(V):
                        expected = x[p, f, v] if p < m and f < t else np.zeros(3)
                        np.testing.assert_array_equal(
                            split.data[i, :, f, v, p], np.float32(expected)
                        )
    assert list(ds.split("test").ids["subjects"]) == [3, 4]


def test_numbered_labels_sort_by_number_and_class_files_and_2d(tmp_path, capsys):
    rng = np.random.default_rng(1)
    root = tmp_path / "mine"
    root.mkdir()
    for k in range(3):
        np.save(root / f"{k}.npy", clip(rng, 4, c=2)[0])
    (root / "m.csv").write_text(
        "path,label,split,view\n0.npy,10,train,1\n1.npy,2,train,2\n2.npy,2,test,1\n"
    )
    args = ["import", "clips", str(root / "m.csv"), str(tmp_path / "a"), "--layout", "kinect20"]
    assert main([*args, "--channels", "xy"]) == 0
    ds = open_dataset(tmp_path / "a")
    assert ds.class_names == ("2", "10") and ds.channels == "xy"
    assert list(ds.split("train").labels) == [1, 0] and list(ds.split("train").ids["views"]) == [
        1,
        2,
    ]
    names = tmp_path / "names.txt"
    names.write_text("10\n2\nnever seen\n")
    import_clips(
        root / "m.csv", tmp_path / "b", layout="kinect20", channels="xy", class_names=names
    )
    ds = open_dataset(tmp_path / "b")
    assert ds.class_names == ("10", "2", "never seen") and list(ds.split("train").labels) == [0, 1]
    layout = tmp_path / "stick.yaml"
    layout.write_text("name: stick\njoints: [a, b]\nparents: [a, a]\n")
    np.save(root / "0.npy", clip(rng, 4, c=2)[0][:, :2])
    (root / "m.csv").write_text("path,label,split\n0.npy,x,train\n")
    import_clips(root / "m.csv", tmp_path / "c", layout=layout, channels="xy")
    assert open_dataset(tmp_path / "c").layout.name == "stick"


ROW = "0," * 59 + "0\n"  # one frame of 20 joints x 3
HEAD = "path,label,split"
ERRORS = [  # (file to write, its text or an array, the message)
    ("m.csv", "path,label\na.npy,x\n", r"m\.csv: the header has path, label; it needs path, la"),
    ("m.csv", f"{HEAD},camera\n", r"may have subject, view, person_count \(unknown: camera\)"),
    ("m.csv", f"{HEAD}\nnope.npy,x,train\n", r"m\.csv, line 2: .*nope\.npy does not exist"),
    ("m.csv", f"{HEAD}\na.npy,x,train\na.npy,y,test\n", r"line 3: a\.npy is listed twice \(al"),
    ("m.csv", f"{HEAD}\na.json,x,train\n", r"line 2: a\.json is not a \.npy, \.csv, \.txt file"),
    ("m.csv", f"{HEAD}\na.npy,,train\n", r"line 2: no label"),
    ("m.csv", f"{HEAD},subject\na.npy,x,train,one\n", r"line 2: subject is 'one'; expected an"),
    ("m.csv", f"{HEAD},person_count\na.npy,x,train,2\n", r"person_count is 2 but .*a\.npy hol"),
    ("a.npy", np.zeros((4, 19, 3)), r"a\.npy holds float64 \(4, 19, 3\); expected numbers of"),
    ("a.npy", np.full((4, 20, 3), np.nan), r"a\.npy holds NaN"),
    ("a.csv", "1,2\n", r"a\.csv, line 1: 2 numbers a line; a frame is M x 20 joints x 3"),
    ("a.csv", "0," + ROW + ROW, r"a\.csv, line 2: 60 numbers, but the first line of numbers h"),
    ("a.csv", ("5," + ROW) * 2, r"a\.csv, line 2: the first column .* does not increase"),
    ("a.csv", "0," * 59 + "x\n", r"a\.csv, line 1: 'x' is not a number"),
    # issue 22 item 2: a split is a plain name, never a path out of the data set
    ("m.csv", f"{HEAD}\na.npy,x,../escaped\n", r"line 2: the split name '\.\./escaped' is not a"),
    ("m.csv", f"{HEAD}\na.npy,x,/tmp/abs\n", r"line 2: the split name '/tmp/abs' is not a plain"),
    ("m.csv", f"{HEAD}\na.npy,x,a\\b\n", r"line 2: the split name 'a\\\\b' is not a plain"),
    ("m.csv", f"{HEAD}\na.npy,x,meta.json\n", r"line 2: the split name 'meta\.json' is not"),
    ("m.csv", f"{HEAD}\na.npy,x,.hidden\n", r"line 2: the split name '\.hidden' is not a"),
    ("m.csv", f"{HEAD}\na.npy,x,tr\x1bain\n", r"line 2: the split name 'tr\\x1bain' is not"),
    # QA item 1: a misspelt standard split is refused, naming the line, not made a split
    ("m.csv", f"{HEAD}\na.npy,x,train\na.csv,y,tset\n", r"m\.csv, line 3: split 'tset' looks lik"),
    ("m.csv", f"{HEAD}\na.npy,x,trian\n", r"line 2: split 'trian' looks like a typo of 'train'"),
    # issue 22 item 11: one clip under two spellings; a column twice; the row reader's errors
    ("m.csv", f"{HEAD}\na.npy,x,train\n./../mine/a.npy,y,test\n", r"line 3: \./\.\./mine/a\.np"),
    ("m.csv", f"{HEAD},split\na.npy,x,train,test\n", r"m\.csv: the header names split twice"),
    ("a.csv", "0," + ROW + ROW, r"m\.csv, line 3: .*a\.csv, line 2: 60 numbers, but the first"),
    ("a.csv", "0," * 59 + "x\n", r"m\.csv, line 3: .*a\.csv, line 1: 'x' is not a number"),
    ("a.csv", "", r"m\.csv, line 3: .*a\.csv holds no line of numbers"),
    # issue 22 item 12: beyond float32, an error naming the line and no raw numpy warning first
    ("a.npy", np.full((4, 20, 3), 1e39), r"line 2: .*a\.npy holds .*too large for float32"),
    ("a.csv", "1e39," * 59 + "1e39\n", r"line 3: .*a\.csv holds .*too large for float32"),
    ("m.csv", f"{HEAD}\nfolder.npy,x,train\n", r"line 2: .*folder\.npy is a folder, not a file"),
]


@pytest.mark.parametrize(("name", "content", "message"), ERRORS, ids=[e[2][:24] for e in ERRORS])
def test_user_errors_name_the_line_and_file(tmp_path, name, content, message):
    root = tmp_path / "mine"
    root.mkdir()
    np.save(root / "a.npy", np.zeros((4, V, 3)))
    (root / "a.csv").write_text(ROW * 3)
    (root / "m.csv").write_text(f"{HEAD}\na.npy,x,train\na.csv,y,test\n")
    (root / "folder.npy").mkdir()
    if isinstance(content, str):
        (root / name).write_text(content)
    else:
        np.save(root / name, content)
    with pytest.raises(UserError, match=message), warnings.catch_warnings():
        warnings.simplefilter("error")  # a message, never a raw warning with a source line
        import_clips(root / "m.csv", tmp_path / "ds", layout="kinect20")
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # nothing written, even outside


def test_cli_errors_are_clean(tmp_path):
    write_folder(tmp_path / "mine", np.random.default_rng(0))
    names = tmp_path / "names.txt"
    names.write_text("wave\nhug\n")
    args = ["import", "clips", tmp_path / "mine" / "manifest.csv", tmp_path / "ds"]
    classes = ["--layout", "kinect20", "--classes", names]
    expect_user_error([*args, *classes], names=["line 5", "'clap'"], tmp=tmp_path)
    expect_user_error([*args, "--layout", "ntu25"], names=["a.npy", "(T, 25, 3)"], tmp=tmp_path)


def test_a_linked_clip_is_the_same_clip(tmp_path):
    """Issue 22 item 11: a symbolic link to a listed clip, even in the other split, is refused
    (it would put one clip in train and test)."""
    root = tmp_path / "mine"
    (root / "walk").mkdir(parents=True)
    np.save(root / "walk" / "1.npy", np.zeros((4, V, 3)))
    (root / "copy.npy").symlink_to(root / "walk" / "1.npy")
    (root / "m.csv").write_text(f"{HEAD}\nwalk/1.npy,walk,train\ncopy.npy,walk,test\n")
    with pytest.raises(UserError, match=r"line 3: copy\.npy is listed twice \(also line 2"):
        import_clips(root / "m.csv", tmp_path / "ds", layout="kinect20")
    assert not (tmp_path / "ds").exists()


# Issue 22, item 8: a clip whose .npy header claims 10^12 numbers, and a subject of 10^20, are
# errors naming the line and file (they were numpy's ArrayMemoryError and an OverflowError).
def test_oversized_headers_and_ids_are_user_errors(tmp_path):
    from tests.helpers.npy_bytes import npy

    root = tmp_path / "mine"
    root.mkdir()
    (root / "big.npy").write_bytes(npy(np.zeros((4, V, 3)), shape=(10**12, V, 3)))
    (root / "m.csv").write_text("path,label,split\nbig.npy,x,train\n")
    with pytest.raises(UserError, match=r"m\.csv, line 2: .*big\.npy .*claims"):
        import_clips(root / "m.csv", tmp_path / "ds", layout="kinect20")
    np.save(root / "a.npy", np.zeros((4, V, 3)))
    (root / "m.csv").write_text(f"path,label,split,subject\na.npy,x,train,{10**20}\n")
    with pytest.raises(UserError, match=r"m\.csv, line 2: subject is '1000.*at most 2147483647"):
        import_clips(root / "m.csv", tmp_path / "ds", layout="kinect20")
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


# Issue 22, item 9: every clip is padded to the longest clip and to the most persons: one clip
# of 100,000 frames and one of 10,000 persons ask for 480 GB. The size is estimated first and
# refused, naming the two clips (it was 'Cannot allocate memory', naming nothing).
def test_an_output_too_large_names_the_clips_that_set_its_size(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    np.save(root / "long.npy", np.ones((100_000, V, 3), np.uint8))
    np.save(root / "crowd.npy", np.ones((10_000, 1, V, 3), np.uint8))
    (root / "m.csv").write_text("path,label,split\nlong.npy,x,train\ncrowd.npy,y,train\n")
    with pytest.raises(UserError) as info:
        import_clips(root / "m.csv", tmp_path / "ds", layout="kinect20")
    message = str(info.value)
    assert "would take 480 GB" in message
    assert "100,000 frames (line 2: long.npy)" in message
    assert "10,000 persons (line 3: crowd.npy)" in message
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
