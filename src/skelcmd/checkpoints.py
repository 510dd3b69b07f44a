"""Checkpoints: what they hold, writing them atomically, reading them safely, fitting their
weights, choosing what a resumed run continues, and which folder a new run may start in.

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
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from skelcmd.atomic import atomic_path, temporary_of
from skelcmd.config import PretrainConfig, from_dict, read_yaml_file, to_dict
from skelcmd.errors import UserError, read_json
from skelcmd.locking import LOCK_FILE
from skelcmd.skeleton import Layout

LAST = "last.pt"
EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt")
RUN_FILES = ("config.yaml", "history.json", LAST)  # with EPOCH_FILE: what a run writes
TRAINING_KEYS = ("optimizer", "scaler", "rng")  # what a resumable checkpoint adds
CLASSIFIER_KEY = "skelcmd_classifier"  # a classifier file's format key (evaluate.classifier)
TORCH_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive; a legacy (< 1.6) pickle
DEFAULT_HINT = " Give a file that skelcmd wrote."
FILE_MAGIC = {  # first bytes of files given by mistake
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"\x93NUMPY": "a NumPy .npy array",
    b"\x1f\x8b": "a gzip archive",
}


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
    other = _other_format(path)
    if other:
        raise UserError(
            f"{path} is not a PyTorch file: {other}, not the zip archive that torch.save writes "
            f"(first bytes PK\\x03\\x04) nor a legacy torch pickle.{hint or DEFAULT_HINT}"
        )
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


def _other_format(path: Path) -> str | None:
    """What `path` holds, by its first bytes, where that is not a torch file (a zip archive or
    a legacy pickle); None when it may be one (an empty or damaged one included)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head or head.startswith(TORCH_MAGIC):
        return None
    named = next((what for magic, what in FILE_MAGIC.items() if head.startswith(magic)), None)
    if named:
        return f"it is {named}"
    try:
        first = head.decode("utf-8").strip().splitlines()
    except UnicodeDecodeError:
        return f"it begins with the bytes {head[:8]!r}"
    return f"it is text (beginning {first[0][:16]!r})" if first else "it is blank text"


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
        raise UserError(_not_a_checkpoint(path, state))
    try:
        state["config"] = from_dict(PretrainConfig, state["config"])
    except UserError as exc:
        raise UserError(f"{path}: the config stored in it does not load: {exc}") from None
    return state


def is_classifier(state: Any) -> bool:
    """Whether a read torch file is a classifier file (`skelcmd.evaluate.classifier`)."""
    keys = state.keys() if isinstance(state, dict) else set()
    return CLASSIFIER_KEY in keys or {"classes", "preparation"} <= keys


def _not_a_checkpoint(path: Path, state: Any) -> str:
    """Why `path` (read as `state`) is no skelcmd pretraining checkpoint, and what to do."""
    keys = state.keys() if isinstance(state, dict) else set()
    if is_classifier(state):
        return (
            f"{path} is a classifier (written by `skelcmd linear --save` or `skelcmd finetune "
            "--save`), not a pretraining checkpoint: use it with `skelcmd predict --model` or "
            "`skelcmd export --model`. --checkpoint takes a checkpoint of `skelcmd pretrain` "
            "(runs/NAME/last.pt) or of `skelcmd convert-checkpoint`."
        )
    if "state_dict" in keys:
        return (
            f"{path} is not a skelcmd checkpoint: it looks like a checkpoint of the reference "
            "CMD code, which must first go through `skelcmd convert-checkpoint`."
        )
    return (
        f"{path} is not a skelcmd checkpoint (no model weights and config); give a checkpoint "
        "of `skelcmd pretrain` (runs/NAME/last.pt) or of `skelcmd convert-checkpoint` (which "
        "converts a reference CMD checkpoint)."
    )


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


def saved_checkpoints(run: str | Path) -> list[Path]:
    """The checkpoints of the run in folder `run`: last.pt (if present), then epoch_NNNN.pt,
    newest first."""
    run = Path(run)
    return ([run / LAST] if (run / LAST).exists() else []) + _epoch_files(run)


def _is_run_config(path: Path) -> bool:
    """Whether `path` is a config.yaml as `pretrain` writes it: every setting of a pretraining
    config, and nothing else (a config a user writes sets a few). Read safely (size, aliases)."""
    try:
        with warnings.catch_warnings():  # (a retired key is a warning, not a config of ours)
            warnings.simplefilter("ignore")
            values = read_yaml_file(path, "config")
            config = from_dict(PretrainConfig, values)
    except (UserError, OSError, ValueError, TypeError):
        return False
    return _flat(values).keys() == _flat(to_dict(config)).keys()


def _left_by_pretrain(path: Path) -> bool:
    """Whether `path`, in a run folder without checkpoints, is what `pretrain` writes before
    its first checkpoint (and a process killed then leaves): config.yaml, tb/ of TensorBoard
    event files, the lock file, temporaries of its files."""
    if path.is_symlink():
        return False
    if path.name == "tb" and path.is_dir():
        return all(p.name.startswith("events.out.tfevents.") for p in path.iterdir())
    if path.name == "config.yaml" and path.is_file():
        return _is_run_config(path)
    return path.is_file() and (path.name == LOCK_FILE or _run_temporary(path.name))


def _run_temporary(name: str) -> bool:
    """Whether `name` is a temporary (`skelcmd.atomic`) of a file a run writes, which a killed
    process may leave."""
    of = temporary_of(name)
    if of is None or of[1] != "tmp":
        return False
    return of[0] in RUN_FILES or bool(EPOCH_FILE.fullmatch(of[0]))


def check_new_run(run: str | Path) -> None:
    """UserError unless a new run may start in folder `run`: it must not exist, be empty, or
    hold only what `pretrain` writes before its first checkpoint (`_left_by_pretrain`), so a
    new run never overwrites nor mixes with files it did not write. Checkpoints there are a
    run to continue with --resume."""
    run = Path(run)
    if not run.is_dir():
        return
    saved = saved_checkpoints(run)
    if saved:
        raise UserError(
            f"{run} already holds a run ({_few([p.name for p in saved])}); pass --resume to "
            "continue it or choose another --out."
        )
    foreign = sorted(p.name + "/" * p.is_dir() for p in run.iterdir() if not _left_by_pretrain(p))
    if foreign:
        raise UserError(
            f"{run} is not a skelcmd run folder: it holds {_few(foreign)}, which a run would "
            "overwrite or mix with its own files (config.yaml, history.json, tb/, checkpoints). "
            "Give an empty or new folder as --out, or --resume to continue a run. Nothing was "
            "written."
        )


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
