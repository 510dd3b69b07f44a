"""The accuracy-study runner (benchmarks/accuracy): cells, resume, summaries, dry run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from benchmarks.accuracy import grid, summary
from benchmarks.accuracy import run as accuracy_run
from skelcmd.errors import UserError
from tests.helpers.tiny import TINY

SHORT_EVAL = ["frames=16", "min_frames=16"]


def write_grid(folder: Path, data: Path, **changes) -> Path:
    content = {
        "data": str(data),
        "pretrain": "synthetic_cpu",
        "overrides": TINY,
        "encoders": {"gru": ["model.encoder=gru"]},
        "seeds": [0, 1],
        "knn_overrides": ["frames=16"],
        "linear_overrides": [*SHORT_EVAL, "epochs=2", "milestones=[1]"],
        **changes,
    }
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_moco_and_cmd_share_the_budget_and_differ_only_in_the_weight(data, tmp_path):
    spec = grid.read_grid(write_grid(tmp_path, data))
    moco = grid.pretrain_config(spec, grid.Cell("gru", "moco", 1))
    cmd = grid.pretrain_config(spec, grid.Cell("gru", "cmd", 1))
    assert moco.cmd.weight == 0 and cmd.cmd.weight > 0
    moco.cmd.weight = cmd.cmd.weight
    assert moco == cmd and cmd.train.seed == 1 and cmd.optim.epochs == 2
    assert [c.name for c in grid.cells(spec)][:3] == [
        "gru/random/seed0",
        "gru/moco/seed0",
        "gru/cmd/seed0",
    ]


def test_bad_grid_files_are_explained(data, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        grid.read_grid(tmp_path / "none.yaml")
    with pytest.raises(UserError, match="non-empty subset"):
        grid.read_grid(write_grid(tmp_path, data, methods=["simclr"]))
    code = accuracy_run.main([str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")])
    assert code == 2


def test_untrained_checkpoints_follow_the_seed(data, tmp_path):
    spec = grid.read_grid(write_grid(tmp_path, data))
    states = []
    for seed in (0, 0, 1):
        config = grid.pretrain_config(spec, grid.Cell("gru", "random", seed))
        path = grid.write_untrained(config, tmp_path / f"u{len(states)}.pt")
        states.append(torch.load(path, weights_only=False)["model"])
    key = "branches.joint.encoder_q.fwd.0.weight_hh_l0"
    assert torch.equal(states[0][key], states[1][key])
    assert not torch.equal(states[0][key], states[2][key])


def test_summary_against_plain_means_and_paired_differences():
    spec = grid.GridSpec(data="d", pretrain="p", encoders={"gru": []}, seeds=[0, 1, 2])
    rng = np.random.default_rng(0)
    done = {}
    for cell in grid.cells(spec):
        done[cell] = {
            p: {s: float(rng.uniform(0, 100)) for s in ("joint", "motion", "ensemble")}
            for p in grid.PROTOCOLS
        }
    result = summary.summarise(spec, done)
    assert result["streams"] == ["joint", "motion", "ensemble"]
    row = next(r for r in result["rows"] if r["method"] == "moco")
    values = [done[grid.Cell("gru", "moco", s)]["linear"]["motion"] for s in (0, 1, 2)]
    mean = sum(values) / 3
    std = (sum((v - mean) ** 2 for v in values) / 2) ** 0.5
    assert row["linear/motion"]["mean"] == pytest.approx(mean)
    assert row["linear/motion"]["std"] == pytest.approx(std)
    (diff,) = result["differences"]
    paired = [
        done[grid.Cell("gru", "cmd", s)]["knn"]["joint"]
        - done[grid.Cell("gru", "moco", s)]["knn"]["joint"]
        for s in (0, 1, 2)
    ]
    assert diff["knn/joint"]["mean"] == pytest.approx(sum(paired) / 3)
    table = summary.markdown(result, "t")
    assert "| gru | CMD − MoCo, paired | 3 |" in table
    assert f"{row['linear/motion']['mean']:.1f} ± {std:.1f}" in table
    single = summary.summarise(spec, {grid.Cell("gru", "cmd", 0): done[grid.Cell("gru", "cmd", 0)]})
    assert single["rows"][0]["knn/joint"]["std"] is None and not single["differences"]


@pytest.mark.slow
def test_grid_runs_resumes_and_refuses_another_config(data, tmp_path, monkeypatch, capsys):
    path = write_grid(tmp_path, data)
    out = tmp_path / "out"
    assert accuracy_run.main([str(path), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "6 cells, 0 done, 6 to run" in printed and "estimated time:" in printed
    assert not list(out.glob("*/*/*/cell.json"))

    assert accuracy_run.main([str(path), "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "results.json").read_text())
    assert len(report["cells"]) == 6 and len(report["summary"]["rows"]) == 3
    cells = {c["name"]: c for c in report["cells"]}
    for name, cell in cells.items():
        streams = {"joint", "motion", "bone", "ensemble"}
        assert set(cell["knn"]) == set(cell["linear"]) == set(cell["linear_std"]) == streams
        assert ("pretrain" in cell["seconds"]) == ("random" not in name)
    records = json.loads((out / "gru/random/seed1/knn/eval/knn_joint_random_k1.json").read_text())
    assert records["random_init"] and records["settings"]["seed"] == 1
    row = next(r for r in report["summary"]["rows"] if r["method"] == "cmd")
    assert row["knn/bone"]["values"] == [cells[f"gru/cmd/seed{s}"]["knn"]["bone"] for s in (0, 1)]
    assert "| gru | CMD |" in (out / "results.md").read_text()
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"

    # resume: finished cells are not run again; a missing cell.json reruns that cell only
    ran = []
    real_run_cell = accuracy_run.run_cell
    monkeypatch.setattr(
        accuracy_run,
        "run_cell",
        lambda spec, cell, *a, **k: ran.append(cell.name) or real_run_cell(spec, cell, *a, **k),
    )
    (out / "gru/cmd/seed1/cell.json").unlink()
    assert accuracy_run.main([str(path), "--out", str(out), "--no-progress"]) == 0
    assert ran == ["gru/cmd/seed1"]
    assert "reusing the finished run" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["summary"] == report["summary"]

    changed = write_grid(tmp_path, data, overrides=[*TINY, "optim.lr=0.5"])
    assert accuracy_run.main([str(changed), "--out", str(out)]) == 2
    assert "another pretraining config" in capsys.readouterr().err
