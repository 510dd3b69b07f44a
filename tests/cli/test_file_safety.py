"""Outputs of the commands: an output never replaces what the user did not ask to replace,
and nothing is left behind by a failure, a signal or a second run (numbered comments: the
items of issue 13; the checkpoint items are in tests/test_checkpoints.py)."""

import errno
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from skelcmd.cli import main
from skelcmd.locking import folder_lock
from tests.helpers.tiny import TINY, set_options
from tests.helpers.user_error import expect_user_error, run_cli, snapshot_tree


# 1. A single-file --out never replaces a folder.
@pytest.mark.parametrize("name", ["export", "show", "embed"])
def test_single_file_out_never_replaces_a_folder(name, run, data, tmp_path):
    folder = {"export": run, "show": tmp_path / "x.png", "embed": tmp_path / "x.npy"}[name]
    folder.mkdir(exist_ok=True)
    (folder / "keep.txt").write_text("mine")
    args = {
        "export": ["export", "--checkpoint", run / "last.pt", "--out", folder],
        "show": ["show", data, "--out", folder],
        "embed": ["embed", "--checkpoint", run / "last.pt", "--data", data, "--out", folder],
    }[name]
    expect_user_error(args, names=[folder, "is a folder"], tmp=tmp_path)


def test_an_output_never_replaces_the_commands_input(run, capsys):
    last = run / "last.pt"
    before = last.read_bytes()
    for args in (
        ["export", "--checkpoint", last, "--out", last],
        ["convert-checkpoint", last, last],
    ):
        assert main(list(map(str, args))) == 2
        assert "is also this command's input" in capsys.readouterr().err
    assert last.read_bytes() == before


# Issue 22 item 1: no command writes inside a data set it reads.
def test_no_command_writes_inside_its_input_data_set(run, data, tmp_path, capsys):
    copy = shutil.copytree(data, tmp_path / "data")
    before = snapshot_tree(copy)
    last = run / "last.pt"
    inside = copy / "test"
    pretrain_set = set_options([*TINY, f"data.path={copy}"])
    for args in (
        ["embed", "--checkpoint", last, "--data", copy, "--out", inside / "labels.npy"],
        ["embed", "--checkpoint", last, "--data", copy, "--split", "train", "--out",
         copy / "train" / "data.npy"],
        ["export", "--checkpoint", last, "--data", copy, "--out", inside / "e.onnx"],
        ["show", copy, "--out", inside / "s.png"],
        ["knn", "--checkpoint", last, "--data", copy, "--out", inside],
        ["pretrain", "--config", "synthetic_cpu", *pretrain_set, "--out", copy],
        ["pretrain", "--config", "synthetic_cpu", *pretrain_set, "--out", inside / "run"],
    ):  # fmt: skip
        assert main(list(map(str, args))) == 2, args
        assert "lies inside the input" in capsys.readouterr().err, args
    assert snapshot_tree(copy) == before


