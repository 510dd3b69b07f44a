"""`skelcmd report RUN_DIR...`: the evaluation records as tables laid out like the paper's, plus
pictures, in one markdown file.

Rows: per protocol (kNN, linear, fine-tune, semi-supervised per label fraction, transfer), the
streams joint / motion / bone / ensemble, then the same rows for the random-init encoder;
columns: one per data set ("source benchmark"). Cells are top-1 in percent, "mean ± std" over
seeds. Beside `report.md`: `accuracy.png` (pretrained vs random init per stream),
`curves*.png` (every `history.json` found), `knn_curve*.png` (the learning curve of a history
with kNN scores, `train.knn_every`) and `tsne_*.png` (every `embed_*.npy` found with its
`*_labels.npy`, see `skelcmd.evaluate.embed`), and every `*_confusion.png` of `skelcmd
predict` found, copied. A missing input skips its picture with a note.
Linear rows say what the classifier saw (the paper's raw features, or standardized ones);
random-init rows whether BatchNorm statistics were recomputed on the train split.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from skelcmd import __version__
from skelcmd.atomic import atomic_path, staged_outputs
from skelcmd.errors import UserError
from skelcmd.evaluate import plots
from skelcmd.evaluate.records import EVAL_DIR, Record, now_iso, read_records
from skelcmd.names import BENCHMARK_ORDER, ENSEMBLE, RECORDED_PROTOCOLS, STREAMS

REPORTED_STREAMS = (*STREAMS, ENSEMBLE)
TITLES = {
    "knn": "kNN",
    "linear": "linear",
    "finetune": "fine-tune",
    "semi": "semi-supervised",
    "transfer": "transfer",
}
MISSING = "–"
MAX_PANELS = 12
FEATURE_NORMS = {  # linear evaluation's `feature_norm`: what the classifier saw
    "none": " (paper: raw features)",
    "standardize": ", standardized features",
    "l2": ", L2-normalised features",
}
RowKey = tuple[tuple, str, str]  # (group sort key, init label, stream)


def group_of(record: Record) -> tuple[tuple, str]:
    """(sort key, label) of the record's protocol block, e.g. "semi-supervised, 1 % labels"."""
    label = TITLES[record.protocol]
    fraction = record.extra.get("label_fraction")
    k = record.extra.get("k")
    norm = record.extra.get("feature_norm", "none") if record.protocol == "linear" else ""
    if fraction is not None:
        label += f", {100 * float(fraction):g} % labels"
    if k is not None and k != 1:
        label += f" (k={k})"
    label += FEATURE_NORMS.get(norm, f", {norm} features" if norm else "")
    key = (
        RECORDED_PROTOCOLS.index(record.protocol),
        float(fraction or 0),
        str(k or ""),
        norm != "none",
    )
    return key, label


def init_of(record: Record) -> str:
    """Empty for a pretrained encoder; "random init (BN recomputed)" for an untrained one whose
    BatchNorm statistics were recomputed on the train split; "random init" otherwise."""
    if not record.random_init:
        return ""
    recomputed = record.extra.get("bn_stats") == "train"
    return "random init (BN recomputed)" if recomputed else "random init"


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def dataset_columns(records: Sequence[Record]) -> list[str]:
    """The data set labels ("ntu60 xsub"), by source (ntu60 before ntu120), then benchmark."""

    def key(label: str) -> tuple:
        source, _, benchmark = label.partition(" ")
        rank = BENCHMARK_ORDER.index(benchmark) if benchmark in BENCHMARK_ORDER else 99
        return _natural(source), rank, benchmark

    return sorted({r.dataset_label for r in records}, key=key)


def _row_key(record: Record) -> RowKey:
    return group_of(record)[0], init_of(record), record.stream


def _stream_rank(stream: str) -> tuple:
    order = REPORTED_STREAMS
    return (order.index(stream), "") if stream in order else (len(order), stream)


def pick_latest(records: Sequence[Record]) -> tuple[dict[tuple, Record], list[str]]:
    """One record per (row, data set): the newest `created`; a note for each one left out."""
    chosen: dict[tuple, Record] = {}
    notes = []
    for record in records:
        cell = (*_row_key(record), record.dataset_label)
        other = chosen.get(cell)
        if other is not None:
            keep, drop = (record, other) if record.created >= other.created else (other, record)
            notes.append(
                f"{drop.path or 'a record'} and {keep.path or 'another record'} give the same "
                f"cell ({group_of(record)[1]}, {record.stream}, {record.dataset_label}); the "
                f"newer ({keep.created}) is shown."
            )
            record = keep
        chosen[cell] = record
    return chosen, notes


