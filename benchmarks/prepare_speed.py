"""Preparation speed: `prepare_ntu` against a plain per-frame, per-joint Python pipeline.

    .venv/bin/python benchmarks/prepare_speed.py [--files 2000] [--workers 1 2]

Replicates the real NTU samples of ../shared/data/ntu_samples into a temporary folder (hard
links under new replication ids), then times, on the same files and in one run:
- baseline: the steps of the project's pipeline written the way the widely used scripts
  are (ST-GCN / 2s-AGCN `ntu_gendata.py` + `preprocess.py`): the file read line by line into
  a dict per joint, nested loops over frames, bodies and joints, one `np.dot` per joint for
  the rotation, each sample written into a memory-mapped array;
- skelcmd, processing only: the per-file work of a `prepare_ntu` worker (parse, select the
  bodies, fill null frames, align), in this process;
- skelcmd end to end: `prepare_ntu(..., benchmarks=["xsub"])` (listing, parsing, selection,
  alignment, writing the data set and the report), for each `--workers` value.
It checks that both give the same coordinates and prints files per second, files per CPU
second ("per core": robust to other load on the machine) and the ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from skelcmd.data.format import open_dataset
from skelcmd.sources.driver import keep_freed_memory
from skelcmd.sources.ntu import _work, missing_skeletons, prepare_ntu

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ntu_samples"
BODY_KEYS = (
    "bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState "
    "isResticted leanX leanY trackingState"
).split()
JOINT_KEYS = (
    "x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ "
    "trackingState"
).split()


def replicate(folder: Path, count: int) -> list[Path]:
    """`count` files: the real samples under new replication ids (hard links when possible)."""
    sources = sorted(SAMPLES.glob("*.skeleton"))
    missing, files = missing_skeletons("ntu60"), []
    for rep in range(1, 1000):
        for source in sources:
            name = f"{source.name[:13]}{rep:03d}{source.name[16:]}"
            if len(files) == count:
                return files
            if name[:20] in missing:
                continue
            target = folder / name
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            files.append(target)
    return files


def read_baseline(path: Path) -> dict:
    """The widely used reader: line by line, a dict per body and per joint."""
    with open(path) as f:
        sequence = {"numFrame": int(f.readline()), "frameInfo": []}
        for _ in range(sequence["numFrame"]):
            frame = {"numBody": int(f.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                body = dict(zip(BODY_KEYS, f.readline().split(), strict=True))
                body["numJoint"] = int(f.readline())
                body["jointInfo"] = [
                    {k: float(v) for k, v in zip(JOINT_KEYS, f.readline().split(), strict=True)}
                    for _ in range(body["numJoint"])
                ]
                frame["bodyInfo"].append(body)
            sequence["frameInfo"].append(frame)
    return sequence


def nonzero_std(s: np.ndarray) -> float:
    """Motion energy as in the widely used `get_nonzero_std`: s is (T, V, 3)."""
    s = s[s.sum(-1).sum(-1) != 0]
    return float(s[:, :, 0].std() + s[:, :, 1].std() + s[:, :, 2].std()) if len(s) else 0.0


def baseline_sample(path: Path) -> tuple[np.ndarray, int]:
    """Same steps as skelcmd (see align.py), per frame and per joint: (3, T, 25, 2), T."""
    sequence = read_baseline(path)
    num_frames = sequence["numFrame"]
    ids: list[str] = []
    for frame in sequence["frameInfo"]:
        for body in frame["bodyInfo"]:
            if body["bodyID"] not in ids:
                ids.append(body["bodyID"])
    bodies = np.zeros((len(ids), num_frames, 25, 3))
    seen = set()
    for t, frame in enumerate(sequence["frameInfo"]):
        for body in frame["bodyInfo"]:
            b = ids.index(body["bodyID"])
            if (b, t) in seen:
                continue
            seen.add((b, t))
            for j, joint in enumerate(body["jointInfo"]):
                bodies[b, t, j, :] = [joint["x"], joint["y"], joint["z"]]
    energy = [nonzero_std(body) for body in bodies]
    order = sorted(range(len(ids)), key=lambda b: -energy[b])[:2]
    x = np.zeros((2, num_frames, 25, 3))
    for m, b in enumerate(order):
        x[m] = bodies[b]
    valid = [t for t in range(num_frames) if x[:, t].any()]
    filled = np.zeros_like(x)
    for t in range(num_frames):  # drop null frames, repeat the rest
        filled[:, t] = x[:, valid[t % len(valid)]]
    first = next(t for t in range(num_frames) if filled[0, t].any())
    hip, spine = filled[0, first, 0], filled[0, first, 1]
    left, right = filled[0, first, 4], filled[0, first, 8]
    z = (spine - hip) / np.linalg.norm(spine - hip)
    x_axis = (right - left) - np.dot(right - left, z) * z
    x_axis = x_axis / np.linalg.norm(x_axis)
    rotation = np.array([x_axis, np.cross(z, x_axis), z])
    out = np.zeros((3, num_frames, 25, 2), dtype=np.float32)
    for m in range(2):
        for t in range(num_frames):
            for j in range(25):
                joint = filled[m, t, j]
                if joint.any():
                    out[:, t, j, m] = np.dot(rotation, joint - spine)
    return out, num_frames


class Clock:
    """Wall time and CPU time of this process and its finished children."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        me, children = (
            resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def run_baseline(files: list[Path], out: Path) -> float:
    """Process every file and write it into a memory-mapped array; returns the CPU seconds of
    the processing alone (reading, selection, null frames, alignment)."""
    data = np.lib.format.open_memmap(
        out, mode="w+", dtype=np.float32, shape=(len(files), 3, 300, 25, 2)
    )
    processing = 0.0
    for i, path in enumerate(files):
        start = time.process_time()
        sample, length = baseline_sample(path)
        processing += time.process_time() - start
        data[i, :, :length] = sample
    data.flush()
    del data
    return processing


