"""The online kNN monitor of pretraining (`train.knn_every: N`, 0 = off).

Every N epochs, training scores kNN top-1 per stream (and the ensemble) with the evaluation
code itself (`skelcmd.evaluate.knn.knn_eval`: 1-NN, cosine, 95 % centre crop): the pretraining
split (`data.split`) is the gallery, the data set's `test` split the queries, clips resized to
the view length trained on (`augment.out_frames`). It runs without gradients with the model in
eval mode (BatchNorm on its running statistics, the queues untouched), restores every module's
mode afterwards, and forks the RNG, so the random numbers training draws, and therefore the
weights it reaches, are the same with the monitor on or off. The scores go into the epoch's
record of `history.json` as `knn/<stream>` (percent) with `knn_seconds`, and into TensorBoard.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from skelcmd.config import PretrainConfig
from skelcmd.data.format import Dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.features import model_device
from skelcmd.evaluate.knn import KNNConfig, knn_eval
from skelcmd.model import CMD

__all__ = ["QUERY_SPLIT", "KNNMonitor", "knn_keys"]

QUERY_SPLIT = "test"


def knn_keys(record: Mapping[str, Any]) -> list[str]:
    """The monitor's `knn/<stream>` keys of a history record, in the order written."""
    return [k for k in record if k.startswith("knn/")]


class KNNMonitor:
    """kNN top-1 of a model under pretraining, every `every` epochs (see the module docstring)."""

    def __init__(self, config: PretrainConfig, dataset: Dataset) -> None:
        self.every = config.train.knn_every
        self.dataset = dataset
        self.knn = KNNConfig(
            frames=config.augment.out_frames,
            workers=config.data.workers,
            train_split=config.data.split,
            test_split=QUERY_SPLIT,
        )
        if QUERY_SPLIT not in dataset.splits or QUERY_SPLIT == config.data.split:
            raise UserError(
                f"train.knn_every={self.every} scores kNN with the data set's {QUERY_SPLIT!r} "
                f"split as queries and {config.data.split!r} as the gallery, but {dataset.path} "
                f"has the splits {', '.join(dataset.splits)}; set train.knn_every=0 (off)."
            )

    def due(self, epochs_done: int) -> bool:
        """Whether the monitor scores after `epochs_done` epochs (counted from 1)."""
        return self.every > 0 and epochs_done % self.every == 0

    def __call__(self, model: CMD, writer: Any = None, *, global_step: int = 0) -> dict[str, float]:
        """{"knn/<stream>": top-1 percent for every stream and the ensemble, "knn_seconds"};
        also written to the TensorBoard `writer` (a SummaryWriter) at `global_step`, if given."""
        tick = time.perf_counter()
        device = model_device(model)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            results = knn_eval(model, self.dataset, self.knn, progress=False)
        scores = {f"knn/{r['stream']}": r["top1"] for r in results}
        if writer is not None:
            for key, value in scores.items():
                writer.add_scalar(key, value, global_step)
        return {**scores, "knn_seconds": time.perf_counter() - tick}

    @staticmethod
    def summary(record: Mapping[str, Any]) -> str:
        """The epoch line's "  knn joint 27.1 motion 44.2 ..." (empty when not scored)."""
        keys = knn_keys(record)
        scores = " ".join(f"{k.removeprefix('knn/')} {record[k]:.1f}" for k in keys)
        return f"  knn {scores}" if keys else ""
