"""`skelcmd extract VIDEO... OUT_DIR`: poses from videos by MediaPipe Pose, as a data set.

MediaPipe's legacy pose model ships inside its wheels up to 0.10.21, which need numpy < 2
(and Python 3.9 to 3.12); skelcmd itself runs on numpy 2, so the estimator lives in an
environment of its own (`INSTALL`), and skelcmd runs `mediapipe_worker.py` there, one
subprocess a video. The worker writes each video's landmarks as a CSV (into --landmarks DIR
to keep them, else a temporary folder), and `import_mediapipe` turns them into the data set:
world landmarks (3D, metres) by default, or image landmarks (2D). Nothing is downloaded: the
worker refuses to run without the model files of the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from skelcmd.data.writer import check_replaceable
from skelcmd.errors import UserError
from skelcmd.sources.pose_estimators.dataset import PoseImportSummary
from skelcmd.sources.pose_estimators.mediapipe import import_mediapipe

WORKER = Path(__file__).with_name("mediapipe_worker.py")
PYTHON_VARIABLE = "SKELCMD_MEDIAPIPE_PYTHON"
CHECK_SECONDS = 300
INSTALL = (
    "skelcmd extract runs MediaPipe Pose 0.10.21, whose pose model ships inside the package "
    "(nothing is downloaded); it needs numpy < 2 and Python 3.9 to 3.12, so install it in an "
    "environment of its own and skelcmd's stays as it is:\n"
    "    python3.12 -m venv ~/.skelcmd-mediapipe\n"
    "    ~/.skelcmd-mediapipe/bin/pip install mediapipe==0.10.21\n"
    f"then pass --python ~/.skelcmd-mediapipe/bin/python (or set {PYTHON_VARIABLE} to it). "
    "Or run any pose estimator yourself and import its output: skelcmd import openpose | "
    "mediapipe | mmpose | yolo-pose."
)


def backend_python(python: str | Path | None = None) -> str:
    """The interpreter that runs the worker: `python`, else $SKELCMD_MEDIAPIPE_PYTHON, else
    this one."""
    return str(python or os.environ.get(PYTHON_VARIABLE) or sys.executable)


def check_backend(python: str | Path | None = None) -> dict:
    """{"mediapipe": version, "model": path} of the backend, or a UserError saying exactly
    what to install."""
    interpreter = backend_python(python)
    try:
        done = subprocess.run(
            [interpreter, "-I", str(WORKER), "--check"],
            capture_output=True,
            text=True,
            timeout=CHECK_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {interpreter} ({exc}).\n{INSTALL}") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{interpreter} cannot run MediaPipe Pose ({reason}).\n{INSTALL}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_worker(interpreter: str, video: Path, world: Path, image: Path) -> dict:
    done = subprocess.run(
        [interpreter, "-I", str(WORKER), str(video), str(world), str(image)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-3:])
        raise UserError(
            f"MediaPipe Pose failed on {video}:\n{tail}\nCheck that the file is a "
            "video OpenCV can read (e.g. H.264 .mp4)."
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def extract(
    videos: Sequence[str | Path],
    out_dir: str | Path,
    *,
    python: str | Path | None = None,
    coordinates: str = "world",
    landmarks: str | Path | None = None,
    labels: str | Path | None = None,
    persons: int = 2,
    split: str = "train",
    overwrite: bool = False,
) -> PoseImportSummary:
    """Run MediaPipe Pose on every video and write the data set `out_dir` (see the module
    docstring); one clip per video (or per labelled segment, `labels` as for the importers)."""
    if coordinates not in ("world", "image"):
        raise UserError(f"--coordinates {coordinates!r}: choose world or image.")
    videos = [Path(v) for v in videos]
    if not videos:
        raise UserError("give at least one video to extract poses from.")
    for video in videos:
        if not video.is_file():
            raise UserError(f"video {video} does not exist.")
    stems = [v.stem for v in videos]
    twice = next((s for s in stems if stems.count(s) > 1), None)
    if twice is not None:
        raise UserError(
            f"two videos are named {twice}; a clip is named after its video, so rename one."
        )
    inputs = [*videos, *([Path(labels)] if labels else [])]
    check_replaceable(Path(out_dir), inputs, overwrite=overwrite)
    interpreter = backend_python(python)
    backend = check_backend(interpreter)
    with tempfile.TemporaryDirectory(prefix="skelcmd-extract-") as scratch:
        folder = Path(landmarks) if landmarks is not None else Path(scratch)
        (folder / "world").mkdir(parents=True, exist_ok=True)
        (folder / "image").mkdir(parents=True, exist_ok=True)
        notes = []
        for video in videos:
            world, image = (folder / kind / f"{video.stem}.csv" for kind in ("world", "image"))
            done = _run_worker(interpreter, video, world, image)
            notes.append(
                f"{video}: {done['frames']} frames, a pose in {done['with_pose']} "
                f"({done['seconds']} s)"
            )
        summary = import_mediapipe(
            folder / coordinates,
            out_dir,
            coordinates=coordinates,
            labels=labels,
            persons=persons,
            split=split,
            overwrite=overwrite,
        )
    summary.estimator = f"MediaPipe Pose {backend['mediapipe']} (model_complexity 1)"
    summary.notes = (
        notes + ([f"landmarks kept in {folder}"] if landmarks is not None else []) + summary.notes
    )
    return summary
