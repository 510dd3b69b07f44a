"""Preparation speed: `prepare_ntu` against the reference pipeline written the per-joint way.

    .venv/bin/python -m benchmarks.prepare_speed [--files 1000] [--workers 1 2]

Replicates the real NTU samples (ntu_samples/ in the folder `data_paths.py` names) into a
temporary folder (hard links under new replication ids), then times, on the same files and in
one run:
- baseline: the reference preparation (CMD's ntu_gendata.py + 2s-AGCN's pre_normalization)
  as those scripts write it, `reference_prepare.py`: each file read line by line into a dict
  per joint, `read_xyz` filling 4 body slots frame by frame and joint by joint, the energy
  selection, every sample in one float32 array, `pre_normalization` with its loops over
  frames and one `np.dot` per joint, `np.save`;
- skelcmd, processing only: the per-file work of a `prepare_ntu` worker (parse, select the
  bodies, the reference normalisation), in this process;
- skelcmd end to end: `prepare_ntu(..., benchmarks=["xsub"])` (listing, parsing, selection,
  normalisation, writing the data set and the report), for each `--workers` value.
It checks that skelcmd writes the baseline's arrays and frame counts, and prints files per
second, files per CPU second ("per core": robust to other load on the machine) and ratios.
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

from benchmarks.data_paths import SHARED_DATA
from benchmarks.reference_prepare import ntu_arrays, pre_normalization
from skelcmd.data.format import open_dataset
from skelcmd.sources.ntu import missing_skeletons, prepare_ntu, prepare_skeleton_file
from skelcmd.sources.pool import keep_freed_memory

SAMPLES = SHARED_DATA / "ntu_samples"
MAX_FRAMES = 300


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
    """The reference preparation of every file, saved to `out` (data) and `out`.lengths.npy;
    returns the CPU seconds of the processing alone (reading, selection, pre_normalization)."""
    start = time.process_time()
    data, num_frame = ntu_arrays(files)  # (N, 3, 300, 25, 2) float32, as the reference holds it
    pre_normalization(data)
    processing = time.process_time() - start
    np.save(out, data)
    np.save(out.with_suffix(".lengths.npy"), num_frame)
    return processing


def run_worker(files: list[Path]) -> float:
    """CPU seconds of skelcmd's per-file work (what a pool worker does), in this process."""
    keep_freed_memory()
    start = time.process_time()
    for path in files:
        payload = (str(path), path.stem, 0, {}, True, MAX_FRAMES, "reference")
        outcome = prepare_skeleton_file(payload)
        assert outcome.samples, outcome
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
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
        line("skelcmd, processing only (parse, normalise)", n, None, worker, base_processing)
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
        check(files, Path(tmp) / "baseline.npy", out)


def line(what: str, files: int, wall: float | None, cpu: float, base_cpu: float) -> None:
    rate = f"{files / wall:9.1f}" if wall else f"{'':9s}"
    print(f"{what:48s} {rate} {files / cpu:9.1f} {base_cpu / cpu:20.1f}x")


def check(files: list[Path], baseline: Path, out: Path) -> None:
    """skelcmd wrote the baseline's arrays (to 1e-5: the baseline works in float32) and its
    frame counts, for every file."""
    expected = np.load(baseline, mmap_mode="r")
    lengths = np.load(baseline.with_suffix(".lengths.npy"))
    found = {}
    for split in open_dataset(out / "xsub").splits.values():
        for i, name in enumerate(split.names or []):
            found[name] = (split.data[i], int(split.lengths[i]))
    worst = 0.0
    for i, f in enumerate(files):
        data, length = found[f.name[:20]]
        assert length == min(lengths[i], MAX_FRAMES), (f.name, length, lengths[i])
        worst = max(worst, float(np.abs(data - expected[i]).max()))
    assert worst < 1e-5, worst
    print(
        f"same arrays and frame counts as the baseline on all {len(files)} files "
        f"(max |difference| {worst:.1e})"
    )


if __name__ == "__main__":
    main()
