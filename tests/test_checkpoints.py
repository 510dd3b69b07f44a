"""Checkpoints: loading never runs code, and a damaged, foreign or misfitting checkpoint ends
in one message that names it and what differs (numbered comments: the items of issue 13)."""

import os

import numpy as np
import pytest
import torch

import skelcmd.train as train
from skelcmd import checkpoints
from skelcmd.checkpoints import checkpoint_state
from skelcmd.cli import main
from skelcmd.config import load_config
from skelcmd.data.writer import write_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.features import load_encoder_model
from skelcmd.model import build_model
from skelcmd.skeleton import KINECT20, NTU25
from tests.helpers.tiny import TINY, TINY_MODEL
from tests.helpers.user_error import expect_user_error


def edited(source, target, edit):
    """Save a copy of checkpoint `source` with `edit(state["model"])` applied, to `target`."""
    state = torch.load(source, weights_only=True)
    edit(state["model"])
    torch.save(state, target)
    return target


def command(name, checkpoint, data, tmp):
    out = {"embed": ["--out", tmp / "f.npy"], "export": ["--out", tmp / "f.onnx"]}
    args = ["--checkpoint", checkpoint]
    args += [] if name == "export" else ["--data", data]
    return [name, *args, *out.get(name, ["--out", tmp / "eval_out"])]


EVAL_COMMANDS = ["knn", "linear", "finetune", "embed", "export"]


# 2. Loading a checkpoint never runs code embedded in it.
class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", [*EVAL_COMMANDS, "pretrain --resume"])
def test_a_crafted_checkpoint_is_refused_without_running_its_code(name, data, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    run.mkdir()
    evil = run / "last.pt"
    torch.save({"model": _Payload(marker), "config": {}, "epoch": 1}, evil)
    if name == "pretrain --resume":
        args = ["pretrain", "--out", run, "--resume"]
    else:
        args = command(name, evil, data, tmp_path)
    if name == "knn":  # once through a real process: exit 2, no traceback
        expect_user_error(args, names=[evil, "posix.system"], tmp=tmp_path)
    else:
        assert main(list(map(str, args))) == 2
        assert "could run code" in capsys.readouterr().err
    assert not marker.exists()


# 7. --resume says what happened when there is nothing left to train.
def test_resume_of_a_finished_or_longer_run_says_so(run, capsys):
    assert main(["pretrain", "--out", str(run), "--resume"]) == 0
    assert "is finished (2 of 2 epochs); nothing to do" in capsys.readouterr().out
    assert main(["pretrain", "--out", str(run), "--resume", "--set", "optim.epochs=1"]) == 2
    assert "trained 2 epochs, more than optim.epochs=1" in capsys.readouterr().err


# 8, 12. Non-finite weights and weights of another shape: one message in every command.
def _nan(model):
    next(v for v in model.values() if v.is_floating_point()).fill_(float("nan"))


def _missing(model):
    del model[next(k for k in model if k.endswith("encoder_q.input_norm.weight"))]


def _extra(model):
    model["branches.joint.encoder_q.extra.weight"] = torch.zeros(3)


@pytest.mark.parametrize("name", EVAL_COMMANDS)
@pytest.mark.parametrize(
    ("damage", "says"),
    [(_nan, "NaN or infinite weights"), (_missing, "1 missing"), (_extra, "1 unexpected")],
    ids=["nan", "missing", "extra"],
)
def test_bad_weights_are_refused_by_every_command(
    name, damage, says, trained, data, tmp_path, capsys
):
    bad = edited(trained / "last.pt", tmp_path / "bad.pt", damage)
    args = command(name, bad, data, tmp_path)
    if name == "knn" and damage is _nan:  # once through a real process
        expect_user_error(args, names=[bad, says], tmp=tmp_path)
        return
    assert main(list(map(str, args))) == 2
    err = capsys.readouterr().err
    assert says in err and "bad.pt" in err
    assert not (tmp_path / "eval_out").exists()


# 11. --resume with another model or data set layout names what differs.
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("model.queue_size=64", "model.queue_size is 32 in the run, 64 now"),
        ("model.encoder_args={hidden: 4, num_layers: 1}", "model.encoder_args.hidden is 8"),
        ("model.modalities=[joint, bone]", "model.modalities is ['joint', 'motion', 'bone']"),
        ("data.path=KINECT", "the layout is 'ntu25' (25 joints) in the run, 'kinect20'"),
    ],
)
def test_resume_with_another_model_names_the_keys(change, says, run, tmp_path, capsys):
    if "KINECT" in change:
        arrays = {
            "data": np.random.default_rng(0).normal(size=(32, 3, 20, 20, 1)).astype(np.float32),
            "lengths": np.full(32, 20),
            "labels": np.arange(32) % 2,
        }
        masks = {"train": np.ones(32, bool), "test": np.ones(32, bool)}
        kinect = write_dataset(
            tmp_path / "k", KINECT20, ["a", "b"], arrays, masks, source="t", benchmark="x"
        )
        change = f"data.path={kinect}"
    args = ["pretrain", "--out", str(run), "--resume", "--set", "optim.epochs=3", "--set", change]
    assert main(args) == 2
    assert says in capsys.readouterr().err
    assert checkpoints.load_checkpoint(run / "last.pt")["epoch"] == 2  # untouched


