import numpy as np
import pytest
import torch

from skelcmd.config import load_config, to_dict
from skelcmd.data.format import open_dataset
from skelcmd.data.writer import write_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate import finetune as ft
from skelcmd.evaluate.common import snapshot
from skelcmd.evaluate.finetune import FinetuneConfig, finetune_eval, label_subset, subset_split
from skelcmd.evaluate.protocols import load_eval_config, run_protocol
from skelcmd.model import build_model
from skelcmd.skeleton import KINECT20, NTU25
from tests.helpers.tiny import TINY_MODEL

FAST = {"batch_size": 16, "frames": 16, "min_frames": 8, "eval_batch_size": 32}


def write_toy(path, layout=NTU25, num_classes=3, per_class=16, seed=0, persons=2):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    v = layout.num_joints
    poses = rng.normal(size=(num_classes, 3, 1, v, 1))
    data = poses[labels] + 0.05 * rng.normal(size=(len(labels), 3, 20, v, persons))
    arrays = {
        "data": data.astype(np.float32),
        "lengths": rng.integers(12, 21, len(labels)),
        "labels": labels,
    }
    train = np.arange(len(labels)) % 2 == 0
    names = [f"class{c}" for c in range(num_classes)]
    write_dataset(path, layout, names, arrays, {"train": train, "test": ~train},
                  source="toy", benchmark="toy")  # fmt: skip
    return open_dataset(path)


def plain_subset_size(labels, fraction):
    counts = np.bincount(labels)
    counts = counts[counts > 0]
    return sum(min(c, max(1, int(np.floor(fraction * c + 0.5)))) for c in counts)


def test_label_subsets_are_reproducible_class_preserving_and_sized():
    labels = np.random.default_rng(0).integers(0, 10, 1000)
    for fraction in (0.01, 0.05, 0.1, 0.2, 0.5):
        a = label_subset(labels, fraction, seed=3)
        assert np.array_equal(a, label_subset(labels, fraction, seed=3))
        assert not np.array_equal(a, label_subset(labels, fraction, seed=4))
        assert len(np.unique(a)) == len(a) and np.all(np.diff(a) > 0)
        assert set(labels[a]) == set(labels)
        assert len(a) == plain_subset_size(labels, fraction)
    assert np.array_equal(label_subset(labels, 1.0, seed=0), np.arange(1000))
    # 0.5 % of 1000 = 5 labels < 10 classes: 5 distinct classes, one sample each.
    few = label_subset(labels, 0.005, seed=1)
    assert len(few) == 5 and len(set(labels[few])) == 5
    with pytest.raises(UserError, match="fraction"):
        label_subset(labels, 0.0, seed=0)


def test_subset_split_reads_the_chosen_rows(tmp_path):
    dataset = write_toy(tmp_path / "toy")
    split = dataset.split("train")
    index = np.array([0, 3, 7, 20])
    subset = subset_split(split, index)
    assert len(subset) == 4 and subset.data.shape == (4, *split.data.shape[1:])
    assert np.array_equal(subset.data[np.array([2, 0]), :, :5], split.data[[7, 0], :, :5])
    assert np.array_equal(subset.labels, split.labels[index])


def test_finetune_trains_the_encoder_but_leaves_the_model_alone(tmp_path):
    dataset = write_toy(tmp_path / "toy")
    torch.manual_seed(0)
    model = build_model(load_config(None, TINY_MODEL), NTU25, 2)
    before = snapshot(model)
    config = FinetuneConfig(epochs=2, milestones=[1], label_fraction=0.5, seeds=[0, 1], **FAST)
    history, labelled, nets = ft._run_seed(
        model, dataset, config, ["joint"], False, 0, torch.device("cpu"), False
    )
    assert labelled == 12 and len(history) == 2
    tuned = nets["joint"].encoder.state_dict()
    original = model.branches["joint"].encoder_q.state_dict()
    assert any(not torch.equal(tuned[k], original[k]) for k in original)
    results = finetune_eval(model, dataset, config, stream="all", progress=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert [r["stream"] for r in results] == ["joint", "motion", "bone", "ensemble"]
    for result in results:
        tops = result["per_seed"]
        assert tops == [run["top1"] for run in result["seed_results"]]
        assert [run["seed"] for run in result["seed_results"]] == [0, 1]
        assert result["mean"] == pytest.approx(np.mean(tops))
        assert result["std"] == pytest.approx(np.std(tops, ddof=1))
        assert result["num_labelled"] == 12 and result["label_fraction"] == 0.5


def test_transfer_new_classifier_and_layout_mismatch(tmp_path):
    source = write_toy(tmp_path / "a", num_classes=3)
    config = load_config(None, [f"data.path={source.path}", *TINY_MODEL])
    model = build_model(config, NTU25, 2)
    checkpoint = tmp_path / "last.pt"
    torch.save({"model": model.state_dict(), "config": to_dict(config)}, checkpoint)
    target = write_toy(tmp_path / "b", num_classes=5, seed=1)
    fast = FinetuneConfig(epochs=1, **FAST)
    (result,) = run_protocol(
        "finetune", checkpoint, target.path, config=fast, stream="joint", device="cpu",
        progress=False,
    )  # fmt: skip
    assert result["num_classes"] == 5 and result["checkpoint"] == str(checkpoint)
    other = write_toy(tmp_path / "c", layout=KINECT20)
    with pytest.raises(UserError, match=r"ntu25.*kinect20.*input size"):
        run_protocol("finetune", checkpoint, other.path, config=fast, progress=False)
    (baseline,) = run_protocol(
        "finetune", checkpoint, other.path, config=fast, stream="bone", random_init=True,
        device="cpu", progress=False,
    )  # fmt: skip
    assert baseline["random_init"] and baseline["num_classes"] == 3


def test_presets():
    semi = load_eval_config("finetune", "semi")
    assert semi.label_fraction == 0.01 and semi.seeds == [0, 1, 2, 3, 4]
    default = FinetuneConfig()
    assert (default.lr, default.momentum, default.weight_decay, default.batch_size) == (
        0.01, 0.9, 0.0, 64,
    )  # fmt: skip
    assert (default.epochs, default.milestones) == (80, [50, 70])
    assert load_eval_config("finetune", "finetune") == default
    assert load_eval_config("finetune", "finetune_cpu").epochs < 80
    with pytest.raises(UserError, match="label_fraction"):
        load_eval_config("finetune", None, ["label_fraction=1.5"])
