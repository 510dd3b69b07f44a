"""PKU-MMD (phases 1 and 2, Kinect v2, 25 joints, 51 actions): labelled clips, `prepare_pku`.

The files, as published:
- skeleton `<video>.txt`: one row per frame of 150 numbers, person 1's 25 joints (x y z,
  joint by joint) then person 2's; a missing person is zeros;
- label `<video>.txt`: rows `action_id,start_frame,end_frame,confidence`, action 1-51.
  Frames are 0-based indices into the skeleton rows. With `preprocess="reference"` (the
  default) row `a,s,e,c` is the clip `rows[s:e]`, as the CMD reference cuts it; with
  "tracked-first-frame" `rows[s:e + 1]`, the end included. A row with start > end is
  swapped and an end past the last row is clipped; both are noted;
- split `cross-subject.txt` / `cross-view.txt`: a line `Training videos:` followed by the
  comma-separated training videos, a line `Validataion videos:` (sic) and the test videos.
  A line naming the benchmark (`Cross-Subject`, `Cross-View`) may precede them; else the
  file name tells (`subject` / `view`).
Clips longer than `max_frames` keep their first `max_frames` frames (reference; lengths.npy
records min(e - s, max_frames), the reference e - s) or are resampled to it (tracked).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skelcmd.errors import UserError, excerpt, looks_binary, require_file
from skelcmd.names import BENCHMARKS as NAMED_BENCHMARKS
from skelcmd.sources.driver import Exclusion, Job, Outcome, PrepareSummary, Sample, run
from skelcmd.sources.normalize import (
    REFERENCE,
    check_preprocess,
    normalize_sequence,
    preprocess_extra,
)
from skelcmd.sources.ntu import _resource, check_benchmarks
from skelcmd.sources.ntu_parse import parse_numbers, tokenize
from skelcmd.sources.rows import is_number

BENCHMARKS = NAMED_BENCHMARKS["pku-mmd"]
NUM_CLASSES = 51
NUM_VALUES = 150  # 2 persons x 25 joints x xyz
VIEWS = {"L": 1, "M": 2, "R": 3}
_VIDEO = re.compile(r"\d+-([LMR])")


def class_names() -> list[str]:
    """PKU-MMD's 51 action names, in id order (Actions.xlsx)."""
    return _resource("pku_mmd_classes.txt")


def _benchmark_named(text: str) -> str | None:
    text = text.lower()
    if "subject" in text or re.search(r"\bx-?sub\b", text):
        return "xsub"
    if "view" in text or re.search(r"\bx-?view\b", text):
        return "xview"
    return None


_HEADER = re.compile(r"train|valid|test|eval|subject|view|cross", re.IGNORECASE)


def read_split_file(path: str | Path) -> dict[str, dict[str, str]]:
    """benchmark -> {video: "train" | "test"} from an official split file, read tolerantly.

    Header lines (`Training videos:`, `Validataion videos:`, `Cross-Subject`...) set the
    benchmark and the part; the other lines (and the rest of a header after its colon) list
    videos, separated by commas or spaces.
    """
    path = require_file(path, "the split file", "give cross-subject.txt or cross-view.txt")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read the split file {path} ({exc.strerror}).") from None
    if looks_binary(text):
        raise UserError(
            f"{path} is not a text file (it holds binary data); give the official split file, "
            "cross-subject.txt or cross-view.txt."
        )
    lines = text.splitlines()
    benchmark, part, parts = _benchmark_named(path.stem), None, {}
    for number, line in enumerate(lines, 1):
        head, _, rest = line.partition(":")
        names = line
        if _HEADER.search(head) and "," not in head:
            names = rest
            named = _benchmark_named(head)
            if named and named != benchmark:
                benchmark, part = named, None
            if re.search(r"train", head, re.IGNORECASE):
                part = "train"
            elif re.search(r"valid|test|eval", head, re.IGNORECASE):
                part = "test"
        for video in filter(None, re.split(r"[\s,]+", names)):
            if part is None or benchmark is None:
                missing = "a benchmark name" if part else "a 'Training videos:' line"
                raise UserError(
                    _split_help(path, lines, f"line {number} lists videos before {missing}")
                )
            seen = parts.setdefault(benchmark, {})
            if seen.get(video, part) != part:
                raise UserError(
                    f"{path}: line {number}: video {video} is in both the training "
                    f"and the test videos of {benchmark}."
                )
            seen[video] = part
    if not parts:
        raise UserError(_split_help(path, lines, "no videos found"))
    return parts


