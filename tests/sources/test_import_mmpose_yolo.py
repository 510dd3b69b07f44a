"""MMPose predictions and Ultralytics YOLO-pose results (save_txt rows, JSON of tracks) against
a plain reading, in the formats those tools document; no MMPose output with a clear licence
was found, so these tests write the files in MMPose's documented form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import COCO17
from skelcmd.sources.pose_estimators.mmpose import import_mmpose
from skelcmd.sources.pose_estimators.yolo_pose import NAMES, import_yolo_pose

W, H = 1280, 720


def people(frames=5, seed=0):
    """Per frame two persons (left, right) of 17 pixel keypoints with scores; the right one
    absent in frame 3; keypoint 4 of the left one missing (0, 0) in odd frames."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(100, 300, size=(2, 17, 2)) + np.array([[[0, 0]], [[700, 100]]])
    out = []
    for t in range(frames):
        listed = []
        for m in (1, 0) if t % 2 else (0, 1):
            if m == 1 and t == 3:
                continue
            kp = base[m] + 4 * t
            score = rng.uniform(0.3, 1, 17)
            if m == 0 and t % 2:
                kp[4], score[4] = 0, 0
            listed.append((m, kp, score))
        out.append(listed)
    return out


def plain(frames, to_unit, scored=True):
    """(C, T, 17, 2) written out: person m in slot m (the left one is present longest)."""
    out = np.zeros((3 if scored else 2, len(frames), 17, 2))
    for t, listed in enumerate(frames):
        for m, kp, score in listed:
            for v in range(17):
                if (kp[v] == 0).all():
                    continue
                out[:2, t, v, m] = to_unit(kp[v])
                if scored:
                    out[2, t, v, m] = score[v]
    return out


def pixels(p):
    return [(p[0] - W / 2) / (W / 2), (p[1] - H / 2) / (H / 2)]


@pytest.mark.parametrize("form", ["inferencer", "demo", "wholebody"])
def test_mmpose_predictions_as_a_plain_reading(tmp_path, form):
    frames = people()
    extra = 133 - 17 if form == "wholebody" else 0
    entries = [
        {
            "frame_id": t,
            "instances": [
                {
                    "keypoints": kp.tolist() + [[1.0, 1.0]] * extra,
                    "keypoint_scores": score.tolist() + [0.5] * extra,
                    "bbox": [[0, 0, 10, 10]],
                    "bbox_score": 0.9,
                }
                for _, kp, score in listed
            ],
        }
        for t, listed in enumerate(frames)
    ]
    info = (
        {"meta_info": {"dataset_name": "coco"}, "instance_info": entries}
        if form == "demo"
        else entries
    )
    (tmp_path / "talk.json").write_text(json.dumps(info))
    summary = import_mmpose(tmp_path / "talk.json", tmp_path / "out", image_size=f"{W}x{H}")
    data = open_dataset(tmp_path / "out")
    assert data.layout == COCO17 and data.channels == "xy+score"
    np.testing.assert_allclose(data.split("train").data[0], plain(frames, pixels), atol=1e-6)
    assert ("COCO-WholeBody keypoints, the body's 17 kept" in summary.format()) == (extra > 0)


def test_mmpose_track_ids_and_bad_instances(tmp_path):
    entries = [
        {
            "frame_id": t,
            "instances": [
                {"keypoints": kp.tolist(), "keypoint_scores": score.tolist(), "track_id": 10 + m}
                for m, kp, score in listed
            ],
        }
        for t, listed in enumerate(people())
    ]
    (tmp_path / "a.json").write_text(json.dumps(entries))
    import_mmpose(tmp_path / "a.json", tmp_path / "out", image_size=(W, H))
    assert open_dataset(tmp_path / "out").extra["tracking"] == {"a": "the estimator's track ids"}
    entries[2]["instances"][0]["keypoint_scores"] = [0.5] * 16
    (tmp_path / "a.json").write_text(json.dumps(entries))
    with pytest.raises(
        UserError,
        match=r"a.json, frame 2, instance 1: keypoints of shape "
        r"\(17, 2\) and keypoint_scores of \(16,\)",
    ):
        import_mmpose(tmp_path / "a.json", tmp_path / "o2", image_size=(W, H))
    (tmp_path / "a.json").write_text(json.dumps({"frames": []}))
    with pytest.raises(UserError, match="is not MMPose video predictions"):
        import_mmpose(tmp_path / "a.json", tmp_path / "o2", image_size=(W, H))


