"""Writing data sets in the format of `skelcmd.data.format`, atomically.

`DatasetWriter` streams samples into preallocated memory-mapped arrays inside a temporary
directory and renames it into place only when every split is complete: a failed import
never leaves a data set behind. `write_dataset` writes samples already in memory.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd.atomic import atomic_path, check_outside_inputs
from skelcmd.channels import check_channels, num_channels
from skelcmd.data.format import (
    FORMAT_VERSION,
    ID_FIELDS,
    META_FILE,
    check_split_name,
    is_dataset,
)
from skelcmd.data.values import check_samples, to_float32
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout


class SplitWriter:
    """Streams samples of one split into a preallocated memory-mapped array of
    (capacity, channels, *shape)."""

    def __init__(
        self,
        folder: Path,
        name: str,
        capacity: int,
        shape: tuple[int, int, int],
        channels: int = 3,
        *,
        num_classes: int | None = None,
        where: str = "",
    ):
        if capacity < 1:
            raise ValueError(f"split {name!r}: capacity must be positive, got {capacity}")
        folder.mkdir(parents=True)
        self.folder, self.name, self.count = folder, name, 0
        self.num_classes, self.where = num_classes, where  # for `check_samples`
        self.data = _allocated_memmap(folder / "data.npy", (capacity, channels, *shape))
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
        """Add n samples: `data` (n, C, T, V, M) with T <= T_max (zero-padded to T_max).

        Bad values (`skelcmd.data.values.check_samples`) are a UserError naming the sample."""
        data = to_float32(data)
        n = len(data)
        _, c, t_max, v, m = self.data.shape
        if data.ndim != 5 or data.shape[1] != c or data.shape[3:] != (v, m):
            raise ValueError(
                f"split {self.name!r}: expected (n, {c}, T, {v}, {m}), got {data.shape}"
            )
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
        if self.num_classes is not None:
            start = self.count
            check_samples(
                data, lengths, labels, ids, max_frames=t_max, num_classes=self.num_classes,
                name_of=lambda i: names[i] if names else f"{self.name}[{start + i}]",
                where=self.where,
            )  # fmt: skip
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
    """Context manager that writes a data set atomically; `channels` (`skelcmd.channels`) says
    what the C channels of its data are (xyz, xy or xy+score). `inputs` (files and folders the
    import reads) and the files among the option values `options` (a --classes or --layout
    FILE) are never deleted by --overwrite (`check_replaceable`); an `inputs` data set never
    holds the output (`skelcmd.atomic.check_outside_inputs`).

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
        channels: str = "xyz",
        inputs: Iterable[str | Path] = (),
        options: Iterable[object] = (),
    ):
        self.out, self.overwrite = Path(out), overwrite
        self.inputs = [Path(p) for p in inputs]  # the files and folders read
        # what --overwrite must never delete: those and the files options name (--classes ...)
        self.kept = [*self.inputs, *input_files(*options)]
        self.meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "source": source,
            "benchmark": benchmark,
            "layout": layout.to_dict(),
            "class_names": list(class_names),
            "channels": check_channels(channels),
            "extra": extra or {},
            "splits": {},
        }
        self.num_joints = layout.num_joints
        self.num_channels = num_channels(channels)
        self._splits: dict[str, SplitWriter] = {}

    def __enter__(self) -> DatasetWriter:
        check_outside_inputs(self.out, [p for p in self.inputs if is_dataset(p)])
        check_replaceable(self.out, self.kept, overwrite=self.overwrite)
        self._atomic = atomic_path(self.out, directory=True)
        self.tmp = self._atomic.__enter__()
        self.tmp.mkdir()
        return self

    def add_split(self, name: str, capacity: int, max_frames: int, num_persons: int) -> SplitWriter:
        check_split_name(name, str(self.out))
        if name in self._splits:
            raise ValueError(f"split {name!r} added twice")
        check_size(
            self.out,
            (capacity, self.num_channels, max_frames, self.num_joints, num_persons),
            f"{capacity:,} samples of up to {max_frames:,} frames and {num_persons:,} persons",
        )
        writer = SplitWriter(
            self.tmp / name,
            name,
            capacity,
            (max_frames, self.num_joints, num_persons),
            self.num_channels,
            num_classes=len(self.meta["class_names"]),
            where=str(self.inputs[0]) if len(self.inputs) == 1 else self.meta["source"],
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
    **options: Any,
) -> Path:
    """Write in-memory samples as a data set, one split per boolean mask over the samples.

    `arrays` holds `data` (N, C, T, V, M), `lengths`, `labels`, optional `names` and id fields;
    `options` are `DatasetWriter`'s keyword arguments (`source` and `benchmark` required).
    """
    names = arrays.get("names")
    with DatasetWriter(out, layout, class_names, **options) as writer:
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