def _split_help(path: Path, lines: list[str], problem: str) -> str:
    head = "\n".join(f"    {excerpt(line, 100, quote=False)}" for line in lines[:4])
    head = head or "    (empty)"
    return (
        f"{path}: {problem}. Expected the official format: 'Training videos:', a line of "
        "comma-separated videos, 'Validataion videos:', a line of videos; named "
        f"cross-subject.txt / cross-view.txt or with a 'Cross-Subject' line. It starts:\n{head}"
    )


def read_labels(path: Path) -> tuple[list[tuple[int, int, int, int]], int]:
    """[(line, action 0-based, start, end)], number of rows whose start > end was swapped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the label file ({exc.strerror}).") from None
    rows, swapped = [], 0
    for number, line in enumerate(lines, 1):
        values = [v.strip() for v in line.split(",")]
        if not line.strip():
            continue
        if len(values) not in (3, 4) or not all(re.fullmatch(r"\d+", v) for v in values[:3]):
            raise UserError(
                f"{path}: line {number}: expected action_id,start_frame,end_frame,"
                f"confidence (whole numbers), found {excerpt(line.strip())}."
            )
        action, start, end = (int(v) for v in values[:3])
        if not 1 <= action <= NUM_CLASSES:
            raise UserError(f"{path}: line {number}: action {action} is outside 1-{NUM_CLASSES}.")
        if start > end:
            start, end, swapped = end, start, swapped + 1
        rows.append((number, action - 1, start, end))
    return rows, swapped


def parse_pku_skeleton(path: str | Path) -> np.ndarray:
    """(F, 150) float64 rows of a skeleton file; any problem is a UserError naming the line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the skeleton file ({exc.strerror}).") from None
    text = re.sub(rb"[ \t\f\v]+", b" ", raw)  # same lines, canonical spacing
    lines = tokenize(re.sub(rb" ?(\r?\n) ?", rb"\1", text).strip(b" "))
    if lines is not None and (lines.ntok == NUM_VALUES).all():
        seps = lines.first_sep[:, None] + np.arange(NUM_VALUES)
        start = np.empty_like(seps)
        start[:, 0] = lines.start
        start[:, 1:] = lines.seps[seps[:, :-1]] + 1
        values = parse_numbers(lines.buf, start.ravel(), lines.seps[seps].ravel())
        if values is not None and np.isfinite(values).all():
            return values.reshape(-1, NUM_VALUES)
    rows = _read_slowly(path, raw, NUM_VALUES, "a frame (2 persons x 25 joints x xyz)")
    if not rows:
        raise UserError(f"{path}: the skeleton file has no frames.")
    return np.array(rows, dtype=np.float64)


