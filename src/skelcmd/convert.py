"""Convert a pretraining checkpoint of the authors' reference code (maoyunyao/CMD) to this project.

The reference saves `{"epoch", "state_dict", "optimizer"}` with a `MoCo` whose state dict holds,
per stream suffix s in "" (joint), "_motion", "_bone" (keys possibly prefixed `module.`):

    encoder_{q,k}{s}.input_norm.{weight,bias,running_mean,running_var,num_batches_tracked}
    encoder_{q,k}{s}.encoder.gru.{weight_ih,weight_hh,bias_ih,bias_hh}_l{l}[_reverse]
    encoder_{q,k}{s}.fc.{0,2}.{weight,bias}     (MLP head; `fc.{weight,bias}` without one)
    queue{s} (d, K) and queue_ptr{s} (1,)

and this becomes the state dict of `skelcmd.model.CMD` with the `gru` encoder:

    branches.<modality>.encoder_{q,k}.input_norm.*          (same names)
    branches.<modality>.encoder_{q,k}.fwd.{l}.<w>_l0        <- encoder.gru.<w>_l{l}
    branches.<modality>.encoder_{q,k}.rev.{l}.<w>_l0        <- encoder.gru.<w>_l{l}_reverse
    branches.<modality>.head_{q,k}.{0,2}.* or .{weight,bias} <- fc.*
    queue.features (P, K, d), the streams' queues transposed and stacked joint, motion, bone
    queue.ptr      0-dim long, the streams' common pointer

The reference steps its bidirectional GRU frame by frame, so its `_reverse` weights are a second
forward GRU (see `skelcmd.encoders.gru`); with this mapping `ForwardPairGRU` computes the same
features as the reference model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from skelcmd.atomic import atomic_path, check_output_file
from skelcmd.checkpoints import is_classifier, read_torch_file
from skelcmd.config import ModelConfig, PretrainConfig, to_dict
from skelcmd.errors import UserError

STREAM_SUFFIXES = {"joint": "", "motion": "_motion", "bone": "_bone"}
GRU_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
NORM_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _few(keys: list[str] | set[str], n: int = 5) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def strip_module_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the `module.` prefix that (Distributed)DataParallel adds to every key."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def _gru_shapes(prefix: str, input_size: int, hidden: int, num_layers: int) -> dict[str, tuple]:
    """Expected shapes of a reference `nn.GRU(input_size, hidden, num_layers, bidirectional)`."""
    shapes = {}
    for layer in range(num_layers):
        width = input_size if layer == 0 else 2 * hidden
        for suffix in ("", "_reverse"):
            shapes[f"{prefix}weight_ih_l{layer}{suffix}"] = (3 * hidden, width)
            shapes[f"{prefix}weight_hh_l{layer}{suffix}"] = (3 * hidden, hidden)
            shapes[f"{prefix}bias_ih_l{layer}{suffix}"] = (3 * hidden,)
            shapes[f"{prefix}bias_hh_l{layer}{suffix}"] = (3 * hidden,)
    return shapes


def convert_reference_state_dict(
    ref_state: dict[str, Tensor],
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The reference's pretraining state dict -> (our CMD state dict, info).

    info: encoder ("gru"), encoder_kwargs ({hidden, num_layers}), modalities (present, in the
    order joint, motion, bone), hidden, num_layers, input_size, feature_dim, queue_size, mlp.
    Missing or unexpected keys, wrong shapes and disagreeing queue pointers are UserErrors.
    """
    state = strip_module_prefix(ref_state)
    modalities = [
        m for m, s in STREAM_SUFFIXES.items() if any(k.startswith(f"encoder_q{s}.") for k in state)
    ]
    first = f"encoder_q{STREAM_SUFFIXES[modalities[0]]}." if modalities else None
    if first is None or f"{first}encoder.gru.weight_hh_l0" not in state:
        raise UserError(
            "this is not a pretraining state dict of the reference CMD code: it has no "
            f"encoder_q[_motion|_bone].encoder.gru weights (its keys: {_few(set(state))})."
        )
    hidden = state[f"{first}encoder.gru.weight_hh_l0"].shape[1]
    input_size = state[f"{first}encoder.gru.weight_ih_l0"].shape[1]
    num_layers = 0
    while f"{first}encoder.gru.weight_ih_l{num_layers}" in state:
        num_layers += 1
    mlp = f"{first}fc.0.weight" in state
    head_keys = ("0.weight", "0.bias", "2.weight", "2.bias") if mlp else ("weight", "bias")
    last_fc = f"{first}fc.{'2.' if mlp else ''}weight"
    if last_fc not in state:
        raise UserError(f"the reference state dict lacks its projection head ({last_fc}).")
    feature_dim = state[last_fc].shape[0]

    ours: dict[str, Tensor] = {}
    missing: list[str] = []
    used: set[str] = set()

    def take(src: str, dst: str) -> None:
        if src not in state:
            missing.append(src)
        else:
            used.add(src)
            ours[dst] = state[src]

    queues, pointers = [], {}
    for modality in modalities:
        s = STREAM_SUFFIXES[modality]
        for role in ("q", "k"):
            ref, dst = f"encoder_{role}{s}.", f"branches.{modality}.encoder_{role}."
            for key in NORM_KEYS:
                take(f"{ref}input_norm.{key}", f"{dst}input_norm.{key}")
            for layer in range(num_layers):
                for w in GRU_WEIGHTS:
                    take(f"{ref}encoder.gru.{w}_l{layer}", f"{dst}fwd.{layer}.{w}_l0")
                    take(f"{ref}encoder.gru.{w}_l{layer}_reverse", f"{dst}rev.{layer}.{w}_l0")
            for key in head_keys:
                take(f"{ref}fc.{key}", f"branches.{modality}.head_{role}.{key}")
        if f"queue{s}" in state:
            queues.append(state[f"queue{s}"])
            used.add(f"queue{s}")
        else:
            missing.append(f"queue{s}")
        if f"queue_ptr{s}" in state:
            pointers[f"queue_ptr{s}"] = state[f"queue_ptr{s}"]
            used.add(f"queue_ptr{s}")
        else:
            missing.append(f"queue_ptr{s}")

    if missing:
        raise UserError(
            f"the reference state dict lacks {len(missing)} expected key(s) for the streams "
            f"{', '.join(modalities)}: {_few(missing)}. Only pretraining checkpoints (with "
            "key encoders and queues) can be converted."
        )
    unexpected = set(state) - used
    if unexpected:
        raise UserError(
            f"the reference state dict has {len(unexpected)} key(s) this converter does not "
            f"know: {_few(unexpected)}."
        )
    _check_shapes(state, modalities, input_size, hidden, num_layers, feature_dim)

    queue_size = queues[0].shape[-1]
    bad = [q.shape for q in queues if tuple(q.shape) != (feature_dim, queue_size)]
    if bad:
        raise UserError(
            f"the reference queues do not all have shape ({feature_dim}, {queue_size}): {bad}."
        )
    if any(p.numel() != 1 for p in pointers.values()):
        raise UserError(f"a reference queue pointer is not a single number: {pointers}.")
    values = {name: int(p.reshape(-1)[0]) for name, p in pointers.items()}
    if len(set(values.values())) != 1:
        raise UserError(
            f"the reference queue pointers disagree ({values}); this model keeps all streams' "
            "queues in lockstep and cannot represent that state."
        )
    ours["queue.features"] = torch.stack([q.t() for q in queues]).contiguous()
    ours["queue.ptr"] = torch.tensor(next(iter(values.values())), dtype=torch.long)

    info = {
        "encoder": "gru",
        "encoder_kwargs": {"hidden": hidden, "num_layers": num_layers},
        "modalities": modalities,
        "hidden": hidden,
        "num_layers": num_layers,
        "input_size": input_size,
        "feature_dim": feature_dim,
        "queue_size": queue_size,
        "mlp": mlp,
    }
    return ours, info


