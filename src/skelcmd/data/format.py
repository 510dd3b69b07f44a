"""The on-disk data set format: what every importer writes and every command reads.

A data set is a directory:

    meta.json                  format version, layout, class names, source, benchmark, splits
    <split>/data.npy           float32 (N, 3, T_max, V, M): xyz, frames, joints, persons
    <split>/lengths.npy        int32 (N,): valid frames; frames >= length are padding
    <split>/labels.npy         int64 (N,): 0-based class index
    <split>/<ids>.npy          optional int32 (N,) ids: subjects, views, setups, replications
    <split>/names.txt          optional, one sample name a line

`data.npy` is a plain NumPy file, opened memory-mapped, so data sets larger than memory load
instantly. `DatasetWriter` streams samples into a temporary directory and renames it into
place only when every split is complete: a failed import never leaves a data set behind.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.atomic import atomic_path
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout, layout_from_dict

FORMAT_VERSION = 1
META_FILE = "meta.json"
ID_FIELDS = ("subjects", "views", "setups", "replications")
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
    """An opened data set directory."""

    path: Path
    layout: Layout
    class_names: tuple[str, ...]
    source: str
    benchmark: str
    splits: dict[str, Split]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise UserError(
                f"data set {self.path} has no split {name!r}; it has {', '.join(self.splits)}."
            )
        return self.splits[name]


class SplitWriter:
    """Streams samples of one split into a preallocated memory-mapped array."""

    def __init__(self, folder: Path, name: str, capacity: int, shape: tuple[int, int, int]):
        if capacity < 1:
            raise ValueError(f"split {name!r}: capacity must be positive, got {capacity}")
        folder.mkdir(parents=True)
        self.folder, self.name, self.count = folder, name, 0
        self.data = np.lib.format.open_memmap(
            folder / "data.npy", mode="w+", dtype=np.float32, shape=(capacity, 3, *shape)
        )
        self.lengths: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.ids: dict[str, list[np.ndarray]] = {}
        self.names: list[str] = []

    def append(
        self,
        data: np.ndarray,
        lengths: np.ndarray,
        labels: np.ndarray,
        *,
        names: list[str] | None = None,
        **ids: np.ndarray,
    ) -> None:
        """Add n samples: `data` (n, 3, T, V, M) with T <= T_max (zero-padded to T_max)."""
        data = np.asarray(data)
        n = len(data)
        _, _, t_max, v, m = self.data.shape
        if data.ndim != 5 or data.shape[1] != 3 or data.shape[3:] != (v, m):
            raise ValueError(f"split {self.name!r}: expected (n, 3, T, {v}, {m}), got {data.shape}")
        if data.shape[2] > t_max or self.count + n > len(self.data):
            raise ValueError(f"split {self.name!r}: batch {data.shape} exceeds the allocation")
        if unknown := set(ids) - set(ID_FIELDS):
            raise ValueError(f"unknown id fields {sorted(unknown)}; known: {ID_FIELDS}")
        if self.count and set(ids) != set(self.ids):
            raise ValueError(f"split {self.name!r}: every batch must give the same id fields")
        if self.count and (names is None) != (not self.names):
            raise ValueError(f"split {self.name!r}: give names for every batch or for none")
        for key, value in {"lengths": lengths, "labels": labels, **ids}.items():
            if np.shape(value) != (n,):
                raise ValueError(f"split {self.name!r}: {key} must have shape ({n},)")
        # Each slot is written once into a freshly created (zero-filled) file: the padding
        # beyond the batch's frames is already zero, and writing it would only cost I/O.
        self.data[self.count : self.count + n, :, : data.shape[2]] = data
        self.lengths.append(np.asarray(lengths, dtype=np.int32))
        self.labels.append(np.asarray(labels, dtype=np.int64))
        for key, value in ids.items():
            self.ids.setdefault(key, []).append(np.asarray(value, dtype=np.int32))
        self.names.extend(names or [])
        self.count += n

    def close(self) -> dict[str, Any]:
        """Write the small arrays, trim unused capacity, and return the split's metadata."""
        if self.count == 0:
            raise ValueError(f"split {self.name!r} received no samples")
        self.data.flush()
        shape = self.data.shape
        del self.data
        if self.count < shape[0]:
            _truncate_npy(self.folder / "data.npy", self.count)
        np.save(self.folder / "lengths.npy", np.concatenate(self.lengths))
        np.save(self.folder / "labels.npy", np.concatenate(self.labels))
        for key, parts in self.ids.items():
            np.save(self.folder / f"{key}.npy", np.concatenate(parts))
        if self.names:
            (self.folder / "names.txt").write_text("\n".join(self.names) + "\n")
        return {
            "num_samples": self.count,
            "max_frames": shape[2],
            "num_persons": shape[4],
            "ids": sorted(self.ids),
        }