def _read_slowly(path: Path, raw: bytes, count: int, what: str) -> list[list[float]]:
    """Rows of `count` numbers, one per non-blank line, read line by line; for the files the
    fast path refuses: it returns the rows or raises a UserError naming the line."""
    rows = []
    for number, line in enumerate(raw.decode("latin-1").split("\n"), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != count:
            raise UserError(
                f"{path}: line {number}: expected {count} numbers for {what}, found {len(tokens)}."
            )
        try:
            values = [float(token) for token in tokens]
        except ValueError:
            token = next(t for t in tokens if not is_number(t))
            raise UserError(f"{path}: line {number}: {excerpt(token)} is not a number.") from None
        if not all(map(math.isfinite, values)):
            token = tokens[next(i for i, v in enumerate(values) if not math.isfinite(v))]
            raise UserError(f"{path}: line {number}: NaN or infinite value {excerpt(token)}.")
        rows.append(values)
    return rows


def _work(payload: tuple) -> Outcome:
    """Worker: parse one video's skeleton file and cut its labelled clips."""
    path, video, clips, ids, align, max_frames, preprocess = payload
    try:
        rows = parse_pku_skeleton(path)
    except UserError as exc:
        return Outcome(error=str(exc))
    outcome = Outcome()
    for index, (line, label, start, end) in enumerate(clips, 1):
        name = f"{video}_{index:02d}"
        if start >= len(rows):
            return Outcome(
                error=f"{video}: label line {line}: start frame {start} is past the "
                f"{len(rows)} frames of {path}."
            )
        stop = end if preprocess == REFERENCE else end + 1
        if stop > len(rows):
            outcome.notes.append(
                f"{name}: label line {line}: end frame {end} clipped to the "
                f"last frame, {len(rows) - 1}."
            )
        persons = rows[start:stop].reshape(-1, 2, 25, 3).transpose(1, 0, 2, 3)  # (M, T, V, 3)
        result = normalize_sequence(persons, preprocess, align=align, max_frames=max_frames)
        if result is None:
            outcome.excluded.append(Exclusion(name, "no-body", "the clip is empty or all zeros"))
            continue
        data, length, resampled = result
        outcome.samples.append(Sample(name, data, length, label, ids, resampled))
    return outcome


def prepare_pku(
    skeleton_dir: str | Path,
    label_dir: str | Path,
    out_dir: str | Path,
    *,
    split_file: str | Path | Sequence[str | Path],
    benchmarks: Sequence[str] | None = None,
    workers: int = 1,
    align: bool = True,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    max_frames: int = 300,
    preprocess: str = REFERENCE,
) -> PrepareSummary:
    """Prepare PKU-MMD clips: `out_dir/xsub`, `out_dir/xview` and the report.

    `split_file`: one or more official split files (each names one benchmark). Videos of the
    split files without a skeleton or label file, or with a bad one, are errors (with
    `skip_bad`: skipped and listed); skeleton files not in a split file are reported.
    """
    check_preprocess(preprocess)
    skeleton_dir, label_dir = Path(skeleton_dir), Path(label_dir)
    for folder, what in ((skeleton_dir, "skeleton"), (label_dir, "label")):
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder; give the folder of the {what} files.")
    files = [split_file] if isinstance(split_file, (str, Path)) else list(split_file)
    splits: dict[str, dict[str, str]] = {}
    for file in files:
        for benchmark, videos in read_split_file(file).items():
            splits.setdefault(benchmark, {}).update(videos)
    chosen = check_benchmarks(
        benchmarks,
        [b for b in BENCHMARKS if b in splits],
        f"the split files given ({', '.join(map(str, files))})",
    )
    videos = sorted({v for b in chosen for v in splits[b]})
    available = {p.stem for p in skeleton_dir.glob("*.txt")}
    excluded = [Exclusion(f"{v}.txt", "not-in-split") for v in sorted(available - set(videos))]
    jobs, notes, bad = [], [], []
    with_views = all(_VIDEO.fullmatch(v) for v in videos)
    for video in videos:
        skeleton, label = skeleton_dir / f"{video}.txt", label_dir / f"{video}.txt"
        try:
            if video not in available:
                raise UserError(f"{skeleton}: the skeleton file of video {video} is missing.")
            clips, swapped = read_labels(label)
        except UserError as exc:
            bad.append(Exclusion(f"{video}.txt", "bad-file", str(exc)))
            continue
        notes += [f"{label}: {swapped} rows with start > end were swapped."] * bool(swapped)
        if not clips:
            excluded.append(Exclusion(f"{video}.txt", "no-label", f"{label} lists no action"))
            continue
        ids = {"views": VIEWS[_VIDEO.fullmatch(video).group(1)]} if with_views else {}
        payload = (str(skeleton), video, clips, ids, align, max_frames, preprocess)
        splits_of = {b: splits[b][video] for b in chosen if video in splits[b]}
        jobs.append(Job(f"{video}.txt", payload, splits_of, num_samples=len(clips)))
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(
            f"{bad[0].detail}{more}\nNothing was written. Pass --skip-bad to skip "
            "such videos and list them in the report."
        )
    reference = preprocess == REFERENCE
    long = (
        f"cut to their first {max_frames}; lengths gives min(end - start, {max_frames})"
        if reference
        else f"resampled to {max_frames}; lengths gives the resampled length"
    )
    extra = {**preprocess_extra(preprocess, align), "max_frames": max_frames,
             "persons": "persons 1 and 2 in the file's order",
             "label_frames": f"0-based row indices, end {'excluded' if reference else 'included'}",
             "resampling": f"clips longer than {max_frames} frames are {long}"}  # fmt: skip
    return run(
        out_dir,
        jobs,
        _work,
        source="pku-mmd",
        class_names=class_names(),
        benchmarks=chosen,
        excluded=excluded + bad,
        extra=extra,
        num_inputs=len(available | set(videos)),
        workers=workers,
        skip_bad=skip_bad,
        overwrite=overwrite,
        progress=progress,
        max_frames=max_frames,
        notes=notes,
        inputs=[skeleton_dir, label_dir, *files],
        shortening="cut" if reference else "resampled",
    )
