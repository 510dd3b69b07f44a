"""`skelcmd demo`: the end-to-end run on the built-in synthetic data set.

Today: generate the data set, print its summary, draw a two-person sample. The evaluation
work grows this into generate -> pretrain -> evaluate -> report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelcmd.data.format import open_dataset
from skelcmd.data.info import describe
from skelcmd.data.synthetic import TWO_PERSON_CLASSES, write_synthetic
from skelcmd.viz import render_sample


def run_demo(out: str | Path, *, samples: int = 2000, seed: int = 0) -> list[Path]:
    """Run the demo into `out`; return the pictures it drew."""
    out = Path(out)
    (data_dir,) = write_synthetic(
        out / "data", num_samples=samples, seed=seed, benchmarks=["xsub"], overwrite=True
    )
    dataset = open_dataset(data_dir)
    print(describe(dataset))
    split = dataset.split("test")
    index = int(np.flatnonzero(np.isin(split.labels, sorted(TWO_PERSON_CLASSES)))[0])
    title = f"{dataset.class_names[split.labels[index]]} ({split.sample_name(index)})"
    pictures = [
        render_sample(
            split.data[index], int(split.lengths[index]), dataset.layout, out / f"sample{suffix}",
            title=title,
        )
        for suffix in (".png", ".gif")
    ]
    print("\n" + "\n".join(f"wrote {path}" for path in pictures))
    return pictures
