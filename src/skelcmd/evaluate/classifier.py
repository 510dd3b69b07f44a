"""Classifier files: what `skelcmd linear | finetune --save FILE.pt` writes and `skelcmd predict`,
`skelcmd export --model` and `skelcmd.load_classifier` read.

A classifier is one `Classifier` module: per stream a `StreamNet` (the stream derived from
joint clips, its encoder, then the head: the probe's feature normalisation and the linear
layer), and, with several streams, the ensemble protocol's combination (the mean of the
streams' softmax probabilities, `skelcmd.evaluate.common.average_scores`). It takes clips
already prepared as evaluation prepares them: centre-cropped to `crop` of their valid frames
and resized to `frames` (`skelcmd.augment.center_crop_resize`).

The file is a dict of tensors and plain values only, read back with
`torch.load(weights_only=True)` (`skelcmd.checkpoints.read_torch_file`):

    skelcmd_classifier   format version (1)
    classes              class names, in label order
    streams              the streams, e.g. ["joint"] or ["joint", "motion", "bone"] (ensemble)
    encoder              {"name", "args"}: how to build each stream's encoder
    layout, num_persons, channels   the skeleton of the input clips
    crop, frames         the evaluation crop / resize applied before the module
    weights              {stream: {"encoder": state, "norm": none|standardize|l2,
                          "norm_state": state, "fc": state}}
    preparation          the training data set's record: source, benchmark, channels, frames
                         and persons per stored sample, and meta.json's `extra` (how raw
                         recordings were turned into arrays: preprocess, aligned, max_frames...)
    training             protocol, stream, seed, checkpoint, data set, settings, top1 / top5
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelcmd import __version__
from skelcmd.atomic import atomic_path
from skelcmd.channels import image_coordinates, num_channels
from skelcmd.checkpoints import (
    CLASSIFIER_KEY,
    load_checkpoint,
    load_weights,
    read_torch_file,
)
from skelcmd.config import to_dict
from skelcmd.data.format import Dataset
from skelcmd.encoders import build_encoder
from skelcmd.errors import UserError
from skelcmd.evaluate.common import average_scores
from skelcmd.evaluate.finetune import StreamNet
from skelcmd.evaluate.linear import L2Normalize, Standardize
from skelcmd.skeleton import Layout, layout_from_dict

FORMAT_KEY = CLASSIFIER_KEY
FORMAT_VERSION = 1
_REQUIRED = {  # key: type
    "classes": list,
    "streams": list,
    "encoder": dict,
    "layout": dict,
    "num_persons": int,
    "channels": str,
    "crop": float,
    "frames": int,
    "weights": dict,
    "preparation": dict,
    "training": dict,
}


class Classifier(nn.Module):
    """Prepared joint clips (N, C, frames, V, M) -> (N, K) log-probabilities.

    One stream: the log-softmax of its logits; several: the log of the mean of their softmax
    probabilities (the ensemble protocol's score), so `forward(x).exp()` is `probabilities(x)`
    and the arg-max is the predicted class either way."""

    def __init__(self, nets: Mapping[str, StreamNet]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(dict(nets))

    def forward(self, clips: Tensor) -> Tensor:
        logs = torch.stack([F.log_softmax(net(clips), dim=1) for net in self.nets.values()])
        return torch.logsumexp(logs, dim=0) - math.log(len(self.nets))

    def probabilities(self, clips: Tensor) -> Tensor:
        """(N, K) class probabilities: the softmax, averaged over the streams."""
        return average_scores([net(clips).softmax(dim=1) for net in self.nets.values()])


class Probabilities(nn.Module):
    """`Classifier.probabilities` as a module's forward (what the ONNX graph computes)."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, clips: Tensor) -> Tensor:
        return self.classifier.probabilities(clips)


@dataclass
class ClassifierFile:
    """A classifier file's contents: the module (eval mode, CPU) and what it was trained on."""

    path: Path
    module: Classifier
    classes: list[str]
    streams: list[str]
    layout: Layout
    num_persons: int
    channels: str
    crop: float
    frames: int
    preparation: dict[str, Any]
    training: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """(C, frames, V, M) of one prepared clip."""
        return (num_channels(self.channels), self.frames, self.layout.num_joints, self.num_persons)

    @property
    def image_coordinates(self) -> str | None:
        """How its training set's 2D coordinates were scaled (`skelcmd.channels`); None if 3D
        or unknown. New recordings are rescaled to it."""
        prep = self.preparation
        return image_coordinates(self.channels, prep.get("extra", {}), prep.get("source"))

    def describe_input(self) -> str:
        c, _, v, m = self.input_shape
        return (
            f"clips of layout {self.layout.name!r} ({v} joints), {self.channels} ({c} channels), "
            f"{m} person(s) per frame"
        )


def _norm_kind(norm: nn.Module) -> str:
    kinds = {Standardize: "standardize", L2Normalize: "l2", nn.Identity: "none"}
    if type(norm) not in kinds:
        raise TypeError(f"no saved form for the feature normalisation {type(norm).__name__}")
    return kinds[type(norm)]


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def classifier_state(
    nets: Mapping[str, StreamNet],
    *,
    classes: list[str],
    encoder: dict[str, Any],
    num_persons: int,
    crop: float,
    frames: int,
    preparation: dict[str, Any],
    training: dict[str, Any],
) -> dict[str, Any]:
    """The file's dict for trained stream nets (their head a Linear, or Sequential(norm,
    Linear) as linear evaluation's); `encoder` {"name", "args"} builds each stream's encoder."""
    first = next(iter(nets.values()))
    weights = {}
    for stream, net in nets.items():
        head = net.fc
        norm, fc = (head[0], head[1]) if isinstance(head, nn.Sequential) else (nn.Identity(), head)
        weights[stream] = {
            "encoder": _cpu_state(net.encoder),
            "norm": _norm_kind(norm),
            "norm_state": _cpu_state(norm),
            "fc": _cpu_state(fc),
        }
    return {
        FORMAT_KEY: FORMAT_VERSION,
        "classes": list(classes),
        "streams": list(nets),
        "encoder": {"name": encoder["name"], "args": dict(encoder["args"])},
        "layout": first.layout.to_dict(),
        "num_persons": int(num_persons),
        "channels": first.channels,
        "crop": float(crop),
        "frames": int(frames),
        "weights": weights,
        "preparation": copy.deepcopy(preparation),
        "training": copy.deepcopy(training),
        "version": __version__,
    }


def save_classifier(path: str | Path, state: dict[str, Any]) -> Path:
    """Write `classifier_state(...)` to `path` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def _not_a_classifier(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} is not a usable skelcmd classifier file ({why}). Give a file written by "
        "`skelcmd linear --save FILE.pt` or `skelcmd finetune --save FILE.pt`."
    )


def _check_fields(path: Path, state: Any) -> None:
    if not isinstance(state, dict) or FORMAT_KEY not in state:
        what = "a pretraining checkpoint" if isinstance(state, dict) and "model" in state else None
        raise _not_a_classifier(path, f"it is {what}" if what else "it has no classifier record")
    if state[FORMAT_KEY] != FORMAT_VERSION:
        raise _not_a_classifier(
            path, f"format version {state[FORMAT_KEY]!r}; this skelcmd reads {FORMAT_VERSION}"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise _not_a_classifier(path, f"its {key!r} is missing or not a {kind.__name__}")
    streams, weights = state["streams"], state["weights"]
    if not streams or set(streams) != set(weights):
        raise _not_a_classifier(path, "its streams and weights do not match")
    for stream in streams:
        w = weights[stream]
        ok = isinstance(w, dict) and all(isinstance(w.get(k), dict) for k in
                                         ("encoder", "norm_state", "fc"))  # fmt: skip
        if not ok or w.get("norm") not in ("none", "standardize", "l2"):
            raise _not_a_classifier(path, f"the weights of stream {stream!r} are incomplete")


def _stream_net(path: Path, state: dict[str, Any], stream: str, layout: Layout) -> StreamNet:
    w = state["weights"][stream]
    spec = state["encoder"]
    try:
        encoder = build_encoder(
            spec["name"],
            layout,
            state["num_persons"],
            num_channels(state["channels"]),
            **spec.get("args", {}),
        )
    except (UserError, KeyError, TypeError) as exc:
        raise _not_a_classifier(path, f"its encoder cannot be built: {exc}") from None
    load_weights(encoder, w["encoder"], path)
    fc_weight = w["fc"].get("weight")
    if not isinstance(fc_weight, Tensor) or fc_weight.dim() != 2:
        raise _not_a_classifier(path, f"stream {stream!r} has no linear layer")
    if fc_weight.shape[0] != len(state["classes"]):
        raise _not_a_classifier(path, f"stream {stream!r} scores another number of classes")
    fc = nn.Linear(fc_weight.shape[1], fc_weight.shape[0])
    load_weights(fc, w["fc"], path)
    norm: nn.Module
    if w["norm"] == "standardize":
        mean, std = w["norm_state"].get("mean"), w["norm_state"].get("std")
        if not (isinstance(mean, Tensor) and isinstance(std, Tensor)):
            raise _not_a_classifier(path, f"stream {stream!r} lacks its standardization")
        norm = Standardize(mean, std)
    else:
        norm = L2Normalize() if w["norm"] == "l2" else nn.Identity()
    load_weights(norm, w["norm_state"], path)
    return StreamNet(encoder, stream, layout, nn.Sequential(norm, fc), state["channels"])


def load_classifier_file(path: str | Path) -> ClassifierFile:
    """Read a classifier file (never running code from it); a damaged or foreign file is a
    UserError naming it."""
    path = Path(path)
    hint = "Give a classifier written by `skelcmd linear --save` or `skelcmd finetune --save`."
    state = read_torch_file(path, hint)
    _check_fields(path, state)
    try:
        layout = layout_from_dict(state["layout"], source=str(path))
        num_channels(state["channels"])
    except (UserError, KeyError, TypeError, ValueError) as exc:
        raise _not_a_classifier(path, f"its skeleton does not load: {exc}") from None
    nets = {m: _stream_net(path, state, m, layout) for m in state["streams"]}
    return ClassifierFile(
        path=path,
        module=Classifier(nets).eval(),
        classes=[str(c) for c in state["classes"]],
        streams=list(state["streams"]),
        layout=layout,
        num_persons=state["num_persons"],
        channels=state["channels"],
        crop=state["crop"],
        frames=state["frames"],
        preparation=state["preparation"],
        training=state["training"],
    )


def preparation_record(dataset: Dataset, split: str) -> dict[str, Any]:
    """What a data set's meta.json says about how its raw recordings became arrays, with the
    frames and persons a stored sample of `split` has (raw input is prepared the same way)."""
    data = dataset.split(split).data
    return {
        "source": dataset.source,
        "benchmark": dataset.benchmark,
        "channels": dataset.channels,
        "layout": dataset.layout.name,
        "frames": int(data.shape[2]),
        "num_persons": int(data.shape[4]),
        "extra": copy.deepcopy(dataset.extra),
    }


def save_trained(
    path: str | Path,
    nets: Mapping[str, StreamNet],
    results: list[dict[str, Any]],
    *,
    protocol: str,
    config: Any,
    checkpoint: str | Path,
    dataset: Dataset,
    random_init: bool = False,
) -> str:
    """Save the nets a linear / finetune run trained (`trained=` of the protocol) as one
    classifier (the ensemble when there are several streams); return what to tell the user."""
    state = load_checkpoint(checkpoint)
    name = "ensemble" if len(nets) > 1 else next(iter(nets))
    result = next(r for r in results if r["stream"] == name)
    seeds = list(getattr(config, "seeds", [config.seed]))
    scores = result["seed_results"][0] if "seed_results" in result else result
    training = {
        "protocol": protocol,
        "stream": name,
        "seed": seeds[0],
        "checkpoint": str(checkpoint),
        "random_init": random_init,
        "data": str(dataset.path),
        "train_split": config.train_split,
        "test_split": config.test_split,
        "top1": float(scores["top1"]),
        "top5": float(scores["top5"]),
        "settings": to_dict(config),
    }
    file_state = classifier_state(
        nets,
        classes=list(dataset.class_names),
        encoder={"name": state["config"].model.encoder, "args": state["config"].model.encoder_args},
        num_persons=int(dataset.split(config.test_split).data.shape[4]),
        crop=config.test_crop,
        frames=config.frames,
        preparation=preparation_record(dataset, config.test_split),
        training=training,
    )
    save_classifier(path, file_state)
    what = f"the {name} classifier" + (f" ({', '.join(nets)})" if len(nets) > 1 else "")
    note = ""
    if len(seeds) > 1 or getattr(config, "label_fraction", 1) < 1:
        note = (
            f" It is the model of seed {seeds[0]} (of seeds {seeds}"
            + (f", label fraction {config.label_fraction:g}" if config.label_fraction < 1 else "")
            + f"): its own test top-1 is {scores['top1']:.1f}, not the mean over seeds."
        )
    return f"saved {what} to {path} (test top-1 {scores['top1']:.1f}).{note}"
