"""MediaPipe Pose landmark import: long and wide CSV and JSON against a plain reading, world
landmarks as 3D in skelcmd's camera axes, image landmarks as 2D, and the mistakes named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import LAYOUTS
from skelcmd.sources.pose_estimators.mediapipe import LANDMARKS, import_mediapipe


def world_poses(frames=5, seed=0):
    """(T, 33, 4) world landmarks (metres, hip centre at the origin, y down) + visibility."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(scale=0.4, size=(frames, 33, 3))
    poses -= poses[:, 23:25].mean(axis=1, keepdims=True)
    return np.concatenate([poses, rng.uniform(0.1, 1, size=(frames, 33, 1))], axis=2)


def image_poses(frames=5, seed=1):
    """(T, 33, 4) image landmarks (fractions of the image) + visibility."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.uniform(0.2, 0.8, size=(frames, 33, 3)), rng.uniform(0.1, 1, size=(frames, 33, 1))],
        axis=2,
    )


def write_long(path, poses, visibility=True, by_index=False, frames=None, skip=()):
    columns = "frame_number,landmark,x,y,z" + (",visibility" if visibility else "")
    lines = [columns]
    for t, pose in zip(frames if frames is not None else range(len(poses)), poses, strict=True):
        for v, point in enumerate(pose):
            if (t, v) in skip:
                continue
            name = str(v) if by_index else LANDMARKS[v]
            values = point if visibility else point[:3]
            lines.append(f"{t},{name}," + ",".join(repr(float(x)) for x in values))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_wide(path, poses, empty=(), blank=()):
    header = ["frame"] + [
        f"{LANDMARKS[v]}_{a}" for v in range(33) for a in ("x", "y", "z", "visibility")
    ]
    lines = [",".join(header)]
    for t, pose in enumerate(poses):
        cells = [
            "" if t in empty or (t, k // 4) in blank else repr(float(x))
            for k, x in enumerate(pose.reshape(-1))
        ]
        lines.append(",".join([str(t), *cells]))
    path.write_text("\n".join(lines) + "\n")
    return path


def plain_world(poses):
    """(3, T, 33, 1) world landmarks as stored: x and y negated, z kept (a half turn)."""
    out = np.zeros((3, len(poses), 33, 1))
    for t, pose in enumerate(poses):
        for v in range(33):
            out[:, t, v, 0] = [-pose[v, 0], -pose[v, 1], pose[v, 2]]
    return out


def plain_image(poses):
    """(3, T, 33, 1) image landmarks as stored: 2x - 1, 2y - 1, visibility."""
    out = np.zeros((3, len(poses), 33, 1))
    for t, pose in enumerate(poses):
        for v in range(33):
            out[:, t, v, 0] = [2 * pose[v, 0] - 1, 2 * pose[v, 1] - 1, pose[v, 3]]
    return out


@pytest.mark.parametrize("form", ["long", "long-index", "wide", "json"])
def test_world_landmarks_become_3d_in_camera_axes(tmp_path, form):
    poses = world_poses()
    if form == "json":
        path = tmp_path / "clip.json"
        path.write_text(
            json.dumps(
                [
                    {
                        "frame": t,
                        "pose_world_landmarks": [
                            dict(zip(("x", "y", "z", "visibility"), p.tolist(), strict=True))
                            for p in pose
                        ],
                    }
                    for t, pose in enumerate(poses)
                ]
            )
        )
    elif form == "wide":
        path = write_wide(tmp_path / "clip.csv", poses)
    else:
        path = write_long(tmp_path / "clip.csv", poses, by_index=form == "long-index")
    import_mediapipe(path, tmp_path / "out", persons=1)
    data = open_dataset(tmp_path / "out")
    assert data.layout == LAYOUTS["mediapipe33"] and data.channels == "xyz"
    assert data.split("train").names == ["clip"]
    np.testing.assert_allclose(data.split("train").data[0], plain_world(poses), atol=1e-6)


@pytest.mark.parametrize("visibility", [True, False])
def test_image_landmarks_become_2d_with_visibility_as_score(tmp_path, visibility):
    poses = image_poses()
    write_long(tmp_path / "clip.csv", poses, visibility=visibility)
    import_mediapipe(tmp_path / "clip.csv", tmp_path / "out", persons=1)
    data = open_dataset(tmp_path / "out")
    assert data.channels == ("xy+score" if visibility else "xy")
    expected = plain_image(poses)
    np.testing.assert_allclose(
        data.split("train").data[0], expected if visibility else expected[:2], atol=1e-6
    )


def test_a_folder_of_files_is_one_clip_each_and_coordinates_can_be_declared(tmp_path):
    write_long(tmp_path / "a.csv", world_poses(4))
    write_long(tmp_path / "b.csv", world_poses(6, seed=2))
    import_mediapipe(tmp_path, tmp_path / "out", coordinates="world")
    split = open_dataset(tmp_path / "out").split("train")
    assert split.names == ["a", "b"] and split.lengths.tolist() == [4, 6]
    assert split.data.shape == (2, 3, 6, 33, 2)


def test_frames_without_a_pose_are_empty_and_reported(tmp_path):
    write_wide(tmp_path / "clip.csv", world_poses(5), empty=(1, 2))
    summary = import_mediapipe(tmp_path / "clip.csv", tmp_path / "out", persons=1)
    x = open_dataset(tmp_path / "out").split("train").data[0]
    assert not x[:, 1:3].any() and x[:, 3].any()
    assert "2 frames with no person (left empty)" in summary.format()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (
            lambda p: write_long(p, world_poses(), skip={(2, 15), (2, 16)}),
            r"clip.csv, frame 2: landmarks missing: LEFT_WRIST, RIGHT_WRIST. Every frame needs "
            r"all 33",
        ),
        (
            lambda p: write_long(p, world_poses(3), frames=[0, 1, 5]),
            r"clip.csv, frame 1: the next frame is 5, so frames 2..4 are missing; pass "
            r"--allow-gaps",
        ),
        (
            lambda p: p.write_text("frame,landmark,x,y,z\n0,NOSE,1,2,3\n0,ELBOW,1,2,3\n"),
            r"clip.csv, line 3: 'ELBOW' is not a MediaPipe Pose landmark",
        ),
        (
            lambda p: p.write_text("frame,landmark,x,y,z\n0,NOSE,1,oops,3\n"),
            r"clip.csv, line 2: 'oops' is not a number",
        ),
        (lambda p: p.write_text("time,landmark,x,y,z\n0,NOSE,1,2,3\n"), r"no frame column"),
        (
            lambda p: p.write_text(
                "frame,"
                + ",".join(f"x_{v},y_{v}" for v in range(33))
                + "\n"
                + "0"
                + ",1" * 66
                + "\n"
            ),
            r"no column for NOSE z",
        ),
        (
            lambda p: p.write_text(
                write_wide(p, world_poses(3)).read_text().replace("\n2,", "\n2,9,")
            ),
            r"clip.csv, line 4: 134 values, but the header has 133",
        ),
        (
            lambda p: write_wide(p, world_poses(3), blank={(1, 0), (1, 32)}),
            r"line 3 \(frame 1\): landmarks missing: NOSE, RIGHT_FOOT_INDEX",
        ),
    ],
)
def test_bad_files_name_the_file_line_or_frame(tmp_path, write, message):
    path = tmp_path / "clip.csv"
    write(path)
    with pytest.raises(UserError, match=message):
        import_mediapipe(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_world_and_image_files_are_not_mixed_and_unclear_values_need_coordinates(tmp_path):
    write_long(tmp_path / "a.csv", world_poses())
    write_long(tmp_path / "b.csv", image_poses())
    with pytest.raises(UserError, match="mix world landmarks"):
        import_mediapipe(tmp_path, tmp_path / "out")
    odd = image_poses() * 40  # neither hip-centred nor inside the image
    write_long(tmp_path / "c.csv", odd)
    with pytest.raises(UserError, match="give --coordinates world or --coordinates image"):
        import_mediapipe(tmp_path / "c.csv", tmp_path / "out")
