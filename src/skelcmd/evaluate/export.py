"""`skelcmd export`: one stream's encoder as an ONNX model, checked against PyTorch.

The exported graph takes joint coordinates `joints` float32 (N, C, frames, V, M), derives its
stream (motion, bone) inside, and returns `features` float32 (N, D): the query encoder's
feature before the projection head, exactly `CMD.encode(x, stream)`. N is a dynamic axis.
Clips should be prepared like the evaluation's (centre crop 95 %, resized to `frames`).

`export_classifier` (`skelcmd export --model FILE.pt`) exports a saved classifier
(`skelcmd.evaluate.classifier`: encoders, heads and the ensemble's average) as one graph from
`clips` float32 (N, C, frames, V, M), already centre-cropped to the classifier's crop of their
valid frames and resized to its frames (`skelcmd.augment.center_crop_resize`, what
`TrainedClassifier.transform` does), to `probabilities` float32 (N, K), the softmax averaged
over the streams. Both exports share `export_module`.

After writing, onnxruntime runs the file on a random batch (of a batch size other than the
traced one, so the dynamic axis is exercised too) and the result must match PyTorch to 1e-4.
Needs the optional dependencies: `pip install 'skelcmd[export]'` (onnx, onnxruntime).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from skelcmd.atomic import atomic_path, check_output_file
from skelcmd.channels import num_channels
from skelcmd.errors import UserError
from skelcmd.evaluate.classifier import ClassifierFile, Probabilities, load_classifier_file
from skelcmd.evaluate.stream_encoder import StreamEncoder, load_stream_encoder
from skelcmd.names import EVAL_FRAMES

TOLERANCE = 1e-4
CHECK_BATCH = 3  # the check's batch size; the export traces batch 2


def _require_onnx() -> None:
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"exporting to ONNX needs {' and '.join(missing)}: pip install 'skelcmd[export]'"
        )


def export_onnx(
    checkpoint: str | Path,
    out_file: str | Path,
    *,
    stream: str = "joint",
    frames: int = EVAL_FRAMES,
    num_persons: int | None = None,
    opset: int = 17,
    data: str | Path | None = None,
    layout: str | Path | None = None,
    verbose: bool = True,
) -> Path:
    """Export the `stream` encoder of `checkpoint` to `out_file` (ONNX, input (N, C, frames, V,
    M) joints, output (N, D) features), verified with onnxruntime; return `out_file`.

    The skeleton (layout V, persons M) comes from `layout` / `num_persons`, else the data set
    `data`, else the checkpoint. A mismatch beyond 1e-4 is a UserError and nothing is written.
    """
    out_file = check_onnx_out(out_file, inputs=[checkpoint], datasets=[data] if data else [])
    _require_onnx()
    if frames < 1:
        raise UserError(f"frames must be at least 1, not {frames}.")
    model, skeleton, persons, channels = load_stream_encoder(
        checkpoint, stream, data=data, layout=layout, num_persons=num_persons
    )
    module = StreamEncoder(model.branches[stream].encoder_q, stream, skeleton, channels).eval()
    shape = (num_channels(channels), frames, skeleton.num_joints, persons)
    difference = export_module(module, shape, out_file, ("joints", "features"), opset)
    if verbose:
        print(
            f"wrote {out_file}: {stream} encoder, input joints (N, {', '.join(map(str, shape))}), "
            f"max |onnxruntime - torch| = {difference:.2g} on a batch of {CHECK_BATCH}"
        )
    return out_file


def export_classifier(
    model: str | Path,
    out_file: str | Path,
    *,
    stream: str | None = None,
    frames: int | None = None,
    opset: int = 17,
    verbose: bool = True,
) -> Path:
    """Export a classifier file (`skelcmd linear | finetune --save`) to `out_file`: one graph
    from `clips` float32 (N, C, frames, V, M), already centre-cropped and resized as evaluation
    does (`skelcmd.augment.center_crop_resize`), to `probabilities` float32 (N, K) (the
    softmax, averaged over the streams of an ensemble); verified with onnxruntime.

    The graph is always the whole classifier at its own frames: a `stream` or `frames` given
    (the command's --stream / --frames) must be the classifier's, else a UserError."""
    out_file = check_onnx_out(out_file, inputs=[model])
    _require_onnx()
    info = load_classifier_file(model)
    _check_classifier_options(info, stream, frames)
    module = Probabilities(info.module).eval()
    difference = export_module(
        module, info.input_shape, out_file, ("clips", "probabilities"), opset
    )
    if verbose:
        c, t, v, m = info.input_shape
        print(
            f"wrote {out_file}: {' + '.join(info.streams)} classifier of {len(info.classes)} "
            f"classes; input clips (N, {c}, {t}, {v}, {m}) centre-cropped to {info.crop:g} of "
            f"their valid frames and resized to {t}, output probabilities (N, "
            f"{len(info.classes)}); max |onnxruntime - torch| = {difference:.2g}"
        )
    return out_file


def check_onnx_out(out_file: str | Path, **checks: Any) -> Path:
    """`out_file` checked as an ONNX output: `check_output_file` with `checks` (never a folder
    or an input), then a .onnx name."""
    out_file = check_output_file(out_file, **checks)
    if out_file.suffix.lower() != ".onnx":
        raise UserError(
            f"--out {out_file}: the export is an ONNX model; give a file name ending .onnx."
        )
    return out_file


def _check_classifier_options(info: ClassifierFile, stream: str | None, frames: int | None) -> None:
    """UserError unless `stream` / `frames` (when given) are the classifier's own."""
    streams = " + ".join(info.streams)
    what = f"{streams}, the probabilities averaged" if len(info.streams) > 1 else streams
    exports = f"export --model exports the whole classifier ({what}) at its {info.frames} frames"
    ensemble = stream == "ensemble" and len(info.streams) > 1
    if stream is not None and info.streams != [stream] and not ensemble:
        why = "one stream of it would not give its output" if len(info.streams) > 1 else ""
        raise UserError(
            f"--stream {stream}: {info.path} is a {streams} classifier and {exports}"
            f"{'; ' + why if why else ''}. Drop --stream (for one stream's encoder, export "
            "--checkpoint CKPT --stream STREAM)."
        )
    if frames is not None and frames != info.frames:
        raise UserError(
            f"--frames {frames}: {info.path} was trained on clips of {info.frames} frames and "
            f"{exports}. Drop --frames (and resize clips to {info.frames} frames)."
        )


def export_module(
    module: nn.Module,
    shape: tuple[int, ...],
    out_file: Path,
    names: tuple[str, str],
    opset: int = 17,
) -> float:
    """Trace `module` on inputs (N, *shape) to ONNX at `out_file` (atomically) with a dynamic
    batch, input and output named `names`; it is written only if onnxruntime matches PyTorch
    to TOLERANCE on a random batch. Returns the largest difference."""
    generator = torch.Generator().manual_seed(0)
    traced, check = (torch.randn(n, *shape, generator=generator) for n in (2, CHECK_BATCH))
    with atomic_path(out_file) as tmp:
        with warnings.catch_warnings():  # tracer and deprecation chatter of the exporter
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (traced,),
                str(tmp),
                dynamo=False,
                input_names=[names[0]],
                output_names=[names[1]],
                dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}},
                opset_version=opset,
            )
        difference = onnx_difference(tmp, module, check)
        if not difference < TOLERANCE:
            raise UserError(
                f"the ONNX export differs from PyTorch by up to {difference:.3g} (tolerance "
                f"{TOLERANCE:g}) on a random batch; nothing was written. Try another --opset."
            )
    return difference


def onnx_difference(path: str | Path, module: nn.Module, x: Tensor) -> float:
    """max |onnxruntime(path)(x) - module(x)| over a batch x; the model is checked first."""
    import onnx
    import onnxruntime

    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise UserError(f"the exported ONNX model is not valid: {exc}") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = module(x).numpy()
    if got.shape != want.shape:
        raise UserError(f"the ONNX model returned shape {got.shape}, PyTorch {want.shape}.")
    return float(np.abs(got - want).max())
