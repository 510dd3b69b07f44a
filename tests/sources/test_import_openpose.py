"""OpenPose --write_json import: the stored data against a plain reading of the files, file
names as OpenPose and Pose2Sim write them, the model told from the poses, labels and segments,
and every mistake named with its file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import LAYOUTS
from skelcmd.sources.pose_estimators.openpose import import_openpose
from tests.test_layout_map import reference_body, skeleton_of

SIZE = (640, 480)


def body25_pose(shift=0.0, scale=150.0):
    """(25, 3) a BODY_25 pose in pixels (x right, y down) with confidences: the reference
    body seen from the front (its left on the image right), moved by `shift` pixels."""
    xyz = skeleton_of(LAYOUTS["body25"], reference_body())
    x = 320 - xyz[0] * scale + shift
    y = 400 - xyz[1] * scale
    return np.stack([x, y, np.linspace(0.3, 0.9, 25)], axis=1)


def write_frames(
    folder,
    frames,
    name="clip",
    pattern="{name}_{n:012d}_keypoints.json",
    version=1.3,
    key="pose_keypoints_2d",
    ids=None,
    start=0,
):
    """One file a frame; `frames` a list of lists of (V, 3) poses; ids per frame or None."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, people in enumerate(frames):
        listed = []
        for m, pose in enumerate(people):
            person = {key: np.asarray(pose).reshape(-1).tolist(), "face_keypoints_2d": []}
            if version >= 1.3:
                person["person_id"] = [ids[k][m] if ids else -1]
            listed.append(person)
        path = folder / pattern.format(name=name, n=start + k)
        path.write_text(json.dumps({"version": version, "people": listed}))
    return folder


def plain_read(frames, size, persons_order):
    """The stored (3, T, V, M) written out: pixels to [-1, 1] per joint, zero where the
    confidence is 0; persons in the order given (a list per frame of person slots)."""
    w, h = size
    v = len(frames[0][0])
    out = np.zeros((3, len(frames), v, len(persons_order[0])))
    for t, people in enumerate(frames):
        for pose, slot in zip(people, persons_order[t], strict=True):
            for j in range(v):
                x, y, c = pose[j]
                if c == 0 or (x == 0 and y == 0):
                    continue
                out[:, t, j, slot] = [(x - w / 2) / (w / 2), (y - h / 2) / (h / 2), c]
    return out


def two_people(frames=6):
    """A person on the left in every frame, one on the right in all but frame 2, listed in
    alternating order; some joints missing (0, 0, 0)."""
    out = []
    for t in range(frames):
        left, right = body25_pose(-150 + 2 * t), body25_pose(150 - 3 * t)
        left[10 + t % 3] = 0
        people = [left] if t == 2 else ([left, right] if t % 2 else [right, left])
        out.append(people)
    return out


def test_body25_pixels_tracked_by_pose_as_a_plain_reading(tmp_path):
    frames = two_people()
    write_frames(tmp_path / "json", frames)
    summary = import_openpose(tmp_path / "json", tmp_path / "out", image_size="640x480")
    data = open_dataset(tmp_path / "out")
    split = data.split("train")
    assert data.layout == LAYOUTS["body25"] and data.channels == "xy+score"
    assert data.class_names == ("unlabelled",) and split.names == ["clip"]
    order = [[0] if t == 2 else ([0, 1] if t % 2 else [1, 0]) for t in range(6)]
    np.testing.assert_allclose(split.data[0], plain_read(frames, SIZE, order), atol=1e-6)
    assert summary.notes == ["model body25 (detected from the poses)"]
    assert "clip: 6 frames, 2 person(s) kept (in 6, 5 frames)" in summary.format()


def test_names_with_spaces_and_renamed_files_sort_by_frame_number(tmp_path):
    frames = [[body25_pose(10 * t)] for t in range(12)]
    write_frames(tmp_path / "a", frames, name="my video", pattern="{name}_{n}_keypoints.json")
    write_frames(tmp_path / "a", frames[:3], name="cam01", pattern="{name}.{n:04d}.json")
    import_openpose(tmp_path / "a", tmp_path / "out", image_size=SIZE, model="body25")
    split = open_dataset(tmp_path / "out").split("train")
    assert sorted(split.names) == ["cam01", "my video"]
    clip = split.data[split.names.index("my video")]
    expected = plain_read(frames, SIZE, [[0]] * 12)
    np.testing.assert_allclose(clip[..., :1], expected, atol=1e-6)  # 9, 10, 11 after 8