class DatasetWriter:
    """Context manager that writes a data set atomically.

    with DatasetWriter(out, layout, class_names, source="utd-mhad", benchmark="xsub") as w:
        train = w.add_split("train", capacity=n, max_frames=t, num_persons=m)
        train.append(data, lengths, labels, subjects=subjects, names=names)
    """

    def __init__(
        self,
        out: str | Path,
        layout: Layout,
        class_names: list[str] | tuple[str, ...],
        *,
        source: str,
        benchmark: str,
        extra: dict[str, Any] | None = None,
        overwrite: bool = False,
    ):
        self.out, self.overwrite = Path(out), overwrite
        self.meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "source": source,
            "benchmark": benchmark,
            "layout": layout.to_dict(),
            "class_names": list(class_names),
            "extra": extra or {},
            "splits": {},
        }
        self.num_joints = layout.num_joints
        self._splits: dict[str, SplitWriter] = {}

    def __enter__(self) -> DatasetWriter:
        self._atomic = atomic_path(self.out, overwrite=self.overwrite)
        self.tmp = self._atomic.__enter__()
        self.tmp.mkdir()
        return self

    def add_split(self, name: str, capacity: int, max_frames: int, num_persons: int) -> SplitWriter:
        if name in self._splits:
            raise ValueError(f"split {name!r} added twice")
        writer = SplitWriter(
            self.tmp / name, name, capacity, (max_frames, self.num_joints, num_persons)
        )
        self._splits[name] = writer
        return writer

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                for name, writer in self._splits.items():
                    self.meta["splits"][name] = writer.close()
                _write_json(self.tmp / META_FILE, self.meta)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        return bool(self._atomic.__exit__(exc_type, exc, tb))


def write_dataset(
    out: str | Path,
    layout: Layout,
    class_names: list[str] | tuple[str, ...],
    arrays: dict[str, Any],
    split_masks: dict[str, np.ndarray],
    *,
    source: str,
    benchmark: str,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write in-memory samples as a data set, one split per boolean mask over the samples.

    `arrays` holds `data` (N, 3, T, V, M), `lengths`, `labels`, optional `names` and id fields.
    """
    names = arrays.get("names")
    with DatasetWriter(
        out,
        layout,
        class_names,
        source=source,
        benchmark=benchmark,
        extra=extra,
        overwrite=overwrite,
    ) as writer:
        _, _, t_max, _, m = arrays["data"].shape
        for split, mask in split_masks.items():
            index = np.flatnonzero(mask)
            writer.add_split(split, len(index), t_max, m).append(
                arrays["data"][index],
                arrays["lengths"][index],
                arrays["labels"][index],
                names=None if names is None else [names[i] for i in index],
                **{key: arrays[key][index] for key in ID_FIELDS if key in arrays},
            )
    return Path(out)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _truncate_npy(path: Path, count: int) -> None:
    """Shrink a C-ordered .npy file to its first `count` rows in place (header keeps its size)."""
    with open(path, "r+b") as f:
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": fortran,
            "shape": (count, *shape[1:]),
        }
        text = repr(header).encode("latin1")
        prefix = 8 + (2 if version == (1, 0) else 4)
        room = offset - prefix
        f.seek(prefix)
        f.write(text + b" " * (room - len(text) - 1) + b"\n")
        f.truncate(offset + count * int(np.prod(shape[1:])) * dtype.itemsize)


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
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{meta_path} is not valid JSON ({exc}); re-create the data set.") from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{meta_path} has format version {version!r}; this skelcmd reads version "
            f"{FORMAT_VERSION}. Re-create the data set with this version."
        )
    for key in ("layout", "class_names", "splits"):
        if key not in meta:
            raise UserError(f"{meta_path} lacks the key {key!r}; re-create the data set.")
    layout = layout_from_dict(meta["layout"], source=str(meta_path))
    class_names = tuple(meta["class_names"])
    splits = {
        name: _open_split(path / name, name, info, layout, len(class_names), check_values)
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
    )


def _load_array(path: Path, mmap: bool = False) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path} is missing; the data set is incomplete, re-create it.")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(
            f"{path} is not a readable .npy file ({exc}); re-create the data set."
        ) from None


def _open_split(
    folder: Path, name: str, info: dict, layout: Layout, num_classes: int, check_values: bool
) -> Split:
    data = _load_array(folder / "data.npy", mmap=True)
    n = info.get("num_samples")
    expected = f"(N, 3, T, {layout.num_joints}, M)"
    if data.dtype != np.float32:
        raise UserError(f"{folder / 'data.npy'} has dtype {data.dtype}; expected float32.")
    if data.ndim != 5 or data.shape[1] != 3 or data.shape[3] != layout.num_joints:
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
