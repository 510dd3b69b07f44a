"""Import the Kinetics-skeleton release (ST-GCN's OpenPose 2D poses of Kinetics-400).

The release is a folder of clips `<video id>.json` and a label file mapping every video id to
`{has_skeleton, label, label_index}`. A clip is `{"data": [{"frame_index": i, "skeleton":
[{"pose": [x1, y1, x2, y2, ...], "score": [s1, ...]}, ...]}, ...], "label", "label_index"}`:
18 OpenPose joints (`OPENPOSE18`) in normalised image coordinates, frames numbered from 1.

Each clip becomes one sample (3, T, 18, 2) with channels `xy+score`, read as ST-GCN's Kinetics
feeder reads it:
- the first 5 persons a frame lists are read; frame i goes to position i - 1 (ST-GCN indexes
  with i itself, which leaves its first position always empty);
- x and y are shifted by -0.5, so the image centre is 0, and set to 0 where the score is 0;
- per frame the persons are sorted by their summed score, highest first, and 2 are kept.
The image axes are kept (y points down; `skelcmd show` draws it so; ST-GCN's later feeder
flips y). A sample's length runs to its last frame with a person, later frames are padding.
Clips that the label file marks `has_skeleton: false`, and clips without a person in any
frame, are counted and left out, as ST-GCN's data generation leaves out empty samples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from skelcmd.data.format import check_split_name
from skelcmd.data.values import to_float32
from skelcmd.data.writer import DatasetWriter, stack_samples
from skelcmd.errors import UserError, read_json
from skelcmd.skeleton import OPENPOSE18
from skelcmd.sources.classnames import ClassNamesSpec, names_by_index
from skelcmd.sources.pool import bounded_workers, start_pool

MAX_FRAMES = 300  # Kinetics clips are 10 s at 30 fps; ST-GCN's T
PERSONS_IN = 5  # ST-GCN reads the first 5 persons of a frame ...
PERSONS_OUT = 2  # ... and keeps the 2 with the highest summed score
BATCH = 256
V = OPENPOSE18.num_joints


def _fail(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}; it is not a clip of the Kinetics-skeleton release.")


def _frame_rows(path: Path, frames: Any, max_frames: int) -> list[tuple[int, int, Any, Any]]:
    """(position, person slot, pose, score) of the first PERSONS_IN persons of every frame."""
    if not isinstance(frames, list):
        raise _fail(path, "it has no 'data' list of frames")
    rows, seen = [], set()
    for k, frame in enumerate(frames):
        index = frame.get("frame_index") if isinstance(frame, dict) else None
        people = frame.get("skeleton") if isinstance(frame, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= max_frames:
            raise _fail(path, f"entry {k} of 'data' has frame_index {index!r}, not 1..{max_frames}")
        if index in seen:
            raise _fail(path, f"frame_index {index} appears twice")
        if not isinstance(people, list):
            raise _fail(path, f"frame {index} has no 'skeleton' list")
        seen.add(index)
        for m, person in enumerate(people[:PERSONS_IN]):
            if not isinstance(person, dict):
                raise _fail(path, f"frame {index}, person {m + 1} is not a dict with pose, score")
            rows.append((index - 1, m, person.get("pose"), person.get("score")))
    return rows


def read_clip(path: Path, max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, Any]:
    """The raw poses of a clip, (3, max_frames, 18, 5) float64 x, y, score of the first 5
    persons of every frame at position frame_index - 1, and the clip's label_index."""
    info = read_json(path, "a Kinetics-skeleton clip")
    if not isinstance(info, dict):
        raise _fail(path, "it is not a JSON object")
    rows = _frame_rows(path, info.get("data"), max_frames)
    raw = np.zeros((3, max_frames, V, PERSONS_IN))
    if rows:
        for position, slot, pose, score in rows:  # shapes first, so an error names the frame
            if np.shape(pose) != (2 * V,) or np.shape(score) != (V,):
                raise _fail(
                    path,
                    f"frame {position + 1}, person {slot + 1} has a pose of shape "
                    f"{np.shape(pose)} and a score of shape {np.shape(score)}; expected "
                    f"{2 * V} numbers (x, y of {V} joints) and {V}",
                )
        position, slot = (np.array(column) for column in list(zip(*rows, strict=True))[:2])
        try:
            pose = np.array([row[2] for row in rows], dtype=np.float64)  # (R, 36)
            score = np.array([row[3] for row in rows], dtype=np.float64)  # (R, 18)
        except (TypeError, ValueError):
            raise _fail(path, "a pose or score holds something that is not a number") from None
        bad = ~(np.isfinite(pose).all(axis=1) & np.isfinite(score).all(axis=1))
        if bad.any():
            raise _fail(path, f"frame {position[bad.argmax()] + 1} holds NaN or infinite values")
        raw[0, position, :, slot] = pose[:, 0::2]
        raw[1, position, :, slot] = pose[:, 1::2]
        raw[2, position, :, slot] = score
    return raw, info.get("label_index")


