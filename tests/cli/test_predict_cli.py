"""`skelcmd linear --save`, `skelcmd predict` and `skelcmd export --model` from the command line."""

import csv
import json

import numpy as np
import pytest

from skelcmd.cli import main
from tests.helpers.tiny import set_options
from tests.helpers.user_error import expect_user_error

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["epochs=2", "milestones=[1]", "batch_size=16", "frames=16", "min_frames=8"]


@pytest.fixture(scope="module")
def model(trained, data, tmp_path_factory):
    """A joint classifier saved by `skelcmd linear --save`, and linear's record of it."""
    root = tmp_path_factory.mktemp("cli_predict")
    argv = ["linear", "--checkpoint", trained / "last.pt", "--data", data, "--stream", "joint",
            "--out", root / "records", "--save", root / "joint.pt", *set_options(FAST)]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    (record,) = [json.loads(p.read_text()) for p in (root / "records").rglob("*.json")]
    return root / "joint.pt", record


def test_predict_prints_the_accuracy_linear_reported_and_export_takes_the_model(
    model, data, tmp_path, capsys
):
    file, record = model
    out = tmp_path / "p.csv"
    assert (
        main(["predict", "--model", str(file), str(data), "--out", str(out), "--top-k", "3"]) == 0
    )
    printed = capsys.readouterr().out
    assert f"top-1 {record['top1']:.2f} %" in printed
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["input", "index", "true", "class_1", "prob_1"]
    assert "class_4" not in rows[0]
    assert (tmp_path / "p_confusion.png").is_file() and (tmp_path / "p_per_class.csv").is_file()
    pytest.importorskip("onnxruntime")
    assert main(["export", "--model", str(file), "--out", str(tmp_path / "m.onnx")]) == 0
    assert "input clips (N, 3, 16, 25, 2)" in capsys.readouterr().out


def test_bad_input_ends_with_one_message_and_status_2(model, data, tmp_path):
    file, _ = model
    short = tmp_path / "short.npy"
    np.save(short, np.ones((10, 25, 3), np.float32))
    empty = tmp_path / "empty.skeleton"
    empty.write_text("")
    out = tmp_path / "p.csv"
    cases = [
        ([short, "--window", "20"], ["short.npy", "--window"]),  # window longer than it
        ([empty], ["empty.skeleton"]),
        ([tmp_path / "x.avi"], ["x.avi"]),
        ([data], ["inside the input"], data / "p.csv"),
    ]
    for case in cases:
        inputs, names = case[0], case[1]
        target = case[2] if len(case) > 2 else out
        expect_user_error(["predict", "--model", file, *inputs, "--out", target],
                          names=names, tmp=tmp_path)  # fmt: skip
    expect_user_error(["predict", "--model", data / "meta.json", short, "--out", out],
                      names=["meta.json"], tmp=tmp_path)  # fmt: skip
