"""skelcmd from Python: a pretrained encoder inside your own code.

    import skelcmd
    encoder = skelcmd.load_encoder("runs/synth/last.pt", stream="joint")
    features = encoder.embed(clips, lengths)          # (N, C, T, V, M) -> (N, D)

`embed` computes exactly the features of `skelcmd embed` and of every evaluation protocol
(`skelcmd.evaluate.features`): the stream's query encoder before the projection head, in eval
mode, on each clip centre-cropped to 95 % of its valid frames and resized to 64 frames.

For fine-tuning in your own loop, `encoder.module` is the plain `nn.Module` (stream derivation +
encoder, (N, C, 64, V, M) -> (N, D)); give it clips prepared by `encoder.transform` (the same
crop and resize; for training, random crops of your own choosing work as well), in train mode
for fine-tuning and eval mode for frozen features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from skelcmd.augment import center_crop_resize
from skelcmd.channels import num_channels
from skelcmd.data.format import Split
from skelcmd.distributed import pick_device
from skelcmd.errors import UserError
from skelcmd.evaluate.features import extract_features
from skelcmd.evaluate.stream_encoder import StreamEncoder, load_stream_encoder
from skelcmd.model import CMD
from skelcmd.names import EVAL_CROP, EVAL_FRAMES
from skelcmd.skeleton import Layout

__all__ = ["Encoder", "load_encoder"]


class Encoder:
    """One stream's pretrained encoder: `embed` for features, `module` for your own training.

    Attributes: `stream` (joint, motion or bone), `layout`, `num_persons` (M), `channels`
    (xyz, xy or xy+score: C = 3, 2 or 3), `feat_dim` (D), `frames` (64) and `crop` (0.95) of
    the test-time transform, `device`.
    """

    def __init__(self, model: CMD, stream: str, num_persons: int, device: torch.device) -> None:
        self._model = model
        self.stream = stream
        self.layout: Layout = model.layout
        self.num_persons = num_persons
        self.channels = model.channels
        self.device = device
        self.frames, self.crop = EVAL_FRAMES, EVAL_CROP
        encoder = model.branches[stream].encoder_q
        self.feat_dim: int = encoder.feat_dim
        self.module: nn.Module = StreamEncoder(encoder, stream, self.layout, self.channels)

    def __repr__(self) -> str:
        return (
            f"Encoder(stream={self.stream!r}, layout={self.layout.name!r}, "
            f"input (N, {num_channels(self.channels)}, T, {self.layout.num_joints}, "
            f"{self.num_persons}) {self.channels}, feat_dim={self.feat_dim}, device={self.device})"
        )

    def _clips(self, x: np.ndarray | Tensor, lengths: object) -> tuple[np.ndarray, np.ndarray]:
        """x as (N, C, T, V, M) float32 NumPy (persons zero-padded to M), lengths (N,) int64."""
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:  # e.g. a ragged list
            raise UserError(f"clips must be an array of numbers ({exc}).") from None
        if x.dtype.kind not in "iuf":  # text, objects, complex (float32 would drop its imag)
            raise UserError(f"clips must be real numbers, got {x.dtype} {tuple(x.shape)}.")
        x = x.astype(np.float32, copy=False)
        if x.ndim == 4:
            x = x[None]
        c, v, m = num_channels(self.channels), self.layout.num_joints, self.num_persons
        if x.ndim != 5 or x.shape[1] != c or x.shape[3] != v or not 1 <= x.shape[4] <= m:
            raise UserError(
                f"the encoder takes clips (N, {c}, T, {v}, M <= {m}) ({self.channels}, layout "
                f"{self.layout.name!r}) or one clip ({c}, T, {v}, M); got {tuple(x.shape)}."
            )
        if x.shape[0] == 0 or x.shape[2] == 0:
            raise UserError(
                f"no clip: got shape {tuple(x.shape)}; give at least one clip of one frame or more."
            )
        if x.shape[4] < m:
            x = np.concatenate([x, np.zeros((*x.shape[:4], m - x.shape[4]), np.float32)], axis=4)
        if not np.isfinite(x).all():
            raise UserError("the clips hold NaN or infinite values.")
        n, t = x.shape[0], x.shape[2]
        if lengths is None:
            lengths = np.full(n, t)
        if isinstance(lengths, Tensor):
            lengths = lengths.detach().cpu().numpy()
        lengths = np.atleast_1d(np.asarray(lengths))
        if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
            raise UserError(f"lengths must be {n} integers (one per clip), got {lengths!r}.")
        if ((lengths < 1) | (lengths > t)).any():
            raise UserError(f"every length must lie in 1..{t} (the clips' frames).")
        return x, lengths.astype(np.int64)

    def transform(self, x: np.ndarray | Tensor, lengths: object = None) -> Tensor:
        """The test-time input transform: clips (N, C, T, V, M) (or one (C, T, V, M)) with
        `lengths` (N,) valid frames (default: all T) -> (N, C, 64, V, M) float32 on `device`,
        each centre-cropped to 95 % of its valid frames and resized to 64 frames."""
        clips, lengths = self._clips(x, lengths)
        clips = torch.tensor(clips, device=self.device)  # a copy: x may be a read-only memmap
        lengths = torch.tensor(lengths, device=self.device)
        return center_crop_resize(clips, lengths, self.crop, self.frames)

    def embed(
        self, x: np.ndarray | Tensor, lengths: object = None, *, batch_size: int = 256
    ) -> np.ndarray | Tensor:
        """(N, D) features of clips (N, C, T, V, M) (or one clip (C, T, V, M), giving (1, D))
        whose first `lengths` (N,) frames are valid (default: all T); frames after a clip's
        length are ignored, and clips with fewer persons than M are zero-padded. NumPy in,
        float32 NumPy out; a tensor in, a tensor out on the input's device."""
        clips, lengths = self._clips(x, lengths)
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, not {batch_size}.")
        split = Split("input", clips, lengths.astype(np.int32), np.zeros(len(clips), np.int64))
        features = extract_features(
            self._model,
            split,
            self.stream,
            batch_size=batch_size,
            device=self.device,
            ratio=self.crop,
            out_frames=self.frames,
        ).float()
        if isinstance(x, Tensor):
            return features.to(x.device)
        return features.cpu().numpy()


def load_encoder(
    checkpoint: str | Path,
    stream: str = "joint",
    device: str | torch.device | None = None,
    *,
    layout: str | Path | Layout | None = None,
    num_persons: int | None = None,
) -> Encoder:
    """The `stream` encoder (joint, motion or bone) of a skelcmd checkpoint (`last.pt`, or a
    converted reference checkpoint) on `device` (default: CUDA if there is one, else CPU).

    The skeleton it was trained on (layout, persons per frame, channels) comes from the
    checkpoint; give `layout` / `num_persons` only for a checkpoint that does not say and whose
    pretraining data set is gone.
    """
    target = pick_device("auto" if device is None else str(device))
    model, _, persons, _ = load_stream_encoder(
        checkpoint, stream, layout=layout, num_persons=num_persons, device=target
    )
    return Encoder(model, stream, persons, target)
