"""End-to-end pretraining throughput: the paper's recipe on an NTU-sized synthetic set.

Runs `skelcmd.train.pretrain` itself (preset `ntu60_xsub`: GRU 1024 x 3, batch 64, K 16384,
the data loader with its worker processes, augmentation on the device) for one epoch or
`--seconds`, whichever ends first, then reports samples/s (after the first `--warm` steps)
and the share of the time spent outside the model: waiting for the loader's next batch and
making the two augmented views (each timed with the device synchronised). The data set has
NTU-60 x-sub's training size (40,091 clips of up to 300 frames, 25 joints, 2 persons; 3.6 GB):
`--unique` synthetic clips are generated (a few seconds per thousand) and repeated to that
count, which the loader cannot tell from new clips.

    python -m benchmarks.pretrain_throughput --out DIR [--device cuda] [--seconds 120]
                                             [--samples 40091] [--quick]

`--quick` (CI, on the CPU): a tiny model on 96 clips for a few seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import skelcmd.train as train
from skelcmd.config import load_config
from skelcmd.data.format import is_dataset
from skelcmd.data.writer import write_dataset
from skelcmd.skeleton import NTU25
from skelcmd.sources.normalize import REFERENCE, normalize_arrays
from skelcmd.synthetic.generator import generate

NTU60_XSUB_TRAIN = 40_091
QUICK = [
    "model.encoder_args={hidden: 16, num_layers: 1}",
    "model.queue_size=32",
    "cmd.topk=8",
    "optim.batch_size=16",
    "augment.min_frames=16",
    "augment.out_frames=16",
    "data.workers=0",
]


def ntu_sized_set(folder: Path, samples: int, unique: int) -> Path:
    """A synthetic data set of `samples` training clips (`unique` distinct ones, repeated)
    with NTU's sample shape, and a small test split; reused if already there."""
    path = folder / "xsub"
    if is_dataset(path):
        return path
    synth = generate(min(unique, samples), seed=0, max_frames=300)
    data = normalize_arrays(synth.data, synth.lengths, NTU25, REFERENCE)
    repeat = np.resize(np.arange(len(data)), samples + 16)  # the last 16: the test split
    arrays = {
        "data": data[repeat],
        "lengths": synth.lengths[repeat],
        "labels": synth.labels[repeat],
    }
    train_mask = np.arange(len(repeat)) < samples
    return write_dataset(
        path,
        NTU25,
        synth.class_names,
        arrays,
        {"train": train_mask, "test": ~train_mask},
        source="synthetic",
        benchmark="xsub",
    )


class Clock:
    """Seconds spent waiting for batches and making views, and when each step began."""

    def __init__(self, device: torch.device, seconds: float) -> None:
        self.device, self.deadline = device, time.perf_counter() + seconds
        self.loader = self.views = 0.0
        self.starts: list[float] = []
        self.outside: list[float] = []  # loader + views seconds at each step's start

    def now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def batches(self, loader):
        """The loader's batches until the deadline, timing each wait."""
        clock = self

        class Timed:
            sampler = loader.sampler

            def __len__(self) -> int:
                return len(loader)

            def __iter__(self):
                batches = iter(loader)
                while True:
                    tick = clock.now()
                    clock.starts.append(tick)
                    clock.outside.append(clock.loader + clock.views)
                    if tick > clock.deadline:
                        return
                    batch = next(batches, None)
                    if batch is None:
                        return
                    clock.loader += clock.now() - tick
                    yield batch

        return Timed()

    def timed_views(self, two_views):
        def views(*args, **kwargs):
            tick = self.now()
            out = two_views(*args, **kwargs)
            self.views += self.now() - tick
            return out

        return views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the data set and the run")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--samples", type=int, default=NTU60_XSUB_TRAIN)
    parser.add_argument("--unique", type=int, default=4000, help="distinct clips generated")
    parser.add_argument("--workers", type=int, default=4, help="data loader processes")
    parser.add_argument("--warm", type=int, default=10, help="steps left out of the rate")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    samples = 96 if args.quick else args.samples
    tick = time.perf_counter()
    data = ntu_sized_set(out / "data", samples, args.unique)
    print(f"data set {data}: {samples:,} training clips ({time.perf_counter() - tick:.0f} s)")
    overrides = [
        f"data.path={data}",
        f"data.workers={args.workers}",
        f"train.device={args.device}",
        "optim.epochs=1",
        "train.knn_every=0",
        *(QUICK if args.quick else []),
    ]
    config = load_config("ntu60_xsub", overrides)
    device = torch.device(args.device)
    clock = Clock(device, args.seconds)
    make_loader, two_views = train.make_loader, train.two_views
    train.make_loader = lambda *a, **k: clock.batches(make_loader(*a, **k))
    train.two_views = clock.timed_views(two_views)
    run = out / "run"
    try:
        train.pretrain(config, run, progress=False)
    finally:
        train.make_loader, train.two_views = make_loader, two_views
    steps = len(clock.starts) - 1  # the last start is the check that ended the run
    warm = min(args.warm, max(steps - 1, 0))
    if steps - warm < 1:
        raise SystemExit(f"only {steps} steps ran in {args.seconds:g} s; give more --seconds")
    wall = clock.starts[-1] - clock.starts[warm]
    outside = clock.outside[-1] - clock.outside[warm]
    rate = (steps - warm) * config.optim.batch_size / wall
    print(
        f"pretraining on {device}: {steps} steps of {config.optim.batch_size} clips in "
        f"{clock.starts[-1] - clock.starts[0]:.1f} s; after the first {warm}: {rate:.1f} "
        f"samples/s, {wall / (steps - warm):.3f} s/step, {outside / wall:.1%} of the time "
        f"outside the model (loader {clock.loader:.1f} s, views {clock.views:.1f} s in all)"
    )


if __name__ == "__main__":
    main()
