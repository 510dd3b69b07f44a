"""`skelcmd predict` and `skelcmd.load_classifier`: a saved classifier on new clips.

    import skelcmd
    classifier = skelcmd.load_classifier("runs/synth/classifier.pt")
    probabilities, labels = classifier.predict(clips, lengths)   # (N, C, T, V, M) clips
    names = [classifier.classes[k] for k in labels]

Every clip is prepared as evaluation prepares it (centre crop of `crop` of its valid frames,
resized to `frames`: `skelcmd.augment.center_crop_resize`), then `classifier.module`
(`skelcmd.evaluate.classifier.Classifier`) scores it; probabilities are the softmax, averaged
over the streams for an ensemble, exactly as the linear / finetune protocols score the test
split. `skelcmd predict` reads its input in batches (memory bounded by the batch, not the data
set; `skelcmd.evaluate.predict_inputs`) and writes one CSV row per clip, or per window of a
long recording (`skelcmd.evaluate.predict_windows`). A pose estimator's output is read by its
importer and mapped to the classifier's layout (`skelcmd.evaluate.predict_pose`); the summary
says which mapping was applied.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from skelcmd.atomic import atomic_path, check_output_file
from skelcmd.augment import center_crop_resize
from skelcmd.channels import num_channels
from skelcmd.data.format import is_dataset
from skelcmd.distributed import pick_device
from skelcmd.errors import UserError
from skelcmd.evaluate.classifier import Classifier, ClassifierFile, load_classifier_file
from skelcmd.evaluate.predict_inputs import Batch, dataset_batches, raw_batches, read_recordings
from skelcmd.evaluate.predict_pose import PoseOptions
from skelcmd.evaluate.predict_windows import (
    UNLABELLED,
    window_labels,
    window_scores,
    window_segments,
)

__all__ = ["TrainedClassifier", "load_classifier", "predict_files"]
DEFAULT_TOP_K = 5


class TrainedClassifier:
    """A saved classifier, ready to use: `predict(clips, lengths)` -> (probabilities, labels).

    Attributes: `classes` (names, in label order), `module` (the `nn.Module` from prepared clips
    (N, C, frames, V, M) to (N, K) log-probabilities), `streams`, `layout`, `num_persons`,
    `channels`, `crop` and `frames` of the test-time transform, `preparation` (how the training
    set's raw recordings became arrays), `training` (protocol, checkpoint, test accuracy...).
    """

    def __init__(self, info: ClassifierFile, device: torch.device) -> None:
        self.info = info
        self.device = device
        self.module: Classifier = info.module.to(device).eval()
        self.classes = list(info.classes)
        self.streams, self.layout, self.num_persons = info.streams, info.layout, info.num_persons
        self.channels, self.crop, self.frames = info.channels, info.crop, info.frames
        self.preparation, self.training = info.preparation, info.training

    def __repr__(self) -> str:
        return (
            f"TrainedClassifier({len(self.classes)} classes, streams {self.streams}, "
            f"{self.info.describe_input()}, device={self.device})"
        )

    def transform(self, clips: np.ndarray | Tensor, lengths: object = None) -> Tensor:
        """Clips (N, C, T, V, M) (or one clip (C, T, V, M)), NumPy or a tensor, whose first
        `lengths` frames are valid (default all T) -> (N, C, frames, V, M) float32 on
        `device`, the module's input (the ONNX export's): centre crop, resize; checked and
        person-padded as `predict` does."""
        x, n = self._check(clips, lengths)
        return self._crop(torch.tensor(x), torch.tensor(n))  # a copy: x may be a memmap

    def _crop(self, clips: Tensor, lengths: Tensor) -> Tensor:
        x, n = clips.to(self.device), lengths.to(self.device)
        return center_crop_resize(x, n, self.crop, self.frames)

    @torch.no_grad()
    def scores(self, clips: Tensor, lengths: Tensor) -> Tensor:
        """(N, K) probabilities of checked clips (N, C, T, V, M) (a float32 tensor)."""
        return self.module.probabilities(self._crop(clips, lengths))

    def predict(
        self, clips: np.ndarray | Tensor, lengths: object = None, *, batch_size: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, K) float32 and predicted class indices (N,) of clips (N, C, T, V,
        M) (or one clip (C, T, V, M)) whose first `lengths` frames are valid (default all T);
        clips with fewer persons than the classifier's are zero-padded."""
        x, n = self._check(clips, lengths)
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, not {batch_size}.")
        parts = [
            self.scores(torch.tensor(x[i : i + batch_size]), torch.tensor(n[i : i + batch_size]))
            for i in range(0, len(x), batch_size)
        ]
        probs = torch.cat(parts).float().cpu().numpy()
        return probs, probs.argmax(axis=1)

    def _check(self, x: np.ndarray | Tensor, lengths: object) -> tuple[np.ndarray, np.ndarray]:
        x = x.detach().cpu().numpy() if isinstance(x, Tensor) else x
        x = np.asarray(x, dtype=np.float32)
        x = x[None] if x.ndim == 4 else x
        c, v, m = num_channels(self.channels), self.layout.num_joints, self.num_persons
        if x.ndim != 5 or x.shape[1] != c or x.shape[3] != v or not 1 <= x.shape[4] <= m:
            raise UserError(
                f"the classifier takes clips (N, {c}, T, {v}, M <= {m}) ({self.channels}, layout "
                f"{self.layout.name!r}) or one clip ({c}, T, {v}, M); got {tuple(x.shape)}."
            )
        if x.shape[4] < m:
            x = np.concatenate([x, np.zeros((*x.shape[:4], m - x.shape[4]), np.float32)], axis=4)
        if not np.isfinite(x).all():
            raise UserError("the clips hold NaN or infinite values.")
        t = x.shape[2]
        lengths = np.full(len(x), t) if lengths is None else lengths
        lengths = lengths.detach().cpu().numpy() if isinstance(lengths, Tensor) else lengths
        lengths = np.atleast_1d(np.asarray(lengths))
        if lengths.shape != (len(x),) or lengths.dtype.kind not in "iu":
            raise UserError(f"lengths must be {len(x)} integers (one per clip), got {lengths!r}.")
        if ((lengths < 1) | (lengths > t)).any():
            raise UserError(f"every length must lie in 1..{t} (the clips' frames).")
        return x, lengths.astype(np.int64)


