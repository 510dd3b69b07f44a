"""Typed configuration: dataclasses whose defaults are the paper's NTU recipe, loaded from YAML.

A preset only states what differs from the defaults. `--set a.b=value` overrides any field
(the value is parsed as YAML: `--set model.modalities=[joint,bone]`). Unknown keys, values of
the wrong type and non-finite numbers are rejected with the key's full name and the accepted
alternatives. Files and `--set` values are read by `parse_yaml`, which takes `1e-3` for a
float as YAML 1.2 does (PyYAML follows YAML 1.1, where it is a string).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from skelcmd.augment import AugmentConfig
from skelcmd.errors import UserError
from skelcmd.losses import CMDLossConfig
from skelcmd.names import STREAMS
from skelcmd.schedule import SCHEDULES

T = TypeVar("T")

# Keys that older versions wrote, with what replaced them; a config holding one is read
# without it, and a warning says so.
RETIRED = {
    "train.modality_threads": "the GRU encoders of all modalities now run as one batched "
    "recurrence on the CPU, so there are no threads to choose",
}


# The largest config, layout or --set value read, in bytes or characters (real ones: a few KB).
MAX_YAML_CHARS = 1_000_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2's floats without a dot or a signed exponent, minus
    aliases (`*name`): 500 bytes of nested aliases expand to billions of nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise UserError(
                f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                "accepted; write the value out in full."
            )
        return super().compose_node(parent, index)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str = "YAML text") -> Any:
    """YAML text as Python values, safely; `1e-3`, `5E-4`, `1e6` are floats (YAML 1.2), not
    strings as YAML 1.1 has them. Every config file, `--set` value and layout file is read this
    way: aliases, more than MAX_YAML_CHARS characters and runaway nesting are UserErrors naming
    `source`; other syntax errors are yaml.YAMLError."""
    _check_size(len(text), source)
    try:
        return yaml.load(text, Loader=_Loader)
    except UserError as exc:
        raise UserError(f"{source}, {exc}") from None
    except RecursionError:
        raise UserError(f"{source} is nested too deeply to be a config or a layout.") from None


def _check_size(size: int, source: str) -> None:
    if size > MAX_YAML_CHARS:
        raise UserError(
            f"{source} is larger than {MAX_YAML_CHARS / 1e6:g} MB; configs and layouts are a "
            "few KB. Give the right file."
        )


def read_yaml_file(path: Path, what: str) -> Any:
    """The YAML file `path` (a `what`: "config", "layout file") parsed by `parse_yaml`; a file
    too large, not UTF-8 or not YAML is a UserError naming it."""
    _check_size(path.stat().st_size, f"{what} {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8."
        ) from None
    try:
        return parse_yaml(text, f"{what} {path}")
    except yaml.YAMLError as exc:
        raise UserError(f"{what} {path} is not valid YAML: {exc}") from None


@dataclass
class DataConfig:
    path: str = ""  # a data set directory (see `skelcmd info`)
    split: str = "train"
    workers: int = 2  # DataLoader processes reading the memory-mapped samples


@dataclass
class ModelConfig:
    encoder: str = "gru"  # a name in skelcmd.encoders.ENCODERS
    encoder_args: dict[str, Any] = field(default_factory=lambda: {"hidden": 1024, "num_layers": 3})
    modalities: list[str] = field(default_factory=lambda: list(STREAMS))
    feature_dim: int = 128
    mlp: bool = True
    queue_size: int = 16384
    momentum: float = 0.999
    temperature: float = 0.07


@dataclass
class OptimConfig:
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64  # per process
    epochs: int = 451
    schedule: str = "step"  # step | cosine
    milestones: list[int] = field(default_factory=lambda: [351])
    gamma: float = 0.1


@dataclass
class TrainConfig:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # autocast on CUDA (skelcmd.precision): auto = bfloat16 on GPUs of compute capability 8.0
    # and up, else float16 with a GradScaler; float16 or bfloat16 as named; true = float16;
    # false = float32. (The CPU's precision is train.cpu_bf16.)
    amp: bool | str = "auto"
    checkpoint_every: int = 5  # epochs between numbered checkpoints (last.pt every epoch)
    log_every: int = 20  # steps between TensorBoard points
    sync_bn: bool = False  # SyncBatchNorm across processes
    max_steps_per_epoch: int = 0  # 0: the whole epoch (smaller for smoke tests)
    # Every N epochs, kNN top-1 per stream (pretraining split as gallery, the test split as
    # queries) into history.json and TensorBoard (skelcmd.evaluate.monitor); 0 = off.
    knn_every: int = 0
    # bfloat16 autocast on the CPU (skelcmd.precision), float32 master weights and losses:
    # auto = where a short probe at start finds bfloat16 matrix products at least 1.5x as fast
    # as float32 ones; true always; false never.
    cpu_bf16: bool | str = "auto"
    # The GRU encoders' path on the CPU: batched (all modalities in one recurrence), nn_gru
    # (PyTorch's nn.GRU, one GRU after another) or auto = the faster of the two in a probe of
    # one forward + backward at start (skelcmd.precision.choose_recurrence).
    cpu_recurrence: str = "auto"


@dataclass
class PretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cmd: CMDLossConfig = field(default_factory=CMDLossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Cross-field and range checks (the cmd and augment sections check themselves)."""
        if self.optim.schedule not in SCHEDULES:
            raise UserError(
                f"optim.schedule is {self.optim.schedule!r}; use {' or '.join(SCHEDULES)}."
            )
        if not self.model.modalities:
            raise UserError("model.modalities is empty; name at least one of joint, motion, bone.")
        if len(set(self.model.modalities)) != len(self.model.modalities):
            raise UserError(f"model.modalities repeats a name: {self.model.modalities}.")
        at_least_one = {
            "optim.batch_size": self.optim.batch_size,
            "optim.epochs": self.optim.epochs,
            "model.queue_size": self.model.queue_size,
            "model.feature_dim": self.model.feature_dim,
            "train.checkpoint_every": self.train.checkpoint_every,
            "train.log_every": self.train.log_every,
        }
        at_least_zero = {
            "data.workers": self.data.workers,
            "optim.momentum": self.optim.momentum,
            "optim.weight_decay": self.optim.weight_decay,
            "train.seed": self.train.seed,
            "train.max_steps_per_epoch": self.train.max_steps_per_epoch,
            "train.knn_every": self.train.knn_every,
        }
        for minimum, values in ((1, at_least_one), (0, at_least_zero)):
            for key, value in values.items():
                if value < minimum:
                    raise UserError(f"{key} must be at least {minimum}, not {value}.")
        _check_upper_bounds(self)
        if any(m < 1 for m in self.optim.milestones):
            raise UserError(
                f"optim.milestones {self.optim.milestones} must be epochs >= 1 (the lr is "
                "multiplied by optim.gamma from each of them on)."
            )
        positive = {
            "optim.lr": self.optim.lr,
            "optim.gamma": self.optim.gamma,
            "model.temperature": self.model.temperature,
        }
        for key, value in positive.items():
            if value <= 0:
                raise UserError(f"{key} must be positive, not {value}.")
        if self.train.cpu_bf16 not in (True, False, "auto"):
            raise UserError(f"train.cpu_bf16 is {self.train.cpu_bf16!r}; use auto, true or false.")
        if self.train.amp not in (True, False, "auto", "float16", "bfloat16"):
            raise UserError(
                f"train.amp is {self.train.amp!r}; use auto, float16, bfloat16, true (float16) "
                "or false."
            )
        if self.train.cpu_recurrence not in ("auto", "batched", "nn_gru"):
            raise UserError(
                f"train.cpu_recurrence is {self.train.cpu_recurrence!r}; use auto, batched or "
                "nn_gru."
            )
        if not 0 <= self.model.momentum < 1:
            raise UserError(f"model.momentum must be in [0, 1), not {self.model.momentum}.")


