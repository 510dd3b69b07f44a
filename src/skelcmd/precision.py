"""What training runs on its device, decided once at start: the precision and the GRU path.

Precision, the dtype of training's autocast (the weights, their gradients, the optimizer's
state, the queues and the losses stay float32 whatever it is: `skelcmd.losses`,
`skelcmd.queue`; only autocast's ops, the matrix products, run in the low precision):

- CUDA, `train.amp`: `auto` picks bfloat16 on GPUs that compute it natively (compute
  capability 8.0 and up) and float16 on older ones; `float16` and `bfloat16` as named; `true`
  is float16 (what it meant before `auto`); `false` float32. Training adds a GradScaler to
  float16 only: bfloat16 has float32's range, so its gradients do not underflow.
  `cuda_autocast_dtype` is that rule, a function of the setting and the capability alone.
  cuDNN's GRUs run in float16 under float16 autocast, and in float32 under bfloat16:
  PyTorch's autocast hands cuDNN's RNNs float16 whatever the autocast dtype, which without
  a GradScaler would leave their gradients unscaled (`skelcmd.encoders.gru`).
- CPU, `train.cpu_bf16`: bfloat16 autocast where it says so. `auto` decides by measurement,
  not by the CPU's name: the first time it is asked, `bf16_speedup` times the matrix products
  of the GRU encoders (a layer's input projection, one frame's recurrent products) in float32
  and in bfloat16, and bfloat16 is used where it is at least `BF16_PAYS` times as fast. CPUs
  with bfloat16 dot-product or matrix units (AVX512-BF16, AMX, Arm BF16) pass; on others
  bfloat16 is emulated and slower, and training stays float32.

The GRU path on the CPU, `train.cpu_recurrence` (`choose_recurrence`): `batched` steps all
modalities' GRUs in one recurrence (`skelcmd.encoders.recurrence`), `nn_gru` runs each GRU
through PyTorch's `nn.GRU` (the path GPUs always take, with cuDNN). Which is faster depends
on the CPU's matrix libraries (benchmarks/README.md), so `auto` measures: a forward and
backward of the run's own query encoders, at its batch size and in its precision, each way,
on 1 frame and on several, extrapolated to the run's frames, and takes the faster
(`recurrence_seconds`; 2 to 4 s at hidden 128 to 256 on 2 cores). At hidden 1024 on 2 cores
it takes about 20 s for a single coarse pair, 1 and 3 frames: there, where the paths are
within about 20 % of each other, set the path by hand if it matters. Models too small for it
to matter skip the probe and run batched.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from skelcmd.config import TrainConfig

BF16_PAYS = 1.5  # bfloat16 products at least this many times as fast as float32 ones
NATIVE_BF16 = (8, 0)  # the first CUDA compute capability with bfloat16 units (Ampere)

# (batch, rows, inner, columns): a layer's input projection at hidden 256 (2048 frames x
# samples), and one frame's recurrent products of 6 GRUs (3 modalities x 2) for 64 samples.
_PROBE = ((1, 2048, 512, 1536), (6, 64, 256, 768))

TINY_GFLOP = 2.0  # encoders whose forward + backward of a batch costs less are not probed
PROBE_SECONDS = 0.5  # about how long the recurrence probe's longer pass runs (frames adjusted)
PROBE_BUDGET = 3.0  # after this many seconds the probe times no further pair (one at least)
RECURRENCES = ("batched", "nn_gru")


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


def cuda_autocast_dtype(amp: bool | str, capability: tuple[int, int]) -> torch.dtype | None:
    """The autocast dtype of `train.amp` on a GPU of compute `capability` (major, minor)."""
    if amp is False:
        return None
    if amp == "auto":
        return torch.bfloat16 if tuple(capability) >= NATIVE_BF16 else torch.float16
    return torch.bfloat16 if amp == "bfloat16" else torch.float16


def cuda_capability(device: torch.device) -> tuple[int, int]:
    """The compute capability of a CUDA device (a function of its own, for tests to stub)."""
    return torch.cuda.get_device_capability(device)


def autocast_dtype(train: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The dtype of training's autocast on `device` (`train.amp`, `train.cpu_bf16`), or None
    for float32 throughout. Other devices than CUDA and the CPU train in float32."""
    if device.type == "cuda":
        return cuda_autocast_dtype(train.amp, cuda_capability(device))
    if device.type != "cpu":
        return None
    bf16 = train.cpu_bf16
    if bf16 == "auto":
        bf16 = bf16_speedup() >= BF16_PAYS
    return torch.bfloat16 if bf16 else None


def describe(train: TrainConfig, device: torch.device) -> str:
    """One line for the training log: the precision chosen and why."""
    dtype = autocast_dtype(train, device)
    name = {None: "float32", torch.float16: "float16 autocast with a GradScaler"}
    chosen = name.get(dtype, f"{str(dtype).removeprefix('torch.')} autocast")
    if device.type == "cuda":
        major, minor = cuda_capability(device)
        setting = str(train.amp).lower()
        return f"precision on {device}: {chosen} (train.amp={setting}, compute {major}.{minor})"
    if device.type != "cpu":
        return f"precision on {device}: float32"
    if train.cpu_bf16 != "auto":
        why = f"train.cpu_bf16={str(train.cpu_bf16).lower()}"
    else:
        why = (
            f"auto: bfloat16 matrix products ran {bf16_speedup():.1f}x as fast as float32 in a "
            f"probe, {'at least' if dtype else 'under'} {BF16_PAYS}x"
        )
    return f"precision on the CPU: {chosen} ({why})"


