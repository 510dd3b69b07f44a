"""Issue 13, options and messages: every numeric option's range, 1e-3 read as a float, and
messages that name the user's paths, never a temporary, and pass on no advice to load unsafely
(numbers: the issue's items; the importers' checks are in test_safety_inputs.py)."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch

from skelcmd.atomic import temp_sibling, user_text
from skelcmd.config import load_config, parse_yaml, read_yaml
from skelcmd.data.format import read_npy
from skelcmd.encoders import build_encoder
from skelcmd.errors import UserError, excerpt, looks_binary
from skelcmd.evaluate.features import load_encoder_model
from skelcmd.evaluate.protocols import load_eval_config
from skelcmd.skeleton import NTU25, get_layout
from skelcmd.sources.classnames import resolve_class_names
from skelcmd.sources.npz import import_npz
from skelcmd.sources.pku import read_split_file
from skelcmd.sources.pyskl import load_pickle
from skelcmd.synthetic.generator import generate, write_synthetic
from skelcmd.train import build_model, checkpoint_state
from test_safety_inputs import npy
from tiny import TINY_MODEL
from user_error import expect_user_error


# 6. Every numeric option's range, in pretraining, evaluation, encoders and the synthetic set.
@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train.max_steps_per_epoch=-1", "train.max_steps_per_epoch must be at least 0"),
        ("data.workers=-1", "data.workers must be at least 0"),
        ("train.seed=-1", "train.seed must be at least 0"),
        ("optim.momentum=-0.5", "optim.momentum must be at least 0"),
        ("optim.weight_decay=-1e-4", "optim.weight_decay must be at least 0"),
        ("optim.gamma=0", "optim.gamma must be positive"),
        ("optim.milestones=[0, 5]", r"optim.milestones \[0, 5\] must be epochs >= 1"),
        ("optim.lr=.nan", "optim.lr must be a finite number, got nan"),
        ("model.temperature=.inf", "model.temperature must be a finite number"),
        ("augment.ratio_range=[0.5, 3]", "0 < low <= high <= 1"),
    ],
)
def test_pretraining_options_out_of_range(override, match):
    with pytest.raises(UserError, match=match):
        load_config(None, [override])


@pytest.mark.parametrize(
    ("protocol", "override", "match"),
    [
        ("linear", "gamma=0", "lr and gamma must be > 0"),
        ("linear", "seed=-1", "LinearConfig.seed must be at least 0"),
        ("linear", "workers=-2", "LinearConfig.workers must be at least 0"),
        ("finetune", "milestones=[-1]", r"milestones \[-1\] must be epochs >= 1"),
        ("finetune", "seeds=[-1]", "distinct ints >= 0"),
        ("knn", "seed=-1", "seed \\(-1\\) must be >= 0"),
    ],
)
def test_evaluation_options_out_of_range(protocol, override, match):
    with pytest.raises(UserError, match=match):
        load_eval_config(protocol, None, [override])


def test_encoder_dropout_and_synthetic_seed_out_of_range():
    with pytest.raises(UserError, match=r"dropout must be a number in \[0, 1\), got 2"):
        build_encoder("stgcn", NTU25, 2, 3, dropout=2)
    with pytest.raises(UserError, match="seed must be a whole number >= 0"):
        generate(30, seed=-1)


def test_out_of_range_option_in_the_cli(tmp_path):
    args = ["pretrain", "--config", "synthetic_cpu", "--out", tmp_path / "run"]
    expect_user_error([*args, "--set", "train.max_steps_per_epoch=-1"], tmp=tmp_path)


# 16. 1e-3 is a float, in files and on the command line (YAML 1.2; PyYAML reads YAML 1.1).
def test_exponent_floats_are_floats_and_everything_else_reads_as_before():
    floats = {"1e-3": 1e-3, "5e-4": 5e-4, "1e6": 1e6, "1E6": 1e6, "-2e-4": -2e-4, ".5e-3": 5e-4}
    floats |= {"1.0e3": 1e3, "1.e5": 1e5, "1.5e-3": 1.5e-3, "0.01": 0.01, ".inf": np.inf}
    for text, value in floats.items():
        assert parse_yaml(text) == value and isinstance(parse_yaml(text), float), text
    others = {"1": 1, "0x10": 16, "1_000": 1000, "1e": "1e", "e5": "e5", "abc": "abc"}
    for text, value in others.items():
        assert parse_yaml(text) == value and type(parse_yaml(text)) is type(value), text
    assert parse_yaml("{lr: 1e-3, milestones: [1e2]}") == {"lr": 1e-3, "milestones": [100.0]}


def test_exponent_floats_in_configs_and_overrides(tmp_path):
    for text in ("1e-3", "5e-4", "1e6"):
        assert load_config(None, [f"optim.lr={text}"]).optim.lr == float(text)
    (tmp_path / "c.yaml").write_text("optim:\n  lr: 1e-3\n  weight_decay: 5e-4\n")
    config = load_config(tmp_path / "c.yaml")
    assert (config.optim.lr, config.optim.weight_decay) == (1e-3, 5e-4)
    assert read_yaml(tmp_path / "c.yaml") == {"optim": {"lr": 1e-3, "weight_decay": 5e-4}}
    assert load_eval_config("linear", None, ["lr=1e-2"]).lr == 1e-2


# 21. Messages: the user's paths, "a folder" for a folder, no advice to load unsafely, no raw
# binary on the terminal.
def test_no_message_names_a_temporary(tmp_path):
    temp = temp_sibling(tmp_path / "a.b" / "x.png")
    assert ".tmp-" in temp.name
    text = user_text(f"File name too long ({temp}); {temp_sibling(tmp_path / 'ds')}/train")
    assert text == f"File name too long ({tmp_path / 'a.b' / 'x.png'}); {tmp_path / 'ds'}/train"
    assert user_text("keep a.b.tmp-1-abcdef12 and x.png") == "keep a.b.tmp-1-abcdef12 and x.png"
    long = tmp_path / ("a" * 245 + ".png")  # legal, but its temporary name is too long
    (data,) = write_synthetic(tmp_path, num_samples=25, benchmarks=["xsub"])
    result = expect_user_error(["show", data, "--out", long], tmp=tmp_path)
    assert long.name in result.stderr and ".tmp-" not in result.stderr


def test_a_folder_where_a_file_is_expected_is_called_a_folder(tmp_path):
    folder = tmp_path / "in.yaml"
    folder.mkdir()
    for call in (
        lambda: import_npz(folder, tmp_path / "out"),
        lambda: load_pickle(folder),
        lambda: get_layout(folder),
        lambda: read_yaml(folder),
        lambda: resolve_class_names(str(folder), 3, "x"),
        lambda: read_split_file(folder),
        lambda: read_npy(folder),
    ):
        with pytest.raises(UserError, match="a folder") as info:
            call()
        assert "does not exist" not in str(info.value)


def test_no_advice_to_load_pickled_data(tmp_path):
    objects = npy(np.array([None, 1], dtype=object))
    (tmp_path / "o.npy").write_bytes(objects)
    (tmp_path / "p.npy").write_bytes(pickle.dumps({"a": 1}))
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        for key in ("x_train", "x_test"):
            archive.writestr(f"{key}.npy", npy(np.zeros((2, 4, 150))))
        archive.writestr("y_train.npy", objects)
        archive.writestr("y_test.npy", npy(np.arange(2)))
    messages = []
    for call in (
        lambda: read_npy(tmp_path / "o.npy"),
        lambda: read_npy(tmp_path / "p.npy", mmap=True),
        lambda: import_npz(tmp_path / "a.npz", tmp_path / "out"),
    ):
        with pytest.raises(UserError) as info:
            call()
        messages.append(str(info.value))
    assert all("allow_pickle" not in m and "unsafely" not in m for m in messages), messages
    assert "pickled Python objects, which skelcmd never loads" in messages[0]
    assert "does not start with the .npy header" in messages[1]


def test_a_binary_file_is_not_echoed_raw(tmp_path):
    (tmp_path / "cross-subject.txt").write_bytes(b"\x1b[2J\x00\x07PK\x03\x04" * 50)
    with pytest.raises(UserError, match="is not a text file") as info:
        read_split_file(tmp_path / "cross-subject.txt")
    assert not any(ch in str(info.value) for ch in "\x1b\x00\x07")
    assert excerpt("a\x1b[2Jb" + "c" * 100, 10) == "'a\\x1b[2Jbcccc'..."
    assert looks_binary("\x00abc") and not looks_binary("Training videos:\n0002-L, 0003-M\n")


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
