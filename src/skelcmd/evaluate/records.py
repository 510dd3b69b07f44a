"""Evaluation records: one JSON file per result, in `<run dir>/eval/`, read back by the report.

A record is one accuracy figure with everything needed to reproduce and label it: the protocol,
the stream, the data set, the checkpoint (or a random-init encoder), the protocol's settings,
the time it took and the skelcmd version. File names (`record_name`):

    eval/<protocol>_<stream>[_random][_frac<p>][_k<k>][_<feature norm>].json

`_random` marks a random-init baseline, `_frac<p>` a label fraction (`extra["label_fraction"]`,
semi-supervised), `_k<k>` the neighbours of a kNN figure (`extra["k"]`), `_standardize` or `_l2`
what a linear classifier's input went through (`extra["feature_norm"]`; none for the paper's
raw features). `read_records` reads the files of that pattern below the directories it is
given; a malformed one is an error.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skelcmd import __version__
from skelcmd.atomic import atomic_path
from skelcmd.errors import UserError, read_json
from skelcmd.names import RECORDED_PROTOCOLS

EVAL_DIR = "eval"
DATASET_KEYS = ("path", "source", "benchmark", "split")


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Record:
    """One evaluation result. Accuracies are percentages (84.1 means 84.1 %).

    `extra` holds what applies to the protocol: `best_top1` / `best_epoch` (linear,
    fine-tuning), `per_seed` (list of top-1 per seed), `mean` / `std` (over seeds),
    `label_fraction`, `k`, `feature_norm` (linear), `bn_stats` (random init: "train" when its
    BatchNorm statistics were recomputed on the train split, "init" when not). `path` is the
    file a record was read from (not stored).
    """

    protocol: str  # one of skelcmd.names.RECORDED_PROTOCOLS
    stream: str  # joint | motion | bone | ensemble
    dataset: dict[str, Any]  # path, source, benchmark, split (the evaluated split)
    top1: float
    top5: float | None = None
    checkpoint: str | None = None
    random_init: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the protocol's configuration
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    created: str = field(default_factory=now_iso)
    version: str = __version__
    path: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.protocol not in RECORDED_PROTOCOLS:
            raise ValueError(
                f"protocol {self.protocol!r} is not one of {', '.join(RECORDED_PROTOCOLS)}"
            )
        if not isinstance(self.stream, str) or not self.stream:
            raise ValueError(f"stream must be a non-empty string, got {self.stream!r}")
        missing = [key for key in DATASET_KEYS if key not in self.dataset]
        if missing:
            raise ValueError(f"dataset lacks {', '.join(missing)} (it needs {DATASET_KEYS})")

    @property
    def dataset_label(self) -> str:
        """The table column of the record: "source benchmark", e.g. "ntu60 xsub"."""
        return f"{self.dataset['source']} {self.dataset['benchmark']}".strip()

    @property
    def seeds(self) -> list[float]:
        """Top-1 of every seed (empty when the protocol ran once)."""
        return [float(v) for v in self.extra.get("per_seed") or []]

    def mean_std(self) -> tuple[float, float | None]:
        """(top-1, its standard deviation over seeds or None with fewer than two seeds).

        Uses `extra["mean"]` / `extra["std"]` when given, else the seeds' mean and population
        standard deviation (numpy's default, ddof=0).
        """
        seeds = self.seeds
        if len(seeds) < 2:
            return float(self.top1), None
        mean = float(self.extra.get("mean", np.mean(seeds)))
        std = float(self.extra.get("std", np.std(seeds)))
        return mean, std

    def to_dict(self) -> dict[str, Any]:
        """The JSON content: every field but `path`, as plain JSON types."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.pop("path")
        return _plain(fields)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Record:
        names = {f.name for f in dataclasses.fields(cls)} - {"path"}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        return cls(**data, path=path)


def _plain(value: Any) -> Any:
    """`value` with Paths as strings, tuples as lists and numpy scalars/arrays as Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    return value


def _fraction_tag(fraction: float) -> str:
    """0.01 -> "0.01", 0.1 -> "0.1", 1 -> "1" (the shortest exact decimal)."""
    return f"{float(fraction):g}" if math.isfinite(float(fraction)) else str(fraction)


def record_name(record: Record) -> str:
    """`<protocol>_<stream>[_random][_frac<p>][_k<k>][_<feature norm>].json` (see the module
    docstring)."""
    parts = [record.protocol, record.stream]
    if record.random_init:
        parts.append("random")
    if record.extra.get("label_fraction") is not None:
        parts.append(f"frac{_fraction_tag(record.extra['label_fraction'])}")
    k = record.extra.get("k")
    if k is not None:
        parts.append("k" + ("-".join(map(str, k)) if isinstance(k, list | tuple) else str(k)))
    norm = record.extra.get("feature_norm")
    if norm not in (None, "none"):
        parts.append(str(norm))
    return "_".join(parts) + ".json"


def write_record(run_dir: str | Path, record: Record) -> Path:
    """Write `record` to `run_dir/eval/<record_name>` atomically; return the file's path."""
    path = Path(run_dir) / EVAL_DIR / record_name(record)
    text = json.dumps(record.to_dict(), indent=1) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def read_record(path: str | Path) -> Record:
    """One record file; a file that is not a valid record is a UserError naming it."""
    path = Path(path)
    data = read_json(path, "an evaluation record")
    if not isinstance(data, dict):
        raise UserError(f"{path} is not an evaluation record (a JSON object is expected).")
    try:
        return Record.from_dict(data, path)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path} is not a valid evaluation record: {exc}.") from None


def record_files(path: str | Path) -> list[Path]:
    """A record file itself, or every `eval/<protocol>_*.json` at any depth below a directory
    (sorted); other files there (e.g. the `.json` beside an embedding) are not records."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = {
            p
            for p in path.glob(f"**/{EVAL_DIR}/*_*.json")
            if p.name.split("_")[0] in RECORDED_PROTOCOLS
        }
        return sorted(found)
    raise UserError(f"{path} does not exist; give run directories or record files.")


def read_records(paths: Sequence[str | Path] | Iterable[str | Path]) -> list[Record]:
    """Every record of the given files and directories, in the order given (a file reached
    twice is read once). A directory without records contributes nothing; a file that is not
    a valid record stops with a UserError that names it."""
    seen: set[Path] = set()
    records = []
    for path in paths:
        for file in record_files(path):
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                records.append(read_record(file))
    return records
