"""The report's pictures (PNG): training curves, kNN learning curves, a t-SNE of features,
accuracy bars.

Figures are built with `Figure` + `FigureCanvasAgg`, so importing this module never changes the
pyplot backend of the caller; every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from skelcmd.atomic import atomic_path
from skelcmd.data.format import read_npy
from skelcmd.errors import UserError, read_json

_STYLE_GRID = {"color": "#e4e4e4", "linewidth": 0.5}
MAX_LEGEND = 40  # classes named in a t-SNE legend (and given distinct colours)
BAR_COLORS = {"pretrained": "#1f77b4", "random init": "#bbbbbb"}


def save_figure(fig: Figure, out: Path) -> Path:
    """Write `fig` as a PNG to `out`, atomically; return `out`."""
    FigureCanvasAgg(fig)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi)
    return out


def loss_terms(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The curves to draw: loss/total, then loss/infonce/<m> in order of appearance, then
    loss/cmd (the pairwise loss/cmd/<a>-><b> terms and accuracies are left out)."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    infonce = [k for k in keys if k.startswith("loss/infonce/")]
    return [k for k in ("loss/total", *infonce, "loss/cmd") if k in keys]


def training_curves(
    history: Sequence[Mapping[str, Any]], out: str | Path, *, title: str = "pretraining"
) -> Path:
    """Per-epoch loss terms of a pretraining `history.json` (list of per-epoch dicts with
    "epoch", "lr" and "loss/..." means) with the learning rate on a twin axis; -> `out`."""
    if not history:
        raise UserError(f"cannot draw training curves for {title}: the history is empty.")
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    marker = "o" if len(history) <= 30 else None
    fig = Figure(figsize=(6.4, 3.6), dpi=110)
    ax = fig.add_subplot()
    for key in loss_terms(history):
        values = [row.get(key, np.nan) for row in history]
        width = 2.0 if key == "loss/total" else 1.2
        ax.plot(epochs, values, label=key.removeprefix("loss/"), lw=width, marker=marker, ms=3)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss (epoch mean)")
    ax.grid(True, **_STYLE_GRID)
    if any("lr" in row for row in history):
        twin = ax.twinx()
        lrs = [row.get("lr", np.nan) for row in history]
        twin.plot(epochs, lrs, color="#888888", ls="--", lw=1.0, label="lr")
        twin.set_ylabel("learning rate", color="#666666")
        if min(lrs) > 0:
            twin.set_yscale("log")
        lines, labels = ax.get_legend_handles_labels()
        more, more_labels = twin.get_legend_handles_labels()
        ax.legend(lines + more, labels + more_labels, fontsize=7, loc="upper right")
    else:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(out))


def knn_curves(
    history: Sequence[Mapping[str, Any]], out: str | Path, *, title: str = "pretraining"
) -> Path:
    """The learning curve: kNN top-1 (%) per stream over the epochs where the pretraining
    monitor scored it (`knn/<stream>` keys of `history.json`, `train.knn_every`); -> `out`."""
    scored = [row for row in history if any(k.startswith("knn/") for k in row)]
    if not scored:
        raise UserError(f"no kNN scores in the history of {title} (train.knn_every was 0).")
    keys = list(dict.fromkeys(k for row in scored for k in row if k.startswith("knn/")))
    epochs = [row["epoch"] for row in scored]
    fig = Figure(figsize=(6.4, 3.6), dpi=110)
    ax = fig.add_subplot()
    for key in keys:
        width = 2.0 if key == "knn/ensemble" else 1.2
        values = [row.get(key, np.nan) for row in scored]
        ax.plot(epochs, values, label=key.removeprefix("knn/"), lw=width, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("kNN top-1 (%)")
    ax.grid(True, **_STYLE_GRID)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{title}: kNN during pretraining", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(out))


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `max_points` of n items, the same for the same arguments."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def tsne_2d(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(n, D) features -> (n, 2) t-SNE map of their directions (rows L2-normalised, so the
    distances follow the cosine similarity the kNN protocol uses; PCA to 50 dims first).

    scikit-learn's TSNE with init="pca", random_state=seed, perplexity min(30, (n-1)/3) and
    500 iterations, on one thread: about 4 s for 2000 points, and no slow-down from OpenMP
    threads spinning against other work on a busy machine.
    """
    try:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise UserError("the t-SNE plot needs scikit-learn: pip install scikit-learn") from None
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    if x.ndim != 2 or n < 5:
        raise UserError(f"t-SNE needs at least 5 feature vectors (n, D); got shape {x.shape}.")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = min(30.0, (n - 1) / 3)
    with threadpool_limits(1):
        if x.shape[1] > 50 and n > 50:
            x = PCA(n_components=50, random_state=seed).fit_transform(x)
        tsne = TSNE(2, init="pca", random_state=seed, perplexity=perplexity, max_iter=500)
        return tsne.fit_transform(x)


