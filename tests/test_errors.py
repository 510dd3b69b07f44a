"""Messages of user errors: a folder is called a folder, and a binary file is never echoed
raw on the terminal (item 21 of issue 13)."""

import pytest

from skelcmd.config import read_yaml
from skelcmd.data.format import read_npy
from skelcmd.errors import UserError, excerpt, looks_binary
from skelcmd.skeleton import get_layout
from skelcmd.sources.classnames import resolve_class_names
from skelcmd.sources.npz import import_npz
from skelcmd.sources.pku import read_split_file
from skelcmd.sources.pyskl import load_pickle


def test_a_folder_where_a_file_is_expected_is_called_a_folder(tmp_path):
    folder = tmp_path / "in.yaml"
    folder.mkdir()
    for call in (
        lambda: import_npz(folder, tmp_path / "out"),
        lambda: load_pickle(folder),
        lambda: get_layout(folder),
        lambda: read_yaml(folder),
        lambda: resolve_class_names(str(folder), 3, "x"),
        lambda: read_split_file(folder),
        lambda: read_npy(folder),
    ):
        with pytest.raises(UserError, match="a folder") as info:
            call()
        assert "does not exist" not in str(info.value)


def test_a_binary_file_is_not_echoed_raw(tmp_path):
    (tmp_path / "cross-subject.txt").write_bytes(b"\x1b[2J\x00\x07PK\x03\x04" * 50)
    with pytest.raises(UserError, match="is not a text file") as info:
        read_split_file(tmp_path / "cross-subject.txt")
    assert not any(ch in str(info.value) for ch in "\x1b\x00\x07")
    assert excerpt("a\x1b[2Jb" + "c" * 100, 10) == "'a\\x1b[2Jbcccc'..."
    assert looks_binary("\x00abc") and not looks_binary("Training videos:\n0002-L, 0003-M\n")
