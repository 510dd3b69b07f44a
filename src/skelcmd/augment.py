"""Batched skeleton augmentation on the training device (docs/method.md#augmentation).

Each view of a sample is a temporal crop-resize within its valid frames, then, with
probability `p_corrupt`, a joint corruption (`corrupt_joints` joints set to zero or multiplied
by a random 3x3 matrix, 1/2 each), otherwise a shear (a 3x3 matrix with unit diagonal and
off-diagonal entries U(-shear, shear); the paper's shear is 1). For 2D
data the matrices are 2x2 and act on x, y only; a score channel is left as it is, except that a
joint a corruption zeroes loses its score too (`skelcmd.channels`).

Every step is a *draw* (all random numbers of the batch, one call: `draw_crop`,
`draw_spatial`) and an *apply* (tensor arithmetic on those draws: `resize_frames`,
`apply_spatial`), so a test can replay the same draws through a plain per-sample version.
Nothing loops over samples, frames or joints in Python.

Shapes: x is (N, C, T, V, M), `lengths` (N,) int64 valid frames (clamped to 1..T); its first
`coords` channels are coordinates (all C unless told: 3 for xyz, 2 for xy and xy+score). Outputs
follow x's device and dtype; random numbers come from `generator` (a torch.Generator on x's
device) or torch's global generator for that device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from skelcmd.errors import UserError
from skelcmd.names import EVAL_CROP, EVAL_FRAMES


@dataclass
class AugmentConfig:
    """The augmentation of pretraining views (defaults: docs/method.md#augmentation)."""

    ratio_range: tuple[float, float] = (0.1, 1.0)  # crop length / valid frames, U(lo, hi)
    min_frames: int = 64  # shortest crop (unless the sample is shorter)
    out_frames: int = 64  # frames of every view
    p_corrupt: float = 0.5  # joint corruption with this probability, else shear
    corrupt_joints: int = 15  # joints a corruption touches
    shear: float = 1.0  # a shear's off-diagonal entries are U(-shear, shear)

    def __post_init__(self) -> None:
        ratio = tuple(float(r) for r in self.ratio_range)
        if len(ratio) != 2 or not 0.0 < ratio[0] <= ratio[1] <= 1.0:
            raise UserError(
                f"augment.ratio_range {list(self.ratio_range)} must be two numbers "
                "0 < low <= high <= 1 (shares of the valid frames, e.g. [0.1, 1.0])."
            )
        self.ratio_range = ratio  # type: ignore[assignment]
        for name in ("min_frames", "out_frames"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"augment.{name} is {getattr(self, name)}; it must be >= 1.")
        if not 0.0 <= self.p_corrupt <= 1.0:
            raise UserError(f"augment.p_corrupt is {self.p_corrupt}; it must be in [0, 1].")
        if not 0.0 <= self.shear <= 10.0:
            raise UserError(f"augment.shear is {self.shear}; it must be in [0, 10] (paper: 1).")
        if self.corrupt_joints < 0:
            raise UserError(f"augment.corrupt_joints is {self.corrupt_joints}; it must be >= 0.")


class SpatialDraw(NamedTuple):
    """The random choices of `apply_spatial` for a batch of N samples with V joints."""

    corrupt: Tensor  # (N,) bool: joint corruption (True) or shear (False)
    zero: Tensor  # (N,) bool: a corruption zeroes its joints (True) or transforms them
    joints: Tensor  # (N, V) bool: the joints a corruption touches, `num_joints` per row
    matrix: Tensor  # (N, D, D), D coordinates: p -> matrix @ p; U(-1, 1), or for a shear a unit
    # diagonal and U(-shear, shear) elsewhere


def _rand(
    shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None
) -> Tensor:
    return torch.rand(shape, device=device, generator=generator)


def _valid_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    if x.dim() != 5:
        raise ValueError(f"expected skeletons (N, C, T, V, M), got shape {tuple(x.shape)}")
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"expected lengths of shape ({x.shape[0]},), got {tuple(lengths.shape)}")
    return lengths.to(device=x.device, dtype=torch.long).clamp(1, x.shape[2])


