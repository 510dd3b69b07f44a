"""Fine-tuning: the whole network (encoder + a new linear classifier) trains on labelled clips.

One protocol covers three uses of the paper (docs/method.md#evaluation-protocols):
- fine-tuning with all labels (`label_fraction=1`);
- semi-supervised: `label_fraction` of the train split (1 %, 5 %, 10 %, 20 % in the paper), a
  class-preserving subset drawn per seed (`label_subset`), one run per seed in `seeds`, the
  accuracy on the full test split reported as mean and standard deviation over seeds;
- transfer: a checkpoint pretrained on another data set (NTU -> PKU-MMD II); the classifier is
  always new, sized for this data set's classes, and `load_encoder_model` explains a skeleton
  layout or person-count mismatch.

Recipe (`FinetuneConfig` defaults): the reference's semi-supervised / transfer script, run with
lr 0.01 and batch 64 as in its shell scripts, keeps its other defaults: SGD momentum 0.9, no
weight decay, 80 epochs, lr x0.1 at epochs 50 and 70, BatchNorm in training mode; train clips
cropped with ratio U(0.5, 1) (at least 64 frames) and test clips a 95 % centre crop, resized to
64 frames. The classifier starts at N(0, 0.01^2) weights and zero bias. The test split is
scored every `eval_every` epochs and after the last; `top1` / `top5` are the last epoch's and
`best_top1` the best evaluated epoch's (selected on the test set, as the reference reports).
The reference draws its subset without a seed and without keeping classes; here it is seeded.

Streams train together (one optimizer; the streams share no parameter, so this equals training
each alone on the same batches); the ensemble averages the fine-tuned streams' softmax scores.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from skelcmd.data.format import Dataset, Split
from skelcmd.data.loader import make_loader
from skelcmd.errors import UserError
from skelcmd.evaluate.common import (
    TrainRecipe,
    average_scores,
    best_and_last,
    finite,
    mean_std,
    new_classifier,
    resolve_streams,
    topk_accuracy,
)
from skelcmd.evaluate.features import evaluating, map_split, model_device
from skelcmd.modalities import derive
from skelcmd.model import CMD
from skelcmd.schedule import step_lr
from skelcmd.skeleton import Layout

__all__ = ["FinetuneConfig", "StreamNet", "finetune_eval", "label_subset", "subset_split"]


@dataclass
class FinetuneConfig(TrainRecipe):
    """Fine-tuning / semi-supervised / transfer (see the module docstring for the recipe)."""

    lr: float = 0.01
    label_fraction: float = 1.0  # share of the train split's labels used, in (0, 1]
    seeds: list[int] = field(default_factory=lambda: [0])  # one run per seed (subset, order)
    eval_every: int = 1  # epochs between test evaluations (the last epoch is always scored)

    def validate(self) -> None:
        super().validate()
        if not 0 < self.label_fraction <= 1:
            raise UserError(
                f"label_fraction is {self.label_fraction}; give a fraction in (0, 1], "
                "e.g. 0.01 for 1 % of the labels."
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise UserError(
                f"seeds must be a non-empty list of distinct ints >= 0, not {self.seeds}."
            )
        if self.eval_every < 1:
            raise UserError(f"eval_every must be at least 1, not {self.eval_every}.")


def label_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a class-preserving random subset, the same for the same seed.

    Class c with n_c samples keeps round(fraction * n_c) of them (halves round up), at least 1,
    when fraction * N >= the number of classes present; otherwise every class cannot be kept,
    and round(fraction * N) (at least 1) distinct classes are drawn, one sample each.
    """
    labels = np.asarray(labels)
    if not 0 < fraction <= 1:
        raise UserError(f"label fraction {fraction} must be in (0, 1].")
    n = len(labels)
    if fraction == 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), labels))  # grouped by class, random within a class
    _, counts = np.unique(labels, return_counts=True)
    starts = np.cumsum(counts) - counts
    if fraction * n >= len(counts):
        take = np.minimum(np.maximum(np.floor(fraction * counts + 0.5), 1), counts)
        rank = np.arange(n) - np.repeat(starts, counts)  # position within its class
        chosen = order[rank < np.repeat(take, counts)]
    else:
        total = max(1, int(np.floor(fraction * n + 0.5)))
        chosen = order[starts[rng.choice(len(counts), size=total, replace=False)]]
    return np.sort(chosen)


