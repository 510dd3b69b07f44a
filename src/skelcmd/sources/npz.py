"""Import CTR-GCN-family NTU archives (`x_train, y_train, x_test, y_test` in one .npz).

x is either flat (N, T, M*V*C), per frame the numbers ordered person, joint, xyz (the CTR-GCN
layout: reshape to (N, T, M, V, C), transpose to (N, C, T, V, M)), or already (N, C, T, V, M).
y is int labels (N,) or one-hot (N, K). Archives zero-pad every sample to the same T (300 for
NTU); a sample's length is up to and including its last frame with any non-zero number.

Members are streamed from the zip in chunks of `CHUNK` samples (stored or deflated alike), so
memory stays bounded by one chunk however large the archive is.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
from tqdm import tqdm

from skelcmd.data.format import npy_reason, read_npy_header
from skelcmd.data.values import to_float32
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError, require_file
from skelcmd.skeleton import Layout, get_layout
from skelcmd.sources.classnames import MAX_LABEL, resolve_class_names
from skelcmd.sources.normalize import (
    NONE,
    check_import_preprocess,
    normalize_arrays,
    preprocess_extra,
)

CHUNK = 512
SPLITS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
X_FORMATS = ("auto", "ntmvc", "nctvm")


def _read_header(
    archive: zipfile.ZipFile, f: IO[bytes], key: str, where: str
) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The header of member `key` (open as `f`), checked against the member's size."""
    try:
        return read_npy_header(f, archive.getinfo(f"{key}.npy").file_size)
    except ValueError as exc:
        reason = npy_reason(exc)
        raise UserError(f"{where} is not a readable .npy member ({reason}).") from None


def _read_full(archive: zipfile.ZipFile, key: str, where: str) -> np.ndarray:
    with archive.open(f"{key}.npy") as f:
        _read_header(archive, f, key, where)
        f.seek(0)
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            reason = npy_reason(exc)
            raise UserError(f"{where} is not a readable numeric array ({reason}).") from None


