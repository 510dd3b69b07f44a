"""Checkpoints: what they hold, writing them atomically, reading them safely, fitting their
weights, and choosing what a resumed run continues.

Every checkpoint skelcmd reads (its own, a converted one, a reference `.pth.tar`) goes through
`read_torch_file`, which unpickles with `torch.load(weights_only=True)`: only tensors and plain
values (dicts, lists, tuples, strings, numbers, booleans, None) are accepted, so a crafted file
cannot run code while it is read. A skelcmd checkpoint (`checkpoint_state`, written by
`save_checkpoint`) holds
nothing else. Weights are loaded into a model only through `load_weights`, which names the
missing, unexpected, misshapen and non-finite tensors instead of failing inside torch.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from skelcmd.atomic import atomic_path
from skelcmd.config import PretrainConfig, from_dict, to_dict
from skelcmd.errors import UserError, read_json
from skelcmd.skeleton import Layout

LAST = "last.pt"
EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt")
TRAINING_KEYS = ("optimizer", "scaler", "rng")  # what a resumable checkpoint adds


def _few(names: list[str], n: int = 4) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def read_torch_file(path: str | Path, hint: str = "") -> Any:
    """The contents of a file written by `torch.save`, unpickled without running any code.

    A folder, a missing or damaged file and one holding other Python objects are UserErrors
    (`hint` is added to their message).
    """
    path = Path(path)
    hint = f" {hint}" if hint else ""
    if path.is_dir():
        inside = path / LAST
        also = f" (it holds {inside.name}: give --checkpoint {inside})" if inside.is_file() else ""
        raise UserError(f"{path} is a folder, not a checkpoint file{also}.{hint}")
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist.{hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file (OSError, KeyError...)
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        refused = found[1] if found and isinstance(exc, pickle.UnpicklingError) else None
    if refused:  # (outside the handler, so that torch's advice to load unsafely is not chained)
        raise UserError(
            f"{path} holds Python objects other than tensors and plain values ({refused}). "
            "skelcmd does not unpickle those, because loading them could run code hidden in the "
            f"file; use a checkpoint written by skelcmd or by the reference code.{hint}"
        )
    raise UserError(
        f"{path} is damaged or incomplete: it is not a readable PyTorch file (a copy or a write "
        f"that was cut short?).{hint}"
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A skelcmd checkpoint (on the CPU) with its config as a `PretrainConfig` under "config"."""
    path = Path(path)
    state = read_torch_file(path)
    model = state.get("model") if isinstance(state, dict) else None
    if (
        not isinstance(model, Mapping)
        or not all(isinstance(v, Tensor) for v in model.values())
        or not isinstance(state.get("config"), dict)
    ):
        raise UserError(
            f"{path} is not a skelcmd checkpoint (no model weights and config); a reference CMD "
            "checkpoint must first go through `skelcmd convert-checkpoint`."
        )
    try:
        state["config"] = from_dict(PretrainConfig, state["config"])
    except UserError as exc:
        raise UserError(f"{path}: the config stored in it does not load: {exc}") from None
    return state


