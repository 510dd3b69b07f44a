import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import skelcmd.train as train
from skelcmd import checkpoints, schedule
from skelcmd.cli import main
from skelcmd.config import load_config
from skelcmd.errors import UserError
from tests.helpers.tiny import TINY, set_options


def tiny_config(data, *extra):
    return load_config(None, [f"data.path={data}", *TINY, *extra])


def test_learning_rate_schedules():
    step = tiny_config("x", "optim.epochs=10", "optim.milestones=[3, 6]", "optim.lr=1")
    assert [schedule.learning_rate(step.optim, e) for e in (0, 2, 3, 5, 6, 9)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    cosine = tiny_config("x", "optim.epochs=4", "optim.schedule=cosine", "optim.lr=1")
    assert [schedule.learning_rate(cosine.optim, e) for e in range(4)] == pytest.approx(
        [1.0, 0.8535534, 0.5, 0.1464466]
    )


@pytest.mark.parametrize("setting", ["true", "false"])
def test_cpu_training_runs_under_bf16_autocast_as_set(data, tmp_path, monkeypatch, capsys, setting):
    import skelcmd.model

    seen, original = [], skelcmd.model.CMD.forward

    def recorded(self, *views):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return original(self, *views)

    monkeypatch.setattr(skelcmd.model.CMD, "forward", recorded)
    extra = ["optim.epochs=1", "train.max_steps_per_epoch=2", f"train.cpu_bf16={setting}"]
    train.pretrain(tiny_config(data, *extra), tmp_path / "run", progress=False)
    on = setting == "true"
    assert seen == [torch.bfloat16 if on else None] * 2
    printed = "bfloat16 autocast" if on else "float32"
    assert f"precision on the CPU: {printed} (train.cpu_bf16={setting})" in capsys.readouterr().out
    history = checkpoints.load_checkpoint(tmp_path / "run" / "last.pt")["history"]
    assert np.isfinite(history[-1]["loss/total"])


def test_run_writes_checkpoints_history_and_logs(data, tmp_path):
    last = train.pretrain(tiny_config(data), tmp_path / "run", progress=False)
    state = checkpoints.load_checkpoint(last)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert state["config"] == tiny_config(data)
    for name in ("epoch_0001.pt", "epoch_0002.pt", "config.yaml", "history.json"):
        assert (tmp_path / "run" / name).is_file()
    assert list((tmp_path / "run" / "tb").iterdir())
    record = state["history"][-1]
    assert record["lr"] == pytest.approx(0.001)  # lr x0.1 from epoch 2 on (milestone 1)
    for key in ("loss/total", "loss/cmd", "loss/infonce/joint", "acc/bone"):
        assert np.isfinite(record[key])
    with pytest.raises(UserError, match="already holds a run"):
        train.pretrain(tiny_config(data), tmp_path / "run", progress=False)
    with pytest.raises(UserError, match="queue_size=32 must be a multiple of the global batch"):
        train.pretrain(tiny_config(data, "optim.batch_size=12"), tmp_path / "r2", progress=False)


def test_interrupted_and_resumed_equals_uninterrupted(data, tmp_path, monkeypatch):
    train.pretrain(tiny_config(data), tmp_path / "straight", progress=False)

    original, saves = train.save_checkpoint, []

    def killed_after_first_epoch(path, state):
        original(path, state)
        saves.append(path)
        if len(saves) == 2:  # last.pt and epoch_0001.pt of epoch 1 are on disk
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_checkpoint", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train.pretrain(tiny_config(data), tmp_path / "resumed", progress=False)
    monkeypatch.setattr(train, "save_checkpoint", original)
    assert checkpoints.load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 1
    train.pretrain(
        train.resume_config(tmp_path / "resumed"), tmp_path / "resumed", resume=True, progress=False
    )

    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["history"] == [
        {**r, "seconds": a["history"][i]["seconds"]} for i, r in enumerate(b["history"])
    ]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    original_views, original_save, saved = train.two_views, train.save_checkpoint, []

    def save(path, state):
        original_save(path, state)
        saved.append(path)

    def poisoned_after_a_checkpoint(x, *args, **kwargs):
        v1, v2 = original_views(x, *args, **kwargs)
        return (v1 * np.nan, v2) if saved else (v1, v2)

    monkeypatch.setattr(train, "two_views", poisoned_after_a_checkpoint)
    monkeypatch.setattr(train, "save_checkpoint", save)
    with pytest.raises(train.TrainingDiverged, match=r"epoch 2, step 1.*last.pt \(epoch 1\)"):
        train.pretrain(tiny_config(data, "optim.epochs=3"), tmp_path / "run", progress=False)
    assert checkpoints.load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_resume_overrides_and_cli(data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["pretrain", "--out", str(run), "--set", f"data.path={data}"]
    args += set_options(TINY)
    assert main([*args, "--set", "optim.epochs=1"]) == 2  # no --config and no --resume
    assert "give --config" in capsys.readouterr().err
    assert (
        main(["pretrain", "--config", "synthetic_cpu", *args[1:], "--set", "optim.epochs=1"]) == 0
    )
    assert main(["pretrain", "--out", str(run), "--resume", "--set", "optim.epochs=2"]) == 0
    assert checkpoints.load_checkpoint(run / "last.pt")["epoch"] == 2
    assert main(["pretrain", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_keep_identical_queues(data, tmp_path):
    worker = Path(__file__).parent / "helpers" / "ddp_worker.py"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    overrides = [*TINY, "optim.batch_size=8", "optim.epochs=1"]
    result = subprocess.run(
        [*command, str(worker), str(data), str(tmp_path), *overrides],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    q0 = torch.load(tmp_path / "queue_rank0.pt")
    q1 = torch.load(tmp_path / "queue_rank1.pt")
    assert int(q0["ptr"]) == int(q1["ptr"]) != 0
    assert torch.equal(q0["features"], q1["features"])
    assert (tmp_path / "last.pt").is_file()


def test_resume_of_a_finished_run_refuses_settings_it_would_ignore(run, capsys):
    """Issue 22 item 12: `--resume --set model.queue_size=128` on a finished run exited 0 and
    silently ignored the setting."""
    before = (run / "last.pt").read_bytes()
    argv = ["pretrain", "--out", str(run), "--resume", "--set", "model.queue_size=64"]
    assert main([*argv, "--set", "optim.lr=0.5"]) == 2
    err = capsys.readouterr().err
    assert "is finished (2 of 2 epochs)" in err and "nothing was trained" in err
    assert "model.queue_size is 32 in the run, 64 now; optim.lr is" in err
    assert (run / "last.pt").read_bytes() == before
    assert main(["pretrain", "--out", str(run), "--resume", "--set", "optim.epochs=2"]) == 0
    assert "is finished (2 of 2 epochs); nothing to do" in capsys.readouterr().out
