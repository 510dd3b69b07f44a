"""Encoder registry: every encoder maps (N, C, T, V, M) to (N, feat_dim) and has `feat_dim`.

    gru    ForwardPairGRU: the paper's / reference's encoder (hidden=1024, num_layers=3)
    bigru  BiGRU: a true bidirectional GRU of the same sizes
    stgcn  STGCN: ST-GCN as in SkeletonCLR (width=16, out_dim=256, dropout=0.0)

Encoders are built with `build_encoder(name, layout, num_persons, in_channels, **kwargs)`;
a new class registered in `ENCODERS` with that constructor signature is all it takes to add one.
An encoder class may also offer `encode_together(encoders, inputs)`, a static method that
computes several encoders' features in one go; CMD then calls it with one encoder per modality
(`skelcmd.model.encode_all`). The GRUs do: on the CPU all modalities step one recurrence.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from skelcmd.encoders.gru import BiGRU, ForwardPairGRU
from skelcmd.encoders.stgcn import STGCN
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout

ENCODERS: dict[str, type[nn.Module]] = {
    "gru": ForwardPairGRU,
    "bigru": BiGRU,
    "stgcn": STGCN,
}

_COMMON = ("self", "layout", "num_persons", "in_channels")


def encoder_options(name: str) -> dict[str, Any]:
    """The keyword options of encoder `name` with their defaults (layout and sizes excluded)."""
    if name not in ENCODERS:
        raise UserError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}.")
    params = inspect.signature(ENCODERS[name].__init__).parameters
    return {key: p.default for key, p in params.items() if key not in _COMMON}


def build_encoder(
    name: str, layout: Layout, num_persons: int = 2, in_channels: int = 3, **kwargs: Any
) -> nn.Module:
    """Build encoder `name` for `layout`; the module maps (N, in_channels, T, V, num_persons)
    to (N, feat_dim). Unknown names, unknown options and non-positive sizes are UserErrors."""
    options = encoder_options(name)
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        accepted = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise UserError(
            f"encoder {name!r} has no option {', '.join(unknown)}; its options are {accepted}."
        )
    sizes = {"num_persons": num_persons, "in_channels": in_channels}
    flags = {k for k, default in options.items() if isinstance(default, bool)}
    sizes.update(
        {k: v for k, v in kwargs.items() if isinstance(options[k], int) and k not in flags}
    )
    for key in flags & set(kwargs):
        if not isinstance(kwargs[key], bool):
            raise UserError(f"encoder {name!r}: {key} must be true or false, got {kwargs[key]!r}.")
    for key, value in sizes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserError(f"encoder {name!r}: {key} must be an integer, got {value!r}.")
        if value is not None and value < 1:
            raise UserError(f"encoder {name!r}: {key} must be at least 1, got {value}.")
    for key, value in kwargs.items():  # dropout rates: probabilities in [0, 1)
        rate = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1
        if "dropout" in key and not rate:
            raise UserError(f"encoder {name!r}: {key} must be a number in [0, 1), got {value!r}.")
    return ENCODERS[name](layout, num_persons=num_persons, in_channels=in_channels, **kwargs)


__all__ = ["ENCODERS", "STGCN", "BiGRU", "ForwardPairGRU", "build_encoder", "encoder_options"]