def txt_rows(listed, conf=False, ids=False):
    rows = []
    for m, kp, score in listed:
        unit = np.where(kp == 0, 0, kp / [W, H])
        cells = [0, 0.5, 0.5, 0.2, 0.4, *np.column_stack([unit, score]).reshape(-1).tolist()]
        cells += [0.87] if conf else []
        cells += [m + 1] if ids else []
        rows.append(" ".join(f"{c:.6g}" for c in cells))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("conf", "ids"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_yolo_save_txt_rows_as_a_plain_reading(tmp_path, conf, ids):
    frames = people(6)
    frames[4] = []  # Ultralytics writes no file for a frame without anybody
    for t, listed in enumerate(frames):
        if listed:
            (tmp_path / f"stage_{t + 1}.txt").write_text(txt_rows(listed, conf, ids))
    summary = import_yolo_pose(tmp_path, tmp_path / "out")
    data = open_dataset(tmp_path / "out")
    assert data.channels == "xy+score" and data.split("train").names == ["stage"]
    expected = plain(frames, lambda p: 2 * np.round(p / [W, H], 6) - 1)
    np.testing.assert_allclose(data.split("train").data[0], expected, atol=2e-5)
    assert data.extra["tracking"]["stage"] == (
        "the estimator's track ids" if ids else "nearest pose, frame to frame"
    )
    assert "1 frames with no person (left empty)" in summary.format()


def test_yolo_json_of_tracks_named_points_and_summary_form(tmp_path):
    frames = people()
    named = [
        {
            "frame": t + 1,
            **{
                f"keypoints_figure_{m + 7}": {
                    name: {"x": float(kp[v, 0]), "y": float(kp[v, 1])} for name, v in NAMES.items()
                }
                for m, kp, _ in listed
            },
        }
        for t, listed in enumerate(frames)
    ]
    (tmp_path / "a.json").write_text(json.dumps(named))
    import_yolo_pose(tmp_path / "a.json", tmp_path / "out", image_size=(W, H))
    data = open_dataset(tmp_path / "out")
    assert data.channels == "xy"
    np.testing.assert_allclose(data.split("train").data[0], plain(frames, pixels, False), atol=1e-6)
    summary = [
        [
            {
                "name": "person",
                "track_id": m + 1,
                "keypoints": {
                    "x": kp[:, 0].tolist(),
                    "y": kp[:, 1].tolist(),
                    "visible": score.tolist(),
                },
            }
            for m, kp, score in listed
        ]
        for listed in frames
    ]
    (tmp_path / "b.json").write_text(json.dumps(summary))
    import_yolo_pose(tmp_path / "b.json", tmp_path / "o2", image_size=(W, H))
    np.testing.assert_allclose(
        open_dataset(tmp_path / "o2").split("train").data[0], plain(frames, pixels), atol=1e-6
    )


def test_yolo_bad_rows_are_named(tmp_path):
    (tmp_path / "v_1.txt").write_text("0 0.5 0.5 0.1 0.1 " + "0.1 " * 20 + "\n")
    with pytest.raises(UserError, match=r"v_1.txt: rows of 25 numbers; YOLO-pose save_txt rows"):
        import_yolo_pose(tmp_path, tmp_path / "out")
    (tmp_path / "v_1.txt").write_text("0 0.5 0.5 0.1 0.1 " + "0.1 0.2 -0.3 " * 17 + "\n")
    with pytest.raises(UserError, match=r"v_1.txt has a negative confidence"):
        import_yolo_pose(tmp_path, tmp_path / "out")


def test_yolo_an_empty_folder_or_a_single_txt_file_says_what_is_read(tmp_path):
    """QA item 7: an empty folder was said to hold no .json file, though save_txt .txt files
    are read too; one save_txt file (one frame) was read as JSON."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.md").write_text("nothing here\n")
    with pytest.raises(UserError, match=r"empty holds no \.json or \.txt file of .*save_txt"):
        import_yolo_pose(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "v_1.txt").write_text(txt_rows(people(1)[0], False, False))
    with pytest.raises(UserError, match=r"v_1\.txt is one `save_txt` file, a single frame; give"):
        import_yolo_pose(tmp_path / "v_1.txt", tmp_path / "out")
    assert not (tmp_path / "out").exists()
