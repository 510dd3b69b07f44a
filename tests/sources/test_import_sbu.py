"""SBU Kinect Interaction import: units, folds and joint order against plain versions, every user
error, and the real release when ../shared/data is there."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import SBU15
from skelcmd.sources.sbu import FOLDS, SBU_CLASSES, import_sbu
from tests.helpers.data_paths import SHARED_DATA
from tests.helpers.user_error import expect_user_error

REAL = SHARED_DATA / "sbu"


def plain_metres(row: list[float]) -> np.ndarray:
    """One file row -> (3, 15, 2) metres, with the dataset authors' formulas, joint by joint."""
    out = np.zeros((3, 15, 2))
    for m in range(2):
        for v in range(15):
            x, y, z = row[1 + (m * 15 + v) * 3 : 1 + (m * 15 + v) * 3 + 3]
            out[:, v, m] = [
                (1280 - x * 2560) / 1000,
                (960 - y * 1920) / 1000,
                z * 10000 / 7.8125 / 1000,
            ]
    return out


def write_release(root: Path, takes: int = 1, rng=None) -> dict[str, np.ndarray]:
    """Every pair of the 5 folds with classes 1 and 8 (`takes` takes each) of 3 + k frames."""
    rng = rng or np.random.default_rng(0)
    rows = {}
    for pair in sorted(p for fold in FOLDS for p in fold):
        for action in (1, 8):
            for take in range(1, takes + 1):
                folder = root / pair / f"{action:02d}" / f"{take:03d}"
                folder.mkdir(parents=True)
                frames = 3 + (action + take) % 3
                values = rng.uniform(0, 1.5, (frames, 90)).round(5)
                table = np.column_stack([np.arange(10, 10 + frames), values])
                lines = [",".join(f"{v:g}" for v in row) for row in table]
                (folder / "skeleton_pos.txt").write_text("\n".join(lines) + "\n")
                rows[f"{pair}_{action:02d}_{take:03d}"] = table
    return rows


def test_folds_units_and_order(tmp_path):
    rows = write_release(tmp_path / "raw", takes=2)
    outs = import_sbu(tmp_path / "raw", tmp_path / "sbu")
    assert [p.name for p in outs] == ["fold1", "fold2", "fold3", "fold4", "fold5"]
    for k, (out, fold) in enumerate(zip(outs, FOLDS, strict=True), 1):
        ds = open_dataset(out)
        assert (ds.layout, ds.class_names, ds.source, ds.benchmark) == (
            SBU15,
            SBU_CLASSES,
            "sbu",
            f"fold{k}",
        )
        test, train = ds.split("test"), ds.split("train")
        assert {n[:6] for n in test.names} == set(fold)
        assert not {n[:6] for n in train.names} & set(fold)
        assert len(test) + len(train) == len(rows)
        for split in (test, train):
            for i, name in enumerate(split.names):
                table = rows[name]
                assert split.lengths[i] == len(table)
                assert split.labels[i] == int(name[7:9]) - 1
                assert split.ids["replications"][i] == int(name[10:])
                assert split.ids["subjects"][i] == int(name[1:3]) * 100 + int(name[4:6])
                for t, row in enumerate(table):
                    np.testing.assert_allclose(
                        split.data[i, :, t], plain_metres(list(row)), rtol=1e-6
                    )
                assert not split.data[i, :, len(table) :].any()


def test_user_errors(tmp_path):
    write_release(tmp_path / "raw")
    target = tmp_path / "raw" / "s01s02" / "01" / "001" / "skeleton_pos.txt"
    good = target.read_text()
    lines = good.splitlines()

    def fails(match):
        with pytest.raises(UserError, match=match):
            import_sbu(tmp_path / "raw", tmp_path / "sbu")
        assert not (tmp_path / "sbu").exists()

    target.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0], *lines[2:]]))
    fails(r"skeleton_pos\.txt, line 2: 90 numbers, but the first line of numbers has 91")
    target.write_text("\n".join([lines[0], lines[0], *lines[2:]]))
    fails(r"skeleton_pos\.txt, line 2: frame number 10 does not increase")
    target.write_text(good.replace(",", ";", 1))
    fails(r"skeleton_pos\.txt, line 1: .* is not a number")
    target.write_text(good)
    (tmp_path / "raw" / "s09s09").mkdir()
    fails(r"s09s09 is not one of the 21 actor pairs")
    (tmp_path / "raw" / "s09s09").rmdir()
    target.unlink()
    fails(r"001 has no skeleton_pos\.txt")
    expect_user_error(["import", "sbu", tmp_path / "raw", tmp_path / "sbu"], names=["001"],
                      tmp=tmp_path)  # fmt: skip


