"""Summaries of a grid's finished cells: mean +- std over seeds (and folds, for a grid with
folds), as JSON and as a markdown table.

Standard deviations are over the runs (seeds x folds) with ddof=1 (the sample standard
deviation); with one run there is none. The "CMD - MoCo" rows are paired by seed and fold (same
seed, same data, same data order and initial weights), which cancels much of the run-to-run
spread the two share.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy.grid import PROTOCOLS, Cell, GridSpec

LABELS = {"random": "random init (BN recomputed)", "moco": "MoCo (cmd.weight 0)", "cmd": "CMD"}
PROTOCOL_LABELS = {"knn": "kNN", "linear": "linear", "linear_std": "linear std."}


def mean_std(values: list[float]) -> dict[str, Any]:
    """{"mean", "std" (None below 2 values), "n", "values"}."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return {"mean": float(np.mean(values)), "std": std, "n": len(values), "values": values}


def streams_of(done: dict[Cell, dict[str, Any]]) -> list[str]:
    """Stream names in the order the protocols reported them (ensemble last)."""
    names: list[str] = []
    for results in done.values():
        for protocol in PROTOCOLS:
            names += [s for s in results[protocol] if s not in names]
    return names


def summarise(spec: GridSpec, done: dict[Cell, dict[str, Any]]) -> dict[str, Any]:
    """{"rows": [...], "differences": [...]} over the finished cells (`done`)."""
    streams = streams_of(done)
    rows, differences = [], []
    for encoder in spec.encoders:
        for method in spec.methods:
            mine = {
                (c.seed, c.fold): r
                for c, r in done.items()
                if (c.encoder, c.method) == (encoder, method)
            }
            if not mine:
                continue
            scores = {
                f"{protocol}/{stream}": mean_std([r[protocol][stream] for r in mine.values()])
                for protocol in PROTOCOLS
                for stream in streams
            }
            seeds = sorted({seed for seed, _ in mine})
            rows.append(
                {"encoder": encoder, "method": method, "seeds": seeds, "runs": len(mine), **scores}
            )
        pairs = {
            (c.seed, c.fold): (r, done.get(Cell(encoder, "moco", c.seed, c.fold)))
            for c, r in done.items()
            if (c.encoder, c.method) == (encoder, "cmd")
        }
        pairs = {seed: pair for seed, pair in pairs.items() if pair[1] is not None}
        if pairs:
            scores = {
                f"{protocol}/{stream}": mean_std(
                    [a[protocol][stream] - b[protocol][stream] for a, b in pairs.values()]
                )
                for protocol in PROTOCOLS
                for stream in streams
            }
            seeds = sorted({seed for seed, _ in pairs})
            differences.append({"encoder": encoder, "seeds": seeds, "runs": len(pairs), **scores})
    return {
        "streams": streams,
        "rows": rows,
        "differences": differences,
        "folds": list(spec.folds),
    }


def _cell_text(score: dict[str, Any], signed: bool = False) -> str:
    mean = f"{score['mean']:+.1f}" if signed else f"{score['mean']:.1f}"
    if score["std"] is None or math.isnan(score["std"]):
        return mean
    return f"{mean} ± {score['std']:.1f}"


def markdown(summary: dict[str, Any], title: str) -> str:
    """One table: a row per encoder and method, a column per protocol and stream."""
    streams = summary["streams"]
    columns = [f"{p}/{s}" for p in PROTOCOLS for s in streams]
    folds = summary.get("folds") or []
    header = ["encoder", "init", "seeds x folds" if folds else "seeds"] + [
        f"{PROTOCOL_LABELS[c.split('/')[0]]} {c.split('/')[1]}" for c in columns
    ]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * 3 + "---:|" * len(columns))
    for row in summary["rows"]:
        cells = [row["encoder"], LABELS[row["method"]], str(row.get("runs", len(row["seeds"])))]
        lines.append("| " + " | ".join(cells + [_cell_text(row[c]) for c in columns]) + " |")
    for diff in summary["differences"]:
        cells = [
            diff["encoder"],
            "CMD − MoCo, paired",
            str(diff.get("runs", len(diff["seeds"]))),
        ]
        lines.append(
            "| " + " | ".join(cells + [_cell_text(diff[c], signed=True) for c in columns]) + " |"
        )
    over = f"seeds and the {len(folds)} folds ({', '.join(folds)})" if folds else "seeds"
    paired = "seed by seed and fold by fold" if folds else "seed by seed"
    lines += [
        "",
        f"Top-1 accuracy (%) on the test split, mean ± standard deviation over {over} (ddof 1). "
        "Linear: the paper's probe on raw features; linear std.: the same on standardized "
        f"features; both the last epoch. The paired rows are CMD minus MoCo {paired}.",
    ]
    return "\n".join(lines) + "\n"


METHOD_COLORS = {"random": "#bbbbbb", "moco": "#ff7f0e", "cmd": "#1f77b4"}


def plot(summary: dict[str, Any], out: Path, title: str) -> Path:
    """Bars of mean top-1 with the seeds' standard deviation: a panel per encoder and
    protocol, a group of bars per stream, a bar per method."""
    from matplotlib.figure import Figure

    from skelcmd.evaluate.plots import save_figure

    encoders = list(dict.fromkeys(row["encoder"] for row in summary["rows"]))
    streams = summary["streams"]
    fig = Figure(figsize=(4.2 * len(PROTOCOLS), 2.9 * len(encoders) + 0.6), dpi=110)
    axes = fig.subplots(len(encoders), len(PROTOCOLS), squeeze=False, sharey=True)
    for r, encoder in enumerate(encoders):
        rows = [row for row in summary["rows"] if row["encoder"] == encoder]
        width = 0.8 / len(rows)
        for c, protocol in enumerate(PROTOCOLS):
            ax = axes[r][c]
            for i, row in enumerate(rows):
                scores = [row[f"{protocol}/{s}"] for s in streams]
                ax.bar(
                    np.arange(len(streams)) + (i - (len(rows) - 1) / 2) * width,
                    [s["mean"] for s in scores],
                    width,
                    yerr=[s["std"] or 0.0 for s in scores],
                    capsize=2,
                    color=METHOD_COLORS.get(row["method"]),
                    label=LABELS[row["method"]],
                )
            ax.set_xticks(np.arange(len(streams)), streams)
            ax.set_title(f"{encoder}, {PROTOCOL_LABELS[protocol]}", fontsize=10)
            ax.grid(axis="y", color="#e4e4e4", linewidth=0.5)
            ax.set_axisbelow(True)
        axes[r][0].set_ylabel("top-1 (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()  # below the panels, off the bars
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, out)
