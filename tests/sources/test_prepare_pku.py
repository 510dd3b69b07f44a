"""`prepare_pku`: small files in the official PKU-MMD format, written here and round-tripped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.sources.pku import class_names, parse_pku_skeleton, prepare_pku, read_split_file

VIDEOS = {"0002-L": 0, "0002-M": 1, "0003-R": 2, "0004-L": 3}
LABELS = "1,10,49,1\n12,100,199,2\n51,0,399,1\n"  # the last clip is longer than 300 frames
XSUB = "Training videos: \n0002-L, 0002-M, 0003-R, \nValidataion videos: \n0004-L, \n"
XVIEW = "Training videos: \n0002-M, 0003-R, \nValidataion videos: \n0002-L, 0004-L\n"


def rows_of(seed: int, frames: int = 400) -> np.ndarray:
    """(frames, 150): person 1 throughout, person 2 in frames 100-199, else zeros."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((frames, 150))
    rows[:, :75] = rng.normal(size=(frames, 75)) * 0.3 + [0, 0, 3] * 25
    rows[100:200, 75:] = rng.normal(size=(100, 75)) * 0.3 + [1, 0, 3] * 25
    return rows


@pytest.fixture
def pku(tmp_path: Path) -> Path:
    (tmp_path / "skeleton").mkdir()
    (tmp_path / "label").mkdir()
    for video, seed in VIDEOS.items():
        np.savetxt(tmp_path / "skeleton" / f"{video}.txt", rows_of(seed), fmt="%.6f")
        (tmp_path / "label" / f"{video}.txt").write_text(LABELS)
    (tmp_path / "cross-subject.txt").write_text(XSUB)
    (tmp_path / "cross-view.txt").write_text(XVIEW)
    return tmp_path


def run(root: Path, out: str = "out", **kwargs):
    files = [root / "cross-subject.txt", root / "cross-view.txt"]
    kwargs.setdefault("split_file", files)
    return prepare_pku(root / "skeleton", root / "label", root / out, progress=False, **kwargs)