def class_colors(n: int) -> np.ndarray:
    """(n, 3 or 4) colours: tab10, tab20, tab20 + tab20b while they suffice, else turbo."""
    if n <= 10:
        return np.asarray(mpl.colormaps["tab10"].colors)[:n]
    if n <= MAX_LEGEND:
        colors = mpl.colormaps["tab20"].colors + mpl.colormaps["tab20b"].colors
        return np.asarray(colors)[:n]
    return mpl.colormaps["turbo"](np.linspace(0, 1, n))


def tsne_plot(
    features: np.ndarray,
    labels: np.ndarray,
    out: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    title: str = "t-SNE of test features",
    max_points: int = 2000,
    seed: int = 0,
) -> Path:
    """Scatter the t-SNE map of `features` (N, D), coloured by `labels` (N,) int; at most
    `max_points` points (a fixed random subset) so it takes seconds. A legend names the classes
    when there are at most MAX_LEGEND of them."""
    features, labels = np.asarray(features), np.asarray(labels).astype(np.int64)
    if len(features) != len(labels):
        raise UserError(f"{len(features)} feature vectors but {len(labels)} labels.")
    keep = subsample(len(features), max_points, seed)
    points = tsne_2d(features[keep], seed=seed)
    labels = labels[keep]
    classes = np.unique(labels)
    legend = len(classes) <= MAX_LEGEND
    columns = 1 if len(classes) <= 20 else 2
    fig = Figure(figsize=(4.8 + 1.6 * columns * legend, 4.8), dpi=110)
    ax = fig.add_subplot()
    palette = class_colors(len(classes))
    for i, c in enumerate(classes):
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=8, color=palette[i], label=name, lw=0)
    if legend:
        ax.legend(
            fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), ncols=columns
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title} ({len(keep)} clips, {len(classes)} classes)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(out))


def accuracy_bars(panels: Mapping[str, Mapping[str, Mapping[str, float]]], out: str | Path) -> Path:
    """Top-1 bars per stream, pretrained beside random init: `panels[title][stream][kind]`
    with kind "pretrained" or "random init" (percent); one panel per protocol and data set."""
    if not panels:
        raise UserError("no accuracy to draw.")
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.4 * cols, 2.9 * rows), dpi=110)
    kinds = list(BAR_COLORS)
    for index, (title, streams) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, index + 1)
        names = list(streams)
        x = np.arange(len(names))
        width = 0.8 / len(kinds)
        for j, kind in enumerate(kinds):
            values = [streams[s].get(kind, np.nan) for s in names]
            offset = (j - (len(kinds) - 1) / 2) * width
            bars = ax.bar(x + offset, values, width, color=BAR_COLORS[kind], label=kind)
            labels = ["" if np.isnan(v) else f"{v:.1f}" for v in values]
            ax.bar_label(bars, labels=labels, fontsize=6, padding=1)
        ax.set_xticks(x, names, fontsize=7)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylim(0, 105)
        ax.set_ylabel("top-1 (%)", fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.grid(True, axis="y", **_STYLE_GRID)
        ax.set_axisbelow(True)
        if index == 0:
            ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, Path(out))


# Pictures of what a report's inputs hold: (markdown image lines, notes) per kind.


def unique_name(name: str, used: set[str]) -> str:
    """`name`, or `<stem>_2<suffix>`, `_3`, ... if taken; the result is added to `used`."""
    stem, suffix, n = Path(name).stem, Path(name).suffix, 2
    while name in used:
        name, n = f"{stem}_{n}{suffix}", n + 1
    used.add(name)
    return name