def draw_crop(
    lengths: Tensor,
    ratio_range: Sequence[float] = (0.1, 1.0),
    min_frames: int = 64,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Random crops: (start, length), both (N,) int64 on lengths' device.

    length = clamp(floor(n * U(lo, hi)), min_frames, n); start uniform over 0..n - length.
    """
    n = lengths.long()
    low, high = float(ratio_range[0]), float(ratio_range[1])
    scale = _rand(n.shape, n.device, generator) * (high - low) + low
    length = torch.floor(n * scale).long().clamp(min=min_frames).minimum(n)
    room = n - length
    start = torch.floor(_rand(n.shape, n.device, generator) * (room + 1)).long().minimum(room)
    return start, length


def resize_frames(x: Tensor, start: Tensor, length: Tensor, out_frames: int = 64) -> Tensor:
    """Frames [start, start + length) of every sample, resized linearly to `out_frames`.

    Same as `F.interpolate(crop, out_frames, mode="linear", align_corners=False)` per sample:
    output frame i reads source position (i + 0.5) * length / out_frames - 0.5 (at least 0),
    a blend of its two neighbouring frames. (N, C, T, V, M) -> (N, C, out_frames, V, M).
    """
    n, c, t, v, m = x.shape
    pos_dtype = torch.promote_types(x.dtype, torch.float32)
    last = (length - 1)[:, None]
    frames = torch.arange(out_frames, device=x.device, dtype=pos_dtype)
    scale = length.to(pos_dtype)[:, None] / out_frames
    src = (scale * (frames + 0.5) - 0.5).clamp(min=0.0)  # (N, out_frames)
    below = src.floor()
    weight = (src - below).to(x.dtype)[:, None, :, None]  # (N, 1, out_frames, 1)
    below = below.long().minimum(last)
    above = (below + 1).minimum(last)
    # Rows of x as (N * C * T, V * M): one index_select per neighbour gathers whole frames.
    rows = x.reshape(n * c * t, v * m)
    first_row = (torch.arange(n, device=x.device) * c)[:, None] + torch.arange(c, device=x.device)
    first_row = (first_row * t + start[:, None])[:, :, None]  # (N, C, 1): row of the crop start

    def gather(offset: Tensor) -> Tensor:
        index = (first_row + offset[:, None, :]).reshape(-1)
        return rows.index_select(0, index).view(n, c, out_frames, v * m)

    return torch.lerp(gather(below), gather(above), weight).view(n, c, out_frames, v, m)


def crop_resize(
    x: Tensor,
    lengths: Tensor,
    ratio_range: Sequence[float] = (0.1, 1.0),
    min_frames: int = 64,
    out_frames: int = 64,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random temporal crop within each sample's valid frames, resized to `out_frames`.

    (N, C, T, V, M), lengths (N,) -> (N, C, out_frames, V, M).
    """
    n = _valid_lengths(x, lengths)
    start, length = draw_crop(n, ratio_range, min_frames, generator)
    return resize_frames(x, start, length, out_frames)


def center_crop_resize(
    x: Tensor, lengths: Tensor, ratio: float = EVAL_CROP, out_frames: int = EVAL_FRAMES
) -> Tensor:
    """The evaluation crop: frames [b, n - b) with b = int((1 - ratio) * n / 2), resized.

    (N, C, T, V, M), lengths (N,) -> (N, C, out_frames, V, M).
    """
    if not 0.0 < ratio <= 1.0:
        raise UserError(f"the centre-crop ratio is {ratio}; it must be in (0, 1].")
    n = _valid_lengths(x, lengths)
    # One float64 entry per possible length, so b is exactly Python's int((1 - ratio) * n / 2).
    table = np.floor((1.0 - ratio) * np.arange(x.shape[2] + 1) / 2).astype(np.int64)
    bias = torch.as_tensor(table, device=x.device)[n]
    return resize_frames(x, bias, n - 2 * bias, out_frames)


def draw_spatial(
    n: int,
    num_joints_total: int,
    p_corrupt: float = 0.5,
    num_joints: int = 15,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
    dims: int = 3,
    shear: float = 1.0,
) -> SpatialDraw:
    """Random spatial augmentation choices for n samples of `num_joints_total` joints whose
    first `dims` channels are coordinates (the matrices are dims x dims); a shear's
    off-diagonal entries are U(-shear, shear) (the same draws as U(-1, 1), scaled)."""
    if not 0 <= num_joints <= num_joints_total:
        raise UserError(
            f"joint corruption picks {num_joints} joints but the skeleton has "
            f"{num_joints_total}; set augment.corrupt_joints to at most {num_joints_total}."
        )
    device = torch.device("cpu") if device is None else torch.device(device)
    corrupt = _rand((n,), device, generator) < p_corrupt
    zero = _rand((n,), device, generator) < 0.5
    chosen = _rand((n, num_joints_total), device, generator).argsort(dim=1)[:, :num_joints]
    joints = torch.zeros(n, num_joints_total, dtype=torch.bool, device=device)
    joints.scatter_(1, chosen, True)
    matrix = _rand((n, dims, dims), device, generator) * 2 - 1
    if shear != 1.0:
        matrix = torch.where(corrupt[:, None, None], matrix, matrix * shear)
    diagonal = torch.eye(dims, dtype=torch.bool, device=device)
    matrix = torch.where(diagonal & ~corrupt[:, None, None], 1.0, matrix).to(dtype)
    return SpatialDraw(corrupt, zero, joints, matrix)


def apply_spatial(x: Tensor, draw: SpatialDraw) -> Tensor:
    """Joint corruption or shear of every sample as drawn: (N, C, T, V, M) -> same shape.

    With D = the draw's matrix size, the first D channels are coordinates p. Shear: p ->
    matrix @ p at every joint. Corruption: only the chosen joints change, to zero (a zero
    matrix: exactly 0 for finite coordinates; channels after the D coordinates, a score, are
    zeroed too) or to matrix @ p (the other channels kept). Every frame and person of a sample
    shares its draw.
    """
    n, c, t, v, m = x.shape
    d = draw.matrix.shape[-1]
    if c < d:
        raise ValueError(f"a {d}x{d} spatial augmentation needs {d} coordinates, got C={c}")
    zeroed = (draw.corrupt & draw.zero)[:, None, None]
    matrix = torch.where(zeroed, 0.0, draw.matrix).to(x.dtype)
    flat = x.reshape(n, c, t * v * m)
    moved = torch.bmm(matrix, flat[:, :d])
    if c > d:  # a score: kept, but a zeroed joint has none
        moved = torch.cat([moved, torch.where(zeroed, 0.0, flat[:, d:])], dim=1)
    moved = moved.view(n, c, t, v * m)
    touched = draw.joints | ~draw.corrupt[:, None]  # (N, V)
    touched = touched[:, :, None].expand(n, v, m).reshape(n, 1, 1, v * m)
    return torch.where(touched, moved, x.reshape(n, c, t, v * m)).view(n, c, t, v, m)


def spatial_augment(
    x: Tensor,
    p_corrupt: float = 0.5,
    num_joints: int = 15,
    generator: torch.Generator | None = None,
    coords: int | None = None,
    shear: float = 1.0,
) -> Tensor:
    """With probability p_corrupt joint corruption, else shear, per sample: same shape as x.
    The first `coords` channels (default: all) are the coordinates the matrices act on."""
    n, c, _, v, _ = x.shape
    dims = c if coords is None else coords
    draw = draw_spatial(n, v, p_corrupt, num_joints, x.device, x.dtype, generator, dims, shear)
    return apply_spatial(x, draw)


def augment(
    x: Tensor,
    lengths: Tensor,
    cfg: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    coords: int | None = None,
) -> Tensor:
    """One augmented view: crop-resize, then corruption or shear. -> (N, C, out_frames, V, M)."""
    cfg = AugmentConfig() if cfg is None else cfg
    cropped = crop_resize(
        x, lengths, cfg.ratio_range, cfg.min_frames, cfg.out_frames, generator=generator
    )
    return spatial_augment(
        cropped, cfg.p_corrupt, cfg.corrupt_joints, generator, coords, shear=cfg.shear
    )


def two_views(
    x: Tensor,
    lengths: Tensor,
    cfg: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    coords: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Two independently augmented views of every sample, each (N, C, out_frames, V, M); the
    first `coords` channels (default: all) are coordinates (see `apply_spatial`)."""
    return augment(x, lengths, cfg, generator, coords), augment(x, lengths, cfg, generator, coords)