class _Rows:
    """Rows `index` of a (memory-mapped) array, read only when indexed: view[i] = base[index[i]]."""

    def __init__(self, base: np.ndarray, index: np.ndarray) -> None:
        self.base, self.index = base, index
        self.shape = (len(index), *base.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        return self.base[(self.index[first], *rest)]


def subset_split(split: Split, index: np.ndarray) -> Split:
    """The samples `index` of `split` as a Split; data is read lazily from the memory map."""
    return Split(
        name=split.name,
        data=_Rows(split.data, index),  # type: ignore[arg-type]
        lengths=split.lengths[index],
        labels=split.labels[index],
    )


class StreamNet(nn.Module):
    """One stream's classifier: joint clips (N, C, T, V, M) -> modality -> encoder -> logits."""

    def __init__(
        self,
        encoder: nn.Module,
        modality: str,
        layout: Layout,
        fc: nn.Linear,
        channels: str = "xyz",
    ) -> None:
        super().__init__()
        self.encoder, self.fc = encoder, fc
        self.modality, self.layout, self.channels = modality, layout, channels

    def forward(self, clips: Tensor) -> Tensor:
        """(N, C, T, V, M) joint clips -> (N, num_classes) logits."""
        x = derive(clips, [self.modality], self.layout, self.channels)[self.modality]
        return self.fc(self.encoder(x))


def _run_seed(
    model: CMD,
    dataset: Dataset,
    config: FinetuneConfig,
    streams: list[str],
    ensemble: bool,
    seed: int,
    device: torch.device,
    progress: bool,
) -> tuple[list[dict[str, Any]], int, nn.ModuleDict]:
    """Fine-tune copies of the streams' encoders on `seed`'s labelled subset.

    Returns (per-epoch history, number of labelled clips, the fine-tuned StreamNets).
    """
    train = dataset.split(config.train_split)
    test = dataset.split(config.test_split)
    index = label_subset(train.labels, config.label_fraction, seed)
    subset = train if len(index) == len(train) else subset_split(train, index)
    init = torch.Generator().manual_seed(seed)
    nets = nn.ModuleDict()
    for m in streams:
        encoder = copy.deepcopy(model.branches[m].encoder_q).requires_grad_(True)
        fc = new_classifier(encoder.feat_dim, dataset.num_classes, init)
        nets[m] = StreamNet(encoder, m, model.layout, fc, model.channels)
    nets.to(device)
    optimizer = torch.optim.SGD(
        nets.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    loader = make_loader(
        subset, config.batch_size, shuffle=True, drop_last=False, workers=config.workers, seed=seed
    )
    crops = torch.Generator(device=device).manual_seed(seed)
    test_labels = torch.as_tensor(test.labels, device=device)
    history: list[dict[str, Any]] = []
    bar = tqdm(range(config.epochs), desc=f"finetune seed {seed}", disable=not progress)
    for epoch in bar:
        lr = step_lr(config.lr, epoch, config.milestones, config.gamma)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loader.sampler.set_epoch(epoch)
        nets.train()
        loss_sum = torch.zeros(len(streams), device=device)
        for data, lengths, labels in loader:
            clips = config.train_clips(data, lengths, device, crops)
            labels = labels.to(device)
            losses = torch.stack([F.cross_entropy(nets[m](clips), labels) for m in streams])
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            loss_sum += losses.detach() * len(labels)
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
        for m, value in zip(streams, (loss_sum / len(subset)).tolist(), strict=True):
            record[f"loss/{m}"] = finite(value)
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            with evaluating(nets):
                probs = map_split(
                    {m: (lambda c, m=m: nets[m](c).softmax(dim=1)) for m in streams},
                    test,
                    batch_size=config.eval_batch_size,
                    device=device,
                    ratio=config.test_crop,
                    out_frames=config.frames,
                    workers=config.workers,
                )
            if ensemble:
                probs["ensemble"] = average_scores([probs[m] for m in streams])
            for name, p in probs.items():
                record[f"top1/{name}"], record[f"top5/{name}"] = topk_accuracy(p, test_labels)
            bar.set_postfix({k[5:]: f"{v:.1f}" for k, v in record.items() if k[:5] == "top1/"})
        history.append(record)
    bar.close()
    return history, len(index), nets


def finetune_eval(
    model: CMD,
    dataset: Dataset,
    config: FinetuneConfig | None = None,
    *,
    stream: str = "all",
    device: torch.device | str | None = None,
    progress: bool = True,
    trained: dict[str, nn.Module] | None = None,
) -> list[dict[str, Any]]:
    """Fine-tune the requested stream(s) once per seed; `model` itself is not modified.

    `trained`, if given, is filled with the fine-tuned `StreamNet` of every computed stream
    of the first seed (on the CPU, in eval mode), what `skelcmd finetune --save` keeps.

    One result per reported stream ("ensemble" last): {"protocol": "finetune", "stream",
    "label_fraction", "num_labelled", "seeds", "top1", "top5" (means over seeds of the last
    epoch's accuracy), "mean" (= top1), "std" (sample std over seeds of the last epoch's top-1,
    0 for one seed), "best_top1", "best_std" (the same for each seed's best epoch), "per_seed"
    [top-1 of each seed], "seed_results" [{"seed", "top1", "top5", "best_top1", "best_top5",
    "best_epoch", "last_epoch"}], "reported", "num_train", "num_test", "num_classes",
    "seconds"}; accuracies in percent.
    """
    config = FinetuneConfig() if config is None else config
    config.validate()
    tick = time.perf_counter()
    streams, ensemble, report = resolve_streams(model.modalities, stream)
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    per_seed: dict[str, list[dict[str, Any]]] = {name: [] for name in report}
    labelled = 0
    for seed in config.seeds:
        history, labelled, nets = _run_seed(
            model, dataset, config, streams, ensemble, seed, device, progress
        )
        if trained is not None and seed == config.seeds[0]:
            trained.update({m: copy.deepcopy(nets[m]).cpu().eval() for m in streams})
        del nets
        for name in report:
            per_seed[name].append({"seed": seed, **best_and_last(history, name)})
    results = []
    for name in report:
        runs = per_seed[name]
        mean, std = mean_std([r["top1"] for r in runs])
        best_mean, best_std = mean_std([r["best_top1"] for r in runs])
        results.append(
            {
                "protocol": "finetune",
                "stream": name,
                "label_fraction": config.label_fraction,
                "num_labelled": labelled,
                "seeds": list(config.seeds),
                "top1": mean,
                "top5": mean_std([r["top5"] for r in runs])[0],
                "mean": mean,
                "std": std,
                "best_top1": best_mean,
                "best_std": best_std,
                "per_seed": [r["top1"] for r in runs],
                "seed_results": runs,
                "reported": (
                    "top1/top5/mean/std: test accuracy after the last epoch, over seeds; "
                    "best_top1/best_std: each seed's best evaluated epoch (chosen on the test "
                    "set, as the reference reports)"
                ),
                "num_train": len(dataset.split(config.train_split)),
                "num_test": len(dataset.split(config.test_split)),
                "num_classes": dataset.num_classes,
            }
        )
    seconds = time.perf_counter() - tick
    for result in results:
        result["seconds"] = seconds
    return results