# Upper bounds far beyond any real run (the paper's value in brackets): a larger value only
# ever overflowed or asked for more memory than a machine has.
AT_MOST = {
    "optim.lr": 1_000_000,  # (0.01)
    "optim.weight_decay": 1,  # (1e-4)
    "optim.batch_size": 65_536,  # (64)
    "optim.epochs": 1_000_000,  # (451)
    "model.queue_size": 1_048_576,  # (16,384)
    "model.feature_dim": 65_536,  # (128)
    "model.encoder_args": 65_536,  # each number: hidden (1,024), num_layers (3), ...
    "augment.min_frames": 10_000,  # (64)
    "augment.out_frames": 10_000,  # (64)
    "train.seed": 2**32 - 1,
    "data.workers": 256,
}


def _check_upper_bounds(config: PretrainConfig) -> None:
    for key, bound in AT_MOST.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        items = value.items() if isinstance(value, dict) else [("", value)]
        for option, number in items:
            full = f"{key}.{option}" if option else key
            if isinstance(number, int | float) and not isinstance(number, bool) and number > bound:
                raise UserError(f"{full} is {number:,}; it must be at most {bound:,}.")


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """Return `value` as type `hint` (ints widen to floats, lists to tuples) or raise."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, where)
            except UserError:
                continue
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise UserError(f"{where} must be a finite number, got {value!r}.")
        return float(value)
    elif hint is type(None) and value is None:
        return None
    elif origin in (list, tuple) and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise UserError(f"{where} needs {len(args)} values, got {list(value)!r}.")
            return tuple(_check_type(v, a, where) for v, a in zip(value, args, strict=True))
        items = [_check_type(v, args[0], where) for v in value] if args else list(value)
        return origin(items)
    elif origin is dict and isinstance(value, dict):
        return dict(value)
    elif isinstance(hint, type) and isinstance(value, hint):
        if not (hint is int and isinstance(value, bool)):
            return value
    shown = getattr(hint, "__name__", str(hint))
    raise UserError(f"{where} must be {shown}, got {value!r}.")


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass `cls` from nested dicts, checking names and types."""
    values = values or {}
    if not isinstance(values, dict):
        raise UserError(f"{where or 'the config'} must be a mapping, got {values!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        full = f"{where}.{key}" if where else key
        if full in RETIRED:  # (older checkpoints store them)
            warnings.warn(f"config key {full!r} is ignored: {RETIRED[full]}", stacklevel=2)
            continue
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(names)}."
            raise UserError(f"unknown config key {full!r}.{hint}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value, full)
        else:
            kwargs[key] = _check_type(value, hint, full)
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dicts and lists (tuples become lists), for YAML and checkpoints."""
    return yaml.safe_load(yaml.safe_dump(_plain(dataclasses.asdict(config))))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b=value` strings to nested dicts (values parsed as YAML)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r} is not of the form key=value (e.g. optim.lr=0.1).")
        try:
            value = parse_yaml(text, f"--set {key}")
        except yaml.YAMLError:
            value = text
        node = values
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r}: {part!r} is a value, not a section.")
        node[last] = value
    return values


def preset_names() -> list[str]:
    folder = resources.files("skelcmd") / "configs"
    return sorted(
        f"{kind.name}/{file.name.removesuffix('.yaml')}"
        for kind in folder.iterdir()
        if kind.is_dir()
        for file in kind.iterdir()
        if file.name.endswith(".yaml")
    )


def read_yaml(spec: str | Path, kind: str = "pretrain") -> dict[str, Any]:
    """A YAML file, or a packaged preset by name (`ntu60_xsub` or `pretrain/ntu60_xsub`)."""
    path = Path(spec)
    if path.is_dir():
        raise UserError(f"config {spec} is a folder, not a file; give a YAML file or a preset.")
    if not path.is_file():
        name = str(spec) if "/" in str(spec) else f"{kind}/{spec}"
        packaged = resources.files("skelcmd") / "configs" / f"{name}.yaml"
        if not packaged.is_file():
            raise UserError(
                f"config {spec} is neither a file nor a preset. Presets: "
                f"{', '.join(preset_names())}."
            )
        path = Path(str(packaged))
    values = read_yaml_file(path, "config") or {}
    if not isinstance(values, dict):
        raise UserError(f"config {path} must be a mapping of sections, e.g. `optim: {{lr: 0.01}}`.")
    return values


def load_config(spec: str | Path | None, overrides: list[str] | None = None) -> PretrainConfig:
    """Defaults, then the YAML file or preset, then the `--set` overrides; validated."""
    values = read_yaml(spec) if spec else {}
    config = from_dict(PretrainConfig, apply_overrides(values, overrides or []))
    config.validate()
    return config
