"""NTU RGB+D 60 and 120: sample names, benchmark splits, exclusions and `prepare_ntu`.

    prepare_ntu("nturgb+d_skeletons", "data/ntu60", dataset="ntu60", workers=8)

reads every `SsssCcccPpppRrrrAaaa.skeleton` file of the folder once (`ntu_parse`), keeps 2
bodies, handles empty frames and aligns the view as `preprocess` says (`normalize`: by default
exactly as the CMD reference, 300 frames written per sample), and writes
`data/ntu60/xsub` and `data/ntu60/xview` (NTU-120: `xsub`, `xset`) with subject, camera
(`views`), setup and replication ids per sample, and `data/ntu60/prepare_report.txt`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from skelcmd.errors import UserError
from skelcmd.names import BENCHMARKS as NAMED_BENCHMARKS
from skelcmd.sources.driver import Exclusion, Job, Outcome, PrepareSummary, Sample, run
from skelcmd.sources.normalize import (
    REFERENCE,
    TRACKED,
    check_preprocess,
    normalize_sequence,
    preprocess_extra,
    select_persons,
)
from skelcmd.sources.normalize_reference import record_slots, select_by_energy
from skelcmd.sources.ntu_parse import parse_skeleton

SUFFIX = ".skeleton"
NAME_PATTERN = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
DATASETS = ("ntu60", "ntu120")
BENCHMARKS = {name: NAMED_BENCHMARKS[name] for name in ("ntu60", "ntu120")}
NUM_CLASSES = {"ntu60": 60, "ntu120": 120}
_SUBJECTS_60 = "1 2 4 5 8 9 13 14 15 16 17 18 19 25 27 28 31 34 35 38"
_SUBJECTS_120 = "45 46 47 49 50 52 53 54 55 56 57 58 59 70 74 78 80 81 82 83 84 85 86 89 91 92 93 \
94 95 97 98 100 103"
TRAIN_SUBJECTS = {  # the x-sub training subjects (docs/method.md#data-sets-and-splits)
    "ntu60": tuple(map(int, _SUBJECTS_60.split())),
    "ntu120": tuple(map(int, f"{_SUBJECTS_60} {_SUBJECTS_120}".split())),
}
XVIEW_TRAIN_CAMERAS = (2, 3)
NTU60_SETUPS = 17


@dataclass(frozen=True)
class NtuNames:
    """The numbers in sample names `SsssCcccPpppRrrrAaaa`, each (N,) int64 (1-based)."""

    setup: np.ndarray
    camera: np.ndarray
    subject: np.ndarray
    replication: np.ndarray
    action: np.ndarray


def parse_names(names: Sequence[str]) -> NtuNames:
    """Parse N sample names (a `.skeleton` suffix may follow) into arrays, vectorised."""
    bad = next((name for name in names if not NAME_PATTERN.match(name)), None)
    if bad is not None:
        raise ValueError(f"{bad!r} is not an NTU sample name SsssCcccPpppRrrrAaaa")
    text = "".join(name[:20] for name in names).encode("ascii")
    digits = np.frombuffer(text, dtype=np.uint8).reshape(-1, 20).astype(np.int64) - 48

    def number(column: int) -> np.ndarray:
        return digits[:, column] * 100 + digits[:, column + 1] * 10 + digits[:, column + 2]

    return NtuNames(number(1), number(5), number(9), number(13), number(17))


def is_train(names: NtuNames, dataset: str, benchmark: str) -> np.ndarray:
    """(N,) bool: which samples are in the training split of the benchmark, else test.

    x-sub: the subjects of docs/method.md#data-sets-and-splits; x-view (NTU-60): cameras 2, 3; x-set
    (NTU-120): even setup ids.
    """
    if benchmark == "xsub":
        return np.isin(names.subject, TRAIN_SUBJECTS[dataset])
    if benchmark == "xview" and dataset == "ntu60":
        return np.isin(names.camera, XVIEW_TRAIN_CAMERAS)
    if benchmark == "xset" and dataset == "ntu120":
        return names.setup % 2 == 0
    raise UserError(
        f"{dataset} has no benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS[dataset])}."
    )


def _resource(name: str) -> list[str]:
    text = (resources.files("skelcmd") / "resources" / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def class_names(dataset: str) -> list[str]:
    """The 60 / 120 action names, in label order."""
    return _resource("ntu120_classes.txt")[: NUM_CLASSES[dataset]]


def missing_skeletons(dataset: str) -> frozenset[str]:
    """The dataset authors' samples with missing skeletons (302 for NTU-60, 535 for 120)."""
    return frozenset(_resource(f"{dataset}_missing_skeletons.txt"))