def check_finite(weights: Mapping[str, Tensor], source: str | Path) -> None:
    """UserError naming the tensors of `weights` that hold NaN or infinite values."""
    bad = [k for k, v in weights.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise UserError(
            f"{source} holds NaN or infinite weights in {len(bad)} tensor(s) ({_few(bad)}): "
            "the training that wrote it diverged, or the file is damaged. Use an earlier "
            "checkpoint (epoch_NNNN.pt beside it)."
        )


def load_weights(model: nn.Module, weights: Mapping[str, Tensor], source: str | Path) -> None:
    """Load `weights` into `model` after checking that they fit it key by key, shape by shape,
    and are finite; a UserError says which tensors do not."""
    target = model.state_dict()
    missing = sorted(target.keys() - weights.keys())
    extra = sorted(weights.keys() - target.keys())
    shapes = [
        f"{k} {tuple(weights[k].shape)} (the model's {tuple(target[k].shape)})"
        for k in target.keys() & weights.keys()
        if weights[k].shape != target[k].shape
    ]
    problems = [
        f"{what}: {_few(keys)}"
        for what, keys in (
            (f"{len(missing)} missing", missing),
            (f"{len(extra)} unexpected", extra),
            (f"{len(shapes)} of another shape", sorted(shapes)),
        )
        if keys
    ]
    if problems:
        raise UserError(
            f"the weights in {source} do not fit the model its config describes ("
            f"{'; '.join(problems)}). The file was edited or written by another program; use a "
            "checkpoint written by `skelcmd pretrain` or `skelcmd convert-checkpoint`."
        )
    check_finite(weights, source)
    model.load_state_dict(weights)


def _epoch_files(run: Path) -> list[Path]:
    """The numbered checkpoints of a run, newest first."""
    found = [(int(m[1]), p) for p in run.glob("epoch_*.pt") if (m := EPOCH_FILE.fullmatch(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def _training_checkpoint(path: Path) -> dict[str, Any]:
    state = load_checkpoint(path)
    absent = [k for k in TRAINING_KEYS if k not in state]
    if absent:
        raise UserError(
            f"{path} is not a training checkpoint (it lacks {', '.join(absent)}): it can be "
            "evaluated, but a run cannot continue from it."
        )
    check_finite(state["model"], path)
    return state


def _recorded_epochs(run: Path) -> int | None:
    """The epochs history.json records as finished, if it is readable."""
    try:
        history = read_json(run / "history.json", "a training history")
        return max(int(row["epoch"]) for row in history) if history else 0
    except (UserError, ValueError, TypeError, KeyError):
        return None


def resume_point(run: str | Path) -> tuple[Path, dict[str, Any], str | None]:
    """(path, checkpoint, note): what `pretrain --resume` continues from.

    That is `run/last.pt`; when it is missing, damaged or unusable, the newest usable
    `epoch_NNNN.pt`, with a note that says so and which epochs are trained again. No usable
    checkpoint at all is a UserError that names every one tried.
    """
    run = Path(run)
    last = run / LAST
    candidates = ([last] if last.exists() else []) + _epoch_files(run)
    if not candidates:
        raise UserError(f"--resume: {last} does not exist; start the run without --resume.")
    failures: list[str] = [] if last.exists() else [f"{last} does not exist"]
    for path in candidates:
        try:
            state = _training_checkpoint(path)
        except UserError as exc:
            failures.append(str(exc))
            continue
        if path == last:
            return path, state, None
        done, recorded = state["epoch"], _recorded_epochs(run)
        lost = (
            f"epochs {done + 1} to {recorded} (recorded in history.json) are trained again"
            if recorded is not None and recorded > done
            else "training continues from there"
        )
        note = (
            f"{failures[0]}\nResuming from {path} instead (epoch {done}): {lost}; "
            f"{last.name} is replaced after the next epoch."
        )
        return path, state, note
    tried = "\n  ".join(failures)
    raise UserError(
        f"--resume: no usable checkpoint in {run}:\n  {tried}\nStart the run again without "
        "--resume (into another --out, or after moving these files away)."
    )


def _flat(values: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(values, dict):
        return {prefix: values}
    out: dict[str, Any] = {}
    for key, value in values.items():
        out |= _flat(value, f"{prefix}.{key}" if prefix else key)
    return out


def changed_settings(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """Each setting in which the (nested) values `now` differ from `saved`, sorted by key:
    "KEY is A in the run, B now" (keys dotted below `prefix`)."""
    old, new, unset = _flat(saved, prefix), _flat(now, prefix), "(not set)"
    return [
        f"{key} is {old.get(key, unset)} in the run, {new.get(key, unset)} now"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def check_resumable(
    path: Path,
    state: dict[str, Any],
    config: PretrainConfig,
    layout: Layout,
    num_persons: int,
    channels: str = "xyz",
) -> None:
    """UserError unless a resumed run of `config` on a data set of this skeleton builds the model
    whose weights checkpoint `path` holds: the `model.*` settings and the skeleton (layout,
    persons, channels) cannot change on --resume; the message names what differs."""
    differ = changed_settings(to_dict(state["config"])["model"], to_dict(config)["model"], "model")
    saved_layout = state.get("layout") or {}
    spec = layout.to_dict()
    if any(saved_layout.get(k, spec[k]) != spec[k] for k in ("joints", "parents")):
        name = saved_layout.get("name", "?")
        joints = len(saved_layout.get("joints", []))
        differ.append(
            f"the layout is {name!r} ({joints} joints) in the run, {layout.name!r} "
            f"({layout.num_joints} joints) in data.path={config.data.path}"
        )
    saved_persons = state.get("num_persons")
    if saved_persons is not None and saved_persons != num_persons:
        differ.append(
            f"the persons per frame are {saved_persons} in the run, {num_persons} in "
            f"data.path={config.data.path}"
        )
    saved_channels = state.get("channels")
    if saved_channels is not None and saved_channels != channels:
        differ.append(f"the channels are {saved_channels} in the run, {channels} in the data")
    if differ:
        raise UserError(
            f"--resume cannot continue {path} with another model: {'; '.join(differ)}. The "
            "saved weights have the run's shapes; drop those --set options (or use the run's "
            "data set), or start a new run with another --out."
        )


def rng_state() -> dict[str, Any]:
    """Training draws random numbers from torch only (augmentation, data order by seed)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def checkpoint_state(
    model: nn.Module,
    config: PretrainConfig,
    layout: Layout,
    num_persons: int,
    *,
    epoch: int = 0,
    history: list[dict[str, Any]] | None = None,
    image_coordinates: str | None = None,
) -> dict[str, Any]:
    """What every skelcmd checkpoint holds: the model, its config, the data set's skeleton
    (layout, persons, channels, and for 2D data the scale of its `image_coordinates`,
    `skelcmd.channels`), the epochs trained and their history. Training adds the optimizer,
    scaler and RNG states."""
    return {
        "model": model.state_dict(),
        "epoch": epoch,
        "history": history or [],
        "config": to_dict(config),
        "layout": layout.to_dict(),
        "num_persons": num_persons,
        "channels": model.channels,
        "image_coordinates": image_coordinates,
    }
