import numpy as np
import pytest
import yaml

from skelcmd.config import (
    PretrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    parse_yaml,
    preset_names,
    read_yaml,
    to_dict,
)
from skelcmd.errors import UserError
from skelcmd.evaluate.protocols import load_eval_config
from tests.helpers.user_error import expect_user_error


def test_defaults_are_the_papers_ntu_recipe():
    c = PretrainConfig()
    assert (c.optim.lr, c.optim.momentum, c.optim.weight_decay) == (0.01, 0.9, 1e-4)
    assert (c.optim.batch_size, c.optim.epochs, c.optim.milestones) == (64, 451, [351])
    assert c.optim.gamma == 0.1 and c.optim.schedule == "step"
    assert c.model.encoder == "gru" and c.model.encoder_args == {"hidden": 1024, "num_layers": 3}
    assert c.model.modalities == ["joint", "motion", "bone"]
    assert (c.model.feature_dim, c.model.queue_size) == (128, 16384)
    assert (c.model.momentum, c.model.temperature, c.model.mlp) == (0.999, 0.07, True)
    assert (c.cmd.weight, c.cmd.topk, c.cmd.t_teacher, c.cmd.t_student) == (1.0, 8192, 0.05, 0.1)
    assert c.augment.min_frames == 64 and c.augment.out_frames == 64
    assert tuple(c.augment.ratio_range) == (0.1, 1.0)


def test_every_preset_loads_and_the_paper_ones_only_set_the_data():
    names = [name for name in preset_names() if name.startswith("pretrain/")]
    assert {"pretrain/ntu60_xsub", "pretrain/ntu60_xview", "pretrain/ntu120_xsub"} <= set(names)
    assert {"pretrain/ntu120_xset", "pretrain/pku2_xsub", "pretrain/synthetic_cpu"} <= set(names)
    for name in names:
        config = load_config(name)
        assert config.data.path
    assert read_yaml("ntu60_xsub") == {"data": {"path": "data/ntu60/xsub"}}
    pku = load_config("pku2_xsub")
    assert (pku.optim.epochs, pku.optim.milestones) == (1001, [801])


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"optim": {"lr": 0.1}, "model": {"modalities": ["bone"]}}))
    config = load_config(path, ["optim.lr=1", "model.encoder_args={hidden: 8}", "cmd.mode=kl"])
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.model.modalities == ["bone"]
    assert config.model.encoder_args == {"hidden": 8}


def test_round_trip_through_plain_dicts():
    config = load_config("synthetic_cpu", ["augment.ratio_range=[0.5, 1.0]"])
    again = from_dict(PretrainConfig, yaml.safe_load(yaml.safe_dump(to_dict(config))))
    assert again == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=0.1"], "unknown config key 'optim.lrr'. Did you mean 'lr'"),
        (["optimizer.lr=0.1"], "unknown config key 'optimizer'"),
        (["optim.epochs=ten"], "optim.epochs must be int, got 'ten'"),
        (["optim.epochs=1.5"], "optim.epochs must be int"),
        (["model.mlp=3"], "model.mlp must be bool"),
        (["model.modalities=joint"], "model.modalities must be list"),
        (["model.modalities=[]"], "model.modalities is empty"),
        (["model.modalities=[joint, joint]"], "repeats a name"),
        (["optim.schedule=poly"], "use step or cosine"),
        (["optim.batch_size=0"], "optim.batch_size must be at least 1"),
        (["cmd.t_teacher=0"], r"cmd.t_teacher \(0.0\) and cmd.t_student \(0.1\) must both be > 0"),
        (["model.temperature=0"], "model.temperature must be positive"),
        (["model.momentum=1"], r"model.momentum must be in \[0, 1\)"),
        (["augment.ratio_range=[0.1]"], "needs 2 values"),
        (["lr"], "not of the form key=value"),
        (["optim.epochs.x=1"], "'epochs' is a value, not a section"),
    ],
)
def test_mistakes_name_the_key(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config("synthetic_cpu", overrides)


def test_unknown_preset_lists_the_presets(tmp_path):
    with pytest.raises(UserError, match="pretrain/ntu60_xsub"):
        load_config("ntu61_xsub")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config(bad)


def test_apply_overrides_builds_sections():
    assert apply_overrides({}, ["a.b.c=1", "a.d=[1, 2]"]) == {"a": {"b": {"c": 1}, "d": [1, 2]}}


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


# Issue 22, item 5: YAML aliases (a "billion laughs" in 500 bytes) are refused, not expanded.
def _laughs(depth: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def test_yaml_aliases_are_refused_in_configs_and_set_values(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_laughs())
    assert bomb.stat().st_size < 600
    with pytest.raises(UserError, match=r"bomb.yaml.*alias"):
        load_config(bomb)
    inline = "{" + _laughs().strip().replace("\n", ", ") + "}"
    with pytest.raises(UserError, match=r"--set.*alias"):
        load_config(None, [f"train.seed={inline}"])
    with pytest.raises(UserError, match="alias"):
        parse_yaml("a: &x 1\nb: *x\n")
    with pytest.raises(UserError, match=r"big.yaml.*larger than 1 MB"):
        (tmp_path / "big.yaml").write_text("# " + "x" * 2_000_000)
        read_yaml(tmp_path / "big.yaml")


# Issue 22, item 8: a config that is not UTF-8 names the file; options that passed validation
# and then overflowed or asked for terabytes have upper bounds, said in the message.
def test_a_config_that_is_not_utf8_names_the_file(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("optim: {lr: 0.01}  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin\.yaml is not UTF-8"):
        load_config(latin)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("optim.lr=1e308", r"optim.lr is 1e\+308; it must be at most 1,000,000\."),
        ("train.seed=100000000000000000000", "train.seed is 100,000,000,000,000,000,000; it must"),
        ("model.queue_size=16000000000", "model.queue_size is 16,000,000,000; it must be at most"),
        ("model.feature_dim=100000000", "model.feature_dim is 100,000,000; it must be at most"),
        ("model.encoder_args={hidden: 100000000}", "model.encoder_args.hidden is 100,000,000"),
        ("augment.out_frames=1000000", "augment.out_frames is 1,000,000; it must be at most"),
        ("data.workers=100000", "data.workers is 100,000; it must be at most 256"),
    ],
)
def test_options_have_upper_bounds(override, match):
    with pytest.raises(UserError, match=match):
        load_config("synthetic_cpu", [override])
