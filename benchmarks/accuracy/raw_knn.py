"""A yardstick for the accuracy study: 1-nearest-neighbour on the coordinates themselves.

Every clip's valid frames are linearly resampled to a fixed length and flattened; the test
clips are classified by their Euclidean nearest train clip. A learned representation that
scores below this has not yet learned more than the raw poses give.

    python benchmarks/accuracy/raw_knn.py runs/data/utd [--frames 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skelcmd.data.format import open_dataset
from skelcmd.synthetic.generator import raw_knn_accuracy
from synthetic_difficulty import resample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a data set directory with train and test splits")
    parser.add_argument("--frames", type=int, default=32, help="resampled length (default 32)")
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


if __name__ == "__main__":
    main()
