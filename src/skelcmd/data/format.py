"""The on-disk data set format: what every importer writes and every command reads.

A data set is a directory:

    meta.json                  format version, layout, class names, source, benchmark, splits,
                               channels (`xyz`, `xy` or `xy+score`; absent means `xyz`)
    <split>/data.npy           float32 (N, C, T_max, V, M): channels, frames, joints, persons
    <split>/lengths.npy        int32 (N,): valid frames; frames >= length are padding, of
                               any content (zeros, or the repeated sequence that the
                               reference preprocessing writes), never used
    <split>/labels.npy         int64 (N,): 0-based class index
    <split>/<ids>.npy          optional int32 (N,) ids: subjects, views, setups, replications
    <split>/names.txt          optional, one sample name a line

`data.npy` is a plain NumPy file, opened memory-mapped, so data sets larger than memory load
instantly. This module reads and validates; `skelcmd.data.writer` writes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from skelcmd.channels import check_channels, image_coordinates, num_channels
from skelcmd.errors import UserError, read_json
from skelcmd.skeleton import Layout, layout_from_dict

FORMAT_VERSION = 1
META_FILE = "meta.json"
ID_FIELDS = ("subjects", "views", "setups", "replications")
STANDARD_SPLITS = ("train", "test", "val")  # the names commands look for
_CHECK_CHUNK = 256  # samples per chunk when scanning values


@dataclass
class Split:
    """One split of a data set; `data` is memory-mapped."""

    name: str
    data: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    ids: dict[str, np.ndarray] = field(default_factory=dict)
    names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def sample_name(self, index: int) -> str:
        return self.names[index] if self.names else f"{self.name}[{index}]"


@dataclass
class Dataset:
    """An opened data set directory; `channels` says what the C channels of its data are
    (`skelcmd.channels`: xyz, xy or xy+score)."""

    path: Path
    layout: Layout
    class_names: tuple[str, ...]
    source: str
    benchmark: str
    splits: dict[str, Split]
    extra: dict[str, Any] = field(default_factory=dict)
    channels: str = "xyz"

    @property
    def image_coordinates(self) -> str | None:
        """How its 2D coordinates are scaled (`skelcmd.channels`), None if 3D or unknown."""
        return image_coordinates(self.channels, self.extra, self.source)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            have = ", ".join(self.splits)
            raise UserError(
                f"data set {self.path} has no split {name!r}; it has {have}. Choose one of: "
                f"{have} (e.g. --split {next(iter(self.splits))} where the command has a --split "
                f"option), or re-create the data set with a split {name!r}."
            )
        return self.splits[name]


def check_split_name(name: object, where: str, *, typos: bool = True) -> str:
    """`name` if it is a plain split name, usable as a folder of the data set: not empty, no
    `/`, `\\` or `:`, not starting with a dot (so neither `.` nor `..`), no control
    characters, not `meta.json`; and, unless `typos` is False (reading a data set already
    written), not a likely typo of a standard split name (`split_typo`). Else a UserError that
    starts with `where` (the file, line or option that gave it). Every writer and reader of
    split names applies it, so a split never names a path outside its data set, and a
    misspelt `trian` never silently becomes a split of its own."""
    text = name if isinstance(name, str) else ""
    bad = (
        not text
        or text.startswith(".")
        or any(c in "/\\:" or not c.isprintable() for c in text)
        or text.casefold() == META_FILE
    )
    if bad:
        raise UserError(
            f"{where}: the split name {name!r} is not a plain name; a split is a folder of the "
            "data set, so its name must be non-empty, without /, \\, : or control characters, "
            f"must not start with a dot and must not be {META_FILE} (e.g. train, test, fold1)."
        )
    meant = split_typo(text) if typos else None
    if meant:
        raise UserError(
            f"{where}: split {text!r} looks like a typo of {meant!r}; correct it in the file or "
            "option that gave it. A split is made under the name given and commands look for "
            "train, test and val, so a misspelt name would be a split of its own; names not this "
            "close to "
            f"{', '.join(STANDARD_SPLITS)} (e.g. fold1, xsub_train, train_a, valid) are "
            "taken as given."
        )
    return text


def split_typo(name: str) -> str | None:
    """The standard split name (`STANDARD_SPLITS`) that `name`, made of letters only and not
    equal to it, looks like a typo of: the same name in other case (`Train`), its letters in
    another order (`trian`, `tset`, `vla`), or, with the same first letter, one letter added,
    dropped or changed (`trainn`, `tst`, `vall`). Names with digits, `_` or `-` (`fold1`,
    `train_a`, `xsub_train`) and other words (`valid`, `eval`, `rest`) are no typo: None."""
    if name in STANDARD_SPLITS or not name.isascii() or not name.isalpha():
        return None
    lower = name.casefold()
    for standard in STANDARD_SPLITS:
        if (
            lower == standard
            or sorted(lower) == sorted(standard)
            or (lower[0] == standard[0] and _one_edit(lower, standard))
        ):
            return standard
    return None


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` becomes `b` by adding, dropping or changing exactly one letter."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:k] + long[k + 1 :] == short for k in range(len(long)))


def is_dataset(path: str | Path) -> bool:
    return (Path(path) / META_FILE).is_file()


def open_dataset(path: str | Path, *, check_values: bool = True) -> Dataset:
    """Open and validate a data set directory; every problem names the file at fault.

    `check_values` scans all coordinates for NaN / inf (chunked, memory stays bounded).
    """
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        children = sorted(p.name for p in path.iterdir() if is_dataset(p)) if path.is_dir() else []
        if children:
            raise UserError(
                f"{path} holds several data sets ({', '.join(children)}); name one, "
                f"e.g. {path / children[0]}."
            )
        what = (
            "does not exist"
            if not path.exists()
            else f"has no {META_FILE}"
            if path.is_dir()
            else "is a file, not a directory"
        )
        raise UserError(
            f"{path} {what}, so it is not a skelcmd data set. Create one with `skelcmd synth`, "
            "`skelcmd import` or `skelcmd prepare`."
        )
    meta = read_json(meta_path, "a data set's metadata", "re-create the data set")
    _check_meta(meta, meta_path)
    layout = layout_from_dict(meta["layout"], source=str(meta_path))
    class_names = tuple(meta["class_names"])
    channels = check_channels(meta.get("channels", "xyz"), where=str(meta_path))
    splits = {
        name: _open_split(
            path / name, name, info, layout, len(class_names), check_values, num_channels(channels)
        )
        for name, info in meta["splits"].items()
    }
    if not splits:
        raise UserError(f"{meta_path} lists no splits; re-create the data set.")
    return Dataset(
        path,
        layout,
        class_names,
        meta.get("source", ""),
        meta.get("benchmark", ""),
        splits,
        meta.get("extra", {}),
        channels,
    )


_META_TYPES = {  # key: (type, what it must be, required)
    "layout": (dict, "a mapping", True),
    "class_names": (list, "a list of class names", True),
    "splits": (dict, "a mapping of split names to their details", True),
    "source": (str, "a string", False),
    "benchmark": (str, "a string", False),
    "channels": (str, "a string", False),
    "extra": (dict, "a mapping", False),
}


def _check_meta(meta: Any, meta_path: Path) -> None:
    """The shape of meta.json: a UserError naming the key at fault (never a TypeError later)."""
    fix = "re-create the data set."
    if not isinstance(meta, dict):
        raise UserError(f"{meta_path} holds a {type(meta).__name__}, not a mapping; {fix}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{meta_path} has format version {version!r}; this skelcmd reads version "
            f"{FORMAT_VERSION}. Re-create the data set with this version."
        )
    for key, (kind, what, required) in _META_TYPES.items():
        if key not in meta and required:
            raise UserError(f"{meta_path} lacks the key {key!r}; {fix}")
        if key in meta and not isinstance(meta[key], kind):
            raise UserError(f"{meta_path}: {key!r} is {meta[key]!r}, not {what}; {fix}")
    names = meta["class_names"]
    if not names or not all(isinstance(name, str) for name in names):
        raise UserError(f"{meta_path}: 'class_names' must list one string per class; {fix}")
    for name, info in meta["splits"].items():
        check_split_name(name, f"{meta_path}: 'splits'", typos=False)
        count = info.get("num_samples") if isinstance(info, dict) else None
        ids = info.get("ids", []) if isinstance(info, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise UserError(
                f"{meta_path}: split {name!r} must be a mapping with a positive "
                f"'num_samples', not {info!r}; {fix}"
            )
        if not isinstance(ids, list) or not all(key in ID_FIELDS for key in ids):
            raise UserError(
                f"{meta_path}: split {name!r} has ids {ids!r}; expected a list of "
                f"{', '.join(ID_FIELDS)}; {fix}"
            )


def npy_reason(exc: BaseException) -> str:
    """Why numpy could not read a .npy file, without its advice to load pickled data unsafely."""
    text = str(exc)
    if "pickle" in text or "Object arrays" in text or "Python objects" in text:
        return (
            "it holds pickled Python objects, which skelcmd never loads: loading them could run "
            "code hidden in the file"
        )
    return text


def read_npy_header(f: IO[bytes], size: int) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the header of the .npy stream `f`, `size` bytes in
    all; a damaged header, or one claiming more numbers than the bytes after it hold (a 1 KB
    file claiming 10^12), is a ValueError saying so. Read before any array is allocated."""
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"unsupported .npy version {version}")
    read = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
    shape, fortran, dtype = read(f)
    if any(n < 0 for n in shape):
        raise ValueError(f"its header gives the shape {shape}, with a negative size")
    count, left = math.prod(shape), size - f.tell()
    if count * dtype.itemsize > left:
        raise ValueError(
            f"its header claims {count:,} numbers of shape {shape} "
            f"({count * dtype.itemsize / 2**30:,.3g} GiB), but only {left:,} bytes follow it: "
            "the file is truncated or damaged"
        )
    return shape, fortran, dtype


