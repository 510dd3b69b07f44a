"""`skelcmd embed`: the encoder's features of every sample of a split, as a NumPy file.

The features are the ones every evaluation protocol sees (`skelcmd.evaluate.features`): the
query encoder of one stream, before the projection head, in eval mode, on each clip
centre-cropped to 95 % of its valid frames and resized to 64 frames; row i is sample i of the
split. One call writes three files (each atomically; the features last):

    FILE.npy           float32 (N, D) features
    FILE_labels.npy    int64 (N,) class index of every row
    FILE.json          what produced them: checkpoint, data set, split, stream, class names, ...

`skelcmd report` draws a t-SNE of every `embed_*.npy` it finds with its `_labels.npy`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from skelcmd import __version__
from skelcmd.atomic import atomic_path, check_output_file
from skelcmd.data.format import open_dataset
from skelcmd.distributed import pick_device
from skelcmd.errors import UserError
from skelcmd.evaluate.features import extract_features, load_encoder_model
from skelcmd.evaluate.records import now_iso
from skelcmd.names import EVAL_CROP, EVAL_FRAMES


def labels_path(out_file: str | Path) -> Path:
    """The labels file that goes with a features file: `x/embed_joint.npy` ->
    `x/embed_joint_labels.npy`."""
    out_file = Path(out_file)
    return out_file.with_name(f"{out_file.stem}_labels.npy")


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def embed(
    checkpoint: str | Path,
    data_dir: str | Path,
    out_file: str | Path,
    *,
    split: str = "test",
    stream: str = "joint",
    batch_size: int = 256,
    device: str = "auto",
    progress: bool = False,
) -> Path:
    """Write the (N, D) float32 features of `split` of `data_dir` under the checkpoint's
    `stream` encoder to `out_file` (a .npy), with `<stem>_labels.npy` and `<stem>.json`
    beside it (see the module docstring); return `out_file`."""
    out_file = Path(out_file)
    if out_file.suffix != ".npy":
        raise UserError(f"the features go to a .npy file; {out_file} has another suffix.")
    if batch_size < 1:
        raise UserError(f"the batch size must be at least 1, not {batch_size}.")
    for path in (out_file, labels_path(out_file), out_file.with_suffix(".json")):
        check_output_file(path, inputs=[checkpoint], datasets=[data_dir])
    dataset = open_dataset(data_dir)
    samples = dataset.split(split)
    target = pick_device(device)
    model = load_encoder_model(
        checkpoint,
        data_layout=dataset.layout,
        num_persons=samples.data.shape[4],
        device=target,
        channels=dataset.channels,
        image_coordinates=dataset.image_coordinates,
    )
    if stream not in model.modalities:
        raise UserError(
            f"stream {stream!r} is not one of this checkpoint's streams: "
            f"{', '.join(model.modalities)} (an ensemble has no single feature vector)."
        )
    features = extract_features(
        model,
        samples,
        stream,
        batch_size=batch_size,
        device=target,
        ratio=EVAL_CROP,
        out_frames=EVAL_FRAMES,
        progress=progress,
    )
    features = features.float().cpu().numpy()
    meta = {
        "checkpoint": str(checkpoint),
        "dataset": {
            "path": str(dataset.path),
            "source": dataset.source,
            "benchmark": dataset.benchmark,
            "split": split,
        },
        "split": split,
        "stream": stream,
        "shape": list(features.shape),
        "crop_ratio": EVAL_CROP,
        "frames": EVAL_FRAMES,
        "class_names": list(dataset.class_names),
        "created": now_iso(),
        "version": __version__,
    }
    _save_npy(labels_path(out_file), np.asarray(samples.labels, dtype=np.int64))
    with atomic_path(out_file.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
    _save_npy(out_file, features)
    return out_file
