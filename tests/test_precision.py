"""Which autocast dtype training uses per device, the bfloat16 probe, and the config keys."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import skelcmd.precision as precision
from skelcmd.augment import two_views
from skelcmd.config import TrainConfig, load_config
from skelcmd.errors import UserError
from skelcmd.model import build_model
from skelcmd.skeleton import NTU25
from skelcmd.synthetic.generator import generate

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda", 0), torch.device("mps")


def test_cuda_uses_float16_where_amp_is_set_and_other_devices_float32(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cuda_capability", lambda device: (7, 5))  # no bfloat16 units
    assert precision.autocast_dtype(TrainConfig(), CUDA) == torch.float16
    assert precision.autocast_dtype(TrainConfig(amp=False), CUDA) is None
    assert precision.autocast_dtype(TrainConfig(cpu_bf16=True), CUDA) == torch.float16
    assert precision.autocast_dtype(TrainConfig(cpu_bf16=True), MPS) is None
    assert precision.describe(TrainConfig(), CUDA) == (
        "precision on cuda:0: float16 autocast with a GradScaler (train.amp=auto, compute 7.5)"
    )


def test_cpu_bfloat16_as_set_or_where_the_probe_finds_it_pays(monkeypatch) -> None:
    assert precision.autocast_dtype(TrainConfig(cpu_bf16=True, amp=False), CPU) == torch.bfloat16
    assert precision.autocast_dtype(TrainConfig(cpu_bf16=False), CPU) is None
    for speedup, expected in [(precision.BF16_PAYS, torch.bfloat16), (1.2, None), (0.3, None)]:
        monkeypatch.setattr(precision, "bf16_speedup", lambda s=speedup: s)
        assert precision.autocast_dtype(TrainConfig(), CPU) == expected
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 4.25)
    assert precision.describe(TrainConfig(), CPU) == (
        "precision on the CPU: bfloat16 autocast (auto: bfloat16 matrix products ran 4.2x as "
        "fast as float32 in a probe, at least 1.5x)"
    )
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 0.5)
    assert "float32 (auto: bfloat16 matrix products ran 0.5x" in precision.describe(
        TrainConfig(), CPU
    )
    assert precision.describe(TrainConfig(cpu_bf16=False), CPU) == (
        "precision on the CPU: float32 (train.cpu_bf16=false)"
    )


def test_the_probe_measures_a_finite_ratio_once() -> None:
    ratio = precision.bf16_speedup(repeats=1, rounds=1)
    assert math.isfinite(ratio) and ratio > 0
    assert precision.bf16_speedup(repeats=1, rounds=1) == ratio  # measured once per process


def test_config_keys() -> None:
    assert load_config(None, []).train.cpu_bf16 == "auto"
    assert load_config(None, ["train.cpu_bf16=false"]).train.cpu_bf16 is False
    with pytest.raises(UserError, match=r"train\.cpu_bf16 is 'sometimes'; use auto, true or false"):
        load_config(None, ["train.cpu_bf16=sometimes"])
    # a key older versions wrote (and their checkpoints hold): read without it, with a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(None, ["train.modality_threads=auto"])
    assert config == load_config(None, [])
    assert "'train.modality_threads' is ignored" in str(caught[0].message)


SMALL = [
    "model.encoder_args={hidden: 16, num_layers: 2}",
    "model.queue_size=64",
    "cmd.topk=16",
    "model.feature_dim=32",
    "model.momentum=0.99",
    "augment.min_frames=16",
    "augment.out_frames=16",
]


def _losses(bf16: bool, steps: int = 300) -> np.ndarray:
    """`steps` CMD training steps of a small GRU model on 64 synthetic clips (batches of 16,
    the same draws either way), as training runs them; the loss of every step."""
    config = load_config(None, SMALL)
    torch.manual_seed(0)
    model = build_model(config, NTU25, 2)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
    clips = generate(64, seed=0, max_frames=48)
    data, lengths = torch.from_numpy(clips.data), torch.from_numpy(clips.lengths.astype(np.int64))
    order = torch.Generator().manual_seed(1)
    losses = []
    for step in range(steps):
        batch = torch.randperm(64, generator=order)[:16]
        torch.manual_seed(step)  # the same augmentation draws in both runs
        view1, view2 = two_views(data[batch], lengths[batch], config.augment)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(view1, view2)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(out["loss/total"].item())
    return np.array(losses)


@pytest.mark.slow
def test_a_bf16_run_follows_the_float32_run() -> None:
    """300 steps each way (about 20 s on 2 cores): the bfloat16 run's loss, averaged over
    25 steps, stays within 5 % of the float32 run's total drop from it. (Another seed of the
    float32 run strays by about 30 % of the drop, mostly early on; bfloat16 by about 2 %.)"""
    fp32, bf16 = _losses(False), _losses(True)
    window = np.ones(25) / 25
    a, b = np.convolve(fp32, window, "valid"), np.convolve(bf16, window, "valid")
    drop = a[0] - a[-1]
    assert drop > 1.0 and b[0] - b[-1] > 1.0  # both trained
    assert np.abs(a - b).max() < 0.05 * drop
    assert not np.array_equal(fp32, bf16)  # the bfloat16 run did round differently