def keep_persons(raw: np.ndarray, persons: int = PERSONS_OUT) -> np.ndarray:
    """ST-GCN's centring and person choice: (3, T, V, P) raw x, y, score -> (3, T, V, persons).

    x, y - 0.5, zeroed where the score is 0; then per frame the persons sorted by summed score
    (highest first, ties in listed order) and the first `persons` kept."""
    x = raw.copy()
    x[:2] = np.where(x[2:3] != 0, x[:2] - 0.5, 0.0)
    order = np.argsort(-x[2].sum(axis=1), axis=1, kind="stable")  # (T, P)
    return np.take_along_axis(x, order[None, :, None, :], axis=3)[..., :persons]


def _load(job: tuple[Path, int]) -> tuple[np.ndarray | None, int, Any]:
    return load_clip(*job)


def load_clip(path: Path, max_frames: int = MAX_FRAMES) -> tuple[np.ndarray | None, int, Any]:
    """One clip as the import writes it: (sample (3, T, 18, 2) float32 or None without any
    person, length, the clip's label_index)."""
    raw, label = read_clip(path, max_frames)
    x = keep_persons(raw)
    present = (x[2] != 0).any(axis=(1, 2))  # (T,) a person with a non-zero score
    if not present.any():
        return None, 0, label
    length = int(len(present) - np.argmax(present[::-1]))
    return to_float32(x[:, :length]), length, label  # beyond float32: refused by the writer


def _read_labels(label_file: Path) -> dict[str, dict[str, Any]]:
    labels = read_json(label_file, "Kinetics-skeleton labels")
    ok = isinstance(labels, dict) and all(
        isinstance(v, dict)
        and isinstance(v.get("label_index"), int)
        and not isinstance(v.get("label_index"), bool)
        and v["label_index"] >= 0
        for v in labels.values()
    )
    if not ok or not labels:
        raise UserError(
            f"{label_file} is not a Kinetics-skeleton label file: expected a JSON object "
            "{video_id: {has_skeleton, label, label_index >= 0}}."
        )
    return labels


@dataclass
class KineticsSummary:
    """What an import wrote and left out, per split; `format()` is what the CLI prints."""

    out: Path
    written: dict[str, int] = field(default_factory=dict)
    no_skeleton: dict[str, list[str]] = field(default_factory=dict)  # has_skeleton false
    no_person: dict[str, list[str]] = field(default_factory=dict)  # no pose in any frame
    unlisted: dict[str, int] = field(default_factory=dict)  # label entries without a clip

    def format(self) -> str:
        lines = [f"wrote {self.out}"]
        for split, count in self.written.items():
            lines.append(
                f"  {split}: {count:,} clips; left out {len(self.no_skeleton[split]):,} marked "
                f"without a skeleton and {len(self.no_person[split]):,} with no person in any "
                f"frame; {self.unlisted[split]:,} clips of the label file are not in the folder"
            )
        return "\n".join(lines)