@pytest.mark.parametrize(
    ("scale", "convert"),
    [("unit", lambda p: p / [640, 480]), ("signed", lambda p: p / [320, 240] - 1)],
)
def test_coco18_and_normalised_coordinates_are_detected(tmp_path, scale, convert):
    pose = body25_pose()[[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]]
    pose[:, :2] = convert(pose[:, :2])
    write_frames(tmp_path / "j", [[pose]] * 3, version=1.0, key="pose_keypoints")
    import_openpose(tmp_path / "j", tmp_path / "out")
    data = open_dataset(tmp_path / "out")
    assert data.layout == LAYOUTS["openpose18"] and data.extra["keypoint_scale"] == scale
    expected = (body25_pose()[:, :2] - [320, 240]) / [320, 240]
    got = data.split("train").data[0, :2, 0, :, 0].T
    np.testing.assert_allclose(
        got, expected[[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]], atol=1e-5
    )


def test_body25b_is_told_from_body25_and_unclear_poses_need_model(tmp_path):
    b25 = LAYOUTS["body25"].joint_names
    order = [b25.index(n) if n in b25 else None for n in LAYOUTS["body25b"].joint_names]
    pose = body25_pose()
    body25b = np.array([pose[j] if j is not None else pose[0] - [0, 30, 0] for j in order])
    write_frames(tmp_path / "b", [[body25b]] * 3)
    import_openpose(tmp_path / "b", tmp_path / "out", image_size=SIZE)
    assert open_dataset(tmp_path / "out").layout == LAYOUTS["body25b"]
    unclear = body25_pose()
    unclear[8] = unclear[2] + [0, 200, 0]  # neck at the shoulders' middle, mid-hip far away
    write_frames(tmp_path / "n", [[unclear]] * 3)
    with pytest.raises(UserError, match="give --model body25"):
        import_openpose(tmp_path / "n", tmp_path / "o2", image_size=SIZE)
    with pytest.raises(UserError, match="--model coco18 has 18 points a person, but"):
        import_openpose(tmp_path / "n", tmp_path / "o2", image_size=SIZE, model="coco18")


def test_person_id_is_used_when_openpose_tracked(tmp_path):
    frames = two_people(4)
    ids = [[5] if t == 2 else ([5, 9] if t % 2 else [9, 5]) for t in range(4)]
    write_frames(tmp_path / "j", frames, ids=ids)
    import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, persons=1)
    data = open_dataset(tmp_path / "out")
    assert data.extra["tracking"] == {"clip": "the estimator's track ids"}
    order = [[0] if t == 2 else ([0, 1] if t % 2 else [1, 0]) for t in range(4)]
    np.testing.assert_allclose(
        data.split("train").data[0], plain_read(frames, SIZE, order)[..., :1], atol=1e-6
    )


def test_labels_make_segments_and_unnamed_videos_are_left_out(tmp_path):
    frames = [[body25_pose(t)] for t in range(10)]
    for name in ("walk", "wave", "other"):
        write_frames(tmp_path / "j" / name, frames, name=name)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "video,label,start,end,split\nwalk,walking,0,3,train\n"
        "walk,standing,4,9,test\nwave,waving,,,train\n"
    )
    summary = import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, labels=labels)
    data = open_dataset(tmp_path / "out")
    assert data.class_names == ("standing", "walking", "waving")
    train, test = data.split("train"), data.split("test")
    assert train.names == ["walk@0-3", "wave"] and test.names == ["walk@4-9"]
    assert train.lengths.tolist() == [4, 10] and train.labels.tolist() == [1, 2]
    np.testing.assert_array_equal(
        test.data[0, :, :6], open_dataset(tmp_path / "out").split("train").data[1, :, 4:10]
    )
    assert "1 videos the labels file does not name were left out: other" in summary.format()
    labels.write_text("video,label\nwalks,walking\n")
    with pytest.raises(UserError, match=r"labels.csv, line 2: no video is named 'walks'"):
        import_openpose(tmp_path / "j", tmp_path / "o2", image_size=SIZE, labels=labels)
    labels.write_text("video,label,start,end\nwalk,walking,5,12\n")
    with pytest.raises(UserError, match=r"frames 5..12 are outside walk's frames 0..9"):
        import_openpose(tmp_path / "j", tmp_path / "o2", image_size=SIZE, labels=labels)


def test_a_misspelt_split_in_the_labels_or_option_is_refused_naming_where(tmp_path):
    """QA item 1: `trian` in a labels file (or --split) made a split of that name."""
    write_frames(tmp_path / "j" / "cam01", [[body25_pose(t)] for t in range(6)], name="cam01")
    labels = tmp_path / "l.csv"
    labels.write_text("video,label,start,end,split\ncam01,balancing,0,2,train\n")
    labels.write_text(labels.read_text() + "cam01,balancing,3,5,trian\n")
    with pytest.raises(UserError, match=r"l\.csv, line 3: split 'trian' looks like a typo of 'tr"):
        import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, labels=labels)
    with pytest.raises(UserError, match=r"^--split: split 'tset' looks like a typo of 'test'"):
        import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, split="tset")
    assert not (tmp_path / "out").exists()
    labels.write_text("video,label,start,end,split\ncam01,balancing,0,2,fold1\ncam01,b,3,5,\n")
    import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, labels=labels)
    assert set(open_dataset(tmp_path / "out").splits) == {"fold1", "train"}


