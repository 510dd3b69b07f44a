"""Frozen features of a split, and the encoder model they come from.

Evaluation sees every clip the same way (docs/method.md#evaluation-protocols): the encoder in eval
mode (BatchNorm uses its running statistics), each clip centre-cropped to 95 % of its valid
frames and resized to 64 frames, the split read in order in batches (`make_loader` with
shuffle=False, drop_last=False), so row i of a feature matrix is sample i of the split.

`load_encoder_model` builds the pretrained CMD model of a checkpoint for a target data set, or
the same model freshly initialised (the random-init baseline); a checkpoint whose encoder does
not fit the target's skeleton layout or person count is a UserError that says why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from skelcmd.augment import center_crop_resize
from skelcmd.channels import describe_image_coordinates
from skelcmd.checkpoints import load_checkpoint, load_weights
from skelcmd.data.format import META_FILE, Split
from skelcmd.data.loader import make_loader
from skelcmd.errors import UserError, read_json
from skelcmd.layout_map import joint_map
from skelcmd.model import CMD, build_model
from skelcmd.names import EVAL_CROP, EVAL_FRAMES
from skelcmd.skeleton import LAYOUTS, Layout, layout_from_dict

__all__ = [
    "evaluating",
    "extract_features",
    "extract_streams",
    "load_encoder_model",
    "map_split",
    "model_device",
]


def model_device(model: nn.Module) -> torch.device:
    """The device of the module's first parameter (CPU for a module without any)."""
    return next(model.parameters(), torch.empty(0)).device


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block; every submodule's previous mode is restored afterwards."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes.items():
            m.training = training


@torch.no_grad()
def map_split(
    fns: Mapping[str, Callable[[Tensor], Tensor]],
    split: Split,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    ratio: float = EVAL_CROP,
    out_frames: int = EVAL_FRAMES,
    workers: int = 0,
    progress: bool = False,
    desc: str = "features",
) -> dict[str, Tensor]:
    """Every fn applied to the evaluation clips of `split`, read once, in split order.

    Each fn maps joint clips (B, C, out_frames, V, M) on `device` to (B, D_fn); the result is
    {name: (N, D_fn)} on `device`. Clips are centre-cropped to `ratio` and resized.
    """
    device = torch.device(device)
    loader = make_loader(split, batch_size, shuffle=False, drop_last=False, workers=workers)
    out: dict[str, Tensor] = {}
    row = 0
    for data, lengths, _ in tqdm(loader, desc=desc, disable=not progress, leave=False):
        clips = center_crop_resize(data.to(device), lengths.to(device), ratio, out_frames)
        for name, fn in fns.items():
            value = fn(clips)
            if name not in out:
                out[name] = value.new_empty((len(split), *value.shape[1:]))
            out[name][row : row + len(value)] = value
        row += len(data)
    return out


def extract_streams(
    model: CMD,
    split: Split,
    modalities: Sequence[str],
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    ratio: float = EVAL_CROP,
    out_frames: int = EVAL_FRAMES,
    workers: int = 0,
    progress: bool = False,
) -> dict[str, Tensor]:
    """{modality: (N, D)} frozen query-encoder features (before the head), one pass over the data.

    The model is in eval mode during the pass (its modes are restored afterwards); `device`
    defaults to the model's.
    """
    device = model_device(model) if device is None else torch.device(device)
    fns = {m: (lambda clips, m=m: model.encode(clips, m)) for m in modalities}
    with evaluating(model):
        return map_split(
            fns,
            split,
            batch_size=batch_size,
            device=device,
            ratio=ratio,
            out_frames=out_frames,
            workers=workers,
            progress=progress,
            desc=f"features {split.name}",
        )


def extract_features(
    model: CMD,
    split: Split,
    modality: str,
    **options: Any,
) -> Tensor:
    """(N, D) frozen features of one modality for every sample of `split`, in split order;
    `options` are those of `extract_streams` (batch_size, device, ratio, out_frames, workers,
    progress)."""
    return extract_streams(model, split, [modality], **options)[modality]


def _describe(layout: Layout | None, persons: int | None, channels: str) -> str:
    if layout is None:
        what = "an unknown layout"
    else:
        what = f"layout {layout.name!r} ({layout.num_joints} joints)"
    return what + (f" with {persons} person(s)" if persons else "") + f", channels {channels}"


def source_skeleton(state: dict[str, Any]) -> tuple[Layout | None, int | None]:
    """The layout and person count a checkpoint was pretrained on, where they can be known:
    stored in the checkpoint, or read from the pretraining data set if it is still there."""
    layout = state.get("layout")
    persons = state.get("num_persons")
    if isinstance(layout, dict):
        layout = layout_from_dict(layout, source="the checkpoint")
    if layout is None and getattr(state["config"].data, "path", ""):
        meta = Path(state["config"].data.path) / META_FILE
        try:
            info = read_json(meta, "a data set's metadata")
            layout = layout_from_dict(info["layout"], source=str(meta))
            split = info["splits"].get(state["config"].data.split, {})
            persons = persons or split.get("num_persons")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UserError):
            layout = None
    return (layout if isinstance(layout, Layout) else None), persons