def test_a_coordinate_beyond_float32_is_refused_without_a_raw_warning(tmp_path):
    """Issue 22 item 12: 1e39 printed numpy's 'overflow encountered in cast' first."""
    write_release(tmp_path / "raw")
    target = tmp_path / "raw" / "s01s02" / "01" / "001" / "skeleton_pos.txt"
    lines = target.read_text().splitlines()
    target.write_text("\n".join([lines[0].rsplit(",", 1)[0] + ",1e39", *lines[1:]]) + "\n")
    with pytest.raises(UserError, match=r"s01s02_01_001 holds .*too large for float32"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            import_sbu(tmp_path / "raw", tmp_path / "sbu")
    assert not (tmp_path / "sbu").exists()


@pytest.mark.parametrize("preprocess", ["tracked-first-frame", "reference"])
def test_normalised_like_ntu_on_request(tmp_path, preprocess):
    write_release(tmp_path / "raw")
    assert open_dataset(import_sbu(tmp_path / "raw", tmp_path / "a")[0]).extra["aligned"] is False
    args = ["import", "sbu", str(tmp_path / "raw"), str(tmp_path / "b"), "--preprocess", preprocess]
    assert main(args) == 0
    ds = open_dataset(tmp_path / "b" / "fold1")
    assert ds.extra["aligned"] is True and ds.extra["preprocess"] == preprocess
    torso, neck = SBU15.index("torso"), SBU15.index("neck")
    left, right = SBU15.index("shoulder_left"), SBU15.index("shoulder_right")
    for split in ds.splits.values():
        first = split.data[:, :, 0, :, 0]  # person 1, frame 0: (N, 3, V)
        np.testing.assert_allclose(first[:, :, torso], 0, atol=1e-5)
        up = first[:, :, neck] - first[:, :, torso]
        across = first[:, :, right] - first[:, :, left]
        assert (across[:, 0] > 0).all()
        np.testing.assert_allclose(across[:, 1], 0, atol=1e-4)  # no y in the shoulder line
        if preprocess == "tracked-first-frame":  # one rotation: torso -> neck exactly on +z
            np.testing.assert_allclose(up[:, :2], 0, atol=1e-4)
            assert (up[:, 2] > 0).all()
        else:  # the reference's second rotation puts the shoulders exactly on +x
            np.testing.assert_allclose(across[:, 2], 0, atol=1e-4)


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/data/sbu")
def test_the_real_release(tmp_path, capsys):
    assert main(["import", "sbu", str(REAL), str(tmp_path / "sbu")]) == 0
    assert capsys.readouterr().out.count("wrote") == 5
    sizes, seen = [], set()
    for k in range(1, 6):
        ds = open_dataset(tmp_path / "sbu" / f"fold{k}")
        test, train = ds.split("test"), ds.split("train")
        assert len(test) + len(train) == 282
        sizes.append(len(test))
        seen |= set(test.names)
    assert sum(sizes) == 282 and len(seen) == 282  # every sequence tested exactly once
    first = REAL / "s01s02" / "01" / "001" / "skeleton_pos.txt"
    table = np.loadtxt(first, delimiter=",")
    ds = open_dataset(tmp_path / "sbu" / "fold2")  # s01s02 trains in fold 2
    i = ds.split("train").names.index("s01s02_01_001")
    sample = ds.split("train").data[i]
    for t in (0, len(table) - 1):
        np.testing.assert_allclose(sample[:, t], plain_metres(list(table[t])), rtol=1e-6)
    head, foot = SBU15.index("head"), SBU15.index("foot_left")
    height = np.linalg.norm(sample[:, 0, head, 0] - sample[:, 0, foot, 0])
    assert 1.2 < height < 2.0  # metres: a standing person