# 17. A damaged last.pt falls back to the newest valid epoch_NNNN.pt, and says so.
def test_resume_falls_back_from_a_damaged_last_checkpoint(run, capsys):
    last = run / "last.pt"
    last.write_bytes(last.read_bytes()[:3000])
    (run / "epoch_0002.pt").write_bytes(b"junk")
    assert main(["pretrain", "--out", str(run), "--resume", "--set", "optim.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "last.pt is damaged or incomplete" in out
    assert "Resuming from" in out and "epoch_0001.pt instead (epoch 1)" in out
    assert "epochs 2 to 2 (recorded in history.json) are trained again" in out
    assert checkpoints.load_checkpoint(last)["epoch"] == 3
    for path in [last, *run.glob("epoch_*.pt")]:
        path.write_bytes(b"PK\x03\x04junk")  # a zip archive cut short
    assert main(["pretrain", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "no usable checkpoint" in err
    assert all(f"{n} is damaged" in err for n in ("last.pt", "0001.pt", "0002.pt", "0003.pt"))


# 18. A loss that diverges before the first checkpoint does not advise --resume.
def test_divergence_before_any_checkpoint_does_not_advise_resume(data, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "two_views", lambda x, *a, **k: (x * np.nan, x))
    config = load_config(None, [f"data.path={data}", *TINY])
    with pytest.raises(train.TrainingDiverged) as caught:
        train.pretrain(config, tmp_path / "run", progress=False)
    assert "no checkpoint to resume" in str(caught.value)
    assert "--resume" not in str(caught.value)


def test_a_misshapen_tensor_is_named_not_the_same_layout_twice(tmp_path):
    config = load_config(None, TINY_MODEL)
    model = build_model(config, NTU25, 2)
    state = checkpoint_state(model, config, NTU25, 2)
    key = "branches.joint.head_q.0.weight"
    state["model"][key] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(UserError, match=f"of another shape: {key}") as info:
        load_encoder_model(tmp_path / "last.pt", data_layout=NTU25, num_persons=2)
    assert str(info.value).count("ntu25") <= 1


def test_other_files_are_named_not_pytorch_and_a_classifier_is_told_apart(tmp_path):
    """QA items 2 and 4: a PNG or a text file was "damaged or incomplete"; a classifier file
    given to --checkpoint was sent to `convert-checkpoint`."""
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    (tmp_path / "a.txt").write_text("epochs: 10\n")
    for name, what in (("a.png", "it is a PNG image"), ("a.txt", r"it is text \(beginning 'epo")):
        with pytest.raises(UserError, match=rf"{name} is not a PyTorch file: {what}"):
            checkpoints.read_torch_file(tmp_path / name)
    ok = tmp_path / "ok.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, ok)
    (tmp_path / "cut.pt").write_bytes(ok.read_bytes()[:100])
    with pytest.raises(UserError, match=r"cut\.pt is damaged or incomplete"):
        checkpoints.read_torch_file(tmp_path / "cut.pt")
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(1)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(checkpoints.read_torch_file(legacy)["w"], torch.ones(1))
    torch.save({"skelcmd_classifier": 1, "classes": ["a"], "preparation": {}}, tmp_path / "c.pt")
    with pytest.raises(UserError) as caught:
        checkpoints.load_checkpoint(tmp_path / "c.pt")
    assert "c.pt is a classifier (written by `skelcmd linear --save`" in str(caught.value)
    assert "`skelcmd predict --model` or `skelcmd export --model`" in str(caught.value)
    assert "must first go through" not in str(caught.value)
    torch.save({"epoch": 1, "state_dict": {}, "optimizer": {}}, tmp_path / "ref.pth.tar")
    with pytest.raises(UserError, match=r"reference CMD code, which must first go through `sk"):
        checkpoints.load_checkpoint(tmp_path / "ref.pth.tar")
