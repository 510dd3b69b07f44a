"""A copy of a data set with person 1's spine-middle subtracted in every frame, nothing else.

The first step of the reference pipeline alone (no rotation, no padding change), to test
whether a clip's place in the room is a shortcut (benchmarks/README.md, issue 16, part 2):
every non-zero joint of every person minus person 1's `body_frame.origin` joint of the same
frame; all-zero joints stay zero.

    python -m benchmarks.accuracy.centre_frames DATA OUT
"""

from __future__ import annotations

import argparse

import numpy as np

from skelcmd.data.format import open_dataset
from skelcmd.data.writer import write_dataset


def centre_frames(data: np.ndarray, origin: int) -> np.ndarray:
    """(N, 3, T, V, M) -> the same with person 1's joint `origin` of each frame subtracted from
    every non-zero joint (of every person)."""
    data = np.asarray(data, dtype=np.float32)
    spine = data[:, :, :, origin : origin + 1, 0:1]  # (N, 3, T, 1, 1)
    present = np.abs(data).sum(axis=1, keepdims=True) != 0
    return np.where(present, data - spine, 0).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("out")
    args = parser.parse_args()
    dataset = open_dataset(args.data)
    origin = dataset.layout.require_body_frame("centre_frames").origin
    splits = [dataset.split(name) for name in dataset.splits]
    arrays = {
        "data": np.concatenate([centre_frames(s.data, origin) for s in splits]),
        "lengths": np.concatenate([np.asarray(s.lengths) for s in splits]),
        "labels": np.concatenate([np.asarray(s.labels) for s in splits]),
        "names": [name for s in splits for name in s.names],
    }
    which = np.concatenate([np.full(len(s.labels), i) for i, s in enumerate(splits)])
    masks = {s.name: which == i for i, s in enumerate(splits)}
    write_dataset(
        args.out,
        dataset.layout,
        dataset.class_names,
        arrays,
        masks,
        source=dataset.source,
        benchmark=dataset.benchmark,
        extra={"centred_from": str(args.data)},
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