# 3. --overwrite replaces only a skelcmd data set, and never one holding or inside an input.
def _utd_raw(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for subject in (1, 2):
        skel = np.random.default_rng(subject).normal(size=(20, 3, 12))
        scipy.io.savemat(folder / f"a1_s{subject}_t1_skeleton.mat", {"d_skel": skel})
    return folder


def _npz(path):
    x = np.random.default_rng(0).normal(size=(4, 10, 150)).astype(np.float32)
    np.savez(path, x_train=x, y_train=np.arange(4), x_test=x, y_test=np.arange(4))
    return path


def test_overwrite_never_deletes_an_input_or_a_folder_skelcmd_did_not_write(tmp_path):
    raw = _utd_raw(tmp_path / "raw")
    expect_user_error(
        ["import", "utd-mhad", raw, raw, "--overwrite"], names=[raw, "meta.json"], tmp=tmp_path
    )
    out = tmp_path / "out"
    out.mkdir()
    archive = _npz(out / "a.npz")
    (out / "notes.txt").write_text("mine")
    expect_user_error(["import", "npz", archive, out, "--overwrite"], names=[out], tmp=tmp_path)
    # a data set that holds its own input, or lies inside the input folder
    dataset = tmp_path / "ds"
    assert run_cli(["import", "npz", archive, dataset]).returncode == 0
    inside = shutil.copy(archive, dataset / "a.npz")
    expect_user_error(
        ["import", "npz", inside, dataset, "--overwrite"], names=[dataset, "contains the input"]
    )
    assert run_cli(["import", "utd-mhad", raw, raw / "ds"]).returncode == 0
    expect_user_error(
        ["import", "utd-mhad", raw, raw / "ds", "--overwrite"], names=["lies inside the input"]
    )
    assert run_cli(["import", "npz", archive, dataset, "--overwrite"]).returncode == 0


# 19. Leftovers: SIGTERM mid-import, a failed import, a failed report (SIGKILL mid-write:
# tests/test_atomic.py).
def test_sigterm_during_an_import_cleans_up_like_ctrl_c(tmp_path):
    archive = _npz(tmp_path / "a.npz")
    code = (
        "import sys, time\n"
        "import skelcmd.data.writer as writer\n"
        "from skelcmd.cli import main\n"
        "def slow(*args, **kwargs):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(120)\n"
        "writer.SplitWriter.append = slow\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    before = snapshot_tree(tmp_path)
    args = [sys.executable, "-c", code, "import", "npz", str(archive), str(tmp_path / "a" / "ds")]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    assert list((tmp_path / "a").glob(".ds.tmp-*"))
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert snapshot_tree(tmp_path) == before


def test_failed_import_and_failed_report_leave_nothing(run, data, tmp_path):
    raw = _utd_raw(tmp_path / "raw")
    (raw / "a1_s2_t1_skeleton.mat").write_bytes(b"not a mat file")
    expect_user_error(
        ["import", "utd-mhad", raw, tmp_path / "new" / "deeper" / "ds"],
        names=["a1_s2_t1_skeleton.mat"],
        tmp=tmp_path,
    )
    assert main(["knn", "--checkpoint", str(run / "last.pt"), "--data", str(data)]) == 0
    (run / "history.json").write_text("{broken")
    out = tmp_path / "report"
    expect_user_error(["report", run, "--out", out], names=["history.json"], tmp=tmp_path)


# 20. Two pretraining runs never share a run directory.
def test_a_second_run_into_a_locked_folder_names_the_first(run, data, tmp_path):
    args = ["pretrain", "--config", "synthetic_cpu", "--out", run / "new", *set_options(TINY)]
    args += ["--set", f"data.path={data}"]
    with folder_lock(run / "new", "pretrain"):
        expect_user_error(args, names=[f"process {os.getpid()}", "in use"], tmp=tmp_path)
    assert not (run / "new").exists()  # the lock's folder goes with it, as it came
    assert not (run / ".skelcmd.lock").exists()  # the run that wrote it has let go


# Issue 22, item 7: a full disk ends any command with "disk full while writing FILE", exit
# status 2, and no temporary left (here the disk is made full by refusing allocation).
def test_a_full_disk_is_a_user_error_naming_the_output(tmp_path):
    code = (
        "import errno, os, sys\n"
        "from skelcmd.cli import main\n"
        "def no_space(*args):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "os.posix_fallocate = no_space\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = [sys.executable, "-c", code, "synth", str(tmp_path / "out"), "--samples", "40"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"disk full while writing {tmp_path / 'out'}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_outside_an_atomic_write_is_named_too(tmp_path, monkeypatch, capsys):
    import skelcmd.synthetic.generator as generator

    def no_space(out_dir, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", f"{out_dir}/events")

    monkeypatch.setattr(generator, "write_synthetic", no_space)
    assert main(["synth", str(tmp_path / "out")]) == 2
    assert f"disk full while writing {tmp_path / 'out' / 'events'}" in capsys.readouterr().err
