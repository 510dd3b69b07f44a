import errno
import os
import signal
import subprocess
import sys

import pytest
import torch

import skelcmd.train as train
from skelcmd.atomic import atomic_path, staged_outputs, sweep_stale, temp_sibling, user_text
from skelcmd.errors import UserError
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.user_error import expect_user_error


def test_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("hello")
        assert not target.exists()
        assert tmp.parent == target.parent
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_error_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_directories_are_replaced_whole(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target, directory=True) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_refuses_to_overwrite_when_asked(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        with atomic_path(target, overwrite=False):
            pass
    assert target.read_text() == "old"


def test_a_file_never_replaces_a_folder_nor_a_folder_a_file(tmp_path):
    folder, file = tmp_path / "run", tmp_path / "x.txt"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    file.write_text("old")
    with pytest.raises(UserError, match="is a folder; this output is a single file"):
        with atomic_path(folder) as tmp:
            tmp.write_text("onnx")
    with pytest.raises(UserError, match="is a file; a folder cannot replace it"):
        with atomic_path(file, directory=True) as tmp:
            tmp.mkdir()
    assert (folder / "keep.txt").read_text() == "keep" and file.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "x.txt"]


def test_failed_write_removes_the_folders_it_created(tmp_path):
    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "a" / "b" / "out.txt") as tmp:
            tmp.write_text("half")
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def dead_pid():
    """The id of a process that has exited."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_dead_processes_are_swept_and_a_swapped_out_target_restored(tmp_path):
    import os

    def left_by(pid, target, kind="tmp"):
        """The name `atomic_path` gives its temporary, as if process `pid` had made it."""
        name = temp_sibling(target, kind).name.replace(f"-{os.getpid()}-", f"-{pid}-")
        return target.with_name(name)

    target = tmp_path / "last.pt"
    dead, alive = dead_pid(), os.getppid()
    stale, running = left_by(dead, target), left_by(alive, target)
    other = left_by(dead, tmp_path / "other.pt")
    host = stale.name[-8:-4]  # the digest of this host's name that starts the tag
    elsewhere = tmp_path / f".last.pt.tmp-{dead}-{'0000' if host != '0000' else '1111'}abcd"
    for path in (stale, running, other, elsewhere):  # elsewhere: another host's process
        path.write_text("x")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    kept = ["last.pt", running.name, other.name, elsewhere.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    # a crash between the two renames of a folder replacement: the old one comes back
    data = tmp_path / "ds"
    old, new = left_by(dead, data, "old"), left_by(dead, data)
    old.mkdir()
    (old / "meta.json").write_text("{}")
    new.mkdir()
    sweep_stale(data)
    assert (data / "meta.json").read_text() == "{}"
    assert not old.exists() and not new.exists()


def test_staged_outputs_arrive_together_or_not_at_all(tmp_path):
    out = tmp_path / "report"
    with pytest.raises(KeyError):
        with staged_outputs(out, "report") as stage:
            (stage / "accuracy.png").write_text("png")
            raise KeyError("boom")
    assert not out.exists()
    out.mkdir()
    (out / "accuracy.png").write_text("old")
    with staged_outputs(out, "report") as stage:
        (stage / "accuracy.png").write_text("new")
        (stage / "report.md").write_text("md")
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "report.md"]
    assert (out / "accuracy.png").read_text() == "new"


# Issue 13, item 19: a temporary left by SIGKILL mid-write (the other leftovers:
# tests/cli/test_file_safety.py).
def test_a_temporary_left_by_sigkill_is_swept_by_the_next_write(run):
    code = (
        "import os, signal, sys\n"
        "from skelcmd.atomic import atomic_path\n"
        "tmp = atomic_path(sys.argv[1]).__enter__()\n"
        "tmp.write_bytes(b'half a checkpoint')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(run / "last.pt")])
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in run.glob(".last.pt.tmp-*")]
    train.save_checkpoint(run / "last.pt", torch.load(run / "last.pt", weights_only=True))
    assert not list(run.glob(".last.pt.tmp-*"))


# Issue 13, item 21: messages name the user's paths, never a temporary.
def test_no_message_names_a_temporary(tmp_path):
    temp = temp_sibling(tmp_path / "a.b" / "x.png")
    assert ".tmp-" in temp.name
    text = user_text(f"File name too long ({temp}); {temp_sibling(tmp_path / 'ds')}/train")
    assert text == f"File name too long ({tmp_path / 'a.b' / 'x.png'}); {tmp_path / 'ds'}/train"
    assert user_text("keep a.b.tmp-1-abcdef12 and x.png") == "keep a.b.tmp-1-abcdef12 and x.png"
    long = tmp_path / ("a" * 245 + ".png")  # legal, but its temporary name is too long
    (data,) = write_synthetic(tmp_path, num_samples=25, benchmarks=["xsub"])
    result = expect_user_error(["show", data, "--out", long], tmp=tmp_path)
    assert long.name in result.stderr and ".tmp-" not in result.stderr


# Issue 22, item 5: no message is megabytes long; a cut one says so.
def test_long_messages_are_cut_and_say_so():
    assert user_text("short") == "short"
    text = user_text("x" * 50_000_000)
    assert len(text) < 2100 and "message cut: 50,000,000 characters" in text


# Issue 22, item 7: a full disk is "disk full while writing FILE", temporaries removed.
def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out" / "x.bin"
    with pytest.raises(UserError, match=f"disk full while writing {target}"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"abc")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    # torch's zip writer reports a short write as a RuntimeError: on a full disk, the same
    full = type("Full", (), {"f_bavail": 0, "f_frsize": 4096})()
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    with pytest.raises(UserError, match=f"disk full while writing {target}"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"abc")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 7")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target):
        raise RuntimeError("boom")  # with space left, an error is itself
    with pytest.raises(UserError, match=f"disk full while writing {tmp_path / 'report'}"):
        with staged_outputs(tmp_path / "report") as stage:
            (stage / "a.txt").write_text("a")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
