"""Accuracy study: does CMD beat per-modality MoCo, and MoCo an untrained encoder, on every
stream and on the ensemble?

Runs the grid of a grid file ({random init, MoCo, CMD} x encoders x seeds; kNN and linear
evaluation of every stream and the ensemble) and writes `OUT/results.md` (one table, mean +- std
over seeds) and `OUT/results.json`. Run it again to resume a stopped grid; `--dry-run` lists the
cells still to run with a time estimate measured on this machine.

    python -m benchmarks.accuracy.run benchmarks/accuracy/utd_mhad.yaml --out runs/accuracy/utd
    python -m benchmarks.accuracy.run GRID.yaml --out DIR --dry-run
    python -m benchmarks.accuracy.run GRID.yaml --out DIR --set seeds=[0] --set data=DIR

The UTD-MHAD grid needs `skelcmd import utd-mhad ../shared/data/utd_mhad runs/data/utd` first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.accuracy.grid import (
    CELL_FILE,
    Cell,
    GridSpec,
    cells,
    check_cell,
    read_cell,
    read_grid,
    run_cell,
)
from benchmarks.accuracy.summary import markdown, plot, summarise
from skelcmd.atomic import atomic_path
from skelcmd.config import to_dict
from skelcmd.errors import UserError


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def estimate(spec: GridSpec, todo: list[Cell]) -> dict[Cell, float]:
    """Seconds per cell still to run, from steps timed here (see `probe.py`)."""
    from benchmarks.accuracy.probe import cell_seconds

    per_encoder = {}
    estimates = {}
    for cell in todo:
        if cell.encoder not in per_encoder:
            per_encoder[cell.encoder] = cell_seconds(spec, cell)
        times = per_encoder[cell.encoder]
        estimates[cell] = times["eval"] + (0.0 if cell.method == "random" else times["pretrain"])
    return estimates


def write_results(spec: GridSpec, done: dict[Cell, dict[str, Any]], out: Path, title: str) -> str:
    """Write results.json, results.md and results.png of the finished cells (in grid order);
    return the markdown table."""
    done = {cell: done[cell] for cell in cells(spec) if cell in done}
    summary = summarise(spec, done)
    report = {
        "grid": to_dict(spec),
        "summary": summary,
        "cells": [{**results, "name": cell.name} for cell, results in done.items()],
        "seconds": sum(sum(r["seconds"].values()) for r in done.values()),
    }
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    table = markdown(summary, title)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(table)
    plot(summary, out / "results.png", title)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("grid", help="a grid file, e.g. benchmarks/accuracy/utd_mhad.yaml")
    parser.add_argument("--out", required=True, help="the grid's folder (resumed if it exists)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an entry of the grid file, e.g. --set seeds=[0,1] (repeatable)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would run and estimate its time"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    spec = read_grid(args.grid, args.set)
    out = Path(args.out)
    title = f"{Path(args.grid).stem}: {spec.data}, pretraining preset {spec.pretrain}"
    grid = cells(spec)
    done = {cell: results for cell in grid if (results := read_cell(out, cell)) is not None}
    for cell, results in done.items():
        check_cell(spec, cell, results, out)
    todo = [cell for cell in grid if cell not in done]
    print(f"{len(grid)} cells, {len(done)} done, {len(todo)} to run (output: {out})")
    if args.dry_run:
        estimates = estimate(spec, todo)
        for cell in todo:
            resumed = " (pretraining resumes)" if (out / cell.name / "last.pt").is_file() else ""
            print(f"  {cell.name:28s} ~{_minutes(estimates[cell])}{resumed}")
        print(f"estimated time: {_minutes(sum(estimates.values()))} on this machine")
        return 0
    # a finished grid is only summarised again; otherwise each finished cell rewrites the summary
    table = "" if todo else write_results(spec, done, out, title)
    start = time.perf_counter()
    for number, cell in enumerate(todo, 1):
        print(f"\n== [{number}/{len(todo)}] {cell.name}", flush=True)
        done[cell] = run_cell(spec, cell, out, progress=not args.no_progress)
        table = write_results(spec, done, out, title)  # after every cell: partial results
        seconds = done[cell]["seconds"]
        print(
            "   "
            + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
            + f"; elapsed {_minutes(time.perf_counter() - start)}",
            flush=True,
        )
    print("\n" + table)
    print(f"wrote results.md, .json and .png in {out} ({CELL_FILE} per cell)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
