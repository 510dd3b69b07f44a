"""Linear evaluation: a linear classifier on frozen features (docs/method.md#linear-evaluation).

Recipe (`LinearConfig` defaults, the reference's): the encoder in
eval mode (BatchNorm uses its running statistics) and never updated; only Linear(feat_dim,
num_classes) trains, with SGD lr 0.1, momentum 0.9, no weight decay, batch 64, 80 epochs, lr
x0.1 at epochs 50 and 70. Train clips are cropped with ratio U(0.5, 1) (at least 64 frames,
the reference's `min_crop_length`, unless the clip is shorter) and resized to 64 frames; test
clips are a 95 % centre crop resized to 64 frames. After training every encoder tensor, buffers
included, is compared with a copy taken before (MoCo's sanity check); a difference is an
internal error (`EncoderChanged`).

The test split is scored after every epoch. Reported: `top1` / `top5` after the last epoch, and
`best_top1` with `best_epoch`: the best epoch on the test set, which is how the reference
reports its numbers (it selects on the test set; the last epoch's accuracy is the honest one).

Several streams train together, one classifier each with the same clips: every batch is read
and cropped once and each stream's encoder runs once on it. The encoder is frozen and the test
crop fixed, so test features are computed once and reused every epoch. The ensemble averages
the streams' softmax scores on the test set, at every epoch.

`cache_features=True` (not the paper's recipe, off by default) gives train clips the test's
centre crop instead of random crops, so train features are also computed only once: fast.

`feature_norm` says what the classifier sees: "none" (the default) is the paper's recipe, the
raw features; "standardize" (presets `eval/linear_standardized`, `eval/linear_cpu`) first maps
every feature dimension to mean 0 and standard deviation 1, with the mean and deviation of the
train split's centre-cropped features (a fixed affine map, computed once, never trained); "l2"
scales each feature vector to unit length. Features whose class information is a small part of
a large common component (an untrained encoder's: mean cosine similarity of two clips 0.98 to
1.00) leave the paper's probe at chance, after 80 epochs at lr 0.1, where a cosine kNN separates
them; standardized, the probe is blind to a common offset and to the scale, and it did as well
as the raw probe elsewhere (benchmarks/README.md, "Issue 16").
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from skelcmd.data.format import Dataset, Split
from skelcmd.data.loader import make_loader
from skelcmd.errors import UserError
from skelcmd.evaluate.common import (
    TrainRecipe,
    assert_unchanged,
    average_scores,
    best_and_last,
    finite,
    new_classifier,
    resolve_streams,
    snapshot,
    topk_accuracy,
)
from skelcmd.evaluate.features import evaluating, extract_streams, model_device
from skelcmd.evaluate.finetune import StreamNet
from skelcmd.model import CMD
from skelcmd.schedule import step_lr

__all__ = ["FEATURE_NORMS", "LinearConfig", "linear_eval"]

FEATURE_NORMS = ("none", "standardize", "l2")

Batch = tuple[dict[str, Tensor], Tensor]  # ({stream: (B, D) features}, labels (B,))

REPORTED = (
    "top1/top5: test accuracy after the last epoch; best_top1/best_top5: the best epoch's "
    "test accuracy (chosen on the test set, as the reference reports)"
)


@dataclass
class LinearConfig(TrainRecipe):
    """Linear evaluation; the defaults are the paper's recipe (see the module docstring for
    `feature_norm`, whose "standardize" is ours, not the paper's)."""

    cache_features: bool = False  # True: centre-cropped train clips, features computed once
    feature_norm: str = "none"  # none (the paper's: raw features) | standardize | l2

    def validate(self) -> None:
        super().validate()
        if self.feature_norm not in FEATURE_NORMS:
            raise UserError(
                f"LinearConfig.feature_norm is {self.feature_norm!r}; use one of "
                f"{', '.join(FEATURE_NORMS)}."
            )


class Standardize(nn.Module):
    """(B, D) -> (B, D): (x - mean) / std per dimension, with fixed (D,) buffers."""

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    @classmethod
    def fit(cls, features: Tensor) -> Standardize:
        """From (N, D) features: their mean and population standard deviation per dimension,
        plus 1e-6 of the mean deviation (scale-free: a constant dimension maps to 0)."""
        features = features.double()
        mean, std = features.mean(dim=0), features.std(dim=0, unbiased=False)
        std = std + 1e-6 * std.mean() + torch.finfo(torch.float64).tiny
        return cls(mean.float(), std.float())


