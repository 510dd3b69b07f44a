"""The video commands on the command line: `import openpose | mediapipe | mmpose | yolo-pose`,
`convert-layout`, `extract` without its backend, and the new layouts in `layout` and `show`:
what they print, and their mistakes as one message with exit status 2."""

from __future__ import annotations

import json

import numpy as np

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from tests.helpers.user_error import expect_user_error
from tests.sources.test_import_mediapipe import world_poses, write_long
from tests.sources.test_import_openpose import body25_pose, write_frames


def test_import_openpose_then_show_and_convert(tmp_path, capsys):
    write_frames(tmp_path / "walk_json", [[body25_pose(5 * t)] for t in range(6)], name="walk")
    args = [
        "import",
        "openpose",
        str(tmp_path / "walk_json"),
        str(tmp_path / "data"),
        "--image-size",
        "640x480",
        "--persons",
        "1",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "layout body25, channels xy+score" in out and "walk: 6 frames, 1 person(s)" in out
    assert (
        main(
            [
                "show",
                str(tmp_path / "data"),
                "--split",
                "train",
                "--out",
                str(tmp_path / "a.png"),
                "--frames",
                "3",
            ]
        )
        == 0
    )
    assert (tmp_path / "a.png").stat().st_size > 3000
    assert (
        main(["convert-layout", str(tmp_path / "data"), "--to", "coco17", str(tmp_path / "coco")])
        == 0
    )
    out = capsys.readouterr().out
    assert "body25 -> coco17:" in out and "  nose <- nose" in out
    assert open_dataset(tmp_path / "coco").layout.name == "coco17"


def test_import_mediapipe_and_map_to_ntu25(tmp_path, capsys):
    write_long(tmp_path / "clip.csv", world_poses(4))
    assert main(["import", "mediapipe", str(tmp_path / "clip.csv"), str(tmp_path / "mp")]) == 0
    assert (
        main(
            [
                "convert-layout",
                str(tmp_path / "mp"),
                "--to",
                "ntu25",
                str(tmp_path / "ntu"),
                "--persons",
                "2",
                "--preprocess",
                "reference",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "spine_base <- 0.5 hip_left + 0.5 hip_right" in out
    data = open_dataset(tmp_path / "ntu")
    assert data.split("train").data.shape == (1, 3, 4, 25, 2) and data.extra["aligned"]


def test_import_mmpose_and_yolo_pose(tmp_path, capsys):
    kp = np.random.default_rng(0).uniform(10, 600, size=(17, 2))
    frames = [
        {
            "frame_id": t,
            "instances": [{"keypoints": (kp + t).tolist(), "keypoint_scores": [0.9] * 17}],
        }
        for t in range(3)
    ]
    (tmp_path / "a.json").write_text(json.dumps(frames))
    assert (
        main(
            [
                "import",
                "mmpose",
                str(tmp_path / "a.json"),
                str(tmp_path / "m"),
                "--image-size",
                "640x480",
            ]
        )
        == 0
    )
    (tmp_path / "yolo").mkdir()
    for t in range(1, 4):
        points = np.column_stack([kp / 700, np.full(17, 0.8)]).ravel().tolist()
        row = [0, 0.5, 0.5, 0.2, 0.4, *points]
        (tmp_path / "yolo" / f"a_{t}.txt").write_text(" ".join(map(str, row)) + "\n")
    assert main(["import", "yolo-pose", str(tmp_path / "yolo"), str(tmp_path / "y")]) == 0
    out = capsys.readouterr().out
    assert "mmpose poses, layout coco17" in out and "yolo-pose poses, layout coco17" in out


def test_bad_input_is_one_message_naming_the_file(tmp_path):
    folder = write_frames(tmp_path / "j", [[body25_pose()]] * 3)
    (folder / "clip_000000000001_keypoints.json").write_text(
        json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 54}]})
    )
    expect_user_error(
        ["import", "openpose", str(folder), str(tmp_path / "out"), "--image-size", "640x480"],
        names=["clip_000000000001_keypoints.json", "mixes OpenPose"],
        tmp=tmp_path,
    )
    (tmp_path / "empty").mkdir()
    expect_user_error(
        ["import", "openpose", str(tmp_path / "empty"), str(tmp_path / "out")],
        names=["holds no .json file"],
        tmp=tmp_path,
    )
    write_long(tmp_path / "c.csv", world_poses(3), skip={(1, 0)})
    expect_user_error(
        ["import", "mediapipe", str(tmp_path / "c.csv"), str(tmp_path / "out")],
        names=["c.csv, frame 1", "landmarks missing: NOSE"],
        tmp=tmp_path,
    )


def test_convert_layout_refusal_and_extract_without_backend(tmp_path):
    write_long(tmp_path / "clip.csv", world_poses(3))
    assert main(["import", "mediapipe", str(tmp_path / "clip.csv"), str(tmp_path / "mp")]) == 0
    expect_user_error(
        ["convert-layout", str(tmp_path / "mp"), "--to", "body25", str(tmp_path / "out")],
        names=["big_toe_left", "never invents"],
        tmp=tmp_path,
    )
    (tmp_path / "v.mp4").write_bytes(b"\0" * 100)
    result = expect_user_error(
        [
            "extract",
            str(tmp_path / "v.mp4"),
            str(tmp_path / "out"),
            "--python",
            str(tmp_path / "no-python"),
        ],
        names=["pip install mediapipe==0.10.21"],
        tmp=tmp_path,
    )
    assert "python3.12 -m venv" in result.stderr


def test_the_new_layouts_are_listed_and_drawn(tmp_path, capsys):
    assert main(["layout"]) == 0
    listing = capsys.readouterr().out
    for line in (
        "body25     25 joints, centre neck",
        "body25b    25 joints, centre neck",
        "mediapipe33 33 joints, centre nose",
    ):
        assert line in listing
    assert main(["layout", "body25b", "--out", str(tmp_path / "t.png")]) == 0
    assert " 19 head_top         bone to  1 nose" in capsys.readouterr().out
