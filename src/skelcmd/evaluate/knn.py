"""k-nearest-neighbour retrieval on frozen features (docs/method.md#knn-retrieval: 1-NN, cosine).

The train split is the gallery, the test split the queries. Similarities are computed block by
block, `chunk` queries x `chunk` gallery samples at a time, keeping a running top-k per query,
so a 100k x 100k problem never holds more than chunk x chunk similarities. Several streams at
once (the ensemble) use the average of the streams' cosine similarities, summed block by block
before the top-k. With k > 1 the prediction is the majority label among the k neighbours, ties
broken by the larger summed similarity (then by the smaller class index).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from skelcmd.data.format import Dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.common import resolve_streams
from skelcmd.evaluate.features import extract_streams, model_device
from skelcmd.model import CMD
from skelcmd.names import EVAL_CROP, EVAL_FRAMES

__all__ = ["KNNConfig", "knn_accuracy", "knn_eval", "knn_topk", "knn_vote"]


@dataclass
class KNNConfig:
    """kNN retrieval; defaults: the paper's (k = 1, cosine, centre crop 95 %, 64 frames)."""

    ks: list[int] = field(default_factory=lambda: [1])  # several at once: [1, 5, 20]
    chunk: int = 4096  # queries and gallery samples per similarity block
    test_crop: float = EVAL_CROP
    frames: int = EVAL_FRAMES
    batch_size: int = 256  # clips per feature-extraction batch
    workers: int = 0
    seed: int = 0  # only for a random-init encoder
    train_split: str = "train"  # the gallery
    test_split: str = "test"  # the queries

    def validate(self) -> None:
        if not self.ks or min(self.ks) < 1:
            raise UserError(
                f"KNNConfig.ks must list positive numbers of neighbours, not {self.ks}."
            )
        if self.chunk < 1 or self.batch_size < 1 or self.frames < 1:
            raise UserError("KNNConfig: chunk, batch_size and frames must be >= 1.")
        if self.workers < 0 or self.seed < 0:
            raise UserError(
                f"KNNConfig: workers ({self.workers}) and seed ({self.seed}) must be >= 0."
            )
        if not 0 < self.test_crop <= 1:
            raise UserError(f"KNNConfig.test_crop is {self.test_crop}; it must be in (0, 1].")