def _check_shapes(
    state: dict[str, Tensor],
    modalities: list[str],
    input_size: int,
    hidden: int,
    num_layers: int,
    feature_dim: int,
) -> None:
    """Every GRU, input-norm and head tensor has the shape the first stream's sizes imply."""
    d = 2 * hidden
    expected: dict[str, tuple] = {}
    for modality in modalities:
        for role in ("q", "k"):
            ref = f"encoder_{role}{STREAM_SUFFIXES[modality]}."
            expected |= _gru_shapes(f"{ref}encoder.gru.", input_size, hidden, num_layers)
            for key in ("weight", "bias", "running_mean", "running_var"):
                expected[f"{ref}input_norm.{key}"] = (input_size,)
            if f"{ref}fc.0.weight" in state:
                expected |= {f"{ref}fc.0.weight": (d, d), f"{ref}fc.0.bias": (d,)}
                expected |= {
                    f"{ref}fc.2.weight": (feature_dim, d),
                    f"{ref}fc.2.bias": (feature_dim,),
                }
            else:
                expected |= {f"{ref}fc.weight": (feature_dim, d), f"{ref}fc.bias": (feature_dim,)}
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {shape})"
        for k, shape in expected.items()
        if tuple(state[k].shape) != shape
    ]
    if wrong:
        raise UserError(
            f"the reference state dict is not one consistent model (hidden={hidden}, "
            f"num_layers={num_layers}, input size {input_size}): {_few(wrong, 3)}."
        )