def import_kinetics(
    clips_dir: str | Path,
    label_file: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    test: Sequence[str | Path] | None = None,
    class_names: ClassNamesSpec = None,
    max_frames: int = MAX_FRAMES,
    workers: int = 1,
    overwrite: bool = False,
) -> KineticsSummary:
    """Import the clips of `clips_dir` labelled by `label_file` into the data set `out`.

    Their split is `split`, by default "test" when the label file's name says val or test,
    else "train"; `test=(CLIPS_DIR, LABEL_FILE)` adds a test split from a second pair. Data
    (N, 3, max_frames, 18, 2) float32 xy+score, lengths, labels (label_index), names (video
    ids). Class names come from the label files, or `class_names` (e.g. label_name.txt).
    """
    if split is not None:
        check_split_name(split, "--split")
    parts = {split or _split_of(Path(label_file)): (Path(clips_dir), Path(label_file))}
    if test is not None:
        if "test" in parts:
            raise UserError("the first clips folder is already the test split; give --split train.")
        parts["test"] = (Path(test[0]), Path(test[1]))
    workers = bounded_workers(workers)
    labels = {name: _read_labels(files) for name, (_, files) in parts.items()}
    names = names_by_index(
        (
            (v["label_index"], v.get("label"))
            for entries in labels.values()
            for v in entries.values()
        ),
        class_names,
        where=" and ".join(str(files) for _, files in parts.values()),
    )
    summary = KineticsSummary(Path(out))
    jobs = {name: _jobs(name, *part, labels[name], summary) for name, part in parts.items()}
    inputs = [path for part in parts.values() for path in part]
    extra = {
        "protocol": "ST-GCN's Kinetics-skeleton reading: first 5 persons of a frame, x, y - 0.5, "
        "2 persons by summed score per frame",
        "image_axes": "y down",
        "image_coordinates": "centred",  # skelcmd.channels: x, y - 0.5
    }
    with DatasetWriter(
        out,
        OPENPOSE18,
        names,
        source="kinetics-skeleton",
        benchmark="kinetics400",
        extra=extra,
        overwrite=overwrite,
        channels="xy+score",
        inputs=inputs,
        options=[class_names],
    ) as writer:
        for name, clips in jobs.items():
            summary.written[name] = _write_split(
                writer, name, clips, labels[name], summary, workers, max_frames
            )
        writer.meta["extra"]["excluded"] = {  # per split: (no skeleton, no person)
            name: [len(summary.no_skeleton[name]), len(summary.no_person[name])] for name in jobs
        }
    return summary


def _split_of(label_file: Path) -> str:
    return "test" if any(word in label_file.name for word in ("val", "test")) else "train"


def _jobs(
    split: str, clips_dir: Path, label_file: Path, labels: dict, summary: KineticsSummary
) -> list[Path]:
    """The clip files to read, in name order; unlisted clips are errors, and clips marked
    without a skeleton are counted in `summary` and left out."""
    if not clips_dir.is_dir():
        raise UserError(f"clips folder {clips_dir} does not exist; give the folder of <id>.json.")
    files = sorted(p for p in clips_dir.iterdir() if p.suffix == ".json")
    if not files:
        raise UserError(f"{clips_dir} holds no .json clips of the Kinetics-skeleton release.")
    unknown = [p.name for p in files if p.stem not in labels]
    if unknown:
        raise UserError(
            f"{clips_dir} holds {len(unknown)} clips the label file {label_file} does not list, "
            f"e.g. {', '.join(unknown[:3])}; give the label file of this folder."
        )
    summary.no_skeleton[split] = [
        p.stem for p in files if not labels[p.stem].get("has_skeleton", True)
    ]
    summary.no_person[split] = []
    summary.unlisted[split] = len(labels) - len(files)
    skipped = set(summary.no_skeleton[split])
    return [p for p in files if p.stem not in skipped]


def _write_split(
    writer: DatasetWriter,
    split: str,
    files: list[Path],
    labels: dict,
    summary: KineticsSummary,
    workers: int,
    max_frames: int,
) -> int:
    """Read `files` (in a pool of `workers` processes) and append them to `split`."""
    if not files:
        raise UserError(f"no clip of the {split} split has a skeleton; nothing to import.")
    target = writer.add_split(split, len(files), max_frames, PERSONS_OUT)
    jobs = [(path, max_frames) for path in files]
    batch: list[tuple[Path, np.ndarray, int]] = []
    with contextlib.ExitStack() as stack:
        loaded = map(_load, jobs)
        if workers > 1:
            pool = start_pool(stack, min(workers, len(jobs)))
            loaded = pool.imap(_load, jobs, chunksize=8)
        for path, (x, length, label) in tqdm(
            zip(files, loaded, strict=True), total=len(files), desc=split, unit="clip", disable=None
        ):
            expected = labels[path.stem]["label_index"]
            if label is not None and label != expected:
                raise UserError(
                    f"{path}: label_index {label!r}, but the label file says {expected} for "
                    f"{path.stem}; give the label file of this folder."
                )
            if x is None:
                summary.no_person[split].append(path.stem)
                continue
            batch.append((path, x, length))
            if len(batch) == BATCH:
                _append(target, batch, labels)
                batch = []
    if batch:
        _append(target, batch, labels)
    if target.count == 0:
        raise UserError(
            f"no clip of the {split} split has a person in any frame; nothing to import."
        )
    return target.count


def _append(target: Any, batch: list[tuple[Path, np.ndarray, int]], labels: dict) -> None:
    target.append(
        stack_samples([x for _, x, _ in batch]),
        np.array([length for _, _, length in batch]),
        np.array([labels[path.stem]["label_index"] for path, _, _ in batch]),
        names=[path.stem for path, _, _ in batch],
    )