def test_round_trip_tracked(pku):  # the end included, long clips resampled
    summary = run(pku, align=False, preprocess="tracked-first-frame")
    assert summary.written("xsub", "train") == 9 and summary.written("xsub", "test") == 3
    assert summary.written("xview", "train") == 6 and summary.written("xview", "test") == 6
    data = open_dataset(pku / "out" / "xsub")
    assert data.num_classes == 51 and data.class_names[50] == "writing"
    assert "resampled" in data.extra["resampling"] and data.extra["num_resampled"] == 4
    train = data.splits["train"]
    assert train.names[:3] == ["0002-L_01", "0002-L_02", "0002-L_03"]
    assert train.labels[:3].tolist() == [0, 11, 50]
    assert train.lengths[:3].tolist() == [40, 100, 300]
    assert train.ids["views"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    rows = rows_of(0)
    clip = np.asarray(train.data[0])[:, :40]  # rows 10..49 of video 0002-L, camera coordinates
    assert np.allclose(
        clip[:, :, :, 0], rows[10:50, :75].reshape(40, 25, 3).transpose(2, 0, 1), atol=1e-6
    )
    assert (clip[:, :, :, 1] == 0).all()
    both = np.asarray(train.data[1])[:, :100]  # rows 100..199: two people
    assert np.allclose(
        both[:, :, :, 1], rows[100:200, 75:].reshape(100, 25, 3).transpose(2, 0, 1), atol=1e-6
    )
    long = np.asarray(train.data[2])  # rows 0..399 resampled to 300 frames
    assert np.allclose(long[:, 0, :, 0], rows[0, :75].reshape(25, 3).T, atol=1e-6)
    assert np.allclose(long[:, -1, :, 0], rows[399, :75].reshape(25, 3).T, atol=1e-6)
    assert "resampled to 300" in summary.format()


def test_round_trip_reference(pku):  # rows [start, end), long clips cut to their first 300
    summary = run(pku, align=False)
    data = open_dataset(pku / "out" / "xsub")
    assert data.extra["preprocess"] == "reference" and data.extra["num_cut"] == 4
    train = data.splits["train"]
    assert train.lengths[:3].tolist() == [39, 99, 300]
    rows = rows_of(0)
    for i, clip in enumerate([rows[10:49], rows[100:199], rows[0:300]]):
        persons = clip.reshape(len(clip), 2, 25, 3).transpose(3, 0, 2, 1)
        kept = np.asarray(train.data[i])[:, : len(clip), :, : 1 + (i < 2)]
        np.testing.assert_allclose(kept, persons[..., : 1 + (i < 2)], atol=1e-6)
    # person 2 of the long clip (rows 100-199) starts empty: its frames move to the front
    second = rows[100:200, 75:].reshape(100, 25, 3).transpose(2, 0, 1)
    np.testing.assert_allclose(np.asarray(train.data[2])[:, :100, :, 1], second, atol=1e-6)
    first = np.asarray(train.data[0])[..., 0]  # person 1, repeated to 300 frames
    assert np.array_equal(first[:, 39:], first[:, np.arange(261) % 39])
    assert "cut to their first 300 frames" in summary.format()


def test_aligned_clips_are_centred_in_every_frame(pku):
    run(pku)
    sample = np.asarray(open_dataset(pku / "out" / "xview").splits["test"].data[0])
    assert (sample[:, :, 1, 0] == 0).all()  # spine-middle of person 1 at 0 in every frame
    left, right = sample[:, 0, 4, 0], sample[:, 0, 8, 0]
    assert abs(right - left)[1:].max() < 1e-5 and (right - left)[0] > 0  # shoulders on +x


def test_workers_give_the_same_output(pku):
    run(pku, "one")
    run(pku, "two", workers=2)
    for benchmark in ("xsub", "xview"):
        one, two = open_dataset(pku / "one" / benchmark), open_dataset(pku / "two" / benchmark)
        for name, split in one.splits.items():
            assert np.array_equal(split.data, two.splits[name].data)
            assert split.names == two.splits[name].names


def test_split_file_formats(tmp_path):
    official = tmp_path / "cross-view.txt"
    official.write_text(XVIEW)
    assert read_split_file(official)["xview"]["0002-L"] == "test"
    combined = tmp_path / "splits.txt"
    combined.write_text("Cross-Subject\n" + XSUB + "\nCross-View\n" + XVIEW)
    parts = read_split_file(combined)
    assert sorted(parts) == ["xsub", "xview"] and parts["xsub"]["0004-L"] == "test"
    assert len(parts["xsub"]) == 4 and parts["xview"]["0002-M"] == "train"
    unnamed = tmp_path / "split.txt"
    unnamed.write_text(XSUB)
    with pytest.raises(UserError, match="before a benchmark name"):
        read_split_file(unnamed)
    garbage = tmp_path / "cross-subject.txt"
    garbage.write_text("hello world\n")
    with pytest.raises(UserError, match="It starts:\n    hello world"):
        read_split_file(garbage)
    clash = tmp_path / "xsub.txt"
    clash.write_text("Cross-Subject\nTraining videos:\n0002-L\nValidataion videos:\n0002-L\n")
    with pytest.raises(UserError, match="in both the training and the test"):
        read_split_file(clash)


def test_bad_skeleton_file_names_the_line(pku):
    path = pku / "skeleton" / "0003-R.txt"
    lines = path.read_text().splitlines()
    lines[6] = lines[6].rsplit(" ", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"0003-R.txt: line 7: expected 150 numbers"):
        parse_pku_skeleton(path)
    with pytest.raises(UserError, match="line 7"):
        run(pku)
    assert not (pku / "out").exists()
    summary = run(pku, skip_bad=True)
    assert [e.name for e in summary.excluded if e.reason == "bad-file"] == ["0003-R.txt"]
    assert "0003-R.txt" in (pku / "out" / "prepare_report.txt").read_text()


def test_nan_and_text_are_rejected(pku):
    path = pku / "skeleton" / "0002-L.txt"
    text = path.read_text().splitlines()
    for bad, expected in (("nan", "NaN or infinite"), ("abc", "'abc' is not a number")):
        lines = list(text)
        lines[3] = bad + lines[3][lines[3].index(" ") :]
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(UserError, match=f"line 4: {expected}"):
            parse_pku_skeleton(path)


def test_labels_missing_files_and_odd_rows(pku):
    (pku / "label" / "0002-M.txt").write_text("1,60,40,1\n7,350,450,1\n")  # swapped; too long
    (pku / "skeleton" / "0009-L.txt").write_text("0 " * 149 + "0\n")  # in no split file
    summary = run(pku)
    assert any("swapped" in n for n in summary.notes)
    assert any("end frame 450 clipped" in n for n in summary.notes)
    assert [e.name for e in summary.excluded] == ["0009-L.txt"]
    (pku / "label" / "0002-M.txt").write_text("52,1,2,1\n")
    with pytest.raises(UserError, match="line 1: action 52 is outside 1-51"):
        run(pku, "out2")
    (pku / "label" / "0002-M.txt").unlink()
    with pytest.raises(UserError, match=r"0002-M\.txt"):
        run(pku, "out3")
    summary = run(pku, "out4", skip_bad=True, benchmarks=["xview"])
    assert [e.name for e in summary.excluded if e.reason == "bad-file"] == ["0002-M.txt"]
    assert sorted(p.name for p in (pku / "out4").iterdir()) == ["prepare_report.txt", "xview"]


def test_unusual_whitespace_still_parses(tmp_path):
    rows = rows_of(3)[95:105]
    text = "\n".join("\t".join(f"{v:.6f}" for v in row) + "  " for row in rows) + "\n"
    (tmp_path / "a.txt").write_text(text)
    assert np.allclose(parse_pku_skeleton(tmp_path / "a.txt"), rows, atol=1e-6)


def test_class_names():
    names = class_names()
    assert len(names) == 51 and names[0] == "bow" and len(set(names)) == 51
