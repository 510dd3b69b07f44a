"""`skelcmd export`: one stream's encoder as an ONNX model, checked against PyTorch.

The exported graph takes joint coordinates `joints` float32 (N, C, frames, V, M), derives its
stream (motion, bone) inside, and returns `features` float32 (N, D): the query encoder's
feature before the projection head, exactly `CMD.encode(x, stream)`. N is a dynamic axis.
Clips should be prepared like the evaluation's (centre crop 95 %, resized to `frames`).

After writing, onnxruntime runs the file on a random batch (of a batch size other than the
traced one, so the dynamic axis is exercised too) and the result must match PyTorch to 1e-4.
Needs the optional dependencies: `pip install 'skelcmd[export]'` (onnx, onnxruntime).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from skelcmd.atomic import atomic_path, check_output_file
from skelcmd.channels import num_channels
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.features import load_encoder_model, source_skeleton
from skelcmd.modalities import MODALITIES
from skelcmd.skeleton import Layout, get_layout

TOLERANCE = 1e-4
CHECK_BATCH = 3  # the check's batch size; the export traces batch 2


class StreamEncoder(nn.Module):
    """Joint clips (N, C, T, V, M) -> (N, D): derive `stream`, then its query encoder.

    `channels` (`skelcmd.channels`) says what the C channels are (xyz, xy or xy+score)."""

    def __init__(
        self, encoder: nn.Module, stream: str, layout: Layout, channels: str = "xyz"
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.stream = stream
        self.layout = layout
        self.channels = channels

    def forward(self, joints: Tensor) -> Tensor:
        """(N, C, T, V, M) joint clips -> (N, D) features."""
        return self.encoder(MODALITIES[self.stream](joints, self.layout, self.channels))


def _require_onnx() -> None:
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"exporting to ONNX needs {' and '.join(missing)}: pip install 'skelcmd[export]'"
        )


def _persons_from_weights(
    state: dict, stream: str, layout: Layout, channels: int = 3
) -> int | None:
    """Persons per frame from the encoder's input BatchNorm, of size C x V x M (None when the
    encoder has no such layer); a size that does not fit the layout is a UserError."""
    prefix = f"branches.{stream}.encoder_q."
    for key, value in state["model"].items():
        if key.startswith(prefix) and key.endswith("running_mean") and value.dim() == 1:
            persons, rest = divmod(value.numel(), channels * layout.num_joints)
            if persons < 1 or rest:
                raise UserError(
                    f"the encoder reads {value.numel()} numbers per frame, not {channels} x "
                    f"{layout.num_joints} joints of layout {layout.name!r} x persons: it was "
                    "trained on another skeleton; give the matching --layout or --data."
                )
            return persons
    return None


def resolve_skeleton(
    state: dict,
    stream: str,
    data: str | Path | None,
    layout: str | Path | Layout | None,
    num_persons: int | None,
) -> tuple[Layout, int, str]:
    """The layout, person count and channels of the exported input: from the arguments, else
    the data set `data`, else the checkpoint (stored, or its pretraining data set), else the
    weights."""
    source_layout, source_persons = source_skeleton(state)
    channels = state.get("channels", "xyz")
    if data is not None:
        dataset = open_dataset(data)
        source_layout = dataset.layout
        source_persons = next(iter(dataset.splits.values())).data.shape[4]
        channels = dataset.channels
    chosen = get_layout(layout) if layout is not None else source_layout
    if chosen is None:
        raise UserError(
            "the checkpoint does not say which skeleton layout it was trained on and its "
            "pretraining data set is gone; give the data set (--data DIR) or the layout "
            "(--layout NAME)."
        )
    persons = num_persons or source_persons
    persons = persons or _persons_from_weights(state, stream, chosen, num_channels(channels))
    if persons is None:
        raise UserError("cannot tell the number of persons per frame; give --num-persons.")
    return chosen, int(persons), channels


def export_onnx(
    checkpoint: str | Path,
    out_file: str | Path,
    *,
    stream: str = "joint",
    frames: int = 64,
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
    _require_onnx()
    from skelcmd.train import load_checkpoint  # train imports heavy deps

    out_file = check_output_file(out_file, inputs=[checkpoint])
    if frames < 1:
        raise UserError(f"frames must be at least 1, not {frames}.")
    state = load_checkpoint(checkpoint)
    modalities = state["config"].model.modalities
    if stream not in modalities:
        raise UserError(
            f"stream {stream!r} is not one of this checkpoint's streams: {', '.join(modalities)}."
        )
    skeleton, persons, channels = resolve_skeleton(state, stream, data, layout, num_persons)
    model = load_encoder_model(
        checkpoint, data_layout=skeleton, num_persons=persons, channels=channels
    )
    module = StreamEncoder(model.branches[stream].encoder_q, stream, skeleton, channels).eval()
    shape = (num_channels(channels), frames, skeleton.num_joints, persons)
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
                input_names=["joints"],
                output_names=["features"],
                dynamic_axes={"joints": {0: "batch"}, "features": {0: "batch"}},
                opset_version=opset,
            )
        difference = onnx_difference(tmp, module, check)
        if not difference < TOLERANCE:
            raise UserError(
                f"the ONNX export differs from PyTorch by up to {difference:.3g} (tolerance "
                f"{TOLERANCE:g}) on a random batch; nothing was written. Try another --opset."
            )
    if verbose:
        print(
            f"wrote {out_file}: {stream} encoder, input joints (N, {', '.join(map(str, shape))}), "
            f"max |onnxruntime - torch| = {difference:.2g} on a batch of {CHECK_BATCH}"
        )
    return out_file


def onnx_difference(path: str | Path, module: nn.Module, x: Tensor) -> float:
    """max |onnxruntime(path)(x) - module(x)| over a batch x; the model is checked first."""
    import onnx
    import onnxruntime

    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise UserError(f"the exported ONNX model is not valid: {exc}") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"joints": x.numpy()})
    with torch.no_grad():
        want = module(x).numpy()
    if got.shape != want.shape:
        raise UserError(f"the ONNX model returned shape {got.shape}, PyTorch {want.shape}.")
    return float(np.abs(got - want).max())