def load_classifier(
    path: str | Path, device: str | torch.device | None = None
) -> TrainedClassifier:
    """The classifier saved by `skelcmd linear | finetune --save FILE.pt`, on `device` (default:
    CUDA if there is one, else CPU)."""
    info = load_classifier_file(path)
    return TrainedClassifier(info, pick_device("auto" if device is None else str(device)))


def header(top_k: int, first: Sequence[str]) -> list[str]:
    """CSV columns: `first`, then class_1, prob_1, ... class_k, prob_k."""
    return [*first, *(f"{kind}_{i}" for i in range(1, top_k + 1) for kind in ("class", "prob"))]


def top_columns(probs: Tensor, classes: Sequence[str], top_k: int) -> list[list[str]]:
    """Per row: class name and probability (6 decimals) of the `top_k` highest scores."""
    values, index = probs.topk(min(top_k, probs.shape[1]), dim=1)
    return [
        [x for k, p in zip(row_i, row_v, strict=True) for x in (classes[k], f"{p:.6f}")]
        for row_i, row_v in zip(index.tolist(), values.tolist(), strict=True)
    ]


@dataclass
class PredictSummary:
    """What a prediction wrote: rows, files, and with true labels the accuracy."""

    rows: int = 0
    out: Path | None = None
    labelled: int = 0
    top1: float | None = None
    top5: float | None = None
    files: list[Path] = field(default_factory=list)
    confusion: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"wrote {self.out}: {self.rows:,} rows"]
        lines += [f"read {note}" for note in self.notes]
        if self.top1 is not None:
            lines.append(
                f"accuracy on {self.labelled:,} labelled clips: top-1 {self.top1:.2f} %, "
                f"top-5 {self.top5:.2f} %"
            )
        lines += [f"wrote {path}" for path in self.files]
        return "\n".join(lines)


