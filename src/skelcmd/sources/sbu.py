"""Import SBU Kinect Interaction (Yun et al., CVPRW 2012), clean version, into one data set per
fold of its standard 5-fold cross-validation.

The release holds 282 two-person sequences `sXXsYY/<class 01-08>/<take 001-003>/
skeleton_pos.txt` (21 pairs of actors sXXsYY). A row is one frame: the frame number, then
2 persons x 15 joints x (x, y, z), comma separated, in the joint order of `SBU15`. The values
are normalised: x, y to [0, 1] of the image, z a scaled depth. The dataset authors give the way
back: x = 1280 - 2560 x, y = 960 - 1920 y, z = 10000 z / 7.8125, which is millimetres (a person
is about 1.5 m tall, 2 m from the camera); the import divides by 1000, so the data are metres
in camera axes (x, y up, z depth), as NTU RGB+D and UTD-MHAD are. Nothing else is changed,
unless `preprocess` asks for NTU's normalisation (`skelcmd.sources.normalize`; the body frame
of `SBU15`: centred on the torso, torso -> neck onto +z, the shoulders onto +x).

`OUT_DIR/fold1` .. `fold5`: the pairs of fold k are `test`, those of the other four folds
`train`; every sample is (3, T, 15, 2), labels are the class - 1, `subjects` the pair
(s01s02 -> 102), `replications` the take, names `sXXsYY_CC_TTT`. Report the mean over folds.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skelcmd.data.values import to_float32
from skelcmd.data.writer import DatasetWriter, stack_samples
from skelcmd.errors import UserError
from skelcmd.skeleton import SBU15
from skelcmd.sources.normalize import (
    NONE,
    check_import_preprocess,
    normalize_arrays,
    preprocess_extra,
)
from skelcmd.sources.rows import read_rows

SBU_CLASSES: tuple[str, ...] = (
    "approaching",
    "departing",
    "kicking",
    "pushing",
    "shaking hands",
    "hugging",
    "exchanging an object",
    "punching",
)
FOLDS: tuple[tuple[str, ...], ...] = (
    ("s01s02", "s03s04", "s05s02", "s06s04"),
    ("s02s03", "s02s07", "s03s05", "s05s03"),
    ("s01s03", "s01s07", "s07s01", "s07s03"),
    ("s02s01", "s02s06", "s03s02", "s03s06"),
    ("s04s02", "s04s03", "s04s06", "s06s02", "s06s03"),
)
PERSONS = 2
FILE = "skeleton_pos.txt"
PAIR = re.compile(r"^s(\d\d)s(\d\d)$")
SCALE = np.array([-2560.0, -1920.0, 10000.0 / 7.8125]) / 1000  # metres per normalised unit
OFFSET = np.array([1280.0, 960.0, 0.0]) / 1000


@dataclass
class Recording:
    pair: str
    action: int  # 1..8
    take: int
    data: np.ndarray  # (3, T, 15, 2) float32, metres

    @property
    def name(self) -> str:
        return f"{self.pair}_{self.action:02d}_{self.take:03d}"


def to_metres(values: np.ndarray) -> np.ndarray:
    """(..., 3) normalised SBU x, y, z -> metres: (1280 - 2560 x, 960 - 1920 y, z / 7.8125e-4)
    millimetres / 1000."""
    return values * SCALE + OFFSET


def read_sequence(path: Path) -> np.ndarray:
    """One skeleton_pos.txt as (3, T, 15, 2) float32 metres."""
    rows, lines = read_rows(path)
    width = 1 + PERSONS * SBU15.num_joints * 3
    if rows.shape[1] != width:
        raise UserError(
            f"{path}, line {lines[0]}: {rows.shape[1]} numbers a row; an SBU frame is the frame "
            f"number and 2 persons x 15 joints x 3 = {width} numbers."
        )
    frames = rows[:, 0]
    if (np.diff(frames) <= 0).any():
        k = int(np.argmax(np.diff(frames) <= 0)) + 1
        raise UserError(f"{path}, line {lines[k]}: frame number {frames[k]:g} does not increase.")
    xyz = rows[:, 1:].reshape(len(rows), PERSONS, SBU15.num_joints, 3)  # (T, M, V, 3)
    return to_float32(to_metres(xyz).transpose(3, 0, 2, 1))  # (3, T, V, M); the writer checks


def scan(raw_dir: Path) -> list[Recording]:
    """Every sequence of the release, read; any folder that is not of the release is an error."""
    if not raw_dir.is_dir():
        what = "is not a folder" if raw_dir.exists() else "does not exist"
        raise UserError(f"SBU folder {raw_dir} {what}; give the folder holding s01s02, s01s03, ...")
    known = {pair for fold in FOLDS for pair in fold}
    sequences = []
    for pair_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        if pair_dir.name not in known:
            raise UserError(
                f"{pair_dir} is not one of the 21 actor pairs of SBU ({', '.join(sorted(known))}); "
                "move it out of the folder."
            )
        for class_dir in sorted(p for p in pair_dir.iterdir() if p.is_dir()):
            if not (class_dir.name.isdigit() and 1 <= int(class_dir.name) <= len(SBU_CLASSES)):
                raise UserError(f"{class_dir}: class folders are 01 .. 08; move it out.")
            for take_dir in sorted(p for p in class_dir.iterdir() if p.is_dir()):
                take = int(take_dir.name) if take_dir.name.isdigit() else 0
                if take < 1:
                    raise UserError(f"{take_dir}: take folders are 001, 002, ...; move it out.")
                if not (take_dir / FILE).is_file():
                    raise UserError(f"{take_dir} has no {FILE}; the release is incomplete.")
                data = read_sequence(take_dir / FILE)
                sequences.append(Recording(pair_dir.name, int(class_dir.name), take, data))
    if not sequences:
        raise UserError(f"{raw_dir} holds no SBU sequence (sXXsYY/CC/TTT/{FILE}).")
    return sequences


def _pair_id(pair: str) -> int:
    first, second = PAIR.match(pair).groups()
    return int(first) * 100 + int(second)


def import_sbu(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    preprocess: str = NONE,
    align: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Import the SBU release `raw_dir` as `out_dir/fold1` .. `fold5` (see the module
    docstring), normalised by `preprocess` (default none: metres in camera axes); return their
    paths. Nothing is written unless every fold can be."""
    check_import_preprocess(preprocess, SBU15, align)
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    sequences = scan(raw_dir)
    lengths = np.array([s.data.shape[1] for s in sequences])
    data = stack_samples([s.data for s in sequences])  # (282, 3, T_max, 15, 2), then normalised
    data = normalize_arrays(data, lengths, SBU15, preprocess, align=align)
    fields = {
        "labels": np.array([s.action - 1 for s in sequences]),
        "subjects": np.array([_pair_id(s.pair) for s in sequences]),
        "replications": np.array([s.take for s in sequences]),
    }
    outs = [out_dir / f"fold{k}" for k in range(1, len(FOLDS) + 1)]
    with ExitStack() as stack:
        for k, (fold, out) in enumerate(zip(FOLDS, outs, strict=True), 1):
            tested = np.array([s.pair in fold for s in sequences])
            splits = {"train": np.flatnonzero(~tested), "test": np.flatnonzero(tested)}
            empty = [name for name, index in splits.items() if not len(index)]
            if empty:
                raise UserError(
                    f"{raw_dir}: fold {k} would have an empty {empty[0]} split (its pairs are "
                    f"{', '.join(fold)}); give the complete SBU release."
                )
            extra = {
                "protocol": f"5-fold cross-validation over the actor pairs; fold {k} tests "
                f"{', '.join(fold)}",
                "units": "metres",
                **preprocess_extra(preprocess, align),
            }
            writer = stack.enter_context(
                DatasetWriter(
                    out,
                    SBU15,
                    SBU_CLASSES,
                    source="sbu",
                    benchmark=f"fold{k}",
                    extra=extra,
                    overwrite=overwrite,
                    inputs=[raw_dir],
                )
            )
            for name, index in splits.items():
                writer.add_split(name, len(index), data.shape[2], PERSONS).append(
                    data[index],
                    lengths[index],
                    fields["labels"][index],
                    names=[sequences[i].name for i in index],
                    subjects=fields["subjects"][index],
                    replications=fields["replications"][index],
                )
    return outs
