"""A yardstick for the accuracy study: 1-nearest-neighbour on the coordinates themselves.

Every clip's valid frames are linearly resampled to a fixed length and flattened; the test
clips are classified by their Euclidean nearest train clip. A learned representation that
scores below this has not yet learned more than the raw poses give.

`--streams` does the same for each stream (joint, motion, bone, as `skelcmd.modalities`
derives them) and each of its two parts: the clip's time-average (its static pose: posture,
body size) and what is left once that is subtracted (the movement). An encoder whose kNN sits
at the static part's figure is reading the posture, not the action (benchmarks/README.md,
issue 16, part 3).

    python -m benchmarks.accuracy.raw_knn runs/data/utd [--frames 32] [--streams]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.synthetic_difficulty import resample
from skelcmd.data.format import open_dataset
from skelcmd.modalities import MODALITIES, derive
from skelcmd.skeleton import Layout
from skelcmd.synthetic.generator import raw_knn_accuracy

STREAMS = tuple(MODALITIES)  # joint, motion, bone
PARTS = ("whole clip", "time-average", "minus time-average")


def stream_parts(x: np.ndarray, layout: Layout, stream: str) -> dict[str, np.ndarray]:
    """A stream of resampled clips (N, C, T, V, M) and its two parts: the time-average over the
    T frames (N, C, V, M), and the stream minus it (N, C, T, V, M)."""
    s = derive(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), [stream], layout)
    s = s[stream].numpy()
    mean = s.mean(axis=2, keepdims=True)
    return dict(zip(PARTS, (s, mean[:, :, 0], s - mean), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a data set directory with train and test splits")
    parser.add_argument("--frames", type=int, default=32, help="resampled length (default 32)")
    parser.add_argument(
        "--streams", action="store_true", help="also each stream, whole and in its two parts"
    )
    args = parser.parse_args()
    dataset = open_dataset(args.data)
    train, test = dataset.split("train"), dataset.split("test")
    x_train, x_test = (
        resample(np.asarray(s.data), np.asarray(s.lengths), args.frames) for s in (train, test)
    )
    accuracy = raw_knn_accuracy(x_train, train.labels, x_test, test.labels)
    chance = np.bincount(test.labels).max() / len(test.labels)
    print(f"{args.data}: {len(train.labels)} train, {len(test.labels)} test clips")
    print(f"1-NN on coordinates resampled to {args.frames} frames: {100 * accuracy:.1f} %")
    print(f"chance (majority class of the test set): {100 * chance:.1f} %")
    if not args.streams:
        return
    print(f"1-NN per stream (%): {' | '.join(PARTS)}")
    for stream in STREAMS:
        train_parts, test_parts = (
            stream_parts(x, dataset.layout, stream).values() for x in (x_train, x_test)
        )
        scores = [
            raw_knn_accuracy(a, train.labels, b, test.labels)
            for a, b in zip(train_parts, test_parts, strict=True)
        ]
        print(f"  {stream:<7}" + "".join(f" {100 * s:13.1f}" for s in scores))


if __name__ == "__main__":
    main()
