import pytest
import yaml

from skelcmd.config import (
    PretrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    preset_names,
    read_yaml,
    to_dict,
)
from skelcmd.errors import UserError


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