def _streams(x: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [x] if isinstance(x, Tensor) else list(x)


@torch.no_grad()
def knn_topk(
    gallery: Tensor | Sequence[Tensor],
    queries: Tensor | Sequence[Tensor],
    k: int,
    *,
    chunk: int = 4096,
) -> tuple[Tensor, Tensor]:
    """Each query's k most similar gallery samples, most similar first.

    gallery (Ng, D), queries (Nq, D), or lists of them (one per stream, same Ng / Nq; each
    stream may have its own D): the similarity is the mean over streams of the cosine
    similarities. Returns similarities (Nq, k) and gallery indices (Nq, k) int64.
    """
    gallery, queries = _streams(gallery), _streams(queries)
    if len(gallery) != len(queries) or not gallery:
        raise ValueError("gallery and queries need the same, non-zero number of streams")
    ng, nq = len(gallery[0]), len(queries[0])
    if not 1 <= k <= ng:
        raise UserError(f"k = {k} neighbours, but the gallery has {ng} samples.")
    gallery = [F.normalize(g, dim=1) for g in gallery]
    queries = [F.normalize(q, dim=1) for q in queries]
    weight = 1.0 / len(gallery)
    sims = queries[0].new_empty((nq, k))
    index = torch.empty((nq, k), dtype=torch.long, device=queries[0].device)
    for a in range(0, nq, chunk):
        best_s = best_i = None
        for b in range(0, ng, chunk):
            block = queries[0][a : a + chunk] @ gallery[0][b : b + chunk].T
            for q, g in zip(queries[1:], gallery[1:], strict=True):
                block += q[a : a + chunk] @ g[b : b + chunk].T
            if len(gallery) > 1:
                block *= weight
            s, i = block.topk(min(k, block.shape[1]), dim=1)
            i += b
            if best_s is not None:
                s, i = torch.cat([best_s, s], dim=1), torch.cat([best_i, i], dim=1)
                s, pos = s.topk(min(k, s.shape[1]), dim=1)
                i = i.gather(1, pos)
            best_s, best_i = s, i
        sims[a : a + chunk], index[a : a + chunk] = best_s, best_i
    return sims, index


def knn_vote(
    similarities: Tensor, indices: Tensor, gallery_labels: Tensor, k: int, num_classes: int
) -> Tensor:
    """(Nq,) predicted labels from the first k neighbours (majority; ties: summed similarity).

    similarities / indices (Nq, >= k) as `knn_topk` returns them; gallery_labels (Ng,).
    """
    labels = gallery_labels.to(indices.device)[indices[:, :k]]  # (Nq, k)
    sims = similarities[:, :k].float()
    votes = sims.new_zeros((len(labels), num_classes)).scatter_add_(
        1, labels, torch.ones_like(sims)
    )
    total = sims.new_zeros((len(labels), num_classes)).scatter_add_(1, labels, sims)
    # Vote counts differ by >= 1 and |summed similarity| <= k, so (2k + 1) * votes + sum
    # orders classes by votes first, then by summed similarity; unvoted classes score 0.
    return ((2 * k + 1) * votes + total).argmax(dim=1)


def knn_accuracy(
    gallery: Tensor | Sequence[Tensor],
    queries: Tensor | Sequence[Tensor],
    gallery_labels: Tensor,
    query_labels: Tensor,
    ks: Sequence[int] = (1,),
    *,
    num_classes: int | None = None,
    chunk: int = 4096,
) -> dict[int, float]:
    """{k: percent of queries whose kNN prediction is their label}, one top-k search for all k."""
    num_classes = num_classes or int(max(gallery_labels.max(), query_labels.max())) + 1
    sims, index = knn_topk(gallery, queries, max(ks), chunk=chunk)
    truth = query_labels.to(index.device)
    return {
        k: float((knn_vote(sims, index, gallery_labels, k, num_classes) == truth).float().mean())
        * 100.0
        for k in ks
    }


def knn_eval(
    model: CMD,
    dataset: Dataset,
    config: KNNConfig | None = None,
    *,
    stream: str = "all",
    device: torch.device | str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """kNN accuracy of each requested stream (and the ensemble); features extracted once.

    Each result: {"protocol": "knn", "stream", "k" (the first of ks), "top1" (at that k),
    "top5": None (not defined for kNN), "top1_by_k" {k: percent}, "num_train", "num_test",
    "seconds"} with accuracies in percent.
    """
    config = KNNConfig() if config is None else config
    config.validate()
    tick = time.perf_counter()
    compute, ensemble, report = resolve_streams(model.modalities, stream)
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    splits = {name: dataset.split(name) for name in (config.train_split, config.test_split)}
    feats = {
        name: extract_streams(
            model,
            split,
            compute,
            batch_size=config.batch_size,
            ratio=config.test_crop,
            out_frames=config.frames,
            workers=config.workers,
            progress=progress,
        )
        for name, split in splits.items()
    }
    gallery, queries = feats[config.train_split], feats[config.test_split]
    labels = [
        torch.as_tensor(splits[name].labels, device=device)
        for name in (config.train_split, config.test_split)
    ]
    groups = {m: [m] for m in compute} | ({"ensemble": compute} if ensemble else {})
    results = []
    for name in report:
        by_k = knn_accuracy(
            [gallery[m] for m in groups[name]],
            [queries[m] for m in groups[name]],
            *labels,
            config.ks,
            num_classes=dataset.num_classes,
            chunk=config.chunk,
        )
        results.append(
            {
                "protocol": "knn",
                "stream": name,
                "k": config.ks[0],
                "top1": by_k[config.ks[0]],
                "top5": None,
                "top1_by_k": {str(k): v for k, v in by_k.items()},
                "num_train": len(labels[0]),
                "num_test": len(labels[1]),
            }
        )
    seconds = time.perf_counter() - tick
    for result in results:
        result["seconds"] = seconds
    return results
