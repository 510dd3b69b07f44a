"""Learning-rate schedules, shared by pretraining and the evaluation protocols.

`step`: lr x gamma for every milestone passed (epochs count from 0), the reference's schedule
for pretraining, linear evaluation and fine-tuning. `cosine`: a half-cosine from lr to 0 over
`epochs`, an option of pretraining.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SCHEDULES = ("step", "cosine")


def step_lr(lr: float, epoch: int, milestones: Sequence[int], gamma: float) -> float:
    """lr x gamma for every milestone passed (epochs count from 0)."""
    return lr * gamma ** sum(epoch >= m for m in milestones)


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """Half-cosine from lr at epoch 0 to 0 at epoch `epochs`."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * epoch / epochs))


def learning_rate(optim, epoch: int) -> float:
    """The lr of `epoch` for an `OptimConfig`-like object (lr, schedule, milestones, gamma,
    epochs)."""
    if optim.schedule == "cosine":
        return cosine_lr(optim.lr, epoch, optim.epochs)
    return step_lr(optim.lr, epoch, optim.milestones, optim.gamma)