def side_file(out: Path, tag: str, suffix: str) -> Path:
    """`predictions.csv` -> `predictions_<tag><suffix>` beside it."""
    return out.with_name(f"{out.stem}_{tag}{suffix}")


def check_outputs(
    out: Path, inputs: Sequence[str | Path], model: str | Path, tags: Sequence[str]
) -> list[Path]:
    """The CSV and its side files, each checked: never a folder, an input, or inside an input
    data set. Returns them (the CSV first)."""
    if out.suffix.lower() != ".csv":
        raise UserError(f"--out {out}: the predictions go to a .csv file; give a name ending .csv.")
    folders = [p for p in inputs if Path(p).is_dir()]
    files = [p for p in inputs if not Path(p).is_dir()] + [model]
    paths = [out] + [side_file(out, tag, ".png" if tag != "per_class" else ".csv") for tag in tags]
    for path in paths:
        check_output_file(path, inputs=files, datasets=folders)
    return paths


def predict_files(
    model: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    split: str = "test",
    top_k: int | None = None,
    batch_size: int = 256,
    device: str = "auto",
    window: int | None = None,
    stride: int | None = None,
    min_score: float = 0.0,
    pose_format: str | None = None,
    image_size: str | None = None,
) -> PredictSummary:
    """Classify `inputs` (one data set folder, or raw recordings) with the classifier file
    `model` and write one CSV row per clip to `out` (per window with `window`); with true
    labels also `<out>_confusion.png` and `<out>_per_class.csv`, with windows
    `<out>_timeline.png`. `pose_format` names the estimator of pose-estimator inputs (default:
    told from their form), `image_size` ("WxH") their video's size for pixel coordinates.
    `top_k` (default 5) is capped at the classifier's classes (said on stderr when given)."""
    out = Path(out)
    pose = PoseOptions(pose_format, image_size)
    if not inputs:
        raise UserError("give the input: a data set folder or raw recording files.")
    if stride is not None and window is None:
        raise UserError(
            f"--stride {stride} needs --window: the stride is the frames between windows of a "
            "long recording. Give --window FRAMES too, or drop --stride to classify whole clips."
        )
    given_top_k, top_k = top_k, DEFAULT_TOP_K if top_k is None else top_k
    if top_k < 1 or batch_size < 1:
        raise UserError(f"--top-k and --batch-size must be at least 1, not {top_k}, {batch_size}.")
    if window is not None:
        check_outputs(out, inputs, model, ["timeline"])
    classifier = load_classifier(model, device)
    _say_top_k_capped(given_top_k, classifier)
    if window is not None:
        return predict_windows(
            classifier, inputs, out, window=window, stride=stride or window,
            top_k=top_k, batch_size=batch_size, min_score=min_score, pose=pose,
        )  # fmt: skip
    dataset = len(inputs) == 1 and is_dataset(inputs[0])
    if dataset:
        batches = dataset_batches(classifier.info, inputs[0], split, batch_size)
        first = ["input", "index", "true"]
    else:
        if any(is_dataset(p) for p in inputs):
            raise UserError("give a data set folder alone, not with other inputs.")
        batches = raw_batches(classifier.info, inputs, batch_size, pose)
        first = ["input", "true"]
    paths = check_outputs(out, inputs, model, ["confusion", "per_class"])
    summary = _write_rows(classifier, batches, out, first, top_k)
    if summary.labelled:
        summary.files = _accuracy_files(classifier.classes, summary.confusion, paths[1], paths[2])
    return summary


def _say_top_k_capped(top_k: int | None, classifier: TrainedClassifier) -> None:
    """One line on stderr when the --top-k given exceeds the classifier's classes."""
    k = len(classifier.classes)
    if top_k is not None and top_k > k:
        note = f"--top-k {top_k}: the classifier has {k} classes; each row lists all {k}."
        print(note, file=sys.stderr)


