"""Messages of user errors: a folder is called a folder, and a binary file is never echoed
raw on the terminal (item 21 of issue 13)."""

import re

import pytest

from skelcmd.config import read_yaml
from skelcmd.data.format import read_npy
from skelcmd.errors import UserError, excerpt, looks_binary, read_json
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


# read_json: every way a JSON file the user gave can be wrong is a UserError naming the file
# and what it should hold; nesting too deep for the decoder was a RecursionError traceback.
def test_read_json_reads_a_good_file_as_utf8(tmp_path):
    path = tmp_path / "good.json"
    path.write_bytes('{"name": "Fußball", "values": [1, 2.5, null]}'.encode())
    assert read_json(path, "a test") == {"name": "Fußball", "values": [1, 2.5, None]}
    assert read_json(str(path), "a test")["name"] == "Fußball"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "it does not exist"),
        (lambda p: p.mkdir(), "it is a folder, not a file"),
        (
            lambda p: p.write_bytes(b'{"a": "\xff\xfe"}'),
            r"not UTF-8 text \(byte 0xff at offset 7\)",
        ),
        (lambda p: p.write_text('{"a": '), r"not valid JSON \(Expecting value: line 1 column 7"),
        (lambda p: p.write_text("[1] [2]"), r"not valid JSON \(Extra data"),
    ],
    ids=["missing", "folder", "not-utf8", "truncated", "extra-data"],
)
def test_read_json_refuses_a_bad_file_naming_it(tmp_path, make, reason):
    path = tmp_path / "in.json"
    make(path)
    with pytest.raises(UserError) as info:
        read_json(path, "poses", "give the file the tool wrote")
    message = str(info.value)
    assert message.startswith(f"{path} is not a readable JSON file of poses: ")
    assert re.search(reason, message), message
    assert message.endswith("; give the file the tool wrote.")


def test_read_json_refuses_nesting_too_deep_for_the_decoder(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(
        UserError, match=r"deep\.json is nested too deeply to be a JSON file of poses\.$"
    ):
        read_json(path, "poses")
    path.write_text('{"a": ' * 200_000 + "1" + "}" * 200_000)
    with pytest.raises(UserError, match=r"deep\.json is nested too deeply"):
        read_json(path, "poses")
