"""Fixtures shared by the tests of several modules: a small synthetic data set, a finished tiny
pretraining run on it (and a copy of it for one test to damage), and one intra-op thread."""

import shutil

import pytest

import skelcmd.train as train
from skelcmd.config import load_config
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.threads import intra_op_threads
from tests.helpers.tiny import TINY


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A synthetic x-sub data set of 72 samples (seed 1), written once per test module."""
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


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one thread is as fast, and far faster on busy cores (no spinning threads).
    A module asks for it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    with intra_op_threads(1):
        yield
