"""Import a folder of one's own clips, listed in a manifest, into the skelcmd format.

The manifest is a CSV file with a header and the columns `path,label,split`, optionally
`subject`, `view` and `person_count`. `path` is relative to the manifest's folder (or
absolute); `label` a class name; `split` the split the clip goes to (e.g. train, test);
`subject` and `view` integer ids (written as `subjects`, `views`); `person_count` how many
persons the clip holds (checked against the file). A clip is

    .npy         (T, V, C) for one person or (M, T, V, C), any numeric dtype
    .csv / .txt  one frame a line: V*C numbers, or M*V*C (person 1's joints, each C numbers,
                 then person 2's ...), optionally after a leading frame-number column

with V the layout's joints and C the channels' (`skelcmd.channels`: 3 for xyz and xy+score,
2 for xy). Every clip becomes one sample (C, T, V, M_max), persons zero-padded; class names are
the labels sorted (by number when all are integers), or those of a class-name file. Each
mistake names the manifest line, and the file and its line where one is at fault.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skelcmd.channels import check_channels, num_channels
from skelcmd.data.format import check_split_name, read_npy
from skelcmd.data.values import FLOAT32_MAX, to_float32
from skelcmd.data.writer import DatasetWriter, check_size, stack_samples
from skelcmd.errors import UserError, excerpt, require_file
from skelcmd.skeleton import Layout, get_layout
from skelcmd.sources.classnames import ClassNamesSpec, resolve_class_names, spec_names
from skelcmd.sources.rows import read_rows

REQUIRED = ("path", "label", "split")
OPTIONAL = ("subject", "view", "person_count")
ID_COLUMNS = {"subject": "subjects", "view": "views"}
SUFFIXES = (".npy", ".csv", ".txt")


@dataclass
class Clip:
    line: int  # 1-based line of the manifest
    name: str  # the path as the manifest gives it
    path: Path
    label: str
    split: str
    ids: dict[str, int] = field(default_factory=dict)
    persons: int | None = None
    data: np.ndarray | None = None  # (C, T, V, M) float32 once read


MAX_ID = 2**31 - 1  # ids are stored as int32


def _integer(text: str, what: str, where: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= MAX_ID:
        raise UserError(
            f"{where}: {what} is {excerpt(text)}; expected an integer >= {minimum} and at most "
            f"{MAX_ID}."
        )
    return value


def read_csv_table(path: Path, what: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header's column names (stripped) and every row as (its line number, its
    `csv.DictReader` dict) of the CSV file `path`; `what` names the file in the UserError."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            return columns, [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {what} {path} ({exc}).") from None


def read_manifest(manifest: Path, *, labels_required: bool = True) -> list[Clip]:
    """The clips a manifest lists, its columns and values checked (the files not read yet);
    an empty label is allowed only without `labels_required` (predict: not compared)."""
    require_file(manifest, "manifest", "give a CSV file path,label,split")
    columns, rows = read_csv_table(manifest, "the manifest")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise UserError(
            f"{manifest}: the header names {', '.join(twice)} twice; give each column once."
        )
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise UserError(
            f"{manifest}: the header has {', '.join(columns) or 'no columns'}; it needs "
            f"{', '.join(REQUIRED)}, and may have {', '.join(OPTIONAL)}"
            + (f" (unknown: {', '.join(unknown)})." if unknown else ".")
        )
    clips, seen = [], {}
    for line, raw in rows:
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        where = f"{manifest}, line {line}"
        if None in raw:
            raise UserError(f"{where}: more values than the header has columns.")
        empty = [c for c in REQUIRED if not row.get(c) and (c != "label" or labels_required)]
        if empty:
            raise UserError(f"{where}: no {', '.join(empty)}.")
        path = Path(row["path"])
        path = path if path.is_absolute() else manifest.parent / path
        if path.suffix.lower() not in SUFFIXES:
            raise UserError(f"{where}: {row['path']} is not a {', '.join(SUFFIXES)} file.")
        same = path.resolve()  # one file under two spellings (a/../a, a link) is one clip
        if same in seen:
            raise UserError(
                f"{where}: {row['path']} is listed twice (also line {seen[same]}, as the same "
                "file); a clip in two places, or in train and test, would count twice."
            )
        seen[same] = line
        ids = {key: _integer(row[c], c, where, 0) for c, key in ID_COLUMNS.items() if c in columns}
        persons = row.get("person_count")
        persons = _integer(persons, "person_count", where, 1) if persons else None
        split = check_split_name(row["split"], where)
        clips.append(Clip(line, row["path"], path, row["label"], split, ids, persons))
    if not clips:
        raise UserError(f"{manifest} lists no clips.")
    return clips


def read_clip(clip: Clip, layout: Layout, channels: int, where: str) -> np.ndarray:
    """One clip's file as (C, T, V, M) float32."""
    v = layout.num_joints
    require_file(clip.path, f"{where}:")
    if clip.path.suffix.lower() == ".npy":
        try:
            x = read_npy(clip.path, fix="fix the file or remove it from the manifest")
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        shape = x.shape
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[2:] != (v, channels) or x.dtype.kind not in "fiu":
            raise UserError(
                f"{where}: {clip.path} holds {x.dtype} {shape}; expected numbers of shape "
                f"(T, {v}, {channels}) or (M, T, {v}, {channels}) for layout {layout.name!r}."
            )
    else:
        try:
            rows, lines = read_rows(clip.path)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        per_person = v * channels
        width = rows.shape[1]
        if width % per_person and (width - 1) % per_person:
            raise UserError(
                f"{where}: {clip.path}, line {lines[0]}: {width} numbers a line; a frame is "
                f"M x {v} joints x {channels} = a multiple of {per_person} numbers, optionally "
                "after a frame number."
            )
        if width % per_person:  # a frame-number column first
            steps = np.diff(rows[:, 0])
            if (steps <= 0).any():
                k = int(np.argmax(steps <= 0)) + 1
                raise UserError(
                    f"{where}: {clip.path}, line {lines[k]}: the first column (a frame number, "
                    f"as {width} = 1 + a multiple of {per_person}) does not increase."
                )
            rows = rows[:, 1:]
        x = rows.reshape(len(rows), -1, v, channels).transpose(1, 0, 2, 3)  # (M, T, V, C)
    if len(x) < 1 or x.shape[1] < 1:
        raise UserError(f"{where}: {clip.path} holds no frame or no person.")
    if clip.persons is not None and clip.persons != len(x):
        raise UserError(
            f"{where}: person_count is {clip.persons} but {clip.path} holds {len(x)} person(s)."
        )
    sample = np.ascontiguousarray(to_float32(x.transpose(3, 1, 2, 0)))
    if not np.isfinite(sample).all():
        raise UserError(
            f"{where}: {clip.path} holds NaN or infinite values, or values too large for float32 "
            f"(beyond +-{FLOAT32_MAX:.1e})."
        )
    return sample


