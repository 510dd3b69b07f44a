"""benchmarks/accuracy/curves.py: learning curves of several runs from their history.json."""

import json
from pathlib import Path

import pytest

from benchmarks.accuracy import curves


def write_history(run: Path, rows: list[dict]) -> Path:
    run.mkdir(parents=True)
    (run / "history.json").write_text(json.dumps(rows))
    return run


def test_curves_read_the_monitor_records_and_draw_one_panel_per_stream(tmp_path, capsys):
    rows = [
        {"epoch": 1, "loss/total": 3.0},
        {"epoch": 5, "knn/joint": 20.0, "knn/ensemble": 30.0, "knn_seconds": 1.0},
        {"epoch": 10, "knn/joint": 25.0, "knn/ensemble": 35.0, "knn_seconds": 1.0},
    ]
    a = write_history(tmp_path / "a", rows)
    b = write_history(tmp_path / "b", rows[:2])
    assert curves.read_curve(a) == {
        "joint": ([5, 10], [20.0, 25.0]),
        "ensemble": ([5, 10], [30.0, 35.0]),
    }
    out = tmp_path / "c.png"
    args = [str(a), str(b), "--out", str(out), "--untrained", '{"joint": 10}']
    assert curves.main(args) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "wrote" in capsys.readouterr().out


def test_a_run_without_knn_records_is_named(tmp_path):
    run = write_history(tmp_path / "quiet", [{"epoch": 1, "loss/total": 3.0}])
    with pytest.raises(SystemExit, match=r"quiet/history\.json has no kNN records"):
        curves.main([str(run), "--out", str(tmp_path / "x.png")])