def test_segments_of_one_video_in_two_splits_must_not_share_frames(tmp_path):
    write_frames(tmp_path / "j" / "cam01", [[body25_pose(t)] for t in range(8)], name="cam01")
    labels = tmp_path / "l.csv"
    head = "video,label,start,end,split\n"
    labels.write_text(head + "cam01,a,0,4,train\ncam01,a,4,7,test\n")  # frame 4 in both
    with pytest.raises(UserError, match=r"l\.csv, line 3: this segment of 'cam01' \(test\) "
                       r"shares frames with the one of .*line 2 \(train\)"):  # fmt: skip
        import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, labels=labels)
    labels.write_text(head + "cam01,a,,,train\ncam01,b,2,5,test\n")  # the whole video too
    with pytest.raises(UserError, match="shares frames"):
        import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, labels=labels)
    assert not (tmp_path / "out").exists()
    labels.write_text(head + "cam01,a,0,3,train\ncam01,b,2,5,train\ncam01,a,6,7,test\n")
    import_openpose(tmp_path / "j", tmp_path / "out", image_size=SIZE, labels=labels)
    assert open_dataset(tmp_path / "out").split("train").data.shape[0] == 2  # one split: allowed


def test_the_image_size_comes_from_the_video_beside_or_must_be_given(tmp_path):
    write_frames(tmp_path / "clip_json", [[body25_pose()]] * 2)
    with pytest.raises(
        UserError, match=r"give --image-size WIDTHxHEIGHT, or put the video clip\.mp4 beside"
    ):
        import_openpose(tmp_path / "clip_json", tmp_path / "out")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "clip_000000000001_keypoints.json").write_text(
                json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 54}]})
            ),
            r"clip_000000000001_keypoints.json has a person of 18 points, but "
            r".*000000000000_keypoints.json has 25: this folder mixes OpenPose models",
        ),
        (
            lambda d: (d / "clip_000000000002_keypoints.json").unlink(),
            r"clip_000000000001_keypoints.json: the next frame is 3, so frame 2 is missing; pass "
            r"--allow-gaps",
        ),
        (
            lambda d: (d / "clip_000000000001_keypoints.json").write_text('{"version": 1.3}'),
            r"clip_000000000001_keypoints.json has no 'people' list",
        ),
        (
            lambda d: (d / "clip_000000000003_keypoints.json").write_text(
                json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, -0.5] * 25}]})
            ),
            r"clip_000000000003_keypoints.json has a negative confidence",
        ),
        (
            lambda d: (d / "clip_000000000003_keypoints.json").write_text(
                '{"people": [{"pose_keypoints_2d": [' + ", ".join(["NaN"] * 75) + "]}]}"
            ),
            r"clip_000000000003_keypoints.json holds NaN",
        ),
        (
            lambda d: [p.write_text('{"people": []}') for p in d.iterdir()],
            r"no file below .* lists a person",
        ),
        (lambda d: [p.unlink() for p in d.iterdir()], r"holds no .json file"),
        (
            lambda d: (d / "notes.json").write_text("{}"),
            r"notes.json: its name has no frame number",
        ),
    ],
)
def test_bad_folders_name_the_file_and_what_to_do(tmp_path, damage, message):
    folder = write_frames(tmp_path / "j", [[body25_pose()]] * 5)
    damage(folder)
    with pytest.raises(UserError, match=message):
        import_openpose(folder, tmp_path / "out", image_size=SIZE, model="body25")
    assert not (tmp_path / "out").exists()


def test_allowed_gaps_and_frames_without_people_are_counted_not_filled(tmp_path):
    frames = [[body25_pose()], [], [body25_pose()], [body25_pose()]]
    folder = write_frames(tmp_path / "j", frames)
    (folder / "clip_000000000002_keypoints.json").unlink()
    summary = import_openpose(
        folder, tmp_path / "out", image_size=SIZE, model="body25", allow_gaps=True
    )
    split = open_dataset(tmp_path / "out").split("train")
    assert split.lengths.tolist() == [4]
    assert not split.data[0, :, 1:3].any() and split.data[0, :, 3].any()
    assert "2 frames with no person (left empty)" in summary.format()
