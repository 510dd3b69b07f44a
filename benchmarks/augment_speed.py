"""Augmentation throughput: the batched `two_views` against a per-sample pipeline.

The per-sample pipeline below does what the reference code's data loader does for every
sample: numpy crop, one `F.interpolate` per view, a Python/numpy choice of joint corruption or
shear, and a final stack into a batch. Both produce two 64-frame views of one batch of NTU-25
skeletons (2 persons, T_max 300, valid lengths uniform in 50..300).

    python -m benchmarks.augment_speed [--threads N] [--batch 64] [--repeats 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from skelcmd.augment import AugmentConfig, two_views


def per_sample_view(
    sample: np.ndarray, n: int, cfg: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """One augmented view of one (C, T, V, M) sample, the reference code's way."""
    c, _, v, m = sample.shape
    scale = rng.uniform(*cfg.ratio_range)
    length = min(max(int(np.floor(n * scale)), cfg.min_frames), n)
    start = int(rng.integers(0, n - length + 1))
    crop = torch.tensor(sample[:, start : start + length], dtype=torch.float)
    flat = crop.permute(0, 2, 3, 1).reshape(c * v * m, length)[None, :, :, None]
    flat = F.interpolate(flat, size=(cfg.out_frames, 1), mode="bilinear", align_corners=False)
    view = flat[0, :, :, 0].reshape(c, v, m, cfg.out_frames).permute(0, 3, 1, 2).numpy()
    if rng.random() < cfg.p_corrupt:
        view = view.copy()
        joints = rng.choice(v, cfg.corrupt_joints, replace=False)
        if rng.random() < 0.5:
            view[:, :, joints] = 0
        else:
            matrix = rng.uniform(-1, 1, (3, 3))
            moved = np.dot(view[:, :, joints].transpose(1, 2, 3, 0), matrix)
            view[:, :, joints] = moved.transpose(3, 0, 1, 2)
    else:
        shear = rng.uniform(-1, 1, (3, 3))
        np.fill_diagonal(shear, 1.0)
        view = np.dot(view.transpose(1, 2, 3, 0), shear.T).transpose(3, 0, 1, 2)
    return view.astype(np.float32)


def per_sample_two_views(
    data: np.ndarray, lengths: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views of every sample, one sample at a time, stacked into (N, C, 64, V, M) batches."""
    first, second = [], []
    for i in range(len(data)):
        sample = np.array(data[i])  # the data loader's copy out of the memory map
        first.append(per_sample_view(sample, int(lengths[i]), cfg, rng))
        second.append(per_sample_view(sample, int(lengths[i]), cfg, rng))
    return torch.from_numpy(np.stack(first)), torch.from_numpy(np.stack(second))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run, device: torch.device) -> float:
    """Seconds one call of `run()` takes (the device synchronised)."""
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def compare(runs: dict, samples: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Samples per second of every `run()`: median of `repeats` calls, the runs interleaved so
    that a busy machine slows all of them alike."""
    for run in runs.values():
        timed(run, device)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            seconds[name].append(timed(run, device))
    return {name: samples / float(np.median(times)) for name, times in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--t-max", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu", help="device of the batched version")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rng = np.random.default_rng(args.seed)
    lengths = rng.integers(50, args.t_max + 1, args.batch)
    data = rng.standard_normal((args.batch, 3, args.t_max, 25, 2)).astype(np.float32)
    data = np.where(
        (np.arange(args.t_max)[None, :] < lengths[:, None])[:, None, :, None, None], data, 0.0
    ).astype(np.float32)
    cfg = AugmentConfig()

    x = torch.from_numpy(data).to(device)
    n = torch.from_numpy(lengths).to(device)
    generator = torch.Generator(device).manual_seed(args.seed)
    runs = {
        "per-sample": lambda: per_sample_two_views(data, lengths, cfg, rng),
        "batched": lambda: two_views(x, n, cfg, generator),
    }
    speed = compare(runs, args.batch, args.repeats, device)
    plain, batched = speed["per-sample"], speed["batched"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads ({os.cpu_count()} cores), "
        f"batch {args.batch}, "
        f"T_max {args.t_max}, median of {args.repeats} runs; batched on {device}, per-sample on cpu"
    )
    print(f"per-sample pipeline: {plain:10.0f} samples/s (two views each)")
    print(f"batched two_views:   {batched:10.0f} samples/s (two views each)")
    print(f"speed-up:            {batched / plain:10.1f}x")


if __name__ == "__main__":
    main()
