"""Shared by the issue-13 safety tests: a tiny data set, a finished two-epoch run, a copy of it
per test, and the command lines that read a checkpoint."""

import shutil

import pytest
import torch

import skelcmd.train as train
from skelcmd.config import load_config
from skelcmd.synthetic.generator import write_synthetic
from tiny import TINY


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    (path,) = write_synthetic(
        tmp_path_factory.mktemp("synth"), num_samples=72, seed=1, benchmarks=["xsub"]
    )
    return path


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A finished two-epoch run with last.pt, epoch_0001.pt and epoch_0002.pt."""
    run = tmp_path_factory.mktemp("runs") / "a"
    train.pretrain(load_config(None, [f"data.path={data}", *TINY]), run, progress=False)
    return run


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the finished run for one test to damage."""
    return shutil.copytree(trained, tmp_path / "run")


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
