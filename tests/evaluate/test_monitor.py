"""The online kNN monitor of pretraining (train.knn_every, skelcmd.evaluate.monitor)."""

import json

import numpy as np
import pytest
import torch

import skelcmd.train as train
from skelcmd.config import load_config
from skelcmd.data.writer import write_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.features import load_encoder_model
from skelcmd.evaluate.knn import KNNConfig, knn_eval
from skelcmd.evaluate.monitor import KNNMonitor
from skelcmd.skeleton import NTU25
from tests.helpers.tiny import TINY

SECONDS = ("seconds", "knn_seconds")


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """The same tiny pretraining with the monitor off, and on at every epoch."""
    out = tmp_path_factory.mktemp("runs")
    for every in (0, 1):
        train.pretrain(
            tiny_config(data, f"train.knn_every={every}"), out / f"knn{every}", progress=False
        )
    return out


def tiny_config(data, *extra):
    return load_config(None, [f"data.path={data}", *TINY, *extra])


def timeless(history):
    return [{k: v for k, v in row.items() if k not in SECONDS} for row in history]


def test_the_monitor_does_not_change_what_training_computes(runs):
    off, on = (torch.load(runs / f"knn{e}" / "last.pt", weights_only=False) for e in (0, 1))
    assert off["model"].keys() == on["model"].keys()
    for key in off["model"]:
        assert torch.equal(off["model"][key], on["model"][key]), key
    assert torch.equal(off["rng"][0]["torch"], on["rng"][0]["torch"])
    moments = [[s["momentum_buffer"] for s in c["optimizer"]["state"].values()] for c in (off, on)]
    for a, b in zip(*moments, strict=True):
        assert torch.equal(a, b)
    scored = [{k: v for k, v in row.items() if not k.startswith("knn/")} for row in on["history"]]
    assert timeless(scored) == timeless(off["history"])
    assert not any(k.startswith("knn") for row in off["history"] for k in row)


def test_scores_are_knn_evaluation_of_the_model_at_that_epoch(runs, data):
    history = json.loads((runs / "knn1" / "history.json").read_text())
    streams = ["joint", "motion", "bone", "ensemble"]
    assert [sorted(k for k in row if k.startswith("knn/")) for row in history] == [
        sorted(f"knn/{s}" for s in streams)
    ] * 2
    assert all(row["knn_seconds"] > 0 for row in history)
    for epoch in (1, 2):  # epoch_0001.pt and epoch_0002.pt: the models the monitor scored
        model = load_encoder_model(
            runs / "knn1" / f"epoch_{epoch:04d}.pt", data_layout=NTU25, num_persons=2
        )
        from skelcmd.data.format import open_dataset

        results = knn_eval(model, open_dataset(data), KNNConfig(frames=16), progress=False)
        expected = {f"knn/{r['stream']}": r["top1"] for r in results}
        assert {k: history[epoch - 1][k] for k in expected} == expected


def test_scores_reach_tensorboard(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(runs / "knn1" / "tb"))
    events.Reload()
    history = json.loads((runs / "knn1" / "history.json").read_text())
    points = events.Scalars("knn/joint")
    assert [p.value for p in points] == pytest.approx([row["knn/joint"] for row in history])
    assert [p.step for p in points] == sorted({p.step for p in points}) and len(points) == 2


def test_resume_with_the_monitor_is_bit_exact(runs, data, tmp_path, monkeypatch):
    original, saves = train.save_checkpoint, []

    def killed_after_first_epoch(path, state):
        original(path, state)
        saves.append(path)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_checkpoint", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train.pretrain(tiny_config(data, "train.knn_every=1"), tmp_path, progress=False)
    monkeypatch.setattr(train, "save_checkpoint", original)
    train.pretrain(train.resume_config(tmp_path), tmp_path, resume=True, progress=False)
    straight = torch.load(runs / "knn1" / "last.pt", weights_only=False)
    resumed = torch.load(tmp_path / "last.pt", weights_only=False)
    for key in straight["model"]:
        assert torch.equal(straight["model"][key], resumed["model"][key]), key
    assert timeless(straight["history"]) == timeless(resumed["history"])


def test_every_n_epochs_and_what_it_needs(data, tmp_path):
    from skelcmd.data.format import open_dataset

    config = tiny_config(data, "train.knn_every=3")
    monitor = KNNMonitor(config, open_dataset(data))
    assert [e for e in range(1, 10) if monitor.due(e)] == [3, 6, 9]
    assert (monitor.knn.frames, monitor.knn.train_split, monitor.knn.test_split) == (
        16,
        "train",
        "test",
    )
    assert KNNMonitor.summary({"knn/joint": 12.34, "knn/bone": 5.0}) == "  knn joint 12.3 bone 5.0"
    assert KNNMonitor.summary({"loss/total": 1.0}) == ""
    with pytest.raises(UserError, match=r"train\.knn_every must be at least 0"):
        tiny_config(data, "train.knn_every=-1")
    # a data set without a test split: refused before anything is written
    rng = np.random.default_rng(0)
    arrays = {
        "data": rng.normal(size=(32, 3, 20, 25, 2)).astype(np.float32),
        "lengths": np.full(32, 20),
        "labels": np.arange(32) % 2,
    }
    only = tmp_path / "only_train"
    write_dataset(only, NTU25, ["a", "b"], arrays, {"train": np.ones(32, bool)},
                  source="toy", benchmark="toy")  # fmt: skip
    with pytest.raises(UserError, match=r"knn_every=1 scores kNN with the data set's 'test'"):
        train.pretrain(tiny_config(only, "train.knn_every=1"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_presets_turn_it_on_for_the_cpu_and_off_for_the_paper():
    for name in ("synthetic_cpu", "utd_mhad_cpu"):
        assert load_config(name).train.knn_every > 0, name
    for name in ("ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "pku2_xsub"):
        assert load_config(name).train.knn_every == 0, name
