"""The accuracy grid over folds (benchmarks/accuracy, `folds:`): cells per fold, means over seeds
and folds against a plain computation, and a tiny grid run on two folds."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.accuracy import grid, summary
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY


def test_cells_per_fold_and_their_data():
    spec = grid.GridSpec(data="runs/sbu", pretrain="p", encoders={"gru": []}, seeds=[0, 1],
                         methods=["moco", "cmd"], folds=["fold1", "fold2"])  # fmt: skip
    names = [c.name for c in grid.cells(spec)]
    assert names[:4] == ["fold1/gru/moco/seed0", "fold1/gru/cmd/seed0", "fold2/gru/moco/seed0",
                         "fold2/gru/cmd/seed0"]  # fmt: skip
    assert len(names) == 8
    cell = grid.Cell("gru", "cmd", 1, "fold2")
    assert grid.data_path(spec, cell) == str(Path("runs/sbu/fold2"))
    assert grid.Cell("gru", "cmd", 1).name == "gru/cmd/seed1"  # grids without folds: unchanged


def test_summary_averages_over_seeds_and_folds():
    folds = ["fold1", "fold2", "fold3"]
    spec = grid.GridSpec(data="d", pretrain="p", encoders={"gru": []}, seeds=[0, 1], folds=folds)
    rng = np.random.default_rng(0)
    done = {
        cell: {p: {"joint": float(rng.uniform(0, 100))} for p in grid.PROTOCOLS}
        for cell in grid.cells(spec)
    }
    result = summary.summarise(spec, done)
    row = next(r for r in result["rows"] if r["method"] == "cmd")
    values = [done[grid.Cell("gru", "cmd", s, f)]["knn"]["joint"] for s in (0, 1) for f in folds]
    mean = sum(values) / 6
    std = (sum((v - mean) ** 2 for v in values) / 5) ** 0.5
    assert row["knn/joint"]["mean"] == pytest.approx(mean)
    assert row["knn/joint"]["std"] == pytest.approx(std)
    assert row["runs"] == 6 and row["seeds"] == [0, 1]
    (diff,) = result["differences"]
    paired = [
        done[grid.Cell("gru", "cmd", s, f)]["linear"]["joint"]
        - done[grid.Cell("gru", "moco", s, f)]["linear"]["joint"]
        for s in (0, 1)
        for f in folds
    ]
    assert diff["linear/joint"]["mean"] == pytest.approx(sum(paired) / 6)
    table = summary.markdown(result, "t")
    assert "| encoder | init | seeds x folds |" in table and "| gru | CMD | 6 |" in table
    assert "over seeds and the 3 folds (fold1, fold2, fold3)" in table


@pytest.mark.slow
def test_a_grid_runs_on_two_folds(tmp_path):
    from benchmarks.accuracy import run

    for k in (1, 2):
        write_synthetic(tmp_path / "data" / f"fold{k}", num_samples=48, seed=k, benchmarks=["xsub"])
        (tmp_path / "data" / f"fold{k}" / "xsub").rename(tmp_path / "tmp")
        (tmp_path / "data" / f"fold{k}").rmdir()
        (tmp_path / "tmp").rename(tmp_path / "data" / f"fold{k}")
    content = {
        "data": str(tmp_path / "data"),
        "folds": ["fold1", "fold2"],
        "pretrain": "synthetic_cpu",
        "overrides": [*TINY, "optim.epochs=1"],
        "encoders": {"gru": ["model.encoder=gru"]},
        "seeds": [0],
        "methods": ["random", "cmd"],
        "knn_overrides": ["frames=16"],
        "linear_overrides": ["frames=16", "min_frames=16", "epochs=1", "milestones=[1]"],
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(content))
    out = tmp_path / "out"
    assert run.main([str(tmp_path / "grid.yaml"), "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "results.json").read_text())
    names = sorted(c["name"] for c in report["cells"])
    assert names == ["fold1/gru/cmd/seed0", "fold1/gru/random/seed0", "fold2/gru/cmd/seed0",
                     "fold2/gru/random/seed0"]  # fmt: skip
    cells = {c["name"]: c for c in report["cells"]}
    assert cells["fold2/gru/cmd/seed0"]["config"]["data"]["path"] == str(tmp_path / "data/fold2")
    row = next(r for r in report["summary"]["rows"] if r["method"] == "cmd")
    assert row["knn/joint"]["values"] == [cells[f"fold{k}/gru/cmd/seed0"]["knn"]["joint"]
                                          for k in (1, 2)]  # fmt: skip
    assert "| gru | CMD | 2 |" in (out / "results.md").read_text()