def read_npy(
    path: str | Path, *, mmap: bool = False, fix: str = "re-create the data set"
) -> np.ndarray:
    """A plain .npy array (memory-mapped with `mmap`), never pickled objects; a missing,
    damaged or pickled file is a UserError naming `path` and ending with `fix`."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a .npy file" if path.is_dir() else "does not exist"
        raise UserError(f"{path} {what}; {fix}.")
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":  # else numpy tries it as a pickle and says so
                raise ValueError("it does not start with the .npy header")
            f.seek(0)
            read_npy_header(f, os.fstat(f.fileno()).st_size)
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npy file ({npy_reason(exc)}); {fix}.") from None
    except MemoryError:
        raise UserError(f"{path} is too large to load into this machine's memory; {fix}.") from None


def _load_array(path: Path, mmap: bool = False) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path} is missing; the data set is incomplete, re-create it.")
    return read_npy(path, mmap=mmap)


def _open_split(
    folder: Path,
    name: str,
    info: dict,
    layout: Layout,
    num_classes: int,
    check_values: bool,
    channels: int = 3,
) -> Split:
    data = _load_array(folder / "data.npy", mmap=True)
    n = info.get("num_samples")
    expected = f"(N, {channels}, T, {layout.num_joints}, M)"
    if data.dtype != np.float32:
        raise UserError(f"{folder / 'data.npy'} has dtype {data.dtype}; expected float32.")
    if data.ndim != 5 or data.shape[1] != channels or data.shape[3] != layout.num_joints:
        raise UserError(
            f"{folder / 'data.npy'} has shape {data.shape}; expected {expected} for layout "
            f"{layout.name!r}."
        )
    if data.shape[0] != n:
        raise UserError(f"{folder / 'data.npy'} holds {data.shape[0]} samples; meta.json says {n}.")

    def per_sample(file: str, kind: str) -> np.ndarray:
        array = _load_array(folder / file)
        if array.shape != (n,) or array.dtype.kind not in kind:
            raise UserError(
                f"{folder / file} has shape {array.shape} and dtype {array.dtype}; expected "
                f"({n},) integers."
            )
        return array

    lengths, labels = per_sample("lengths.npy", "iu"), per_sample("labels.npy", "iu")
    ids = {key: per_sample(f"{key}.npy", "iu") for key in info.get("ids", [])}
    names = None
    if (folder / "names.txt").is_file():
        names = (folder / "names.txt").read_text().splitlines()
        if len(names) != n:
            raise UserError(f"{folder / 'names.txt'} has {len(names)} names for {n} samples.")
    split = Split(name, data, lengths, labels, ids, names)
    t_max = data.shape[2]
    bad = np.flatnonzero((lengths < 1) | (lengths > t_max))
    if bad.size:
        raise UserError(
            f"{folder / 'lengths.npy'}: sample {split.sample_name(bad[0])} has {lengths[bad[0]]} "
            f"frames, outside 1..{t_max} ({bad.size} such samples)."
        )
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise UserError(
            f"{folder / 'labels.npy'}: sample {split.sample_name(bad[0])} has label "
            f"{labels[bad[0]]}, outside 0..{num_classes - 1} ({bad.size} such samples)."
        )
    if check_values:
        for start in range(0, n, _CHECK_CHUNK):
            chunk = np.asarray(data[start : start + _CHECK_CHUNK])
            finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
            if not finite.all():
                index = start + int(np.argmin(finite))
                raise UserError(
                    f"{folder / 'data.npy'}: sample {split.sample_name(index)} (index {index}) "
                    "holds NaN or infinite coordinates; fix the source and re-import."
                )
    return split