def check_benchmarks(benchmarks: Sequence[str] | None, known: Sequence[str], what: str) -> list:
    """The requested benchmarks in canonical order (all when None); unknown ones are errors."""
    if benchmarks is None:
        return list(known)
    unknown = [b for b in benchmarks if b not in known]
    if unknown or not benchmarks:
        raise UserError(
            f"unknown benchmark {', '.join(map(repr, unknown)) or '(none given)'} for {what}; "
            f"choose from {', '.join(known)}."
        )
    return [b for b in known if b in benchmarks]


def _scan(raw_dir: Path) -> tuple[list[str], list[Exclusion], list[str]]:
    """Sample names (file stems) that match the pattern, exclusions, and subfolder names."""
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir} is not a folder; give the folder of the .skeleton files.")
    stems, excluded, folders = [], [], []
    for entry in sorted(os.scandir(raw_dir), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            folders.append(entry.name)
        elif not entry.name.endswith(SUFFIX):
            excluded.append(Exclusion(entry.name, "other-file", "not a .skeleton file"))
        elif not NAME_PATTERN.fullmatch(entry.name[: -len(SUFFIX)]):
            detail = "does not match SsssCcccPpppRrrrAaaa.skeleton"
            excluded.append(Exclusion(entry.name, "bad-name", detail))
        else:
            stems.append(entry.name[: -len(SUFFIX)])
    if not stems and not any(e.reason == "bad-name" for e in excluded):
        hint = f"; it has the subfolders {', '.join(folders[:5])}" if folders else ""
        raise UserError(
            f"{raw_dir} holds no .skeleton files{hint}. Give the folder that holds the "
            "SsssCcccPpppRrrrAaaa.skeleton files (for NTU-120, put the files of both archives "
            "in one folder)."
        )
    return stems, excluded, folders


def _select(stems: list[str], dataset: str) -> tuple[np.ndarray, list[Exclusion]]:
    """(N,) bool of the samples to prepare, and why the others are left out."""
    names = parse_names(stems)
    keep = np.ones(len(stems), dtype=bool)
    excluded = []
    in_range = (
        (names.action >= 1)
        & (names.action <= NUM_CLASSES["ntu120"])
        & (names.camera >= 1)
        & (names.camera <= 3)
        & (names.setup >= 1)
    )
    ntu120_only = (names.action > NUM_CLASSES["ntu60"]) | (names.setup > NTU60_SETUPS)
    missing = missing_skeletons(dataset)
    for i in range(len(stems)):
        reason = detail = ""
        if not in_range[i]:
            reason, detail = "bad-name", "action must be 1-120, camera 1-3, setup >= 1"
        elif dataset == "ntu60" and ntu120_only[i]:
            reason = "ntu120-only"
        elif stems[i] in missing:
            reason = "missing"
        if reason:
            keep[i] = False
            excluded.append(Exclusion(stems[i] + SUFFIX, reason, detail))
    return keep, excluded


def prepare_skeleton_file(payload: tuple) -> Outcome:
    """The per-file work of `prepare_ntu`'s workers: parse one .skeleton file, select its bodies
    and process them. `payload` is (path, stem, label, ids, align, max_frames, preprocess)."""
    path, stem, label, ids, align, max_frames, preprocess = payload
    try:
        raw = parse_skeleton(path)
    except UserError as exc:
        return Outcome(error=str(exc))
    if preprocess == REFERENCE:  # body records by their place in each frame
        persons = select_by_energy(record_slots(raw))
    else:  # bodies by bodyID
        persons = select_persons(raw)[0].transpose(3, 1, 2, 0)
    result = normalize_sequence(persons, preprocess, align=align, max_frames=max_frames)
    if result is None:
        detail = "no frame has a body with a non-zero joint"
        return Outcome(excluded=[Exclusion(stem + SUFFIX, "no-body", detail)])
    data, length, resampled = result
    return Outcome([Sample(stem, data, length, label, ids, resampled)])


def prepare_ntu(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    dataset: str,
    benchmarks: Sequence[str] | None = None,
    workers: int = 1,
    align: bool = True,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    max_frames: int = 300,
    preprocess: str = REFERENCE,
) -> PrepareSummary:
    """Prepare NTU RGB+D 60 or 120 from the raw `.skeleton` files of `raw_dir`.

    Writes `out_dir/<benchmark>/` (data float32 (N, 3, max_frames, 25, 2), lengths, labels,
    subjects, views = cameras, setups, replications, names) for each benchmark and
    `out_dir/prepare_report.txt`. Excluded: the missing-skeleton list, for NTU-60 the
    NTU-120-only samples, files without a body, and with `skip_bad` bad files; file names
    not matching the pattern are reported. A bad file is otherwise a UserError naming file
    and line, and nothing is written. `preprocess`: one of `normalize.PREPROCESS`;
    `align=False` skips its centring and rotation (camera coordinates).

    "reference" (docs/method.md#data-pipeline): body records fill 4 slots in file order, the 2 of
    most motion energy are kept; the first `max_frames` frames, then 2s-AGCN's
    `pre_normalization`; lengths = the file's frame count (at most `max_frames`: longer files
    are cut, where the reference would fail). "tracked-first-frame": bodies by bodyID, null
    frames dropped, longer sequences resampled, first-frame alignment.
    """
    if dataset not in DATASETS:
        raise UserError(f"unknown NTU data set {dataset!r}; choose ntu60 or ntu120.")
    check_preprocess(preprocess)
    chosen = check_benchmarks(benchmarks, BENCHMARKS[dataset], dataset)
    raw_dir = Path(raw_dir)
    stems, excluded, folders = _scan(raw_dir)
    keep, left_out = _select(stems, dataset) if stems else (np.zeros(0, bool), [])
    excluded += left_out
    names = parse_names([s for s, k in zip(stems, keep, strict=True) if k])
    train = {b: is_train(names, dataset, b) for b in chosen}
    stems = [s for s, k in zip(stems, keep, strict=True) if k]
    if not stems:
        raise UserError(
            f"{raw_dir}: no sample left to prepare for {dataset} ({len(excluded)} files "
            f"excluded: {', '.join(sorted({e.reason for e in excluded}))})."
        )
    jobs = []
    for i, stem in enumerate(stems):
        ids = {
            "subjects": int(names.subject[i]),
            "views": int(names.camera[i]),
            "setups": int(names.setup[i]),
            "replications": int(names.replication[i]),
        }
        payload = (
            str(raw_dir / (stem + SUFFIX)),
            stem,
            int(names.action[i]) - 1,
            ids,
            align,
            max_frames,
            preprocess,
        )
        splits = {b: "train" if train[b][i] else "test" for b in chosen}
        jobs.append(Job(stem + SUFFIX, payload, splits))
    notes = []
    if folders:
        notes.append(f"ignored {len(folders)} subfolders of {raw_dir}: {', '.join(folders[:5])}")
    extra = {**preprocess_extra(preprocess, align), "max_frames": max_frames, **_STEPS[preprocess]}
    return run(
        out_dir,
        jobs,
        prepare_skeleton_file,
        source=dataset,
        class_names=class_names(dataset),
        benchmarks=chosen,
        excluded=excluded,
        extra=extra,
        num_inputs=len(stems) + len(excluded),
        workers=workers,
        skip_bad=skip_bad,
        overwrite=overwrite,
        progress=progress,
        max_frames=max_frames,
        notes=notes,
        inputs=[raw_dir],
        shortening="cut" if preprocess == REFERENCE else "resampled",
    )


_STEPS = {  # how each pipeline picks bodies and handles frames, for meta.json
    REFERENCE: {
        "persons": "per frame, body records in file order fill 4 slots; the 2 slots with the "
        "most motion energy, most first (ties: the later slot first)",
        "null_frames": "per person, leading empty frames moved behind the others, then the "
        "trailing empty frames up to max_frames filled by repeating the sequence",
        "lengths": "the file's frame count (at most max_frames: longer files are cut)",
    },
    TRACKED: {
        "persons": "the 2 bodies (by bodyID) with the most motion energy, most first",
        "null_frames": "dropped, then the sequence repeated to the header's frame count",
        "lengths": "the file's frame count (longer files resampled to max_frames)",
    },
}