@dataclass(frozen=True)
class Recurrence:
    """The GRU path chosen (`path`: batched or nn_gru) and why, for the log (`describe`)."""

    path: str
    why: str

    def describe(self) -> str:
        shown = {"batched": "batched recurrence", "nn_gru": "nn.GRU"}[self.path]
        return f"GRU path on the CPU: {shown} ({self.why})"


def has_recurrence(module: nn.Module) -> bool:
    """Whether `module` is a GRU encoder that can take either path (it has `fused`)."""
    return hasattr(module, "fused") and hasattr(module, "encode_together")


def use_recurrence(model: nn.Module, path: str) -> None:
    """Set every GRU encoder in `model` to `path` (batched or nn_gru)."""
    if path not in RECURRENCES:
        raise ValueError(f"GRU path {path!r} is not one of {RECURRENCES}")
    for module in model.modules():
        if has_recurrence(module):
            module.fused = path == "batched"


def pass_flops(encoders: Sequence[nn.Module], batch: int, frames: int) -> float:
    """Multiply-add FLOPs of one forward and backward (3x the forward) of GRU `encoders` on
    `batch` clips of `frames` frames: per layer two GRUs, 3 gates of input and recurrent
    products per frame."""
    total = 0
    for e in encoders:
        inputs = [e.input_size] + [2 * e.hidden] * (e.num_layers - 1)
        total += sum(2 * 2 * 3 * (i + e.hidden) * e.hidden for i in inputs) * batch * frames
    return 3.0 * total


def choose_recurrence(
    train: TrainConfig,
    encoders: Sequence[nn.Module],
    batch: int,
    frames: int,
    dtype: torch.dtype | None,
    device: torch.device,
) -> Recurrence | None:
    """The GRU path for query `encoders` (one per modality) trained on batches of `batch` clips
    of `frames` frames under autocast `dtype` (`train.cpu_recurrence`); None where there is no
    choice (other encoders than GRUs, other devices than the CPU)."""
    if device.type != "cpu" or not encoders or not all(map(has_recurrence, encoders)):
        return None
    if train.cpu_recurrence != "auto":
        return Recurrence(train.cpu_recurrence, f"train.cpu_recurrence={train.cpu_recurrence}")
    flops = pass_flops(encoders, batch, frames)
    if flops < TINY_GFLOP * 1e9:
        return Recurrence("batched", f"auto: a model this small is not measured ({flops:.1e} FLOP)")
    seconds, probed = recurrence_seconds(encoders, batch, frames, dtype)
    pairs = zip(seconds["batched"], seconds["nn_gru"], strict=True)
    ratio = statistics.median(n / b for b, n in pairs)
    path = "batched" if ratio >= 1 else "nn_gru"
    times = ", ".join(f"{statistics.median(seconds[p]):.2f} s {p}" for p in RECURRENCES)
    why = (
        f"auto: forward + backward of {frames} frames, from {probed[0]} and {probed[1]} "
        f"timed: {times} (median of {len(seconds[path])}); batched {ratio:.2f}x as fast"
    )
    return Recurrence(path, why)


def recurrence_seconds(
    encoders: Sequence[nn.Module],
    batch: int,
    frames: int,
    dtype: torch.dtype | None,
    pairs: int = 3,
) -> tuple[dict[str, list[float]], tuple[int, int]]:
    """Seconds of one forward and backward of `encoders` on random clips of `frames` frames,
    each way, and the two frame counts timed to estimate them.

    A pass costs a fixed part (weights stacked, packed, their gradients) and a part per frame,
    so each path is timed on 1 frame and on about as many as fit `PROBE_SECONDS` (at least
    3, at most `frames`), and the line through the two gives the cost at `frames`. Both paths
    run back to back in up to `pairs` pairs (which goes first alternates: compare them pair by
    pair), no more once `PROBE_BUDGET` seconds have passed. The encoders' weights, gradients,
    BatchNorm statistics, `fused` flags and the global RNG are left as they were."""
    generator = torch.Generator().manual_seed(0)
    c, v, m = encoders[0].expected
    modes = [(e, e.training, e.fused) for e in encoders]
    params = [p for e in encoders for p in e.parameters() if p.requires_grad]

    def once(path: str, length: int) -> float:
        x = torch.randn((batch, c, length, v, m), generator=generator)
        for e in encoders:
            e.fused = path == "batched"
        tick = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            feats = type(encoders[0]).encode_together(encoders, [x] * len(encoders))
            loss = sum(f.float().square().sum() for f in feats)
        torch.autograd.grad(loss, params, allow_unused=True)
        return time.perf_counter() - tick

    try:
        for e in encoders:
            e.eval()  # BatchNorm reads its statistics instead of updating them
        start, first = time.perf_counter(), 1
        for path in RECURRENCES:
            once(path, first)  # warm-up: first calls, allocations
        short = max(once(path, first) for path in RECURRENCES)
        longer = max(min(3, frames), min(frames, round(first * PROBE_SECONDS / short)))
        once("batched", longer)  # its products' libraries are chosen at their first use
        seconds: dict[str, list[float]] = {path: [] for path in RECURRENCES}
        for i in range(pairs):
            if i and time.perf_counter() - start > PROBE_BUDGET:
                break
            for path in RECURRENCES if i % 2 == 0 else RECURRENCES[::-1]:
                short, long = once(path, first), once(path, longer)
                slope = (long - short) / (longer - first) if longer > first else 0.0
                seconds[path].append(max(long, short + slope * (frames - first)))  # (noise)
        return seconds, (first, longer)
    finally:
        for e, training, fused in modes:
            e.train(training)
            e.fused = fused
