"""Skeleton modalities derived on the training device: joint, motion and bone.

A modality is a function `(x, layout) -> tensor` in the `MODALITIES` registry; the list of
modalities a run uses is configuration (`derive(x, ["bone", "joint"], layout)`), so adding one
means registering one function, never editing code written once per modality.

Shapes: x is (N, C, T, V, M) (coordinates, frames, joints, persons); every modality returns a
tensor of the same shape, dtype and device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from torch import Tensor

from skelcmd.errors import UserError
from skelcmd.skeleton import Layout


def to_joint(x: Tensor, layout: Layout | None = None) -> Tensor:
    """The joint coordinates themselves: (N, C, T, V, M) -> the same tensor (no copy)."""
    return x


def to_motion(x: Tensor, layout: Layout | None = None) -> Tensor:
    """Frame differences `x[:, :, t + 1] - x[:, :, t]`; the last frame is 0.

    (N, C, T, V, M) -> (N, C, T, V, M).
    """
    diff = x[:, :, 1:] - x[:, :, :-1]
    return torch.cat([diff, torch.zeros_like(x[:, :, :1])], dim=2)


@lru_cache(maxsize=32)
def _parent_index(layout: Layout, device: torch.device) -> Tensor:
    """(V,) int64 parent of every joint, following `layout.bone_pairs`, on `device`."""
    parents = [parent for _, parent in layout.bone_pairs]
    return torch.tensor(parents, dtype=torch.long, device=device)


def to_bone(x: Tensor, layout: Layout) -> Tensor:
    """Bone vectors `x[..., v, :] - x[..., parent(v), :]` for every (v, parent) bone pair.

    A root (a joint that is its own parent) has a zero bone. (N, C, T, V, M) -> same shape.
    """
    if x.shape[3] != layout.num_joints:
        raise UserError(
            f"the skeletons have {x.shape[3]} joints but layout {layout.name!r} has "
            f"{layout.num_joints}; choose the layout that matches the data."
        )
    return x - x.index_select(3, _parent_index(layout, x.device))


MODALITIES: dict[str, Callable[[Tensor, Layout], Tensor]] = {
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


def derive(x: Tensor, names: Sequence[str], layout: Layout) -> dict[str, Tensor]:
    """Every named modality of x, in the order given: {name: (N, C, T, V, M)}."""
    return {name: MODALITIES[name](x, layout) for name in check_modalities(names)}
