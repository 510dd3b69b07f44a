"""Human-readable summary of a data set: counts per split and class, frame-length statistics."""

from __future__ import annotations

import numpy as np

from skelcmd.channels import describe_image_coordinates
from skelcmd.data.format import Dataset, Split
from skelcmd.skeleton import printable

_CHUNK = 256


def persons_present(split: Split) -> np.ndarray:
    """(N,) number of persons with any non-zero coordinate in the valid frames (chunked scan)."""
    counts = np.empty(len(split), dtype=np.int64)
    frames = np.arange(split.data.shape[2])
    for start in range(0, len(split), _CHUNK):
        chunk = np.asarray(split.data[start : start + _CHUNK])  # (n, 3, T, V, M)
        valid = frames[None, :] < split.lengths[start : start + _CHUNK, None]  # (n, T)
        nonzero = (chunk != 0).any(axis=(1, 3)) & valid[:, :, None]  # (n, T, M)
        counts[start : start + len(chunk)] = nonzero.any(axis=1).sum(axis=1)
    return counts


def _table(header: list[str], rows: list[list[str]], left: int = 0) -> str:
    """Plain text table; column `left` is left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def describe(dataset: Dataset) -> str:
    """Counts per split and class, frame lengths and persons, as printed by `skelcmd info`."""
    layout = dataset.layout
    lines = [
        f"data set   {dataset.path}",
        f"source     {dataset.source or '-'}   benchmark {dataset.benchmark or '-'}",
        f"layout     {layout.name} ({layout.num_joints} joints)   channels {dataset.channels}   "
        f"classes {dataset.num_classes}",
        "",
    ]
    if dataset.image_coordinates is not None:
        coordinates = describe_image_coordinates(dataset.image_coordinates)
        lines.insert(3, f"2D scale   {coordinates}")
    rows = []
    for name, split in dataset.splits.items():
        n_persons = persons_present(split)
        lengths = split.lengths
        rows.append(
            [
                name,
                str(len(split)),
                f"{lengths.min()}/{np.median(lengths):g}/{lengths.mean():.1f}/{lengths.max()}",
                str(split.data.shape[2]),
                f"{int((n_persons >= 2).sum())}",
                ", ".join(sorted(split.ids)) or "-",
            ]
        )
    header = ["split", "samples", "frames min/median/mean/max", "T_max", "2+ persons", "ids"]
    lines += [_table(header, rows), ""]
    counts = {
        name: np.bincount(split.labels, minlength=dataset.num_classes)
        for name, split in dataset.splits.items()
    }
    class_rows = [
        [str(k), name, *(str(counts[s][k]) for s in dataset.splits)]
        for k, name in enumerate(dataset.class_names)
    ]
    lines.append(_table(["#", "class", *dataset.splits], class_rows, left=1))
    # names come from meta.json: control characters are shown escaped, never sent as they are
    return "\n".join(printable(line) for line in "\n".join(lines).split("\n"))