def input_files(*options: object) -> list[Path]:
    """The option values that name existing files (a --classes or --layout FILE): inputs of
    the import, which `check_replaceable` keeps --overwrite from deleting. Built-in names,
    lists of names and Layout objects are left out."""
    return [Path(v) for v in options if isinstance(v, str | Path) and Path(v).is_file()]


def check_replaceable(out: Path, inputs: Iterable[Path] = (), *, overwrite: bool) -> None:
    """What a data set may be written over: nothing, an empty folder, or (with `overwrite`) a
    skelcmd data set (a folder with its meta.json) that neither contains nor lies inside one
    of the command's `inputs`. Anything else is a UserError, before any work is done."""
    if not (out.exists() or out.is_symlink()):
        return
    if out.is_symlink() or not out.is_dir():
        raise UserError(
            f"{out} exists and is not a folder; a data set is a folder, so give an OUT_DIR "
            "that does not exist yet. Nothing was deleted."
        )
    empty = not any(out.iterdir())
    if not empty and not (out / META_FILE).is_file():
        raise UserError(
            f"{out} exists and is not a skelcmd data set (it has no {META_FILE}); --overwrite "
            "only ever replaces a data set that skelcmd wrote. Give an OUT_DIR that does not "
            "exist yet. Nothing was deleted."
        )
    if not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it.")
    if empty:
        return  # nothing to lose
    target = out.resolve()
    for source in inputs:
        where = Path(source).resolve()
        if where == target or target in where.parents:
            relation = "contains"
        elif where in target.parents:
            relation = "lies inside"
        else:
            continue
        fix = (
            "Move the input out of it first, or give another OUT_DIR"
            if relation == "contains"
            else "Write the data set to a folder outside the input"
        )
        raise UserError(
            f"{out} {relation} the input {source}; replacing it (--overwrite) would delete the "
            f"input. {fix}. Nothing was deleted."
        )


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def check_size(out: Path, shape: tuple[int, ...], why: str, *, in_memory: bool = False) -> None:
    """Refuse, before anything is allocated, float32 data of `shape` for the data set `out`
    that the free space of its disk cannot hold (nor, with `in_memory`, this machine's memory,
    for an importer that holds it all at once); `why` says what sets the size."""
    need = math.prod(shape) * 4
    folder = next(p for p in Path(out).absolute().parents if p.exists())
    free = shutil.disk_usage(folder).free
    room = [(free, f"only {_size(free)} are free on the disk of {folder}")]
    if in_memory:
        room.append((machine_memory(), f"this machine has {_size(machine_memory())} of memory"))
    for limit, what in room:
        if need > limit:
            raise UserError(
                f"the data set {out} would take {_size(need)} ({why}), but {what}. Nothing was "
                "written."
            )


def _size(size: int) -> str:
    """`size` bytes for a message: "512 bytes", "3.1 MB", "480 GB", "3,600 TB"."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def machine_memory() -> int:
    """The machine's physical memory in bytes."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _allocated_memmap(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A new zero-filled float32 .npy file mapped for writing, its blocks allocated before any
    is written: a full disk is an OSError (ENOSPC) here, not a SIGBUS on a write into the map."""
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    with open(path, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
    return data


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


def stack_samples(
    samples: list[np.ndarray], frames: int | None = None, persons: int | None = None
) -> np.ndarray:
    """Samples (C, T_i, V, M_i) as one zero-padded float32 batch (n, C, frames, V, persons);
    `frames` and `persons` default to the largest T_i and M_i."""
    frames = max(s.shape[1] for s in samples) if frames is None else frames
    persons = max(s.shape[3] for s in samples) if persons is None else persons
    c, _, v, _ = samples[0].shape
    batch = np.zeros((len(samples), c, frames, v, persons), np.float32)
    for i, sample in enumerate(samples):
        batch[i, :, : sample.shape[1], :, : sample.shape[3]] = sample
    return batch
