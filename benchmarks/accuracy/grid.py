"""The accuracy grid: {random init, MoCo, CMD} x encoders x seeds, each scored by kNN and linear
evaluation on every stream and the ensemble.

A grid file (YAML) names the data set, the pretraining preset, the encoders and the seeds; see
`utd_mhad.yaml`. With `folds` (e.g. `sbu.yaml`: fold1 .. fold5, one data set each under `data`)
every cell runs once per fold, in `OUT/<fold>/...`, and the summary averages over seeds and
folds. Every cell lives in `OUT/<encoder>/<method>/seed<k>/`: the pretraining run
(MoCo and CMD), the evaluation records of each of `PROBES` (`<probe>/eval/`) and `cell.json`,
written last, which marks the cell done. A half-finished grid therefore resumes: done cells
are read back, a pretraining run that stopped is resumed from its `last.pt`, and nothing
finished is run again.

MoCo is CMD with `cmd.weight=0`, on the same config, so both get the same pretraining budget
(epochs, steps, batch, queue, encoder). Random init is the same encoder, untrained, seeded by
the cell's seed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from skelcmd.atomic import atomic_path
from skelcmd.config import (
    PretrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    read_yaml,
    to_dict,
)
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError

METHODS = {"random": None, "moco": ["cmd.weight=0"], "cmd": []}  # pretraining overrides
# The grid's scores: name -> (evaluation protocol, overrides after the grid's own). The linear
# probe runs twice, the paper's on raw features and one on standardized features, as the
# project reports both (benchmarks/README.md, issue 16).
PROBES = {
    "knn": ("knn", []),
    "linear": ("linear", ["feature_norm=none"]),
    "linear_std": ("linear", ["feature_norm=standardize"]),
}
PROTOCOLS = tuple(PROBES)
CELL_FILE = "cell.json"


@dataclass
class GridSpec:
    """What a grid file holds (every list of overrides is `key=value` strings, as `--set`)."""

    data: str  # a prepared data set (`skelcmd info` reads it), or the folder of the folds
    pretrain: str  # a pretraining preset or YAML file
    encoders: dict[str, list[str]]  # name -> overrides selecting and sizing that encoder
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    overrides: list[str] = field(default_factory=list)  # for every pretraining run
    knn: str = "knn"  # eval preset or YAML file
    knn_overrides: list[str] = field(default_factory=list)
    linear: str = "linear"
    linear_overrides: list[str] = field(default_factory=list)
    folds: list[str] = field(default_factory=list)  # data sets under `data`, e.g. fold1 .. fold5

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise UserError(
                f"methods {self.methods} must be a non-empty subset of {', '.join(METHODS)}."
            )
        if not self.encoders or not self.seeds:
            raise UserError("a grid needs at least one encoder and one seed.")


def read_grid(path: str | Path, overrides: list[str] | None = None) -> GridSpec:
    """The grid file at `path`; `overrides` (`key=value`) replace its top-level entries."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"grid file {path} does not exist (see benchmarks/accuracy/*.yaml).")
    values = read_yaml(path, kind="grid")
    spec = from_dict(GridSpec, apply_overrides(values, overrides or []), where=f"{path}: ")
    spec.validate()
    return spec


@dataclass(frozen=True)
class Cell:
    encoder: str
    method: str
    seed: int
    fold: str = ""  # a data set under the grid's `data`; "" when the grid has no folds

    @property
    def name(self) -> str:
        return (
            f"{self.fold}/" if self.fold else ""
        ) + f"{self.encoder}/{self.method}/seed{self.seed}"


def cells(spec: GridSpec) -> list[Cell]:
    """Seed by seed (and fold by fold), so a grid stopped part-way already has whole seeds to
    compare."""
    return [
        Cell(encoder, method, seed, fold)
        for seed in spec.seeds
        for fold in spec.folds or [""]
        for encoder in spec.encoders
        for method in spec.methods
    ]


def data_path(spec: GridSpec, cell: Cell) -> str:
    """The data set a cell trains and is evaluated on: `data`, or its fold under `data`."""
    return str(Path(spec.data) / cell.fold) if cell.fold else spec.data


def pretrain_config(spec: GridSpec, cell: Cell) -> PretrainConfig:
    """The cell's pretraining config; random init uses the CMD config (it is never trained)."""
    method = METHODS[cell.method] or []
    return load_config(
        spec.pretrain,
        [
            f"data.path={data_path(spec, cell)}",
            *spec.overrides,
            *spec.encoders[cell.encoder],
            *method,
            f"train.seed={cell.seed}",
        ],
    )


def eval_config(spec: GridSpec, probe: str, seed: int) -> Any:
    """The evaluation config of one of `PROBES` for a cell of seed `seed`."""
    from skelcmd.evaluate.protocols import load_eval_config

    protocol, extra = PROBES[probe]
    preset, overrides = (
        (spec.knn, spec.knn_overrides)
        if protocol == "knn"
        else (spec.linear, spec.linear_overrides)
    )
    return load_eval_config(protocol, preset, [*overrides, *extra, f"seed={seed}"])


def write_untrained(config: PretrainConfig, path: Path) -> Path:
    """A checkpoint of the untrained model of `config` (seeded by `train.seed`), so the random-
    init baseline is scored by the same code path as a pretrained run."""
    from skelcmd.checkpoints import checkpoint_state, save_checkpoint
    from skelcmd.model import build_model

    dataset = open_dataset(config.data.path, check_values=False)
    persons = dataset.split(config.data.split).data.shape[4]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model = build_model(config, dataset.layout, persons, channels=dataset.channels)
    save_checkpoint(path, checkpoint_state(model, config, dataset.layout, persons))
    return path


def read_cell(out: Path, cell: Cell) -> dict[str, Any] | None:
    """The finished cell's results, or None if it has not finished."""
    path = out / cell.name / CELL_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise UserError(f"{path} is damaged; delete it to run that cell again.") from None


def run_cell(spec: GridSpec, cell: Cell, out: Path, progress: bool = True) -> dict[str, Any]:
    """Pretrain (or reuse), evaluate every protocol, and write `cell.json`; return its content."""
    from skelcmd.evaluate.commands import evaluate
    from skelcmd.train import pretrain_or_reuse

    folder = out / cell.name
    pretraining = pretrain_config(spec, cell)
    seconds: dict[str, float] = {}
    if cell.method == "random":
        checkpoint = write_untrained(pretraining, folder / "untrained.pt")
    else:
        checkpoint = pretrain_or_reuse(pretraining, folder, progress=progress)
        history = json.loads((folder / "history.json").read_text())
        seconds["pretrain"] = sum(epoch["seconds"] for epoch in history)
    results: dict[str, Any] = {"cell": cell.__dict__, "config": to_dict(pretraining)}
    for probe, (protocol, _) in PROBES.items():
        tick = time.perf_counter()
        config = eval_config(spec, probe, cell.seed)
        records = evaluate(
            protocol,
            checkpoint,
            data_path(spec, cell),
            config=config,
            random_init=cell.method == "random",
            out_dir=folder / probe,
            progress=progress,
        )
        seconds[probe] = time.perf_counter() - tick
        if protocol == "knn":  # the table shows the first k of `ks`
            records = [r for r in records if r.extra.get("k", config.ks[0]) == config.ks[0]]
        results[probe] = {r.stream: r.top1 for r in records}
        if protocol == "linear":
            results[f"{probe}_best"] = {r.stream: r.extra.get("best_top1") for r in records}
    results["seconds"] = seconds
    with atomic_path(folder / CELL_FILE) as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    return results


def check_cell(spec: GridSpec, cell: Cell, done: dict[str, Any], out: Path) -> None:
    """A finished cell must come from the config the grid would run now."""
    stored = from_dict(PretrainConfig, done["config"])
    if stored != pretrain_config(spec, cell):
        raise UserError(
            f"{out / cell.name} was run with another pretraining config than the grid file now "
            "gives; use another --out, or delete that folder to run the cell again."
        )