class L2Normalize(nn.Module):
    """(B, D) -> (B, D): every row scaled to unit Euclidean length."""

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1)


def _centre_crop_features(
    model: CMD, split: Split, streams: list[str], config: LinearConfig, progress: bool = False
) -> dict[str, Tensor]:
    """Frozen features of every clip of `split`, centre-cropped to `config.test_crop` and
    resized to `config.frames` (the test set, and the train set with `cache_features`)."""
    return extract_streams(
        model,
        split,
        streams,
        batch_size=config.eval_batch_size,
        ratio=config.test_crop,
        out_frames=config.frames,
        workers=config.workers,
        progress=progress,
    )


def _feature_norm(kind: str, train_features: Tensor | None) -> nn.Module:
    """What the classifier's input goes through (`LinearConfig.feature_norm`)."""
    if kind == "standardize":
        assert train_features is not None
        return Standardize.fit(train_features)
    return L2Normalize() if kind == "l2" else nn.Identity()


def _train_batches(
    model: CMD,
    dataset: Dataset,
    config: LinearConfig,
    streams: list[str],
    device: torch.device,
    centre: dict[str, Tensor] | None,
) -> Callable[[int], Iterator[Batch]]:
    """A function epoch -> iterator of ({stream: (B, D) features}, labels (B,)); `centre`: the
    train split's centre-crop features (needed with `cache_features`)."""
    split = dataset.split(config.train_split)
    if config.cache_features:
        assert centre is not None
        cached = centre
        labels = torch.as_tensor(split.labels, device=device)

        def cached_epoch(epoch: int) -> Iterator[Batch]:
            order = torch.randperm(
                len(labels), generator=torch.Generator().manual_seed(config.seed * 100003 + epoch)
            ).to(device)
            for start in range(0, len(order), config.batch_size):
                rows = order[start : start + config.batch_size]
                yield {m: cached[m][rows] for m in streams}, labels[rows]

        return cached_epoch

    loader = make_loader(
        split,
        config.batch_size,
        shuffle=True,
        drop_last=False,
        workers=config.workers,
        seed=config.seed,
    )
    crops = torch.Generator(device=device).manual_seed(config.seed)

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        loader.sampler.set_epoch(epoch)
        for data, lengths, labels in loader:
            clips = config.train_clips(data, lengths, device, crops)
            with torch.no_grad():
                feats = {m: model.encode(clips, m) for m in streams}
            yield feats, labels.to(device)

    return epoch_batches


def linear_eval(
    model: CMD,
    dataset: Dataset,
    config: LinearConfig | None = None,
    *,
    stream: str = "all",
    device: torch.device | str | None = None,
    progress: bool = True,
    features: Mapping[str, Mapping[str, Tensor]] | None = None,
    trained: dict[str, nn.Module] | None = None,
) -> list[dict[str, Any]]:
    """Linear evaluation of the requested stream(s) of `model` on `dataset`.

    `trained`, if given, is filled with the trained classifier of every computed stream: a
    CPU `StreamNet` (a copy of the frozen encoder, then the head Sequential(feature norm,
    Linear) after the last epoch), what `skelcmd linear --save` keeps.

    `features` may hold centre-crop features already computed for a split, by split name then
    stream ({"test": {"joint": (N, D)}, ...}); they must be `extract_streams` of this model with
    `config.test_crop` and `config.frames` (callers that probe one model several ways compute
    them once). Splits not given are computed here.

    One result per reported stream ("ensemble" last): {"protocol": "linear", "stream", "top1",
    "top5" (last epoch), "best_top1", "best_top5", "best_epoch", "last_epoch", "reported" (what
    the numbers mean), "feature_norm", "num_train", "num_test", "num_classes", "seconds" (the
    whole run), "history" [{"epoch", "lr", "seconds", "loss", "train_top1", "top1", "top5"}]};
    accuracies in percent. The model's tensors are left exactly as they were (checked), and
    its modes.
    """
    config = LinearConfig() if config is None else config
    config.validate()
    device = model_device(model) if device is None else torch.device(device)
    with evaluating(model.to(device)):
        return _linear_eval(
            model, dataset, config, stream, device, progress, features or {}, trained
        )


