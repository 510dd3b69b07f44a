"""Does pretraining teach a stream the action, or who performed it? A shortcut check.

Two views of one clip share their performer's body (size, proportions, habits), so instance
discrimination can be solved partly by recognising the performer instead of the action. This
prints, per stream, leave-one-out 1-NN (cosine) accuracy on the pretraining split of two labels:
the action and the subject (the split's stored `subjects` ids where the data set has them,
else read from the sample names: NTU-style `...P<subject>...`, the synthetic set's `S<subject>`,
UTD-MHAD `a<action>_s<subject>_t<trial>`), for a checkpoint and for its untrained twin
(BatchNorm statistics recomputed on the split, as `--random-init` does). A stream whose subject
accuracy rises far more than its action accuracy learned the performer.

    python -m benchmarks.accuracy.shortcut_probe CHECKPOINT DATA [--frames 32] [--split train]
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import torch
import torch.nn.functional as F

from skelcmd.data.format import open_dataset
from skelcmd.evaluate.batchnorm import recompute_batchnorm
from skelcmd.evaluate.features import extract_streams, load_encoder_model

_SUBJECT = (re.compile(r"_s(\d+)_"), re.compile(r"P(\d{3})"), re.compile(r"^S(\d{3})"))


def subject_of(name: str) -> str:
    """The performer's id in a sample name (UTD-MHAD, NTU RGB+D style; the synthetic set's
    `S<nnn>` is its subject), or the whole name when none is found."""
    for pattern in _SUBJECT:
        found = pattern.search(name)
        if found:
            return found.group(1)
    return name


def leave_one_out(features: torch.Tensor, labels: np.ndarray) -> float:
    """1-NN top-1 (%) of every row among the others, cosine similarity."""
    unit = F.normalize(features.float(), dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-float("inf"))
    nearest = similarity.argmax(dim=1).numpy()
    return float((labels[nearest] == labels).mean() * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("data")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    dataset = open_dataset(args.data)
    split = dataset.split(args.split)
    persons = split.data.shape[4]
    actions = np.asarray(split.labels)
    subjects = split.ids.get("subjects")
    if subjects is None:
        subjects = np.asarray([subject_of(split.sample_name(i)) for i in range(len(actions))])
    subjects = np.asarray(subjects)
    print(f"{args.data} {args.split}: {len(actions)} clips, {len(set(subjects))} subjects")
    print("| encoder | stream | action 1-NN | subject 1-NN |\n|---|---|---:|---:|")
    for name, kwargs in (
        ("pretrained", {"checkpoint": args.checkpoint}),
        ("untrained (BN recomputed)", {"checkpoint": None, "random_init_like": args.checkpoint}),
    ):
        model = load_encoder_model(
            data_layout=dataset.layout, num_persons=persons, channels=dataset.channels, **kwargs
        )
        if kwargs["checkpoint"] is None:
            recompute_batchnorm(model, split, out_frames=args.frames)
        with torch.no_grad():
            streams = extract_streams(model, split, model.modalities, out_frames=args.frames)
        for stream, features in streams.items():
            print(
                f"| {name} | {stream} | {leave_one_out(features, actions):.1f} "
                f"| {leave_one_out(features, subjects):.1f} |"
            )


if __name__ == "__main__":
    main()
