"""`skelcmd.locking.folder_lock`: the lock file is skelcmd's own, never a file it points to."""

import os

import pytest

from skelcmd.errors import UserError
from skelcmd.locking import LOCK_FILE, folder_lock


@pytest.mark.parametrize("kind", ["file", "missing", "folder"])
def test_a_lock_that_is_a_symbolic_link_is_refused_and_its_target_kept(tmp_path, kind):
    """Issue 22 item 4: a link run/.skelcmd.lock -> victim.txt made the run overwrite (then
    delete the link to) victim.txt."""
    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "victim.txt"
    if kind == "file":
        victim.write_text("precious\n")
    elif kind == "folder":
        victim.mkdir()
    (run / LOCK_FILE).symlink_to(victim)
    with pytest.raises(UserError, match=r"\.skelcmd\.lock is not a regular file"):
        with folder_lock(run, "pretrain"):
            pass
    assert (run / LOCK_FILE).is_symlink()  # left for the user to look at
    if kind == "file":
        assert victim.read_text() == "precious\n"
    else:
        assert victim.exists() == (kind == "folder")


def test_a_lock_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / LOCK_FILE)
    with pytest.raises(UserError, match="is not a regular file"):
        with folder_lock(tmp_path, "pretrain"):
            pass


def test_the_lock_file_is_created_and_removed(tmp_path):
    with folder_lock(tmp_path / "run", "pretrain") as folder:
        text = (folder / LOCK_FILE).read_text()
        assert f"process {os.getpid()}" in text
    assert not (tmp_path / "run").exists()  # created for the lock, empty again