def convert_checkpoint(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Read reference checkpoint `src`, write `{"model", "info", "source", "epoch"}` to `dst`.

    Returns the info dict (see `convert_reference_state_dict`) with the checkpoint's epoch.
    """
    src = Path(src)
    check_output_file(dst, inputs=[src])
    checkpoint = read_torch_file(
        src, hint="Give the reference code's pretraining checkpoint (e.g. checkpoint_0450.pth.tar)."
    )
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        state, epoch = checkpoint["state_dict"], checkpoint.get("epoch")
    elif isinstance(checkpoint, dict) and all(isinstance(v, Tensor) for v in checkpoint.values()):
        state, epoch = checkpoint, None
    else:
        raise UserError(_not_reference(src, checkpoint))
    model, info = convert_reference_state_dict(state)
    if isinstance(epoch, Tensor):
        epoch = int(epoch)
    converted = {
        "model": model,
        "config": to_dict(reference_config(info)),
        "info": info,
        "source": str(src),
        "epoch": epoch,
    }
    with atomic_path(dst) as tmp:
        torch.save(converted, tmp)
    return {**info, "epoch": epoch}


def _not_reference(src: Path, checkpoint: Any) -> str:
    """Why `src` (read as `checkpoint`) cannot be converted, and what to do with it instead."""
    reads = (
        "`skelcmd convert-checkpoint` reads the reference code's pretraining checkpoints "
        "(e.g. checkpoint_0450.pth.tar)."
    )
    keys = checkpoint.keys() if isinstance(checkpoint, dict) else set()
    if is_classifier(checkpoint):
        return (
            f"{src} is a skelcmd classifier (written by `skelcmd linear --save` or `skelcmd "
            "finetune --save`), not a pretraining checkpoint; use it as it is with `skelcmd "
            f"predict --model` or `skelcmd export --model`. {reads}"
        )
    if {"model", "config"} <= keys:
        made = (
            f"converted from {checkpoint['source']}"
            if isinstance(checkpoint.get("source"), str)
            else "written by `skelcmd pretrain`"
        )
        return (
            f"{src} is already a skelcmd checkpoint ({made}); it needs no conversion: give it "
            f"as it is to --checkpoint (knn, linear, finetune, embed, export). {reads}"
        )
    what = f"a dict with the keys {_few(set(map(str, keys)))}" if keys else None
    what = what or f"a {type(checkpoint).__name__}"
    return (
        f"{src} holds no state dict (it holds {what}): expected the reference's {{'epoch', "
        f"'state_dict', 'optimizer'}} checkpoint or a plain state dict. {reads}"
    )


def reference_config(info: dict[str, Any]) -> PretrainConfig:
    """The config of a converted reference model: the paper's recipe with its sizes, so the
    checkpoint loads like one of ours (`skelcmd.checkpoints.load_checkpoint`)."""
    config = PretrainConfig(
        model=ModelConfig(
            encoder="gru",
            encoder_args=dict(info["encoder_kwargs"]),
            modalities=list(info["modalities"]),
            feature_dim=info["feature_dim"],
            queue_size=info["queue_size"],
            mlp=info["mlp"],
        )
    )
    config.cmd.topk = min(config.cmd.topk, info["queue_size"])
    return config
