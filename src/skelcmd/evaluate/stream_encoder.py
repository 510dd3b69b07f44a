"""One stream's encoder of a checkpoint, as a module from joint clips to features.

`load_stream_encoder` is how the Python API (`skelcmd.load_encoder`), `skelcmd export` and the
classifiers find what a checkpoint was trained on (layout, persons per frame, channels: stored
in it, or read from its pretraining data set, or from the weights) and wrap one stream's query
encoder in `StreamEncoder`, which derives the stream from joint input itself.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from skelcmd.channels import num_channels
from skelcmd.checkpoints import load_checkpoint
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.features import load_encoder_model, source_skeleton
from skelcmd.modalities import MODALITIES
from skelcmd.model import CMD
from skelcmd.skeleton import Layout, get_layout


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


def load_stream_encoder(
    checkpoint: str | Path,
    stream: str,
    *,
    data: str | Path | None = None,
    layout: str | Path | Layout | None = None,
    num_persons: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[CMD, Layout, int, str]:
    """The model of `checkpoint` (only what `stream` needs is used) on `device`, with the
    skeleton its `stream` encoder reads: (model, layout, persons, channels). The skeleton comes
    from `layout` / `num_persons`, else the data set `data`, else the checkpoint."""
    state = load_checkpoint(checkpoint)
    streams = state["config"].model.modalities
    if stream not in streams:
        raise UserError(
            f"stream {stream!r} is not one of this checkpoint's streams: {', '.join(streams)}."
        )
    skeleton, persons, channels = resolve_skeleton(state, stream, data, layout, num_persons)
    model = load_encoder_model(
        checkpoint, data_layout=skeleton, num_persons=persons, device=device, channels=channels
    )
    return model, skeleton, persons, channels
