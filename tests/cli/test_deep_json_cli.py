"""JSON files the user gives, nested deeper than the decoder can follow (`[` * 200,000), on
the command line: one message naming the file and exit status 2, as for any other bad JSON,
never a RecursionError traceback (they were one in `import openpose` and `report`)."""

from __future__ import annotations

import numpy as np

from skelcmd.cli import main
from tests.helpers.user_error import snapshot_tree

DEEP = "[" * 200_000 + "]" * 200_000


def refused(args: list[str], name: str, tmp_path, capsys) -> str:
    """Run the CLI in-process; assert exit status 2, `name` and "nested too deeply" in the
    one-paragraph message, no traceback, and nothing under `tmp_path` written or changed."""
    before = snapshot_tree(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert name in err and "nested too deeply" in err, err
    assert "Traceback" not in err and "RecursionError" not in err, err
    assert snapshot_tree(tmp_path) == before
    return err


def test_import_openpose_refuses_a_deeply_nested_frame_file(tmp_path, capsys):
    folder = tmp_path / "clip_json"
    folder.mkdir()
    (folder / "clip_000000000001_keypoints.json").write_text(DEEP)
    args = ["import", "openpose", str(folder), str(tmp_path / "out"), "--image-size", "640x480"]
    err = refused(args, "clip_000000000001_keypoints.json", tmp_path, capsys)
    assert "OpenPose --write_json" in err


def test_report_refuses_a_deeply_nested_record(tmp_path, capsys):
    (tmp_path / "run" / "eval").mkdir(parents=True)
    (tmp_path / "run" / "eval" / "knn_joint.json").write_text(DEEP)
    err = refused(["report", str(tmp_path / "run")], "knn_joint.json", tmp_path, capsys)
    assert "evaluation record" in err


def test_report_refuses_a_deeply_nested_training_history(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "history.json").write_text(DEEP)
    err = refused(["report", str(tmp_path / "run")], "history.json", tmp_path, capsys)
    assert "training history" in err


def test_report_refuses_deeply_nested_metadata_beside_an_embedding(tmp_path, capsys):
    np.save(tmp_path / "features.npy", np.zeros((4, 3), dtype=np.float32))
    np.save(tmp_path / "features_labels.npy", np.zeros(4, dtype=np.int64))
    (tmp_path / "features.json").write_text(DEEP)
    (tmp_path / "out").mkdir()
    args = ["report", str(tmp_path / "out"), "--embedding", str(tmp_path / "features.npy")]
    err = refused(args, "features.json", tmp_path, capsys)
    assert "beside an embedding" in err
