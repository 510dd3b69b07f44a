"""The evaluation protocols by name, and `run_protocol`, the one call that runs one from paths.

`PROTOCOL_TABLE` is the single list of protocols: each name (`skelcmd.names.PROTOCOLS`) maps
to its settings class and the function that runs it on a model and a data set. The command
line, the demo and the accuracy benchmarks all go through it; adding a protocol is one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from skelcmd.config import apply_overrides, from_dict, preset_names, read_yaml
from skelcmd.data.format import open_dataset
from skelcmd.distributed import pick_device
from skelcmd.errors import UserError
from skelcmd.evaluate.batchnorm import recompute_batchnorm
from skelcmd.evaluate.common import resolve_streams
from skelcmd.evaluate.features import load_encoder_model
from skelcmd.evaluate.finetune import FinetuneConfig, finetune_eval
from skelcmd.evaluate.knn import KNNConfig, knn_eval
from skelcmd.evaluate.linear import LinearConfig, linear_eval


@dataclass(frozen=True)
class Protocol:
    """A protocol's settings class (with defaults and `validate()`) and the function that runs
    it: `run(model, dataset, config, stream=..., progress=...) -> list of result dicts`."""

    config_class: type
    run: Callable[..., list[dict[str, Any]]]


PROTOCOL_TABLE: dict[str, Protocol] = {
    "knn": Protocol(KNNConfig, knn_eval),
    "linear": Protocol(LinearConfig, linear_eval),
    "finetune": Protocol(FinetuneConfig, finetune_eval),
}


def config_class(protocol: str) -> type:
    """The settings class of a protocol: KNNConfig, LinearConfig or FinetuneConfig."""
    if protocol not in PROTOCOL_TABLE:
        raise UserError(
            f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOL_TABLE)}."
        )
    return PROTOCOL_TABLE[protocol].config_class


def load_eval_config(
    protocol: str, spec: str | Path | None = None, overrides: Sequence[str] = ()
) -> Any:
    """Defaults, then a YAML file or `eval/` preset (e.g. "semi"), then `key=value` overrides.
    A preset of another protocol (`knn_cpu` for linear) is a UserError: its keys may all be
    valid here and silently mean something else."""
    if spec:
        _check_preset_protocol(protocol, spec)
    values = read_yaml(spec, kind="eval") if spec else {}
    config = from_dict(config_class(protocol), apply_overrides(values, list(overrides)))
    config.validate()
    return config


def _check_preset_protocol(protocol: str, spec: str | Path) -> None:
    """UserError when `spec` names a packaged eval preset of another protocol: presets are
    named after theirs (knn*, linear*, finetune*; semi* is finetune's)."""
    name = str(spec).removeprefix("eval/")
    if Path(spec).is_file() or "/" in name or name.endswith((".yaml", ".yml")):
        return  # a file of the user's: its keys are checked against the protocol's settings
    family = _family(name)
    if family in PROTOCOL_TABLE and family != protocol:
        own = [
            p.removeprefix("eval/")
            for p in preset_names()
            if p.startswith("eval/") and _family(p.removeprefix("eval/")) == protocol
        ]
        raise UserError(
            f"--config {spec} is a preset of skelcmd {family}, not of skelcmd {protocol}; "
            f"{protocol}'s presets are {', '.join(own)} (skelcmd presets lists them all)."
        )


def _family(preset: str) -> str:
    """The protocol a packaged eval preset is named after."""
    family = preset.split("_")[0]
    return "finetune" if family == "semi" else family


def run_protocol(
    protocol: str,
    checkpoint: str | Path,
    data: str | Path,
    *,
    config: Any = None,
    stream: str = "all",
    random_init: bool = False,
    recompute_bn: bool = True,
    device: str | torch.device = "auto",
    progress: bool = True,
    trained: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Open `data`, load `checkpoint` (or its random-init twin, seeded by `config.seed`) and run
    `protocol` ("knn", "linear", "finetune"); one result dict per reported stream.

    A random-init twin first gets BatchNorm statistics recomputed on `config.train_split`
    (`skelcmd.evaluate.batchnorm`; `recompute_bn=False` keeps the initial mean 0 / variance 1),
    and its results say which in `bn_stats` ("train" or "init"). `trained` (linear and
    finetune) is filled with the trained classifier of every stream (`skelcmd.evaluate.
    classifier`)."""
    config = config_class(protocol)() if config is None else config
    dataset = open_dataset(data)
    model = load_encoder_model(
        None if random_init else checkpoint,
        random_init_like=checkpoint if random_init else None,
        data_layout=dataset.layout,
        num_persons=int(dataset.split(config.train_split).data.shape[4]),
        device=pick_device(str(device)),
        seed=config.seed,
        channels=dataset.channels,
        image_coordinates=dataset.image_coordinates,
    )
    if random_init and recompute_bn:
        recompute_batchnorm(
            model,
            dataset.split(config.train_split),
            resolve_streams(model.modalities, stream)[0],
            batch_size=getattr(config, "eval_batch_size", getattr(config, "batch_size", 256)),
            ratio=config.test_crop,
            out_frames=config.frames,
            workers=config.workers,
            progress=progress,
        )
    keep = {} if trained is None else {"trained": trained}  # linear, finetune: trained nets
    results = PROTOCOL_TABLE[protocol].run(
        model, dataset, config, stream=stream, progress=progress, **keep
    )
    for result in results:
        result.update(random_init=random_init, checkpoint=str(checkpoint))
        if random_init:
            result["bn_stats"] = "train" if recompute_bn else "init"
    return results