def find_below(paths: Sequence[Path], pattern: str) -> list[Path]:
    """Files matching `pattern` at any depth below the directories among `paths`, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += [p for p in sorted(path.glob(f"**/{pattern}")) if p not in found]
    return found


def curve_pictures(paths: Sequence[Path], out: Path, used: set[str]) -> tuple[list[str], list[str]]:
    """Training-curve pictures for every history.json below the directories; (images, notes)."""
    files = find_below(paths, "history.json")
    if not files:
        return [], ["No training curves: no `history.json` (pretraining run) among the inputs."]
    images = []
    for file in files:
        history = read_json(file, "a training history")
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            raise UserError(f"{file} is not a training history (a list of per-epoch objects).")
        name = unique_name("curves.png", used)
        training_curves(history, out / name, title=f"pretraining: {file.parent.name}")
        images.append(f"![training curves of {file.parent.name}]({name})")
        if any(k.startswith("knn/") for row in history for k in row):
            name = unique_name("knn_curve.png", used)
            knn_curves(history, out / name, title=file.parent.name)
            images.append(f"![kNN top-1 during the pretraining of {file.parent.name}]({name})")
    return images, []


def _embedding_meta(path: Path) -> dict[str, Any]:
    """The `.json` written beside an embedding by `skelcmd embed` ({} when there is none)."""
    if not path.is_file():
        return {}
    meta = read_json(path, "the metadata `skelcmd embed` writes beside an embedding")
    return meta if isinstance(meta, dict) else {}


def tsne_pictures(
    paths: Sequence[Path], embeddings: Sequence[Path], out: Path, used: set[str]
) -> tuple[list[str], list[str]]:
    """t-SNE pictures of the embedding files given or found (`embed_*.npy`); (images, notes)."""
    found = [p for p in find_below(paths, "embed_*.npy") if not p.stem.endswith("_labels")]
    files = list(dict.fromkeys([*embeddings, *found]))
    if not files:
        return [], ["No t-SNE picture: no embedding (`skelcmd embed` writes `embed_<stream>.npy`)."]
    images, notes = [], []
    for file in files:
        labels_file = file.with_name(f"{file.stem}_labels.npy")
        if not file.is_file() or not labels_file.is_file():
            missing = file if not file.is_file() else labels_file
            what = "is a folder, not a file" if missing.is_dir() else "does not exist"
            notes.append(f"No t-SNE picture of {file}: {missing} {what}.")
            continue
        meta = _embedding_meta(file.with_suffix(".json"))
        name = unique_name(f"tsne_{file.stem.removeprefix('embed_')}.png", used)
        data = meta.get("dataset") or {}
        where = " ".join(str(data.get(k, "")) for k in ("source", "benchmark", "split")).strip()
        title = f"t-SNE of {meta.get('stream', file.stem)} features" + (
            f", {where}" if where else ""
        )
        try:
            tsne_plot(
                read_npy(file, mmap=True, fix="write it again with `skelcmd embed`"),
                read_npy(labels_file, fix="write it again with `skelcmd embed`"),
                out / name,
                class_names=meta.get("class_names"),
                title=title,
            )
        except UserError as exc:
            notes.append(f"No t-SNE picture of {file}: {exc}")
            continue
        images.append(f"![t-SNE of {file.name}]({name})")
    return images, notes


def confusion_plot(confusion: np.ndarray, classes: Sequence[str], out: str | Path) -> Path:
    """The (K, K) counts (rows: true class, columns: predicted) as a picture of row shares,
    classes named on the axes when there are at most MAX_LEGEND of them."""
    confusion = np.asarray(confusion, dtype=np.float64)
    k = len(classes)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = 3.2 + min(k, MAX_LEGEND) * 0.16
    fig = Figure(figsize=(size + 1.0, size), dpi=110)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if k <= MAX_LEGEND:
        ax.set_xticks(range(k), classes, rotation=90, fontsize=6)
        ax.set_yticks(range(k), classes, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    correct = np.trace(confusion) / max(confusion.sum(), 1) * 100
    ax.set_title(
        f"confusion matrix ({int(confusion.sum())} clips, top-1 {correct:.1f} %)", fontsize=9
    )
    fig.tight_layout()
    return save_figure(fig, Path(out))


def timeline_plot(
    timelines: Sequence[tuple[str, int, Sequence[tuple[int, int, int]], np.ndarray, Any]],
    classes: Sequence[str],
    window: int,
    out: str | Path,
    max_recordings: int = 8,
) -> Path:
    """Recognised actions over time: per recording (name, frames, segments (first, end,
    label; -1 unlabelled), window starts, (W, K) probabilities) a bar of coloured segments
    over the best probability of every window (at its centre). At most `max_recordings`."""
    shown = list(timelines)[:max_recordings]
    used = sorted({label for _, _, segments, _, _ in shown for *_, label in segments} - {-1})
    palette = dict(zip(used, class_colors(max(len(used), 1)), strict=False))
    fig = Figure(figsize=(9.0, 1.0 + 1.3 * len(shown)), dpi=110)
    for row, (name, frames, segments, starts, probs) in enumerate(shown):
        ax = fig.add_subplot(len(shown), 1, row + 1)
        for first, end, label in segments:
            color = palette.get(label, "#dddddd")
            ax.axvspan(first, end, ymin=0.0, ymax=1.0, color=color, alpha=0.55, lw=0)
        best = np.asarray(probs).max(axis=1)
        ax.plot(np.asarray(starts) + window / 2, best, color="black", lw=0.8)
        ax.set_xlim(0, frames)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("p", fontsize=7)
        ax.set_title(name, fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    handles = [Patch(color=palette[k], label=classes[k]) for k in used]
    handles.append(Patch(color="#dddddd", label="(unlabelled)"))
    fig.axes[-1].set_xlabel("frame")
    fig.legend(
        handles=handles[:MAX_LEGEND], fontsize=6, loc="upper right", ncols=min(4, len(handles))
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return save_figure(fig, Path(out))
