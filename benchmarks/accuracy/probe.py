"""Time estimates for `run.py --dry-run`, from a few steps timed on this machine.

Pretraining: a few full steps (augmentation, forward of every branch, backward) on a real batch
of the data set, times steps per epoch, times epochs. Evaluation: the encoder's forward time per
clip, times the clips each protocol encodes (kNN: train and test once per stream; linear: the
train split once per epoch, or once with cached features, and the test split, per stream).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from benchmarks.accuracy.grid import PROBES, Cell, GridSpec, eval_config, pretrain_config
from skelcmd.augment import two_views
from skelcmd.channels import coordinate_dims
from skelcmd.data.format import open_dataset
from skelcmd.distributed import pick_device
from skelcmd.model import build_model
from skelcmd.precision import autocast_dtype


def _timed(fn: Any, repeats: int, device: torch.device) -> float:
    """Seconds per call of `fn`, after one warm-up call."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def cell_seconds(spec: GridSpec, cell: Cell, repeats: int = 2) -> dict[str, float]:
    """{"pretrain": seconds, "eval": seconds} estimated for one cell of `cell.encoder`."""
    config = pretrain_config(spec, Cell(cell.encoder, "cmd", cell.seed, cell.fold))
    dataset = open_dataset(config.data.path, check_values=False)
    train = dataset.split(config.data.split)
    device = pick_device(config.train.device)
    persons, channels = train.data.shape[4], dataset.channels
    model = build_model(config, dataset.layout, persons, device, channels=channels)  # as training
    coords = coordinate_dims(channels)
    batch = config.optim.batch_size
    data = torch.tensor(np.asarray(train.data[:batch]), device=device)
    lengths = torch.tensor(np.asarray(train.lengths[:batch]), device=device)

    amp = autocast_dtype(config.train, device)  # as training runs it

    def step() -> None:
        views = two_views(data, lengths, config.augment, coords=coords)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = model(*views)["loss"]
        loss.backward()

    steps = len(train.labels) // batch
    pretrain = _timed(step, repeats, device) * steps * config.optim.epochs

    knn, linear = (eval_config(spec, p, cell.seed) for p in ("knn", "linear"))
    clip = data[: min(batch, 64), :, : knn.frames]
    if clip.shape[2] < knn.frames:  # pad short data sets' clips to the evaluated length
        clip = torch.nn.functional.pad(clip, (0, 0, 0, 0, 0, knn.frames - clip.shape[2]))
    modalities = config.model.modalities
    model.eval()
    with torch.no_grad():
        per_clip = _timed(
            lambda: [model.encode(clip, m) for m in modalities], repeats, device
        ) / len(clip)
    n_train, n_test = len(train.labels), len(dataset.split(knn.test_split).labels)
    train_passes = 1 if linear.cache_features else linear.epochs
    linear_probes = sum(protocol == "linear" for protocol, _ in PROBES.values())
    clips = (n_train + n_test) + linear_probes * (train_passes * n_train + n_test)
    return {"pretrain": pretrain, "eval": per_clip * clips}
