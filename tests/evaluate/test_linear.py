import numpy as np
import pytest
import torch

from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.data.writer import write_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.common import (
    EncoderChanged,
    assert_unchanged,
    average_scores,
    best_and_last,
    snapshot,
    topk_accuracy,
)
from skelcmd.evaluate.features import extract_streams
from skelcmd.evaluate.linear import LinearConfig, linear_eval
from skelcmd.evaluate.protocols import load_eval_config
from skelcmd.model import build_model
from skelcmd.skeleton import NTU25
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY_MODEL

FAST = {"batch_size": 16, "frames": 16, "min_frames": 8, "eval_batch_size": 32}


def tiny_model(layout=NTU25, seed=0):
    torch.manual_seed(seed)
    return build_model(load_config(None, TINY_MODEL), layout, 2)


def write_toy(path, num_classes=3, per_class=24, seed=0):
    """An easy toy: each class has its own pose and drift, plus a little noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    poses = rng.normal(size=(num_classes, 3, 1, 25, 1))
    drift = rng.normal(size=(num_classes, 3, 1, 1, 1)) * 0.05
    t = np.arange(24).reshape(1, 1, 24, 1, 1)
    data = poses[labels] + drift[labels] * t + 0.05 * rng.normal(size=(len(labels), 3, 24, 25, 2))
    arrays = {
        "data": data.astype(np.float32),
        "lengths": rng.integers(16, 25, len(labels)),
        "labels": labels,
    }
    train = np.arange(len(labels)) % 2 == 0
    names = [f"class{c}" for c in range(num_classes)]
    write_dataset(path, NTU25, names, arrays, {"train": train, "test": ~train},
                  source="toy", benchmark="toy")  # fmt: skip
    return open_dataset(path)


def test_defaults_are_the_paper_recipe_and_presets_load():
    config = LinearConfig()
    assert (config.lr, config.momentum, config.weight_decay) == (0.1, 0.9, 0.0)
    assert (config.batch_size, config.epochs, config.milestones, config.gamma) == (
        64, 80, [50, 70], 0.1,
    )  # fmt: skip
    assert (config.crop_range, config.test_crop, config.frames) == ((0.5, 1.0), 0.95, 64)
    assert not config.cache_features
    assert config.feature_norm == "none"  # the paper's raw features
    assert load_eval_config("linear", "linear") == config
    ours = load_eval_config("linear", "linear_standardized")
    assert ours == LinearConfig(feature_norm="standardize")
    cpu = load_eval_config("linear", "linear_cpu")
    assert cpu.epochs < config.epochs and cpu.feature_norm == "standardize"
    assert load_eval_config("linear", None, ["epochs=3"]).epochs == 3


def test_linear_evaluation_leaves_the_encoder_untouched(tmp_path):
    (path,) = write_synthetic(tmp_path, num_samples=96, seed=1, benchmarks=["xsub"])
    dataset = open_dataset(path)
    model = tiny_model()
    model.train()  # linear evaluation must switch BatchNorm to its running statistics
    before = snapshot(model)
    config = LinearConfig(epochs=2, milestones=[1], **FAST)
    results = linear_eval(model, dataset, config, progress=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.training  # the caller's mode is restored
    assert [r["stream"] for r in results] == ["joint", "motion", "bone", "ensemble"]
    for result in results:
        assert len(result["history"]) == 2 and result["last_epoch"] == 2
        assert 1 <= result["best_epoch"] <= 2 and result["best_top1"] >= result["top1"]
        assert "best epoch" in result["reported"]
    # The check itself catches a changed BatchNorm statistic.
    encoder = model.branches["joint"].encoder_q
    frozen = snapshot(encoder)
    encoder.input_norm.running_mean += 1e-3
    with pytest.raises(EncoderChanged, match="running_mean"):
        assert_unchanged(encoder, frozen, "the encoder")


def test_linear_evaluation_learns_a_separable_toy(tmp_path):
    dataset = write_toy(tmp_path / "toy")
    model = tiny_model()
    config = LinearConfig(epochs=12, milestones=[10], **FAST)
    results = {r["stream"]: r for r in linear_eval(model, dataset, config, progress=False)}
    history = results["joint"]["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert results["joint"]["top1"] >= 90
    assert results["ensemble"]["top1"] >= 90
    cached = LinearConfig(epochs=12, milestones=[10], cache_features=True, **FAST)
    (joint,) = linear_eval(model, dataset, cached, stream="joint", progress=False)
    assert joint["top1"] >= 90


def test_score_ensemble_and_accuracy():
    scores = torch.rand(40, 7).softmax(dim=1)
    labels = torch.randint(0, 7, (40,))
    assert torch.equal(average_scores([scores, scores]), scores)
    three = [torch.rand(40, 7) for _ in range(3)]
    torch.testing.assert_close(average_scores(three), (three[0] + three[1] + three[2]) / 3)
    top1, top5 = topk_accuracy(scores, labels)
    ranked = scores.argsort(dim=1, descending=True).tolist()
    expected = [
        100 * np.mean([labels[i].item() in ranked[i][:k] for i in range(40)]) for k in (1, 5)
    ]
    assert [top1, top5] == pytest.approx(expected)
    history = [
        {"epoch": 1, "top1/joint": 50.0, "top5/joint": 80.0},
        {"epoch": 2, "top1/joint": 70.0, "top5/joint": 90.0},
        {"epoch": 3, "top1/joint": 60.0, "top5/joint": 95.0},
    ]
    summary = best_and_last(history, "joint")
    assert summary == {
        "top1": 60.0, "top5": 95.0, "last_epoch": 3,
        "best_top1": 70.0, "best_top5": 90.0, "best_epoch": 2,
    }  # fmt: skip


def test_standardize_is_the_train_features_mean_and_deviation():
    from skelcmd.evaluate.linear import L2Normalize, Standardize

    scales = torch.tensor([1e-4, 1, 3, 0, 2, 5])
    features = (torch.randn(50, 6, dtype=torch.float64) * scales + 7).float()
    fitted = Standardize.fit(features)
    out = fitted(features).double()
    features = features.double()
    for d in range(6):
        column = features[:, d]
        sd = column.std(unbiased=False).item()
        plain = (column - column.mean()) / (sd + 1e-6 * features.std(0, unbiased=False).mean())
        torch.testing.assert_close(out[:, d], plain, rtol=1e-3, atol=1e-3)
    assert torch.all(out[:, 3] == 0)  # a constant dimension maps to 0, not to nan
    assert not list(fitted.parameters())  # fixed, never trained
    unit = L2Normalize()(features)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(50, dtype=torch.float64))


def test_the_probe_does_not_fail_on_features_a_knn_separates(tmp_path, monkeypatch):
    """Features of tiny scale on a large common offset (what an untrained encoder gives): the
    paper's probe stays near chance where the cosine kNN separates them; standardized, the
    probe learns them as well as the unscaled features, and reports which it did."""
    from skelcmd.evaluate.knn import knn_accuracy
    from skelcmd.evaluate.linear import FEATURE_NORMS

    dataset = write_toy(tmp_path / "toy")
    model = tiny_model()
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda clips, m: encode(clips, m) * 1e-3 + 1.0)
    config = {"epochs": 12, "milestones": [10], "cache_features": True, **FAST}
    train, test = dataset.split("train"), dataset.split("test")
    feats = [extract_streams(model, s, ["joint"], out_frames=16)["joint"] for s in (train, test)]
    labels = [torch.as_tensor(s.labels) for s in (train, test)]
    assert knn_accuracy(*feats, *labels)[1] >= 90
    scores = {}
    for norm in FEATURE_NORMS:
        cfg = LinearConfig(feature_norm=norm, **config)
        (result,) = linear_eval(model, dataset, cfg, stream="joint", progress=False)
        assert result["feature_norm"] == norm
        scores[norm] = result["top1"]
    assert scores["none"] <= 50  # 3 classes: chance is 33 %
    assert scores["standardize"] >= 90
    monkeypatch.setattr(model, "encode", encode)
    cfg = LinearConfig(feature_norm="standardize", **config)
    (unscaled,) = linear_eval(model, dataset, cfg, stream="joint", progress=False)
    assert unscaled["top1"] == pytest.approx(scores["standardize"], abs=5)
    with pytest.raises(UserError, match="feature_norm is 'whiten'; use one of none"):
        LinearConfig(feature_norm="whiten").validate()
