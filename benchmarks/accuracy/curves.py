"""Learning curves of several pretraining runs side by side: kNN top-1 per stream over the
epochs, from the `knn/<stream>` records of each run's `history.json` (`train.knn_every`).

One panel per stream (and the ensemble), one line per run, labelled by `--label` (default: the
run folder's name); an optional `--untrained` JSON maps a stream to a level drawn as a dashed
line, e.g. the untrained twin's kNN.

    python -m benchmarks.accuracy.curves RUN [RUN ...] --out curves.png [--label A B ...]
        [--untrained '{"joint": 36.5, "motion": 64.2}'] [--title TEXT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

from skelcmd.evaluate.monitor import knn_keys
from skelcmd.evaluate.plots import save_figure


def read_curve(run: Path) -> dict[str, tuple[list[int], list[float]]]:
    """{stream: (epochs, kNN top-1 %)} of a run's history.json."""
    history = json.loads((run / "history.json").read_text())
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for row in history:
        for key in knn_keys(row):
            epochs, values = curves.setdefault(key.removeprefix("knn/"), ([], []))
            epochs.append(row["epoch"])
            values.append(row[key])
    if not curves:
        raise SystemExit(f"error: {run}/history.json has no kNN records (train.knn_every: 0)")
    return curves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", required=True, type=Path, help="the picture (.png)")
    parser.add_argument("--label", nargs="+", help="one label per run")
    parser.add_argument("--untrained", type=json.loads, default={}, help="stream -> level")
    parser.add_argument("--title", default="kNN top-1 during pretraining")
    args = parser.parse_args(argv)
    labels = args.label or [run.name for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"{len(args.runs)} runs but {len(labels)} labels")
    curves = [read_curve(run) for run in args.runs]
    streams = list(dict.fromkeys(s for curve in curves for s in curve))
    fig = Figure(figsize=(3.3 * len(streams), 3.2), dpi=110)
    axes = fig.subplots(1, len(streams), squeeze=False, sharey=True)[0]
    for ax, stream in zip(axes, streams, strict=True):
        for curve, label in zip(curves, labels, strict=True):
            if stream in curve:
                ax.plot(*curve[stream], marker="o", ms=2.5, lw=1.3, label=label)
        if stream in args.untrained:
            ax.axhline(args.untrained[stream], color="#888888", ls="--", lw=1, label="untrained")
        ax.set_title(stream, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(True, color="#e4e4e4", linewidth=0.5)
    axes[0].set_ylabel("kNN top-1 (%)")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