def _check_fits(
    checkpoint: Path, state: dict[str, Any], model: CMD, layout: Layout, num_persons: int
) -> None:
    """UserError unless the checkpoint's weights fit `model`, built for the target skeleton."""
    source, source_persons = source_skeleton(state)
    source_channels = state.get("channels", "xyz")  # checkpoints before 2D data: xyz
    target = model.state_dict()
    wrong = [
        f"{key} {tuple(value.shape)} (target {tuple(target[key].shape)})"
        for key, value in state["model"].items()
        if key in target and tuple(value.shape) != tuple(target[key].shape)
    ]
    names_differ = source is not None and source.joint_names != layout.joint_names
    persons_differ = source_persons is not None and source_persons != num_persons
    channels_differ = source_channels != model.channels
    if not (names_differ or persons_differ or channels_differ):
        if not wrong or (source is not None and source_persons is not None):
            return  # the same skeleton: `load_weights` names any misshapen tensor
    detail = f" Mismatched tensors: {', '.join(wrong[:3])}." if wrong else ""
    raise UserError(
        f"checkpoint {checkpoint} does not fit this data set: it was pretrained on "
        f"{_describe(source, source_persons, source_channels)}, the data set has "
        f"{_describe(layout, num_persons, model.channels)}. The encoder's input size (channels "
        "x joints x persons per frame) and the bone stream depend on the skeleton, so the "
        "pretrained weights cannot be reused as they are. "
        f"{_fit_advice(layout, source, source_persons, channels_differ)}{detail}"
    )


def _fit_advice(
    layout: Layout, source: Layout | None, persons: int | None, channels_differ: bool
) -> str:
    """What to do when a checkpoint does not fit a data set of `layout` (`_check_fits`): map the
    data set onto the checkpoint's skeleton (`skelcmd.layout_map`), or pretrain on it."""
    pretrain = "pretrain on this data set"
    if channels_differ:  # 2D and 3D coordinates do not convert into each other
        return (
            "2D and 3D coordinates do not convert into each other: use a checkpoint pretrained "
            f"on data of this data set's channels, or {pretrain}."
        )
    if source is not None and source.joint_names != layout.joint_names:
        try:
            joint_map(layout, source)
        except UserError:
            return (
                f"Layout {layout.name!r} cannot be mapped onto {source.name!r} (it lacks joints "
                f'that {source.name} needs; see docs/video.md, "Mapping between layouts"): use '
                f"a checkpoint pretrained on {layout.name} data, or {pretrain}."
            )
    builtin = source is not None and LAYOUTS.get(source.name) == source
    to = source.name if builtin else "LAYOUT"
    count = persons if persons is not None else "M"
    unknown = ["M its persons per sample"] if persons is None else []
    if source is None:
        unknown.insert(0, "LAYOUT its layout")
    elif not builtin:
        unknown.insert(0, f"LAYOUT the YAML file of its layout {source.name!r}")
    known = f" ({' and '.join(unknown)})" if unknown else ""
    return (
        f"Map this data set (DATA) onto the checkpoint's skeleton{known} with `skelcmd "
        f'convert-layout DATA --to {to} --persons {count} OUT_DIR` (docs/video.md, "Mapping '
        f'between layouts") and evaluate OUT_DIR, or {pretrain}.'
    )


def _check_image_coordinates(checkpoint: Path, state: dict[str, Any], target: str | None) -> None:
    """UserError when the checkpoint's pretraining data and the data set both record how their
    2D coordinates are scaled, differently: the encoders' input BatchNorm learnt one scale."""
    source = state.get("image_coordinates")
    if source is None or target is None or source == target:
        return
    raise UserError(
        f"checkpoint {checkpoint} was pretrained on {describe_image_coordinates(source)} 2D "
        f"coordinates, but this data set's are {describe_image_coordinates(target)}, and the "
        "encoders learnt the scale of their input. Rescale the data set first: "
        f"skelcmd convert-layout DATA --to LAYOUT --image-coordinates {source} OUT_DIR (LAYOUT "
        "its own layout)."
    )


def load_encoder_model(
    checkpoint: str | Path | None,
    *,
    random_init_like: str | Path | None = None,
    data_layout: Layout,
    num_persons: int,
    device: torch.device | str = "cpu",
    seed: int = 0,
    channels: str = "xyz",
    image_coordinates: str | None = None,
) -> CMD:
    """The CMD model of `checkpoint` for a data set of `data_layout`, `num_persons` and
    `channels` (`skelcmd.channels`; 2D coordinates scaled as `image_coordinates` says, where
    known), in eval mode on `device`.

    With `checkpoint=None` and `random_init_like=CKPT`: the same model (CKPT's config) freshly
    initialised from `seed`, for the random-init baseline; it fits any layout. A pretrained
    checkpoint must match the target's layout (joint names), person count and channels (transfer
    between data sets of the same skeleton, e.g. NTU -> PKU-MMD, is fine); otherwise a UserError.
    """
    if (checkpoint is None) == (random_init_like is None):
        raise ValueError("give exactly one of checkpoint and random_init_like")
    path = Path(checkpoint if checkpoint is not None else random_init_like)  # type: ignore[arg-type]
    state = load_checkpoint(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(state["config"], data_layout, num_persons, channels=channels)
    if checkpoint is not None:
        _check_fits(path, state, model, data_layout, num_persons)
        _check_image_coordinates(path, state, image_coordinates)
        load_weights(model, state["model"], path)
    return model.to(device).eval()
