"""Issue 13, checkpoints: loading never runs code, and a damaged, foreign or misfitting
checkpoint ends in one message that names it and what differs (numbers: the issue's items)."""

import os

import numpy as np
import pytest
import torch

import safety_runs
import skelcmd.train as train
from safety_runs import EVAL_COMMANDS, command, edited
from skelcmd.cli import main
from skelcmd.config import load_config
from skelcmd.data.writer import write_dataset
from skelcmd.skeleton import KINECT20
from tiny import TINY
from user_error import expect_user_error

data, trained, run = safety_runs.data, safety_runs.trained, safety_runs.run  # fixtures


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
    assert train.load_checkpoint(run / "last.pt")["epoch"] == 2  # untouched


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
    assert train.load_checkpoint(last)["epoch"] == 3
    for path in [last, *run.glob("epoch_*.pt")]:
        path.write_bytes(b"junk")
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