def _linear_eval(
    model: CMD,
    dataset: Dataset,
    config: LinearConfig,
    stream: str,
    device: torch.device,
    progress: bool,
    given: Mapping[str, Mapping[str, Tensor]],
    trained: dict[str, nn.Module] | None = None,
) -> list[dict[str, Any]]:
    tick = time.perf_counter()

    def centre_crop(split_name: str) -> dict[str, Tensor]:
        if split_name in given:
            return {m: given[split_name][m].to(device) for m in streams}
        return _centre_crop_features(model, dataset.split(split_name), streams, config, progress)

    streams, ensemble, report = resolve_streams(model.modalities, stream)
    encoders = nn.ModuleDict({m: model.branches[m].encoder_q for m in streams})
    before = snapshot(encoders)

    test = dataset.split(config.test_split)
    test_feats = centre_crop(config.test_split)
    test_labels = torch.as_tensor(test.labels, device=device)
    centre = None
    if config.cache_features or config.feature_norm == "standardize":
        centre = centre_crop(config.train_split)
    init = torch.Generator().manual_seed(config.seed)
    heads = nn.ModuleDict(
        {
            m: nn.Sequential(
                _feature_norm(config.feature_norm, centre[m] if centre else None),
                new_classifier(encoders[m].feat_dim, dataset.num_classes, init),
            ).to(device)
            for m in streams
        }
    )
    optimizer = torch.optim.SGD(
        heads.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    batches = _train_batches(model, dataset, config, streams, device, centre)

    history: list[dict[str, Any]] = []
    bar = tqdm(range(config.epochs), desc=f"linear {stream}", disable=not progress)
    for epoch in bar:
        started = time.perf_counter()
        lr = step_lr(config.lr, epoch, config.milestones, config.gamma)
        for group in optimizer.param_groups:
            group["lr"] = lr
        heads.train()
        sums = torch.zeros(2, len(streams), device=device)  # loss, correct
        seen = 0
        for feats, labels in batches(epoch):
            logits = [heads[m](feats[m]) for m in streams]
            losses = torch.stack([F.cross_entropy(z, labels) for z in logits])
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            with torch.no_grad():
                correct = torch.stack([(z.argmax(1) == labels).sum() for z in logits])
                sums += torch.stack([losses.detach() * len(labels), correct.float()])
            seen += len(labels)
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
        train_stats = (sums / seen).tolist()
        heads.eval()
        with torch.no_grad():
            probs = {m: heads[m](test_feats[m]).softmax(dim=1) for m in streams}
        if ensemble:
            probs["ensemble"] = average_scores([probs[m] for m in streams])
        for i, m in enumerate(streams):
            record[f"loss/{m}"] = finite(train_stats[0][i])
            record[f"train_top1/{m}"] = train_stats[1][i] * 100.0
        for name, p in probs.items():
            record[f"top1/{name}"], record[f"top5/{name}"] = topk_accuracy(p, test_labels)
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        bar.set_postfix({name: f"{record[f'top1/{name}']:.1f}" for name in report})
    bar.close()
    assert_unchanged(encoders, before, "the encoder")
    if trained is not None:
        for m in streams:
            encoder, head = (copy.deepcopy(x).cpu().eval() for x in (encoders[m], heads[m]))
            trained[m] = StreamNet(encoder, m, model.layout, head, model.channels)

    seconds = time.perf_counter() - tick
    results = []
    for name in report:
        keys = ("loss", "train_top1", "top1", "top5")
        results.append(
            {
                "protocol": "linear",
                "stream": name,
                **best_and_last(history, name),
                "reported": REPORTED,
                "feature_norm": config.feature_norm,
                "num_train": len(dataset.split(config.train_split)),
                "num_test": len(test),
                "num_classes": dataset.num_classes,
                "seconds": seconds,
                "history": [
                    {"epoch": h["epoch"], "lr": h["lr"], "seconds": h["seconds"]}
                    | {k: h[f"{k}/{name}"] for k in keys if f"{k}/{name}" in h}
                    for h in history
                ],
            }
        )
    return results