def _iter_chunks(
    archive: zipfile.ZipFile, key: str, where: str, chunk: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, rows) of member `key` in blocks of `chunk` rows, reading only those rows."""
    with archive.open(f"{key}.npy") as f:
        shape, fortran, dtype = _read_header(archive, f, key, where)
    if fortran:  # rows are not contiguous: read the whole member (rare; np.save writes C order)
        whole = _read_full(archive, key, where)
        for start in range(0, len(whole), chunk):
            yield start, np.ascontiguousarray(whole[start : start + chunk])
        return
    with archive.open(f"{key}.npy") as f:
        _read_header(archive, f, key, where)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        for start in range(0, shape[0], chunk):
            n = min(chunk, shape[0] - start)
            try:
                buffer = f.read(n * row)
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise UserError(f"{where}: reading samples {start}.. failed ({exc}).") from None
            if len(buffer) != n * row:
                raise UserError(f"{where} is truncated at sample {start}; re-create the archive.")
            yield start, np.frombuffer(buffer, dtype).reshape(n, *shape[1:])


def _labels(y: np.ndarray, where: str) -> tuple[np.ndarray, int | None]:
    """(N,) int64 labels and the one-hot width (None for int labels)."""
    if y.dtype.kind not in "biuf" or y.ndim not in (1, 2):
        raise UserError(
            f"{where} has shape {y.shape} and dtype {y.dtype}; expected int labels (N,) or "
            "one-hot rows (N, K)."
        )
    if not np.isfinite(y).all():
        raise UserError(f"{where} holds NaN or infinite values.")
    if y.ndim == 2:
        ones = (y == 1).sum(axis=1)
        bad = np.flatnonzero(((y != 0) & (y != 1)).any(axis=1) | (ones != 1))
        if bad.size:
            raise UserError(
                f"{where} is 2-D {y.shape} but row {bad[0]} is not one-hot "
                f"({bad.size} such rows); give exactly one 1 per row, or int labels (N,)."
            )
        return y.argmax(axis=1).astype(np.int64), y.shape[1]
    bad = np.flatnonzero((y < 0) | (y != np.round(y)) | (y > MAX_LABEL))
    if bad.size:
        raise UserError(
            f"{where}: sample {bad[0]} has label {y[bad[0]]}; labels must be whole numbers "
            f"0..{MAX_LABEL} (0-based class indices; {bad.size} such samples)."
        )
    return y.astype(np.int64), None


def _num_classes(labels: dict[str, np.ndarray], widths: dict[str, int | None], where: str) -> int:
    """max(label) + 1 over both splits, or the one-hot width, which int labels must respect."""
    one_hot = {key: w for key, w in widths.items() if w is not None}
    if len(set(one_hot.values())) > 1:
        raise UserError(f"{where}: y_train and y_test are one-hot with different widths {one_hot}.")
    if not one_hot:
        return max(int(y.max()) + 1 for y in labels.values())
    (key, width), *_ = one_hot.items()
    for (split, y), y_key in zip(labels.items(), widths, strict=True):
        if y.max() >= width:
            index = int(np.argmax(y >= width))
            raise UserError(
                f"{where}: {y_key} {split} sample {index} has label {y[index]}, but {key} is "
                f"one-hot with {width} classes (labels 0..{width - 1})."
            )
    return width


def _x_geometry(
    shape: tuple[int, ...], x_format: str, layout: Layout, where: str
) -> tuple[str, int, int]:
    """Check the x shape against `x_format` and the layout; return (format, T, M)."""
    found = {3: "ntmvc", 5: "nctvm"}.get(len(shape))
    if found is None:
        raise UserError(
            f"{where} has shape {shape}; expected (N, T, M*V*3) or (N, 3, T, V, M) skeletons."
        )
    if x_format != "auto" and x_format != found:
        raise UserError(
            f"{where} has shape {shape}, {len(shape)} dimensions, which is the {found} layout, "
            f"but --x-format {x_format} was given; use --x-format {found} (or auto)."
        )
    v = layout.num_joints
    if found == "ntmvc":
        if shape[2] == 0 or shape[2] % (v * 3):
            raise UserError(
                f"{where} has shape {shape}: the last dimension {shape[2]} is not a multiple of "
                f"V*3 = {v * 3} (layout {layout.name!r}, {v} joints). Check --layout."
            )
        return found, shape[1], shape[2] // (v * 3)
    if shape[1] != 3 or shape[3] != v or shape[4] < 1:
        raise UserError(
            f"{where} has shape {shape}; expected (N, 3, T, {v}, M) for layout {layout.name!r}. "
            "Check --layout and --x-format."
        )
    return found, shape[2], shape[4]


def _to_nctvm(block: np.ndarray, x_format: str, m: int, v: int) -> np.ndarray:
    """(n, T, M*V*3) or (n, 3, T, V, M) -> (n, 3, T, V, M) float32 (a value too large for
    float32 becomes inf, which the writer refuses, naming the sample)."""
    if x_format == "ntmvc":
        n, t, _ = block.shape
        block = block.reshape(n, t, m, v, 3).transpose(0, 4, 1, 3, 2)
    return np.ascontiguousarray(to_float32(block))


def _lengths(block: np.ndarray, split: str, start: int, where: str) -> np.ndarray:
    """Frames up to the last one with any non-zero number; `block` is (n, 3, T, V, M)."""
    nonzero = (block != 0).any(axis=(1, 3, 4))  # (n, T)
    empty = np.flatnonzero(~nonzero.any(axis=1))
    if empty.size:
        raise UserError(
            f"{where}: {split} sample {start + int(empty[0])} is all zeros (no frame with a "
            "non-zero coordinate); remove it from the archive."
        )
    return nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)


def import_npz(
    file: str | Path,
    out: str | Path,
    *,
    x_format: str = "auto",
    layout: str | Path | Layout = "ntu25",
    class_names: str | Path | Sequence[str] | None = None,
    benchmark: str = "",
    overwrite: bool = False,
    preprocess: str = NONE,
    align: bool = True,
) -> Path:
    """Import a CTR-GCN-style archive `file` into the data set directory `out`.

    Writes splits `train` and `test`: data (N, 3, T, V, M) float32 with the archive's T and M,
    lengths, labels (from int labels or one-hot argmax). Returns `out`. `preprocess` (default
    none: such archives come normalised) as `normalize_arrays`, over the archive's T frames.
    """
    file, out = Path(file), Path(out)
    if x_format not in X_FORMATS:
        raise UserError(f"unknown x format {x_format!r}; use one of {', '.join(X_FORMATS)}.")
    options = (class_names, layout)  # files among them are inputs that --overwrite must keep
    layout = get_layout(layout)
    check_import_preprocess(preprocess, layout, align)
    require_file(file, "archive", "give the .npz file to import")
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(
            f"{file} is not a readable .npz archive ({exc}); expected a zip of .npy arrays as "
            "written by numpy.savez."
        ) from None
    with archive:
        keys = {name[:-4] for name in archive.namelist() if name.endswith(".npy")}
        missing = [k for pair in SPLITS.values() for k in pair if k not in keys]
        if missing:
            raise UserError(
                f"{file} lacks {', '.join(missing)} (it holds {', '.join(sorted(keys)) or 'no'} "
                "arrays); expected x_train, y_train, x_test, y_test as in CTR-GCN archives."
            )
        labels, widths, geometry = {}, {}, {}
        for split, (x_key, y_key) in SPLITS.items():
            y_where = f"{file}:{y_key}"
            labels[split], width = _labels(_read_full(archive, y_key, y_where), y_where)
            widths[y_key] = width
            with archive.open(f"{x_key}.npy") as f:
                shape, _, dtype = _read_header(archive, f, x_key, f"{file}:{x_key}")
            if dtype.kind not in "biuf":
                raise UserError(f"{file}:{x_key} has dtype {dtype}; expected numbers.")
            if shape[0] != len(labels[split]):
                raise UserError(
                    f"{file}: {x_key} holds {shape[0]} samples but {y_key} {len(labels[split])}."
                )
            if shape[0] == 0:
                raise UserError(f"{file}: {x_key} holds no samples; the {split} split is empty.")
            geometry[split] = (shape[0], *_x_geometry(shape, x_format, layout, f"{file}:{x_key}"))
        num_classes = _num_classes(labels, widths, str(file))
        names = resolve_class_names(
            class_names, num_classes, f"{file} (labels of y_train, y_test)", layout_name=layout.name
        )
        extra = {"file": file.name, "x_format": geometry["train"][1]}
        extra.update(preprocess_extra(preprocess, align))
        with DatasetWriter(
            out,
            layout,
            names,
            source="npz",
            benchmark=benchmark,
            extra=extra,
            overwrite=overwrite,
            inputs=[file],
            options=options,
        ) as writer:
            for split, (x_key, _) in SPLITS.items():
                n, fmt, t, m = geometry[split]
                target = writer.add_split(split, n, t, m)
                where = f"{file}:{x_key}"
                with tqdm(total=n, desc=split, unit="sample", disable=None) as bar:
                    for start, block in _iter_chunks(archive, x_key, where, CHUNK):
                        block = _to_nctvm(block, fmt, m, layout.num_joints)
                        lengths = _lengths(block, split, start, str(file))
                        block = normalize_arrays(block, lengths, layout, preprocess, align=align)
                        target.append(block, lengths, labels[split][start : start + len(block)])
                        bar.update(len(block))
    return out