def _write_rows(
    classifier: TrainedClassifier, batches: Iterator[Batch], out: Path, first: list[str], top_k: int
) -> PredictSummary:
    classes = classifier.classes
    k = len(classes)
    top_k = min(top_k, k)
    confusion = np.zeros((k, k), np.int64)
    hits = np.zeros(2, np.int64)  # top-1, top-5
    summary = PredictSummary(out=out)
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header(top_k, first))
        for batch in batches:
            probs = classifier.scores(batch.clips, batch.lengths).cpu()
            top = top_columns(probs, classes, top_k)
            for i, name in enumerate(batch.names):
                label = int(batch.labels[i])
                lead = [name] + ([str(summary.rows + i)] if "index" in first else [])
                writer.writerow([*lead, classes[label] if label >= 0 else "", *top[i]])
            summary.rows += len(batch.names)
            summary.notes += [note for note in batch.notes if note not in summary.notes]
            known = batch.labels >= 0
            if known.any():
                p, y = probs[known], batch.labels[known]
                best = p.topk(min(5, k), dim=1).indices
                hits += [int((best[:, 0] == y).sum()), int((best == y[:, None]).any(1).sum())]
                np.add.at(confusion, (y.numpy(), best[:, 0].numpy()), 1)
    if summary.rows == 0:
        raise UserError("the input holds no clip to classify.")
    summary.labelled = int(confusion.sum())
    if summary.labelled:
        summary.top1, summary.top5 = (hits * 100.0 / summary.labelled).tolist()
        summary.confusion = confusion
    return summary


def per_class_rows(classes: Sequence[str], confusion: np.ndarray) -> list[list[str]]:
    """class, clips, correct, accuracy % (empty when the class has no clip), most confused with."""
    rows = []
    for k, name in enumerate(classes):
        total, correct = int(confusion[k].sum()), int(confusion[k, k])
        others = confusion[k].copy()
        others[k] = 0
        wrong = classes[int(others.argmax())] if others.any() else ""
        accuracy = f"{correct * 100.0 / total:.2f}" if total else ""
        rows.append([name, str(total), str(correct), accuracy, wrong])
    return rows


def _accuracy_files(
    classes: list[str], confusion: np.ndarray, picture: Path, table: Path
) -> list[Path]:
    from skelcmd.evaluate.plots import confusion_plot

    with atomic_path(table) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "clips", "correct", "accuracy", "most_confused_with"])
        writer.writerows(per_class_rows(classes, confusion))
    return [confusion_plot(confusion, classes, picture), table]


def predict_windows(
    classifier: TrainedClassifier,
    inputs: Sequence[str | Path],
    out: Path,
    *,
    window: int,
    stride: int,
    top_k: int = 5,
    batch_size: int = 256,
    min_score: float = 0.0,
    pose: PoseOptions | None = None,
) -> PredictSummary:
    """Per-window rows of every raw recording of `inputs` into `out` (`skelcmd.evaluate.
    predict_windows`), and the timeline picture `<out>_timeline.png`."""
    from skelcmd.evaluate.plots import timeline_plot

    if window < 1 or stride < 1:
        raise UserError(f"--window and --stride must be at least 1 frame, not {window}, {stride}.")
    if not 0 <= min_score <= 1:
        raise UserError(f"--min-score is a probability in [0, 1], not {min_score}.")
    classes = classifier.classes
    top_k = min(top_k, len(classes))
    summary = PredictSummary(out=out)
    timelines = []
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header(top_k, ["input", "start", "end", "label"]))
        for path in inputs:
            if is_dataset(path):
                raise UserError(
                    f"{path} is a data set: --window classifies windows of raw recordings. "
                    "Drop --window to classify the data set's clips whole."
                )
            for recording in read_recordings(classifier.info, path, whole=True, pose=pose):
                if recording.note and recording.note not in summary.notes:
                    summary.notes.append(recording.note)
                starts, probs = window_scores(
                    classifier.scores, recording, window, stride, batch_size
                )
                labels = window_labels(probs, min_score)
                top = top_columns(probs, classes, top_k)
                for i, start in enumerate(starts.tolist()):
                    name = classes[labels[i]] if labels[i] != UNLABELLED else ""
                    writer.writerow([recording.name, start, start + window, name, *top[i]])
                summary.rows += len(starts)
                segments = window_segments(starts, labels, window, stride)
                timelines.append((recording.name, recording.length, segments, starts, probs))
    picture = side_file(out, "timeline", ".png")
    summary.files = [timeline_plot(timelines, classes, window, picture)]
    return summary
