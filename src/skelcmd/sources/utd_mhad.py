"""Import UTD-MHAD skeletons (Chen, Jafari, Kehtarnavaz, ICIP 2015) into the skelcmd format.

The raw release is a folder of 861 MATLAB v5 files `aA_sS_tT_skeleton.mat` (action A 1..27,
subject S 1..8, trial T), each holding `d_skel`: float64 (20 joints, 3 xyz, T frames), metres,
Kinect v1 joint order (`KINECT20`). Each becomes one sample (3, T_max, 20, 1) float32,
normalised as NTU RGB+D is (`skelcmd.sources.normalize.normalize_arrays`; by default the
reference pipeline: the spine joint subtracted in every frame, then rotated by frame 0's hip
centre -> spine onto +z and its shoulders onto +x, the frames after the recording filled by
repeating it), so that the augmentations' shear and rotations act on the body, not on its
place in the room (`preprocess="none"` keeps camera coordinates, metres, y up). The standard
cross-subject protocol puts subjects 1 3 5 7 in `train` and 2 4 6 8 in `test`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from tqdm import tqdm

from skelcmd.data.values import to_float32
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20
from skelcmd.sources.normalize import (
    REFERENCE,
    check_import_preprocess,
    normalize_arrays,
    preprocess_extra,
)

UTD_MHAD_CLASSES: tuple[str, ...] = (
    "swipe left",
    "swipe right",
    "wave",
    "clap",
    "throw",
    "arm cross",
    "basketball shoot",
    "draw X",
    "draw circle clockwise",
    "draw circle counter-clockwise",
    "draw triangle",
    "bowling",
    "boxing",
    "baseball swing",
    "tennis swing",
    "arm curl",
    "tennis serve",
    "push",
    "knock",
    "catch",
    "pick up and throw",
    "jog",
    "walk",
    "sit to stand",
    "stand to sit",
    "lunge",
    "squat",
)
XSUB_SPLITS: dict[str, tuple[int, ...]] = {"train": (1, 3, 5, 7), "test": (2, 4, 6, 8)}
FILE_PATTERN = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_skeleton\.mat$")
VARIABLE = "d_skel"


@dataclass
class _Recording:
    path: Path
    action: int  # 1-based, as in the file name
    subject: int
    trial: int
    data: np.ndarray | None = None  # (3, T, 20, 1) float32 once loaded

    @property
    def name(self) -> str:
        return f"a{self.action}_s{self.subject}_t{self.trial}"


def _scan(raw_dir: Path) -> list[_Recording]:
    """Every `aA_sS_tT_skeleton.mat` in `raw_dir`; any other .mat file is an error."""
    if not raw_dir.is_dir():
        what = "is not a directory" if raw_dir.exists() else "does not exist"
        raise UserError(
            f"UTD-MHAD folder {raw_dir} {what}; give the folder holding the "
            "aA_sS_tT_skeleton.mat files of the UTD-MHAD skeleton release."
        )
    recordings, stray = [], []
    for path in sorted(raw_dir.iterdir()):
        if path.suffix.lower() != ".mat":
            continue  # Skeleton_joint_order.txt, READMEs, ...
        match = FILE_PATTERN.match(path.name)
        if not match:
            stray.append(path.name)
            continue
        action, subject, trial = (int(g) for g in match.groups())
        recordings.append(_Recording(path, action, subject, trial))
    if stray:
        raise UserError(
            f"{raw_dir} holds .mat files that are not UTD-MHAD skeleton files "
            f"(aA_sS_tT_skeleton.mat): {', '.join(stray)}. Move them out of the folder."
        )
    if not recordings:
        raise UserError(
            f"{raw_dir} holds no aA_sS_tT_skeleton.mat files; give the folder of the UTD-MHAD "
            "skeleton release."
        )
    subjects = sorted(s for members in XSUB_SPLITS.values() for s in members)
    seen: dict[str, Path] = {}
    for rec in recordings:
        if not 1 <= rec.action <= len(UTD_MHAD_CLASSES):
            raise UserError(
                f"{rec.path}: action {rec.action} is outside 1..{len(UTD_MHAD_CLASSES)}; "
                "UTD-MHAD has 27 actions. Remove or rename the file."
            )
        if rec.subject not in subjects:
            raise UserError(
                f"{rec.path}: subject {rec.subject} is outside 1..{max(subjects)}; the "
                "cross-subject split only knows UTD-MHAD's 8 subjects. Remove the file."
            )
        if rec.name in seen:
            raise UserError(
                f"{rec.path} and {seen[rec.name]} are both recording {rec.name}; keep one."
            )
        seen[rec.name] = rec.path
    return sorted(recordings, key=lambda r: (r.action, r.subject, r.trial))


def _load(path: Path) -> np.ndarray:
    """`d_skel` of one file as (3, T, 20, 1) float32."""
    try:
        contents = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ... for bad files
        raise UserError(
            f"{path} is not a readable MATLAB .mat file ({type(exc).__name__}: {exc}); "
            "re-download it or remove it."
        ) from None
    if VARIABLE not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise UserError(
            f"{path} has no variable {VARIABLE!r} (it holds {found or 'nothing'}); it is not a "
            "UTD-MHAD skeleton file. Re-download it or remove it."
        )
    skel = contents[VARIABLE]
    v = KINECT20.num_joints
    if (
        not isinstance(skel, np.ndarray)
        or skel.dtype.kind not in "fiu"
        or skel.ndim != 3
        or skel.shape[:2] != (v, 3)
        or skel.shape[2] < 1
    ):
        raise UserError(
            f"{path}: {VARIABLE} has shape {getattr(skel, 'shape', '?')} and dtype "
            f"{getattr(skel, 'dtype', type(skel).__name__)}; expected numbers of shape "
            f"({v} joints, 3, T frames). Re-download the file."
        )
    if not np.isfinite(skel).all():
        raise UserError(f"{path}: {VARIABLE} holds NaN or infinite coordinates; re-download it.")
    # (V, C, T) -> (C, T, V) -> (C, T, V, M=1)
    return np.ascontiguousarray(to_float32(skel.transpose(1, 2, 0)))[..., None]


def import_utd_mhad(
    raw_dir: str | Path,
    out: str | Path,
    *,
    preprocess: str = REFERENCE,
    align: bool = True,
    overwrite: bool = False,
) -> Path:
    """Import the UTD-MHAD skeleton folder `raw_dir` into the data set directory `out`,
    normalised by `preprocess` (reference, tracked-first-frame or none; `align=False` skips
    the centring and rotation).

    Writes splits `train` (subjects 1 3 5 7) and `test` (2 4 6 8): data (N, 3, T_max, 20, 1)
    float32 with T_max the longest recording, lengths, labels (action - 1), `subjects`,
    `replications` (the trial) and names `aA_sS_tT`. Returns `out`.
    """
    check_import_preprocess(preprocess, KINECT20, align)
    raw_dir, out = Path(raw_dir), Path(out)
    recordings = _scan(raw_dir)
    splits = {
        split: [r for r in recordings if r.subject in members]
        for split, members in XSUB_SPLITS.items()
    }
    for split, members in splits.items():
        if not members:
            raise UserError(
                f"{raw_dir}: no recording of subjects {XSUB_SPLITS[split]}, so the {split!r} "
                "split would be empty; give the complete UTD-MHAD release."
            )
    extra = {
        "protocol": "cross-subject, subjects 1 3 5 7 train, 2 4 6 8 test",
        **preprocess_extra(preprocess, align),
    }
    with DatasetWriter(
        out,
        KINECT20,
        UTD_MHAD_CLASSES,
        source="utd-mhad",
        benchmark="xsub",
        extra=extra,
        overwrite=overwrite,
        inputs=[raw_dir],
    ) as writer:
        for rec in tqdm(recordings, desc="utd-mhad", unit="file", disable=None):
            rec.data = _load(rec.path)
        t_max = max(rec.data.shape[1] for rec in recordings)
        for split, members in splits.items():
            data = np.zeros((len(members), 3, t_max, KINECT20.num_joints, 1), np.float32)
            for i, rec in enumerate(members):
                data[i, :, : rec.data.shape[1]] = rec.data
            lengths = np.array([r.data.shape[1] for r in members])
            writer.add_split(split, len(members), t_max, 1).append(
                normalize_arrays(data, lengths, KINECT20, preprocess, align=align),
                lengths,
                np.array([r.action - 1 for r in members]),
                names=[r.name for r in members],
                subjects=np.array([r.subject for r in members]),
                replications=np.array([r.trial for r in members]),
            )
    return out
