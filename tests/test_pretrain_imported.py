"""End to end on the new sources: pretraining on imported Kinetics-skeleton 2D clips and on an
SBU fold completes, and the pretrained encoders evaluate and embed (the real copies in
../shared/data when they are there, else files the tests write)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import skelcmd
import skelcmd.train as train
from skelcmd import checkpoints
from skelcmd.cli import main
from skelcmd.config import load_config
from skelcmd.evaluate.embed import embed
from skelcmd.sources.kinetics import import_kinetics
from skelcmd.sources.sbu import import_sbu
from tests.helpers.data_paths import SHARED_DATA
from tests.helpers.tiny import TINY
from tests.sources.test_import_kinetics import LABELS
from tests.sources.test_import_kinetics import write_release as write_kinetics
from tests.sources.test_import_sbu import write_release as write_sbu

KINETICS, SBU = SHARED_DATA / "kinetics_skeleton", SHARED_DATA / "sbu"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_pretraining_on_kinetics_2d_clips(tmp_path, capsys):
    if KINETICS.is_dir():  # the 7 real validation clips, as train and as test split
        pair = (KINETICS / "kinetics_val", KINETICS / "kinetics_val_label.json")
    else:
        pair = write_kinetics(tmp_path / "raw", LABELS)
    import_kinetics(*pair, tmp_path / "k", split="train", test=pair)
    config = load_config(
        None,
        [f"data.path={tmp_path / 'k'}", *TINY, "optim.batch_size=2", "model.encoder=stgcn",
         "model.encoder_args={width: 4, out_dim: 16}"],
    )  # fmt: skip
    last = train.pretrain(config, tmp_path / "run", progress=False)
    state = checkpoints.load_checkpoint(last)
    assert state["channels"] == "xy+score" and state["layout"]["name"] == "openpose18"
    assert state["image_coordinates"] == "centred"  # ST-GCN's x, y - 0.5
    assert np.isfinite([h["loss/total"] for h in state["history"]]).all()
    assert main(["knn", "--checkpoint", str(last), "--data", str(tmp_path / "k")]) == 0
    assert "knn       ensemble" in capsys.readouterr().out
    signed = tmp_path / "signed"  # the same clips scaled as pose estimators' imports are
    convert = ["convert-layout", str(tmp_path / "k"), "--to", "openpose18", str(signed)]
    assert main([*convert, "--image-coordinates", "signed"]) == 0
    assert main(["knn", "--checkpoint", str(last), "--data", str(signed)]) == 2
    said = capsys.readouterr().err
    assert "pretrained on centred" in said and "--image-coordinates centred" in said
    written = np.load(embed(last, tmp_path / "k", tmp_path / "f.npy", stream="bone", device="cpu"))
    encoder = skelcmd.load_encoder(last, stream="bone", device="cpu")
    test = skelcmd.open_dataset(tmp_path / "k").split("test")
    np.testing.assert_array_equal(encoder.embed(test.data, test.lengths), written)
    short = ["--set", "epochs=1", "--set", "frames=16", "--set", "min_frames=16"]
    args = ["--checkpoint", str(last), "--data", str(tmp_path / "k"), "--stream", "bone", *short]
    assert main(["finetune", *args, "--set", "batch_size=2"]) == 0
    assert "finetune  bone" in capsys.readouterr().out
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        out = tmp_path / "bone.onnx"
        assert (
            main(["export", "--checkpoint", str(last), "--out", str(out), "--stream", "bone"]) == 0
        )
        assert "input joints (N, 3, 64, 18, 2)" in capsys.readouterr().out


@pytest.mark.slow
def test_pretraining_on_an_sbu_fold(tmp_path, capsys):
    raw = SBU if SBU.is_dir() else tmp_path / "raw"
    if not SBU.is_dir():
        write_sbu(raw, takes=3)
    fold1 = import_sbu(raw, tmp_path / "sbu")[0]
    config = load_config(None, [f"data.path={fold1}", *TINY])
    last = train.pretrain(config, tmp_path / "run", progress=False)
    state = checkpoints.load_checkpoint(last)
    assert state["layout"]["name"] == "sbu15" and state["num_persons"] == 2
    assert main(["knn", "--checkpoint", str(last), "--data", str(fold1), "--stream", "joint"]) == 0
    assert "knn       joint" in capsys.readouterr().out
