"""Skeleton modalities derived on the training device: joint, motion and bone.

A modality is a function `(x, layout, channels) -> tensor` in the `MODALITIES` registry; the
list of modalities a run uses is configuration (`derive(x, ["bone", "joint"], layout)`), so
adding one means registering one function, never editing code written once per modality.

Shapes: x is (N, C, T, V, M) (channels, frames, joints, persons); every modality returns a
tensor of the same shape, dtype and device. `channels` (`skelcmd.channels`: xyz, xy or
xy+score) says whether the last channel is a confidence score: motion and bone difference the
coordinates only, and give a score channel the mean score of the two points they subtract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from torch import Tensor

from skelcmd.channels import has_score
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout


def _keep_score(diff: Tensor, a: Tensor, b: Tensor, channels: str) -> Tensor:
    """`diff` (= a - b) with its score channel, if `channels` has one, replaced by (a + b) / 2."""
    if not has_score(channels):
        return diff
    return torch.cat([diff[:, :-1], (a[:, -1:] + b[:, -1:]) / 2], dim=1)


def to_joint(x: Tensor, layout: Layout | None = None, channels: str = "xyz") -> Tensor:
    """The joint coordinates themselves: (N, C, T, V, M) -> the same tensor (no copy)."""
    return x


def to_motion(x: Tensor, layout: Layout | None = None, channels: str = "xyz") -> Tensor:
    """Frame differences `x[:, :, t + 1] - x[:, :, t]`; the last frame is 0. A score channel
    holds the mean score of frames t and t + 1 instead.

    (N, C, T, V, M) -> (N, C, T, V, M).
    """
    later, earlier = x[:, :, 1:], x[:, :, :-1]
    diff = _keep_score(later - earlier, later, earlier, channels)
    return torch.cat([diff, torch.zeros_like(x[:, :, :1])], dim=2)


@lru_cache(maxsize=32)
def _parent_index(layout: Layout, device: torch.device) -> Tensor:
    """(V,) int64 parent of every joint, following `layout.bone_pairs`, on `device`."""
    parents = [parent for _, parent in layout.bone_pairs]
    return torch.tensor(parents, dtype=torch.long, device=device)


def to_bone(x: Tensor, layout: Layout, channels: str = "xyz") -> Tensor:
    """Bone vectors `x[..., v, :] - x[..., parent(v), :]` for every (v, parent) bone pair.

    A root (a joint that is its own parent) has a zero bone. A score channel holds the mean
    score of the joint and its parent instead. (N, C, T, V, M) -> same shape.
    """
    if x.shape[3] != layout.num_joints:
        raise UserError(
            f"the skeletons have {x.shape[3]} joints but layout {layout.name!r} has "
            f"{layout.num_joints}; choose the layout that matches the data."
        )
    parents = x.index_select(3, _parent_index(layout, x.device))
    return _keep_score(x - parents, x, parents, channels)


MODALITIES: dict[str, Callable[[Tensor, Layout, str], Tensor]] = {
    "joint": to_joint,
    "motion": to_motion,
    "bone": to_bone,
}


def check_modalities(names: Sequence[str]) -> list[str]:
    """The names as a list, or a UserError if one is unknown or repeated, or none is given."""
    names = [names] if isinstance(names, str) else list(names)
    known = ", ".join(MODALITIES)
    if not names:
        raise UserError(f"no modality given; choose a non-empty list from: {known}.")
    unknown = [name for name in names if name not in MODALITIES]
    if unknown:
        raise UserError(
            f"unknown modality {', '.join(map(repr, unknown))}; the known modalities are "
            f"{known} (any non-empty subset, in any order)."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"modality {', '.join(map(repr, repeated))} is listed more than once.")
    return names


def derive(
    x: Tensor, names: Sequence[str], layout: Layout, channels: str = "xyz"
) -> dict[str, Tensor]:
    """Every named modality of x, in the order given: {name: (N, C, T, V, M)}."""
    return {name: MODALITIES[name](x, layout, channels) for name in check_modalities(names)}