def class_order(labels: list[str]) -> list[str]:
    """The distinct labels sorted: by number when every label is an integer, else as text."""
    distinct = sorted(set(labels))
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return distinct


def import_clips(
    manifest: str | Path,
    out: str | Path,
    *,
    layout: str | Path | Layout,
    channels: str = "xyz",
    class_names: ClassNamesSpec = None,
    overwrite: bool = False,
) -> Path:
    """Import the clips `manifest` lists into the data set `out` (see the module docstring):
    one split per value of the split column, data (N, C, T_max, V, M_max) float32, lengths,
    labels, names (the manifest's paths), `subjects` / `views` when the manifest has them."""
    options = (class_names, layout)  # files among them are inputs that --overwrite must keep
    manifest, layout = Path(manifest), get_layout(layout)
    c = num_channels(check_channels(channels, "--channels"))
    clips = read_manifest(manifest)
    labels = class_order([clip.label for clip in clips])
    if class_names is None:
        names = tuple(labels)
    else:
        given = spec_names(class_names)
        names = resolve_class_names(class_names, len(given), f"{manifest} (its labels)")
        unknown = next((clip for clip in clips if clip.label not in names), None)
        if unknown is not None:
            raise UserError(
                f"{manifest}, line {unknown.line}: label {unknown.label!r} is not one of the "
                f"class names ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})."
            )
    index = {name: k for k, name in enumerate(names)}
    for clip in clips:
        clip.data = read_clip(clip, layout, c, f"{manifest}, line {clip.line}")
    splits: dict[str, list[Clip]] = {}
    for clip in clips:
        splits.setdefault(clip.split, []).append(clip)
    longest = max(clips, key=lambda clip: clip.data.shape[1])
    crowd = max(clips, key=lambda clip: clip.data.shape[3])
    t_max, m_max = longest.data.shape[1], crowd.data.shape[3]
    check_size(
        Path(out),
        (len(clips), c, t_max, layout.num_joints, m_max),
        f"{len(clips):,} clips, each padded to the longest clip's {t_max:,} frames "
        f"(line {longest.line}: {longest.name}) and to the {m_max:,} persons (line "
        f"{crowd.line}: {crowd.name}) of the most crowded; cut those or import them apart",
        in_memory=True,
    )
    extra = {"manifest": manifest.name}
    with DatasetWriter(
        out,
        layout,
        names,
        source="clips",
        benchmark="",
        extra=extra,
        overwrite=overwrite,
        channels=channels,
        inputs=[manifest, *{clip.path for clip in clips}],
        options=options,
    ) as writer:
        for split, members in splits.items():
            writer.add_split(split, len(members), t_max, m_max).append(
                stack_samples([clip.data for clip in members], t_max, m_max),
                np.array([clip.data.shape[1] for clip in members]),
                np.array([index[clip.label] for clip in members]),
                names=[clip.name for clip in members],
                **{key: np.array([clip.ids[key] for clip in members]) for key in members[0].ids},
            )
    return Path(out)