def run_worker(files: list[Path]) -> float:
    """CPU seconds of skelcmd's per-file work (what a pool worker does), in this process."""
    keep_freed_memory()
    start = time.process_time()
    for path in files:
        outcome = _work((str(path), path.stem, 0, {}, True, 300))
        assert outcome.samples, outcome
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not SAMPLES.is_dir():
        sys.exit(f"{SAMPLES} is absent: this benchmark needs the real NTU samples.")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        files = replicate(raw, args.files)
        n = len(files)
        size = sum(f.stat().st_size for f in files) / 1e6
        print(
            f"{n} files ({size:.0f} MB), {os.cpu_count()} CPUs. Per core = files per CPU "
            "second of this process and its workers."
        )
        print(f"{'':48s} {'files/s':>9s} {'per core':>9s} {'per core vs baseline':>21s}")
        with Clock() as base:
            base_processing = run_baseline(files, Path(tmp) / "baseline.npy")
        worker = run_worker(files)
        line("baseline, processing only", n, None, base_processing, base_processing)
        line("skelcmd, processing only (parse, select, align)", n, None, worker, base_processing)
        line("baseline, end to end (with writing)", n, base.wall, base.cpu, base.cpu)
        walls = {}
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            with Clock() as clock:
                prepare_ntu(
                    raw, out, dataset="ntu60", benchmarks=["xsub"], workers=workers, progress=False
                )
            walls[workers] = clock.wall
            what = f"skelcmd prepare_ntu, end to end, --workers {workers}"
            line(what, n, clock.wall, clock.cpu, base.cpu)
        first = min(walls)
        for workers, wall in walls.items():
            if workers != first:
                print(
                    f"--workers {workers}: {walls[first] / wall:.2f}x the files/s of "
                    f"--workers {first} (wall clock)"
                )
        check(files[: len(set(f.name[16:] for f in files))], Path(tmp) / "baseline.npy", out)


def line(what: str, files: int, wall: float | None, cpu: float, base_cpu: float) -> None:
    rate = f"{files / wall:9.1f}" if wall else f"{'':9s}"
    print(f"{what:48s} {rate} {files / cpu:9.1f} {base_cpu / cpu:20.1f}x")


def check(files: list[Path], baseline: Path, out: Path) -> None:
    """Both pipelines give the same coordinates (float32 rounding aside)."""
    expected = np.load(baseline, mmap_mode="r")
    dataset = open_dataset(out / "xsub")
    found = {}
    for split in dataset.splits.values():
        for i, name in enumerate(split.names or []):
            found[name] = split.data[i]
    worst = max(float(np.abs(found[f.name[:20]] - expected[i]).max()) for i, f in enumerate(files))
    assert worst < 1e-5, worst
    print(f"same output as the baseline on {len(files)} files (max |difference| {worst:.1e})")


if __name__ == "__main__":
    main()
