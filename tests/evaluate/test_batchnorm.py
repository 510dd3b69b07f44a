"""BatchNorm statistics recomputed for an untrained encoder (skelcmd.evaluate.batchnorm)."""

import pytest
import torch

from skelcmd.augment import center_crop_resize
from skelcmd.config import load_config, to_dict
from skelcmd.data.format import open_dataset
from skelcmd.evaluate.batchnorm import batchnorms, recompute_batchnorm
from skelcmd.evaluate.commands import evaluate
from skelcmd.evaluate.common import snapshot
from skelcmd.evaluate.features import extract_streams
from skelcmd.evaluate.protocols import run_protocol
from skelcmd.model import build_model
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY_MODEL

STGCN = ["model.encoder=stgcn", "model.encoder_args={width: 4, dropout: 0.5}"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    (path,) = write_synthetic(
        tmp_path_factory.mktemp("synth"), num_samples=60, seed=2, benchmarks=["xsub"]
    )
    return open_dataset(path)


def untrained(dataset, *overrides):
    config = load_config(None, [f"data.path={dataset.path}", *TINY_MODEL, *overrides])
    torch.manual_seed(0)
    return config, build_model(config, dataset.layout, 2)


def reference_statistics(model, split, modality, batch_size, frames):
    """Plainly: every BatchNorm's input, batch by batch, with the encoder in train mode (but
    dropout off); the mean over batches of each batch's channel means and unbiased variances."""
    encoder = model.branches[modality].encoder_q
    norms = batchnorms(encoder)
    inputs = {bn: [] for bn in norms}
    hooks = [bn.register_forward_pre_hook(lambda m, a: inputs[m].append(a[0])) for bn in norms]
    copy = {k: v.clone() for k, v in encoder.state_dict().items()}
    model.eval()
    for bn in norms:
        bn.train()
    data = torch.tensor(split.data[:, :, : int(split.lengths.max())])
    clips = center_crop_resize(data, torch.as_tensor(split.lengths), 0.95, frames)
    with torch.no_grad():
        for start in range(0, len(clips), batch_size):
            model.encode(clips[start : start + batch_size], modality)
    for hook in hooks:
        hook.remove()
    encoder.load_state_dict(copy)  # undo the momentum updates of this pass
    stats = []
    for bn in norms:
        dims = [d for d in range(inputs[bn][0].dim()) if d != 1]
        means = torch.stack([x.mean(dim=dims) for x in inputs[bn]])
        variances = torch.stack([x.var(dim=dims, unbiased=True) for x in inputs[bn]])
        stats.append((means.mean(dim=0), variances.mean(dim=0)))
    return stats


@pytest.mark.parametrize("encoder", [[], STGCN], ids=["gru", "stgcn"])
def test_statistics_are_the_cumulative_average_over_the_split(dataset, encoder):
    _, model = untrained(dataset, *encoder)
    split = dataset.split("train")
    model.train()
    expected = {
        m: reference_statistics(model, split, m, batch_size=13, frames=16) for m in model.modalities
    }
    model.train()
    before = snapshot(model)
    count = recompute_batchnorm(model, split, batch_size=13, out_frames=16)
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert count == sum(len(batchnorms(b.encoder_q)) for b in model.branches.values()) > 0
    now = model.state_dict()
    for modality, stats in expected.items():
        norms = batchnorms(model.branches[modality].encoder_q)
        for bn, (mean, var) in zip(norms, stats, strict=True):
            torch.testing.assert_close(bn.running_mean, mean, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(bn.running_var, var, rtol=1e-4, atol=1e-6)
            assert bn.momentum == 0.1  # restored
    changed = {k for k in before if not torch.equal(before[k], now[k])}
    assert changed and all("encoder_q" in k and ("running" in k or "batches" in k) for k in changed)
    # dropout stayed off: a second pass gives the same statistics
    again = {k: v.clone() for k, v in now.items()}
    recompute_batchnorm(model, split, batch_size=13, out_frames=16)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, again[key], rtol=1e-6, atol=0, msg=key)


def test_one_batch_makes_eval_features_those_of_train_mode_batchnorm(dataset):
    _, model = untrained(dataset, STGCN[0], "model.encoder_args={width: 4}")
    split = dataset.split("train")
    recompute_batchnorm(model, split, ["joint"], batch_size=len(split), out_frames=16)
    evaluated = extract_streams(model, split, ["joint"], out_frames=16)["joint"]
    model.train()  # batch statistics of the whole split, in every BatchNorm
    data = torch.tensor(split.data[:, :, : int(split.lengths.max())])
    clips = center_crop_resize(data, torch.as_tensor(split.lengths), 0.95, 16)
    with torch.no_grad():
        batch_mode = model.encode(clips, "joint")
    # (running_var is the unbiased variance, train mode normalises with the biased one)
    torch.testing.assert_close(evaluated, batch_mode, rtol=0.02, atol=1e-3 * batch_mode.abs().max())


def test_random_init_is_evaluated_with_recomputed_statistics_and_says_so(dataset, tmp_path):
    config, model = untrained(dataset)
    checkpoint = tmp_path / "untrained.pt"
    torch.save({"model": model.state_dict(), "config": to_dict(config), "epoch": 0}, checkpoint)
    from skelcmd.evaluate.knn import KNNConfig

    knn = KNNConfig(frames=16)
    honest = run_protocol("knn", checkpoint, dataset.path, config=knn, random_init=True)
    plain = run_protocol(
        "knn", checkpoint, dataset.path, config=knn, random_init=True, recompute_bn=False
    )
    pretrained = run_protocol("knn", checkpoint, dataset.path, config=knn)
    assert {r["bn_stats"] for r in honest} == {"train"}
    assert {r["bn_stats"] for r in plain} == {"init"}
    assert all("bn_stats" not in r for r in pretrained)
    # the untrained checkpoint is the same model: without recomputing, the same figures
    assert [r["top1"] for r in plain] == [r["top1"] for r in pretrained]
    (record, *_) = evaluate(
        "knn", checkpoint, dataset.path, config=knn, random_init=True, out_dir=tmp_path
    )
    assert record.extra["bn_stats"] == "train" and record.path.name == "knn_joint_random_k1.json"
