"""What the evaluation protocols share: stream selection, the training recipe, accuracy, score
ensembles, the frozen-encoder check and small statistics. (The protocols themselves and the
table that names them: `skelcmd.evaluate.protocols`.)

Streams: a model has the modalities it was pretrained with (joint, motion, bone); `stream`
picks one of them, "ensemble" (the streams' scores or similarities averaged) or "all" (every
stream, then the ensemble; each stream is computed once). Accuracies are percentages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from skelcmd.augment import crop_resize
from skelcmd.errors import UserError
from skelcmd.names import ALL, ENSEMBLE, EVAL_CROP, EVAL_FRAMES


class EncoderChanged(AssertionError):
    """Internal error: a tensor of a frozen encoder changed during linear evaluation."""


@dataclass
class TrainRecipe:
    """Training a classifier on clips (linear evaluation and fine-tuning share these fields)."""

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 80
    milestones: list[int] = field(default_factory=lambda: [50, 70])  # lr x gamma at each
    gamma: float = 0.1
    crop_range: tuple[float, float] = (0.5, 1.0)  # train clips: crop ratio U(lo, hi)
    min_frames: int = 64  # shortest train crop (whole clip if shorter), as the reference
    test_crop: float = EVAL_CROP  # test clips: centre crop of this fraction of the valid frames
    frames: int = EVAL_FRAMES  # every clip resized to this many frames
    seed: int = 0  # data order, crops, classifier init (and a random-init encoder)
    workers: int = 0  # DataLoader processes
    eval_batch_size: int = 256  # clips per batch when computing test features / scores
    train_split: str = "train"
    test_split: str = "test"

    def validate(self) -> None:
        name = type(self).__name__
        for key in ("batch_size", "epochs", "frames", "min_frames", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise UserError(f"{name}.{key} must be at least 1, not {getattr(self, key)}.")
        if self.lr <= 0 or self.gamma <= 0:
            raise UserError(f"{name}: lr and gamma must be > 0, not {self.lr} and {self.gamma}.")
        for key in ("momentum", "weight_decay", "workers", "seed"):
            if getattr(self, key) < 0:
                raise UserError(f"{name}.{key} must be at least 0, not {getattr(self, key)}.")
        if any(m < 1 for m in self.milestones):
            raise UserError(f"{name}.milestones {self.milestones} must be epochs >= 1.")
        low, high = self.crop_range
        if not 0 < low <= high <= 1:
            raise UserError(f"{name}.crop_range {list(self.crop_range)} must be 0 < lo <= hi <= 1.")
        if not 0 < self.test_crop <= 1:
            raise UserError(f"{name}.test_crop is {self.test_crop}; it must be in (0, 1].")

    def train_clips(
        self, data: Tensor, lengths: Tensor, device: torch.device, generator: torch.Generator
    ) -> Tensor:
        """A loader batch of clips moved to `device`, each cropped to a random share
        U(crop_range) of its valid frames (at least min_frames) and resized to `frames`."""
        return crop_resize(
            data.to(device, non_blocking=True),
            lengths.to(device),
            self.crop_range,
            self.min_frames,
            self.frames,
            generator=generator,
        )


def resolve_streams(modalities: Sequence[str], stream: str) -> tuple[list[str], bool, list[str]]:
    """(streams to compute, whether the ensemble is needed, names to report in order)."""
    modalities = list(modalities)
    if stream == ALL:
        ensemble = len(modalities) > 1
        return modalities, ensemble, modalities + ([ENSEMBLE] if ensemble else [])
    if stream == ENSEMBLE:
        if len(modalities) < 2:
            raise UserError(f"the ensemble needs two streams or more; this model has {modalities}.")
        return modalities, True, [ENSEMBLE]
    if stream in modalities:
        return [stream], False, [stream]
    raise UserError(
        f"stream {stream!r} is not available: this model has {', '.join(modalities)}; choose "
        "one of them, ensemble or all."
    )


def topk_accuracy(scores: Tensor, labels: Tensor, ks: Sequence[int] = (1, 5)) -> list[float]:
    """Percent of rows whose label is among the k highest scores, for each k (capped at C).

    scores (N, C), labels (N,) -> one float per k.
    """
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hit = top == labels[:, None]
    values = torch.stack([hit[:, :k].any(dim=1).float().mean() for k in ks]) * 100.0
    return values.tolist()


def average_scores(scores: Sequence[Tensor]) -> Tensor:
    """The ensemble: the mean of the streams' (N, C) scores (softmax probabilities)."""
    return torch.stack(list(scores)).mean(dim=0)


def new_classifier(feat_dim: int, num_classes: int, generator: torch.Generator) -> nn.Linear:
    """A fresh Linear(feat_dim, num_classes): weights N(0, 0.01^2), bias 0 (the reference's)."""
    fc = nn.Linear(feat_dim, num_classes)
    with torch.no_grad():
        fc.weight.copy_(torch.randn(fc.weight.shape, generator=generator) * 0.01)
        fc.bias.zero_()
    return fc


def snapshot(module: nn.Module) -> dict[str, Tensor]:
    """A copy of every parameter and buffer (BatchNorm statistics included)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_unchanged(module: nn.Module, before: dict[str, Tensor], what: str) -> None:
    """Raise EncoderChanged if any tensor of `module` differs from `before` (MoCo's check)."""
    now = module.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(now[k], v)]
    if changed or set(now) != set(before):
        raise EncoderChanged(
            f"internal error: {what} changed during linear evaluation ({', '.join(changed[:5])}); "
            "the encoder must stay frozen. Please report this."
        )


def best_and_last(history: Sequence[dict[str, Any]], stream: str) -> dict[str, Any]:
    """Last-epoch top-1/top-5 and the best epoch's (by top-1, earliest on ties) of a stream."""
    evaluated = [h for h in history if f"top1/{stream}" in h]
    best = max(evaluated, key=lambda h: h[f"top1/{stream}"])
    last = evaluated[-1]
    return {
        "top1": last[f"top1/{stream}"],
        "top5": last[f"top5/{stream}"],
        "last_epoch": last["epoch"],
        "best_top1": best[f"top1/{stream}"],
        "best_top5": best[f"top5/{stream}"],
        "best_epoch": best["epoch"],
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return float(array.mean()), std


def finite(value: float) -> float:
    if not math.isfinite(value):
        raise UserError(f"training diverged (a value became {value}); lower lr and retry.")
    return value


def unseen_classes_note(train_labels: np.ndarray, test_labels: np.ndarray, names: Sequence[str],
                        train: str, test: str) -> str | None:  # fmt: skip
    """A note when some `test` clips are of classes that no `train` clip has: no protocol can
    classify them correctly, so the accuracy is capped (e.g. a few clips of many classes)."""
    test_labels = np.asarray(test_labels)
    unseen = np.setdiff1d(np.unique(test_labels), np.asarray(train_labels))
    if not len(test_labels) or not len(unseen):
        return None
    count = int(np.isin(test_labels, unseen).sum())
    shown = ", ".join(names[c] for c in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
    cap = 100 * (1 - count / len(test_labels))
    return (
        f"skelcmd: note: {count} of {len(test_labels)} {test} clips are of {len(unseen)} "
        f"class(es) with no {train} clip ({shown}); no protocol can classify them, so the "
        f"top-1 accuracy here is at most {cap:.1f} %."
    )
