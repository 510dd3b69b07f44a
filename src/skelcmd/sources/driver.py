"""The driver `skelcmd prepare` shares: workers, progress, writing, summary and report.

A data set importer turns its raw files into `Job`s (one per input file, with the split it
goes to in every benchmark) and a worker function `work(job.payload) -> Outcome`. `run`
parses the files in a process pool (ordered, so the output is the same for any number of
workers), writes every sample into each benchmark's data set as it arrives (memory stays
bounded), and returns a `PrepareSummary`. A bad file stops the run with its error and
nothing is written, unless `skip_bad`: then it is skipped and listed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from skelcmd.atomic import atomic_path, check_output_file
from skelcmd.data.values import BadSample
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError
from skelcmd.skeleton import NTU25
from skelcmd.sources.pool import bounded_workers, keep_freed_memory, start_pool

REPORT_NAME = "prepare_report.txt"
SPLITS = ("train", "test")
REASONS = {  # why an input is not in the output; the listed ones are named in the summary
    "bad-file": "bad files, skipped (--skip-bad)",
    "bad-name": "file names not matching the pattern",
    "other-file": "other files, ignored",
    "no-body": "samples without any body",
    "missing": "on the dataset authors' missing-skeleton list",
    "ntu120-only": "NTU-120-only samples (action > 60 or setup > 17), ignored for NTU-60",
    "not-in-split": "videos not listed in the split file",
    "no-label": "videos whose label file lists no action",
}
LISTED = ("bad-file", "bad-name", "other-file", "no-body", "no-label")
_LIST_AT_MOST = 20
IN_FLIGHT = 64  # jobs per worker handed out ahead of the writer


@dataclass(frozen=True)
class Exclusion:
    """An input left out of the output: its name, a key of `REASONS`, and details."""

    name: str
    reason: str
    detail: str = ""

    def line(self) -> str:
        if not self.detail or self.name in self.detail:
            return self.detail or self.name
        return f"{self.name}: {self.detail}"


@dataclass
class Sample:
    """One prepared sample: data float32 (3, T, V, M) with T <= max_frames frames, the first
    `length` valid; `resampled`: it was longer than max_frames and was shortened (resampled
    or cut, as `run`'s `shortening` says)."""

    name: str
    data: np.ndarray
    length: int
    label: int
    ids: dict[str, int] = field(default_factory=dict)
    resampled: bool = False


@dataclass
class Outcome:
    """What a worker returns for one job: samples, exclusions, or the error of a bad file."""

    samples: list[Sample] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Job:
    """One input file: its worker payload and, per benchmark, the split its samples go to."""

    name: str
    payload: Any
    splits: dict[str, str]
    num_samples: int = 1


@dataclass
class PrepareSummary:
    """What a preparation wrote and left out; `format()` is the text the CLI prints."""

    source: str
    out_dir: Path
    class_names: list[str]
    counts: dict[str, dict[str, np.ndarray]]  # benchmark -> split -> (num_classes,) samples
    excluded: list[Exclusion]
    num_inputs: int
    seconds: float = 0.0
    workers: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def report_path(self) -> Path:
        return self.out_dir / REPORT_NAME

    def written(self, benchmark: str, split: str) -> int:
        """Samples written to one split of one benchmark."""
        counts = self.counts.get(benchmark, {}).get(split)
        return 0 if counts is None else int(counts.sum())

    def format(self) -> str:
        """Samples per benchmark and split, per-class ranges, exclusions and why."""
        lines = [
            f"Prepared {self.source}: {self.num_inputs} input files in {self.seconds:.1f} s "
            f"({self.workers} worker{'s' * (self.workers > 1)}) -> {self.out_dir}"
        ]
        for benchmark, splits in self.counts.items():
            sizes = "  ".join(f"{split} {int(c.sum()):,}" for split, c in splits.items())
            lines.append(f"  {benchmark:6s} {sizes}")
            ranges = ", ".join(
                f"{split} {int(c.min()):,}-{int(c.max()):,}" for split, c in splits.items()
            )
            empty = sum(int((c == 0).sum()) for c in splits.values())
            lines.append(
                f"         per class ({len(self.class_names)} classes): {ranges}"
                + (f"; {empty} class/split pairs have no sample" if empty else "")
            )
        groups = group_by_reason(self.excluded)
        total = sum(len(items) for items in groups.values())
        lines.append(f"Excluded: {total:,}" + (" (nothing)" if not total else ""))
        for reason, items in groups.items():
            lines.append(f"  {len(items):,} {REASONS[reason]}")
            if reason in LISTED:
                lines += [f"    {item.line()}" for item in items[:_LIST_AT_MOST]]
                if len(items) > _LIST_AT_MOST:
                    lines.append(
                        f"    ... and {len(items) - _LIST_AT_MOST:,} more (see the report)"
                    )
        lines += [f"Note: {note}" for note in self.notes[:_LIST_AT_MOST]]
        if len(self.notes) > _LIST_AT_MOST:
            lines.append(f"... and {len(self.notes) - _LIST_AT_MOST:,} more notes (see the report)")
        lines.append(f"Report: {self.report_path}")
        return "\n".join(lines)

    def report(self) -> str:
        """The summary, the full per-class table and every exclusion, one per line."""
        head = ["class"] + [f"{b}/{s}" for b, splits in self.counts.items() for s in splits]
        table = ["\t".join(head)]
        for index, name in enumerate(self.class_names):
            row = [str(int(c[index])) for splits in self.counts.values() for c in splits.values()]
            table.append("\t".join([f"{index + 1} {name}", *row]))
        excluded = [f"{e.name}\t{e.reason}\t{e.detail}" for e in self.excluded] or ["(none)"]
        parts = [self.format(), "\nSamples per class:", *table, "\nExcluded (name, reason, "
                 "detail):", *excluded, "\nNotes:", *(self.notes or ["(none)"])]  # fmt: skip
        return "\n".join(parts) + "\n"


class _Output:
    """Every benchmark's data set writer; a split is created when its first sample arrives
    (sized by `capacity`), so a split nothing reaches is not written."""

    def __init__(
        self, stack: ExitStack, out_dir: Path, benchmarks: list[str], capacity: dict, **writer: Any
    ):
        self.writers = {
            b: stack.enter_context(DatasetWriter(out_dir / b, NTU25, benchmark=b, **writer))
            for b in benchmarks
        }
        classes = len(writer["class_names"])
        self.counts = {b: {s: np.zeros(classes, np.int64) for s in SPLITS} for b in benchmarks}
        self.capacity, self.splits = capacity, {}

    def add(self, sample: Sample, splits: dict[str, str], shape: tuple[int, int]) -> None:
        for benchmark, split in splits.items():
            key = (benchmark, split)
            if key not in self.splits:
                self.splits[key] = self.writers[benchmark].add_split(
                    split, self.capacity[key], *shape
                )
            self.splits[key].append(
                sample.data[None], np.array([sample.length]), np.array([sample.label]),
                names=[sample.name], **{k: np.array([v]) for k, v in sample.ids.items()},
            )  # fmt: skip
            self.counts[benchmark][split][sample.label] += 1

    def finish(self, **extra: Any) -> dict[str, dict[str, np.ndarray]]:
        """Per benchmark and written split: samples per class; `extra` goes into meta.json."""
        for benchmark, writer in self.writers.items():
            if not any(b == benchmark for b, _ in self.splits):
                raise UserError(
                    f"no sample left for benchmark {benchmark}: every input was "
                    "excluded or skipped, so nothing was written."
                )
            writer.meta["extra"].update(extra)
        return {b: {s: c for s, c in splits.items() if (b, s) in self.splits}
                for b, splits in self.counts.items()}  # fmt: skip


def run(
    out_dir: str | Path,
    jobs: list[Job],
    work: Callable[[Any], Outcome],
    *,
    source: str,
    class_names: list[str],
    benchmarks: list[str],
    excluded: list[Exclusion],
    extra: dict[str, Any],
    num_inputs: int,
    workers: int = 1,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    max_frames: int = 300,
    num_persons: int = 2,
    notes: list[str] | None = None,
    inputs: Sequence[str | Path] = (),
    shortening: str = "resampled",
) -> PrepareSummary:
    """Run `work` over `jobs` and write `out_dir/<benchmark>/` for every benchmark.

    Nothing is left behind if it fails: each data set is renamed into place only at the end,
    and the report `out_dir/prepare_report.txt` is written (atomically) after them; an existing
    report is replaced only with `overwrite` (`check_report`, before any work).
    `inputs` (the raw files and folders) are what `overwrite` may never delete.
    `shortening` says how samples longer than `max_frames` were shortened: "resampled"
    (linear interpolation) or "cut" (their first `max_frames` frames kept); meta.json counts
    them as `num_resampled` / `num_cut`.
    """
    workers = bounded_workers(workers)
    if max_frames < 1:
        raise UserError(f"the maximum frame count must be at least 1, got {max_frames}.")
    out_dir, started = Path(out_dir), time.perf_counter()
    check_report(out_dir, overwrite)
    created, excluded, notes, resampled = not out_dir.exists(), list(excluded), list(notes or []), 0
    capacity = {(b, s): 0 for b in benchmarks for s in SPLITS}
    for job in jobs:
        for benchmark, split in job.splits.items():
            capacity[benchmark, split] += job.num_samples
    try:
        with ExitStack() as stack:
            # The writer refuses non-finite values, naming the sample (skelcmd.data.values);
            # numpy's warnings about overflowing casts (forked workers inherit this) add noise.
            stack.enter_context(np.errstate(over="ignore", invalid="ignore"))
            output = _Output(
                stack,
                out_dir,
                benchmarks,
                capacity,
                class_names=class_names,
                source=source,
                extra=dict(extra),
                overwrite=overwrite,
                inputs=inputs,
            )
            outcomes = _outcomes(stack, work, jobs, workers)  # fork before tqdm's thread
            bar = stack.enter_context(
                tqdm(
                    total=len(jobs), unit="file", desc=source, disable=not progress, file=sys.stderr
                )
            )
            for job, outcome in zip(jobs, outcomes, strict=True):
                bar.update()
                if outcome.error is not None and not skip_bad:
                    raise UserError(
                        f"{outcome.error}\nNothing was written. Fix or remove the "
                        "file, or pass --skip-bad to skip bad files and list them."
                    )
                if outcome.error is not None:
                    excluded.append(Exclusion(job.name, "bad-file", outcome.error))
                excluded, notes = excluded + outcome.excluded, notes + outcome.notes
                for sample in outcome.samples:
                    try:  # the writer checks the values (skelcmd.data.values) before writing
                        output.add(sample, job.splits, (max_frames, num_persons))
                    except BadSample as exc:
                        if not skip_bad:
                            raise UserError(f"{exc} Or pass --skip-bad to skip such samples "
                                            "and list them.") from None  # fmt: skip
                        excluded.append(Exclusion(job.name, "bad-file", exc.reason))
                        continue
                    resampled += sample.resampled
            counts = output.finish(
                num_excluded=len(excluded), **{f"num_{shortening}": resampled},
                excluded={k: len(v) for k, v in group_by_reason(excluded).items()},
            )  # fmt: skip
        notes += [
            f"the {benchmark} data set has no {split} split: no input belongs to it (they hold "
            f"only {', '.join(splits)} samples of {benchmark}), so evaluation, which needs "
            "train and test, cannot use it. Check the inputs."
            for benchmark, splits in counts.items()
            for split in SPLITS
            if split not in splits
        ]
        if resampled:
            how = {"resampled": f"resampled to {max_frames} by linear interpolation",
                   "cut": f"cut to their first {max_frames} frames"}[shortening]  # fmt: skip
            notes.append(f"{resampled:,} samples longer than {max_frames} frames were {how}.")
        summary = PrepareSummary(source, out_dir, list(class_names), counts, excluded, num_inputs,
                                 time.perf_counter() - started, workers, notes)  # fmt: skip
        with atomic_path(summary.report_path, overwrite=True) as tmp:
            tmp.write_text(summary.report())
        return summary
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise


def check_report(out_dir: Path, overwrite: bool) -> None:
    """UserError, before any work, if `out_dir/prepare_report.txt` exists (an earlier report or
    a file of the user's) and `overwrite` is not given, or if it is a folder."""
    report = check_output_file(out_dir / REPORT_NAME)
    if (report.exists() or report.is_symlink()) and not overwrite:
        raise UserError(
            f"{report} already exists (the report of an earlier `skelcmd prepare`, or a file of "
            "yours); pass --overwrite to replace it, or give another OUT_DIR. Nothing was "
            "written."
        )


def group_by_reason(excluded: list[Exclusion]) -> dict[str, list[Exclusion]]:
    """Exclusions grouped by reason, in the order of `REASONS`."""
    groups: dict[str, list[Exclusion]] = {}
    for item in excluded:
        groups.setdefault(item.reason, []).append(item)
    return {key: groups[key] for key in REASONS if key in groups}


def _outcomes(
    stack: ExitStack, work: Callable[[Any], Outcome], jobs: list[Job], workers: int
) -> Iterator[Outcome]:
    """Outcomes in job order: in this process for one worker, else from a process pool.

    At most `IN_FLIGHT` jobs per worker are handed out ahead of the writer, so finished
    samples never pile up in memory when writing is the slower side.
    """
    payloads = [job.payload for job in jobs]
    if workers == 1 or len(jobs) < 2:
        keep_freed_memory()
        return map(work, payloads)
    chunk = max(1, min(32, len(jobs) // (workers * 8)))
    window, stop = threading.Semaphore(IN_FLIGHT * workers + chunk * workers), threading.Event()

    def feed() -> Iterator[Any]:  # runs in the pool's task thread
        for payload in payloads:
            window.acquire()
            if stop.is_set():
                return
            yield payload

    def release() -> Iterator[Outcome]:
        for outcome in results:
            window.release()
            yield outcome

    pool = start_pool(stack, min(workers, len(jobs)), keep_freed_memory)
    stack.callback(lambda: (stop.set(), window.release(len(payloads))))  # before terminate
    results = pool.imap(work, feed(), chunksize=chunk)
    return release()
