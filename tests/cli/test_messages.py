"""QA pass on messages: a user's mistake is one paragraph saying what is wrong, with which file,
and what to do (exit status 2), never a silently wrong result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from skelcmd.distributed import pick_device
from skelcmd.errors import UserError
from tests.helpers.user_error import expect_user_error
from tests.sources.test_import_clips import V
from tests.sources.test_import_openpose import body25_pose, write_frames


def test_a_split_typo_in_a_labels_file_or_manifest_is_refused_not_made_a_split(tmp_path):
    write_frames(tmp_path / "j" / "cam01", [[body25_pose(t)] for t in range(6)], name="cam01")
    labels = tmp_path / "l.csv"
    labels.write_text("video,label,start,end,split\ncam01,balancing,0,5,trian\n")
    args = ["import", "openpose", tmp_path / "j", tmp_path / "out", "--labels", labels]
    expect_user_error(
        [*args, "--image-size", "640x480"],
        names=["l.csv, line 2: split 'trian' looks like a typo of 'train'"],
        tmp=tmp_path,
    )
    np.save(tmp_path / "a.npy", np.zeros((4, V, 3)))
    np.save(tmp_path / "b.npy", np.zeros((4, V, 3)))
    (tmp_path / "m.csv").write_text("path,label,split\na.npy,x,train\nb.npy,y,tset\n")
    expect_user_error(
        ["import", "clips", tmp_path / "m.csv", tmp_path / "out", "--layout", "kinect20"],
        names=["m.csv, line 3: split 'tset' looks like a typo of 'test'"],
        tmp=tmp_path,
    )


def test_a_missing_split_and_our_own_checkpoint_to_convert_say_what_to_do(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, V, 3)))
    (tmp_path / "m.csv").write_text("path,label,split\na.npy,x,train\n")

    args = ["import", "clips", str(tmp_path / "m.csv"), str(tmp_path / "ds")]
    assert main([*args, "--layout", "kinect20"]) == 0
    assert list(open_dataset(tmp_path / "ds").splits) == ["train"]
    expect_user_error(
        ["show", tmp_path / "ds", "--out", tmp_path / "x.png"],
        names=["has no split 'test'; it has train. Choose one of: train (e.g. --split train"],
        tmp=tmp_path,
    )
    torch.save({"model": {"w": torch.zeros(1)}, "config": {}}, tmp_path / "last.pt")
    result = expect_user_error(
        ["convert-checkpoint", tmp_path / "last.pt", tmp_path / "out.pt"],
        names=["last.pt is already a skelcmd checkpoint", "needs no conversion"],
        tmp=tmp_path,
    )
    assert "}}" not in result.stderr + result.stdout


def test_device_and_export_messages_name_what_the_user_typed(tmp_path, capsys):
    with pytest.raises(UserError, match=r"device 'gpu' \(--device, or train.device"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"\(--device, or train.device in a config\) but CUDA"):
            pick_device("cuda")
    assert main(["export", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "export got neither of --checkpoint and --model" in capsys.readouterr().err
