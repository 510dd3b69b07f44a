"""Mixed precision as training runs it: which autocast dtype a device gets, decided at start.

- CUDA: float16 autocast where `train.amp` is set (training adds a GradScaler).
- CPU: bfloat16 autocast where `train.cpu_bf16` says so. `auto` decides by measurement, not by
  the CPU's name: the first time it is asked, `bf16_speedup` times the matrix products of the
  GRU encoders (a layer's input projection, one frame's recurrent products) in float32 and in
  bfloat16, and bfloat16 is used where it is at least `BF16_PAYS` times as fast. CPUs with
  bfloat16 dot-product or matrix units (AVX512-BF16, AMX, Arm BF16) pass; on others bfloat16
  is emulated and slower, and training stays float32.

Either way the weights, their gradients and the optimizer's state stay float32 and the losses
are computed in float32 (`skelcmd.losses`): only autocast's ops (the matrix products) and the
GRU recurrence's products (`skelcmd.encoders.recurrence`) run in the low precision.
"""

from __future__ import annotations

import functools
import math
import time

import torch

from skelcmd.config import TrainConfig

BF16_PAYS = 1.5  # bfloat16 products at least this many times as fast as float32 ones

# (batch, rows, inner, columns): a layer's input projection at hidden 256 (2048 frames x
# samples), and one frame's recurrent products of 6 GRUs (3 modalities x 2) for 64 samples.
_PROBE = ((1, 2048, 512, 1536), (6, 64, 256, 768))


@functools.cache
def bf16_speedup(repeats: int = 3, rounds: int = 3) -> float:
    """How many times as fast bfloat16 matrix products run as float32 ones on this CPU.

    Times `_PROBE`'s products, `repeats` calls of each, best of `rounds` with the dtypes
    interleaved; a fraction of a second on 2 cores. Measured once per process.
    """
    generator = torch.Generator().manual_seed(0)
    operands = {
        dtype: [
            tuple(
                torch.randn(shape, generator=generator).to(dtype)
                for shape in ((b, m, k), (b, k, n))
            )
            for b, m, k, n in _PROBE
        ]
        for dtype in (torch.float32, torch.bfloat16)
    }
    best = dict.fromkeys(operands, math.inf)
    for _ in range(rounds):
        for dtype, pairs in operands.items():
            for a, b in pairs:
                torch.bmm(a, b)  # warm-up: kernel choice, caches
            tick = time.perf_counter()
            for _ in range(repeats):
                for a, b in pairs:
                    torch.bmm(a, b)
            best[dtype] = min(best[dtype], time.perf_counter() - tick)
    return best[torch.float32] / best[torch.bfloat16]


def autocast_dtype(train: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The dtype of training's autocast on `device` (`train.amp`, `train.cpu_bf16`), or None
    for float32 throughout. Other devices than CUDA and the CPU train in float32."""
    if device.type == "cuda":
        return torch.float16 if train.amp else None
    if device.type != "cpu":
        return None
    bf16 = train.cpu_bf16
    if bf16 == "auto":
        bf16 = bf16_speedup() >= BF16_PAYS
    return torch.bfloat16 if bf16 else None


def describe(train: TrainConfig, device: torch.device) -> str:
    """One line for the training log: the precision chosen and why."""
    dtype = autocast_dtype(train, device)
    if device.type != "cpu":
        return f"precision on {device}: {'float16 autocast' if dtype else 'float32'}"
    if train.cpu_bf16 != "auto":
        chosen = f"train.cpu_bf16={str(train.cpu_bf16).lower()}"
    else:
        chosen = (
            f"auto: bfloat16 matrix products ran {bf16_speedup():.1f}x as fast as float32 in a "
            f"probe, {'at least' if dtype else 'under'} {BF16_PAYS}x"
        )
    return f"precision on the CPU: {'bfloat16 autocast' if dtype else 'float32'} ({chosen})"