def format_top1(record: Record) -> str:
    """ "84.1", or "84.1 ± 0.3" when the record has several seeds."""
    mean, std = record.mean_std()
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def format_best(record: Record) -> str | None:
    best = record.extra.get("best_top1")
    if best is None:
        return None
    epoch = record.extra.get("best_epoch")
    return f"{float(best):.1f}" + (f" (epoch {epoch})" if epoch is not None else "")


def format_top5(record: Record) -> str | None:
    return None if record.top5 is None else f"{record.top5:.1f}"


def results_table(
    records: Sequence[Record], cell: Callable[[Record], str | None] = format_top1
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the table of `cell(record)` values; rows without any value are left
    out. The protocol label is written on the first row of its block only."""
    chosen, _ = pick_latest(records)
    columns = dataset_columns(list(chosen.values()))
    rows: dict[RowKey, dict[str, str]] = {}
    labels: dict[tuple, str] = {}
    for (*row_key, column), record in chosen.items():
        value = cell(record)
        if value is not None:
            rows.setdefault(tuple(row_key), {})[column] = value  # type: ignore[arg-type]
            labels[row_key[0]] = group_of(record)[1]
    body, last_block = [], None
    for group, init, stream in sorted(rows, key=lambda k: (k[0], k[1], _stream_rank(k[2]))):
        block = (group, init)
        label = labels[group] + (f", {init}" if init else "")
        values = rows[(group, init, stream)]
        body.append(
            [label if block != last_block else "", stream]
            + [values.get(c, MISSING) for c in columns]
        )
        last_block = block
    return ["protocol", "stream", *columns], body


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> str:
    """A GitHub markdown table; the first `left` columns left-aligned, the rest right-aligned."""
    align = [":--" if i < left else "--:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join(
        "| " + " | ".join(str(c).replace("|", "/") for c in line) + " |" for line in lines
    )


def accuracy_panels(records: Sequence[Record]) -> dict[str, dict[str, dict[str, float]]]:
    """`panels[protocol block · data set][stream][pretrained | random init]` = top-1."""
    chosen, _ = pick_latest(records)
    panels: dict[str, dict[str, dict[str, float]]] = {}
    for record in sorted(chosen.values(), key=lambda r: (_row_key(r)[0], _stream_rank(r.stream))):
        title = f"{group_of(record)[1]} · {record.dataset_label}"
        kind = "random init" if record.random_init else "pretrained"
        panels.setdefault(title, {}).setdefault(record.stream, {})[kind] = record.mean_std()[0]
    return panels


def _footnotes(records: Sequence[Record]) -> list[str]:
    splits = sorted({str(r.dataset["split"]) for r in records})
    notes = [f"Accuracy (%) on the {' / '.join(splits)} split of each data set."]
    if any("best_top1" in r.extra for r in records):
        protocols = sorted({TITLES[r.protocol] for r in records if "best_top1" in r.extra})
        notes.append(
            f"{', '.join(protocols)}: the figure is the accuracy after the last epoch. The "
            "reference reports the best epoch's test accuracy instead (an epoch chosen on the "
            "test set); those figures are in the table 'best epoch (as the reference reports)'."
        )
    seeds = sorted({len(r.seeds) for r in records if len(r.seeds) > 1})
    if seeds:
        counts = " or ".join(map(str, seeds))
        notes.append(f"a ± b: mean and standard deviation over {counts} seeds (label subsets).")
    if any(r.random_init for r in records):
        notes.append(
            "random init: the same encoder untrained (fixed-seed initial weights), evaluated "
            "with the same protocol: what pretraining bought. BN recomputed: its BatchNorm "
            "statistics were first recomputed on the train split's clips (no labels, no "
            "gradients) instead of the initial mean 0 / variance 1."
        )
    if any(r.protocol == "linear" for r in records):
        notes.append(
            "linear (paper: raw features): the classifier on the encoder's features as they "
            "are, the paper's recipe; standardized features: each feature dimension first "
            "mapped to mean 0 and standard deviation 1 with the train split's statistics; "
            "L2-normalised features: each feature vector scaled to unit length."
        )
    if any(r.stream == "ensemble" for r in records):
        notes.append(
            "ensemble: the streams' softmax scores (linear, fine-tune) or cosine similarities "
            "(kNN) averaged."
        )
    return notes


def default_out(paths: Sequence[Path]) -> Path:
    """The first directory given, or the run directory of the first record file given."""
    first = paths[0]
    if first.is_dir():
        return first
    return first.parent.parent if first.parent.name == EVAL_DIR else first.parent


def build_report(
    paths: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    embeddings: Sequence[str | Path] = (),
) -> Path:
    """Write `report.md` and its PNGs into `out` (default: see `default_out`); return its path.

    `paths`: run directories (searched below for `eval/<protocol>_*.json`, `history.json` and
    `embed_*.npy`) or record files; `embeddings`: more `.npy` feature files for t-SNE, each
    with its `<stem>_labels.npy` beside it.
    """
    inputs = [Path(p) for p in paths]
    if not inputs:
        raise UserError("give at least one run directory or record file to report on.")
    records = read_records(inputs)
    out = Path(out) if out is not None else default_out(inputs)
    # Every file goes into `out` at the end, or none does (a failure leaves `out` as it was).
    with staged_outputs(out, "report") as stage:
        used: set[str] = set()
        lines = [
            "# Results",
            "",
            f"Written by `skelcmd report` (skelcmd {__version__}, {now_iso()}) from "
            f"{len(records)} evaluation record(s).",
            "",
        ]
        notes: list[str] = []
        images: list[str] = []
        if records:
            _, duplicates = pick_latest(records)
            notes += duplicates
            lines += ["## Top-1 accuracy (%)", "", markdown_table(*results_table(records)), ""]
            lines += [f"{i}. {note}" for i, note in enumerate(_footnotes(records), 1)] + [""]
            header, rows = results_table(records, format_best)
            if rows:
                title = "## Best epoch (as the reference reports)"
                lines += [title, "", markdown_table(header, rows), ""]
            header, rows = results_table(records, format_top5)
            if rows:
                lines += ["## Top-5 accuracy (%)", "", markdown_table(header, rows), ""]
            panels = accuracy_panels(records)
            if len(panels) > MAX_PANELS:
                notes.append(f"The bar chart shows the first {MAX_PANELS} of {len(panels)} panels.")
            name = plots.unique_name("accuracy.png", used)
            plots.accuracy_bars(dict(list(panels.items())[:MAX_PANELS]), stage / name)
            images.append(f"![top-1, pretrained vs random init]({name})")
        else:
            notes.append(
                f"No evaluation records (`{EVAL_DIR}/<protocol>_*.json`) below "
                f"{', '.join(map(str, inputs))}."
            )
        for found_images, found_notes in (
            plots.curve_pictures(inputs, stage, used),
            plots.tsne_pictures(inputs, [Path(e) for e in embeddings], stage, used),
        ):
            images += found_images
            notes += found_notes
        for picture in plots.find_below(inputs, "*_confusion.png"):  # from skelcmd predict
            name = plots.unique_name(picture.name, used)
            shutil.copyfile(picture, stage / name)
            images.append(f"![confusion matrix of `skelcmd predict` ({picture.name})]({name})")
        if not records and not images:
            raise UserError(
                f"nothing to report below {', '.join(map(str, inputs))}: no evaluation records "
                f"({EVAL_DIR}/<protocol>_*.json), no history.json, no embed_*.npy. Run `skelcmd "
                "knn`, `linear` or `finetune` with --out pointing there first."
                + "".join(f"\n  {note}" for note in notes if note.startswith("No t-SNE picture of"))
            )
        if images:
            lines += ["## Figures", "", *[f"{image}\n" for image in images]]
        if notes:
            lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
        if records:
            lines += ["## Records", "", _sources(records, out), ""]
        with atomic_path(stage / "report.md") as tmp:
            tmp.write_text("\n".join(lines).rstrip() + "\n")
    return out / "report.md"


def _sources(records: Sequence[Record], out: Path) -> str:
    rows = []
    for r in records:
        shown = os.path.relpath(r.path, out) if r.path else MISSING
        checkpoint = "random init" if r.random_init else (r.checkpoint or MISSING)
        if r.random_init and r.checkpoint:
            checkpoint = f"random init like {r.checkpoint}"
        rows.append(
            [f"`{shown}`", r.protocol, r.stream, r.dataset_label, checkpoint, f"{r.seconds:.0f}"]
        )
    header = ["record", "protocol", "stream", "data set", "checkpoint", "seconds"]
    return markdown_table(header, rows, left=5)
