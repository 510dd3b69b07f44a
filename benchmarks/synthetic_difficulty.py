"""How hard is the built-in synthetic data set? Times `generate` and prints the 1-nearest-
neighbour accuracy of raw coordinates on the x-sub split: a representation learned by CMD
should beat these numbers by a wide margin.

    python -m benchmarks.synthetic_difficulty [--samples 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from skelcmd.synthetic.generator import XSUB_TRAIN_SUBJECTS, generate, raw_knn_accuracy


def resample(data: np.ndarray, lengths: np.ndarray, frames: int = 64) -> np.ndarray:
    """(N, C, T, V, M) -> (N, C, frames, V, M): each sample's valid frames, linearly resampled."""
    pos = np.linspace(0.0, 1.0, frames)[None] * (lengths[:, None] - 1)  # (N, frames)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, lengths[:, None] - 1)
    w = (pos - lo)[:, None, :, None, None]
    index = (slice(None), None, slice(None), None, None)

    def gather(i):
        return np.take_along_axis(data, i[index], axis=2)

    return (1.0 - w) * gather(lo) + w * gather(hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    ds = generate(args.samples, args.seed)
    seconds = time.perf_counter() - start
    print(f"generate({args.samples}, seed={args.seed}): {seconds:.2f} s, data {ds.data.shape}")

    train = np.isin(ds.subjects, XSUB_TRAIN_SUBJECTS)
    y_train, y_test = ds.labels[train], ds.labels[~train]
    print(f"x-sub split: {train.sum()} train, {(~train).sum()} test, {len(ds.class_names)} classes")
    raw = raw_knn_accuracy(ds.data[train], y_train, ds.data[~train], y_test)
    print(f"1-NN raw flattened coordinates (zero-padded): {100 * raw:.1f} %")
    resampled = resample(ds.data, ds.lengths)
    res = raw_knn_accuracy(resampled[train], y_train, resampled[~train], y_test)
    print(f"1-NN coordinates resampled to 64 frames:      {100 * res:.1f} %")
    chance = np.bincount(y_test).max() / len(y_test)
    print(f"chance (majority class of the test set):      {100 * chance:.1f} %")


if __name__ == "__main__":
    main()
