"""`skelcmd info` (`skelcmd.data.info.describe`): names from meta.json reach the terminal
escaped."""

import json

import numpy as np

from skelcmd.data.format import open_dataset
from skelcmd.data.info import describe
from skelcmd.data.writer import write_dataset
from skelcmd.skeleton import NTU25


def test_control_characters_in_names_are_escaped(tmp_path):
    """Issue 22 item 12: a crafted meta.json could send escape sequences to the terminal."""
    data = np.zeros((2, 3, 4, 25, 1), np.float32)
    arrays = {"data": data, "lengths": np.array([4, 4]), "labels": np.array([0, 1])}
    path = write_dataset(
        tmp_path / "ds", NTU25, ["a", "b"], arrays, {"train": np.array([True, True])},
        source="s", benchmark="b",
    )  # fmt: skip
    meta = json.loads((path / "meta.json").read_text())
    meta["class_names"] = ["\x1b[2Jwipe", "b\x07"]
    meta["source"], meta["layout"]["name"] = "s\x1b]0;title\x07", "l\x1bx"
    (path / "meta.json").write_text(json.dumps(meta))
    text = describe(open_dataset(path))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2Jwipe" in text and "s\\x1b]0;title\\x07" in text and "l\\x1bx" in text
    assert "\n" in text and "split" in text
