"""A misspelt standard split name (`trian`, `tset`) is refused where it is given, instead of
silently becoming a split of its own; other names are taken as given. And a missing split
says which to choose."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelcmd.data.format import check_split_name, open_dataset, split_typo
from skelcmd.errors import UserError
from tests.data.test_format import make_split, write

TYPOS = {
    "trian": "train", "tarin": "train", "rtain": "train", "trainn": "train", "trai": "train",
    "tran": "train", "traim": "train", "Train": "train", "TRAIN": "train", "Trian": "train",
    "tset": "test", "tets": "test", "tes": "test", "tst": "test", "testt": "test",
    "tests": "test", "Test": "test", "vla": "val", "avl": "val", "vall": "val", "va": "val",
    "vl": "val", "VAL": "val",
}  # fmt: skip
TAKEN = [
    "train", "test", "val", "xsub_train", "xsub_val", "xview_test", "xset_test", "fold1",
    "fold 1", "train_a", "train-a", "train1", "test2", "val0", "valid", "validation", "eval",
    "dev", "rest", "best", "rain", "all", "holdout", "unlabelled", "testing", "training",
    "trains_x", "t", "v", "ünlabelled",
]  # fmt: skip


@pytest.mark.parametrize(("name", "meant"), TYPOS.items())
def test_a_misspelt_standard_split_is_refused_naming_where_and_what(name, meant):
    assert split_typo(name) == meant
    with pytest.raises(UserError, match=rf"^m\.csv, line 3: split '{name}' looks like a typo of "):
        check_split_name(name, "m.csv, line 3")
    with pytest.raises(UserError, match=rf"typo of '{meant}'; correct it"):
        check_split_name(name, "x")


@pytest.mark.parametrize("name", TAKEN)
def test_other_names_are_taken_as_given(name):
    assert split_typo(name) is None
    assert check_split_name(name, "x") == name


def test_a_written_data_set_with_such_a_split_still_opens_but_a_new_one_is_refused(tmp_path):
    d, l, y = make_split(np.random.default_rng(0), 2, 5)
    batch = [dict(data=d, lengths=l, labels=y)]
    with pytest.raises(UserError, match=r"ds: split 'trian' looks like a typo of 'train'"):
        write(tmp_path / "ds", {"trian": batch})
    assert not (tmp_path / "ds").exists()
    # A data set written before the check keeps opening (`typos=False` on read).
    path = write(tmp_path / "old", {"fold": batch})
    meta = json.loads((path / "meta.json").read_text())
    meta["splits"]["trian"] = meta["splits"].pop("fold")
    (path / "meta.json").write_text(json.dumps(meta))
    (path / "fold").rename(path / "trian")
    assert len(open_dataset(path).split("trian")) == 2


def test_a_missing_split_says_which_to_choose(tmp_path):
    d, l, y = make_split(np.random.default_rng(0), 2, 5)
    batch = [dict(data=d, lengths=l, labels=y)]
    path = write(tmp_path / "ds", {"train": batch, "fold2": batch})
    with pytest.raises(UserError) as caught:
        open_dataset(path).split("test")
    assert str(caught.value) == (
        f"data set {path} has no split 'test'; it has train, fold2. Choose one of: train, fold2 "
        "(e.g. --split train where the command has a --split option), or re-create the data "
        "set with a split 'test'."
    )
