"""Layout mapping: the correspondence table against every layout's joints and bones, the
vectorised mapping against a plain per-joint loop, the geometry of MediaPipe world landmarks
mapped to NTU-25 (finite bones, left and right where NTU has them), and whole data sets."""

from __future__ import annotations

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.data.writer import write_dataset
from skelcmd.errors import UserError
from skelcmd.layout_map import (
    ALIASES,
    DERIVED,
    OWN_MIDPOINTS,
    POINTS,
    convert_layout,
    joint_map,
    joint_points,
    map_joints,
)
from skelcmd.skeleton import LAYOUTS, NTU25, layout_from_dict
from tests.helpers.data_paths import SHARED_DATA

ETF = SHARED_DATA / "pose_outputs" / "mediapipe_world_landmarks_etf" / "landmarks.csv"
NTU_SAMPLES = sorted((SHARED_DATA / "ntu_samples").glob("*.skeleton"))
MAPS = [(s, t) for s in LAYOUTS for t in LAYOUTS if s != t]


def _mappable(source, target):
    try:
        joint_map(LAYOUTS[source], LAYOUTS[target])
    except UserError:
        return False
    return True


def plain_point(layout, point, frame):
    """(position (D,), missing, the joints used) of `point` in one (D, V) frame of `layout`,
    by the table written out: a joint meaning the point, else the layout's own midpoint, else
    the derived midpoint of points; None if the layout cannot give it."""
    names = layout.joint_names
    for v, name in enumerate(names):
        if ALIASES.get(layout.name, {}).get(name, name if name in POINTS else None) == point:
            return frame[:, v], bool((frame[:, v] == 0).all()), [v]
    parts = OWN_MIDPOINTS.get(layout.name, {}).get(point)
    if parts is not None:
        got = [
            (
                frame[:, names.index(n)],
                bool((frame[:, names.index(n)] == 0).all()),
                [names.index(n)],
            )
            for n in parts
        ]
    elif point in DERIVED:
        got = [plain_point(layout, p, frame) for p in DERIVED[point]]
        if any(g is None for g in got):
            return None
    else:
        return None
    return (
        np.mean([g[0] for g in got], axis=0),
        any(g[1] for g in got),
        [joint for g in got for joint in g[2]],
    )


def plain_map(x, source, target, score):
    """map_joints written out: a loop over samples, frames, persons and target joints."""
    n, c, t, _, m = x.shape
    d = c - 1 if score else c
    out = np.zeros((n, c, t, target.num_joints, m))
    for i in range(n):
        for f in range(t):
            for p in range(m):
                frame = x[i, :, f, :, p].astype(np.float64)
                for v, point in enumerate(joint_points(target)):
                    value, missing, used = plain_point(source, point, frame[:d])
                    if missing:
                        continue
                    out[i, :d, f, v, p] = value
                    if score:  # the least score of the joints it is made from
                        out[i, d, f, v, p] = min(frame[d, j] for j in used)
    return out


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_every_joint_of_every_layout_is_in_the_table(layout):
    aliases = ALIASES[layout.name]
    for name in layout.joint_names:
        assert name in aliases or name in POINTS, f"{layout.name}.{name} is not in the table"
    points = [p for p in joint_points(layout) if p is not None]
    assert len(points) == len(set(points)), "two joints of one layout mean one point"


def reference_body():
    """A standing person facing the camera (Kinect axes: y up, z away from the camera, the
    left shoulder at the smaller x), left arm raised and right arm down so that left and right
    differ: a position for every point, the midpoints made exactly as the table derives them;
    plus the points only MediaPipe has."""
    p = {"head": [0.0, 1.65, -0.08], "head_top": [0.0, 1.78, 0.0]}
    for sign, side in ((-1, "left"), (1, "right")):
        arm = 1 if side == "left" else -1  # left arm up, right arm down
        p |= {
            f"eye_{side}": [0.03 * sign, 1.68, -0.07],
            f"ear_{side}": [0.08 * sign, 1.66, 0.0],
            f"shoulder_{side}": [0.2 * sign, 1.45, 0.0],
            f"elbow_{side}": [0.25 * sign, 1.45 + 0.25 * arm, 0.02],
            f"wrist_{side}": [0.28 * sign, 1.45 + 0.5 * arm, 0.01],
            f"hand_tip_{side}": [0.3 * sign, 1.45 + 0.62 * arm, 0.0],
            f"thumb_{side}": [0.26 * sign, 1.45 + 0.56 * arm, -0.03],
            f"pinky_{side}": [0.32 * sign, 1.45 + 0.6 * arm, 0.02],
            f"hip_{side}": [0.1 * sign, 0.9, 0.0],
            f"knee_{side}": [0.11 * sign, 0.5, -0.02],
            f"ankle_{side}": [0.12 * sign, 0.08, 0.0],
            f"heel_{side}": [0.12 * sign, 0.03, 0.05],
            f"big_toe_{side}": [0.1 * sign, 0.02, -0.15],
            f"small_toe_{side}": [0.16 * sign, 0.02, -0.12],
        }
        p[f"hand_{side}"] = np.mean(
            [p[f"wrist_{side}"], p[f"hand_tip_{side}"], p[f"pinky_{side}"]], axis=0
        )
    for point, parts in DERIVED.items():
        p[point] = np.mean([p[q] for q in parts], axis=0)
    return {k: np.asarray(v, np.float64) for k, v in p.items()}


def skeleton_of(layout, body):
    """(3, V) the reference body in `layout`; MediaPipe's own points: its pinky knuckles, and
    eye and mouth corners placed beside the head."""
    out = np.zeros((3, layout.num_joints))
    for v, (name, point) in enumerate(zip(layout.joint_names, joint_points(layout), strict=True)):
        offset = 0.0
        if point is None:
            point, offset = (name, 0.0) if name in body else ("head", 0.01 * (v + 1))
        out[:, v] = body[point] + offset
    return out


@pytest.mark.parametrize(
    ("source", "target"),
    [m for m in MAPS if _mappable(*m)],
    ids=[f"{s}->{t}" for s, t in MAPS if _mappable(s, t)],
)
def test_mapped_bones_are_the_target_layouts_bones_of_the_same_body(source, target):
    """Any possible map of the reference body gives the target's own skeleton of that body:
    every bone of the target has the length (and direction) it has there."""
    body = reference_body()
    s, t = LAYOUTS[source], LAYOUTS[target]
    mapped = map_joints(skeleton_of(s, body)[None, :, None, :, None], s, t, "xyz")[0, :, 0, :, 0]
    expected = skeleton_of(t, body)
    np.testing.assert_allclose(mapped, expected, atol=1e-6)
    for v, parent in t.bone_pairs:
        np.testing.assert_allclose(
            mapped[:, v] - mapped[:, parent], expected[:, v] - expected[:, parent], atol=1e-6
        )


def test_an_impossible_map_is_refused_naming_the_joints_and_the_possible_targets():
    with pytest.raises(UserError) as err:
        joint_map(LAYOUTS["coco17"], NTU25)
    text = str(err.value)
    assert "hand_tip_left" in text and "thumb_right" in text and "never invents" in text
    assert "coco17 maps to: openpose18" in text
    with pytest.raises(UserError, match="small_toe_left"):
        joint_map(LAYOUTS["mediapipe33"], LAYOUTS["body25"])
    with pytest.raises(UserError, match="mouth_left"):  # a point no other layout has
        joint_map(LAYOUTS["body25"], LAYOUTS["mediapipe33"])


def test_a_yaml_layout_maps_by_joint_names_and_may_not_borrow_a_builtin_name():
    mine = layout_from_dict(
        {"name": "mine", "joints": ["hip_left", "hip_right", "knee_left"], "parents": [1, 1, 1]}
    )
    index, weight = joint_map(NTU25, mine)
    assert index[:, 0].tolist() == [12, 16, 13] and weight[:, 0].tolist() == [1, 1, 1]
    fake = layout_from_dict({"name": "ntu25", "joints": ["a", "b"], "parents": [1, 1]})
    with pytest.raises(UserError, match="name of a built-in layout"):
        joint_map(fake, NTU25)


@pytest.mark.parametrize(
    ("source", "target", "channels"),
    [
        ("mediapipe33", "ntu25", "xyz"),
        ("body25", "openpose18", "xy+score"),
        ("coco17", "openpose18", "xy+score"),
        ("body25b", "body25", "xy"),
        ("ntu25", "sbu15", "xyz"),
    ],
)
def test_map_joints_equals_a_plain_loop(source, target, channels):
    s, t = LAYOUTS[source], LAYOUTS[target]
    c = 2 if channels == "xy" else 3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, c, 4, s.num_joints, 2))
    if channels == "xy+score":
        x[:, 2] = rng.uniform(0.1, 1, size=x[:, 2].shape)
    x[..., 1] = np.where(rng.uniform(size=x[:, :1, :, :, 1].shape) < 0.3, 0, x[..., 1])  # gaps
    x[1, :, 2] = 0  # a frame without anybody
    got = map_joints(x, s, t, channels)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, plain_map(x, s, t, channels == "xy+score"), atol=1e-5)


def chirality(x):
    """(T,) det[right - left shoulder, neck base - pelvis, forward] of (3, T, 25) NTU-25 frames,
    forward = feet - ankles: negative for a person in a right-handed frame, whatever the view."""
    j = NTU25.index
    across = x[:, :, j("shoulder_right")] - x[:, :, j("shoulder_left")]
    up = x[:, :, j("spine_shoulder")] - x[:, :, j("spine_base")]
    forward = (
        x[:, :, j("foot_left")]
        - x[:, :, j("ankle_left")]
        + x[:, :, j("foot_right")]
        - x[:, :, j("ankle_right")]
    )
    return np.einsum("tc,tc->t", np.cross(across.T, up.T), forward.T)


@pytest.fixture(scope="module")
def etf_ntu(tmp_path_factory):
    from skelcmd.sources.pose_estimators.mediapipe import import_mediapipe

    if not ETF.is_file():
        pytest.skip("needs ../shared/data/pose_outputs/mediapipe_world_landmarks_etf")
    root = tmp_path_factory.mktemp("etf")
    import_mediapipe(ETF, root / "mp")
    return convert_layout(root / "mp", "ntu25", root / "ntu", persons=2)


def test_mediapipe_world_landmarks_map_to_a_plausible_ntu_skeleton(etf_ntu):
    data = open_dataset(etf_ntu)
    x = np.asarray(data.split("train").data[0, :, :, :, 0], np.float64)  # (3, T, 25)
    assert data.layout == NTU25 and data.split("train").data.shape[4] == 2
    lengths = {
        NTU25.joint_names[v]: np.linalg.norm(x[:, :, v] - x[:, :, p], axis=0)
        for v, p in NTU25.bone_pairs
        if v != p and p != v
    }
    for name, length in lengths.items():
        if name in ("spine_shoulder",):
            continue
        assert np.isfinite(length).all() and (length > 0.005).all() and (length < 0.8).all(), name
    for part in ("elbow", "wrist", "knee", "ankle", "shoulder", "hip"):
        left, right = np.median(lengths[f"{part}_left"]), np.median(lengths[f"{part}_right"])
        assert abs(left - right) < 0.25 * max(left, right), part
    # left and right as in NTU: the same handedness, and the left shoulder at the smaller x
    # for a person facing the camera
    assert (chirality(x) < 0).mean() > 0.95
    assert (
        x[0, :, NTU25.index("shoulder_left")] < x[0, :, NTU25.index("shoulder_right")]
    ).mean() > 0.95
    assert (x[1, :, NTU25.index("head")] > x[1, :, NTU25.index("spine_base")]).all()  # y up


@pytest.mark.skipif(not NTU_SAMPLES, reason="needs ../shared/data/ntu_samples")
def test_ntu_recordings_have_the_handedness_the_mapping_keeps():
    from skelcmd.sources.ntu_parse import parse_skeleton

    for path in NTU_SAMPLES:
        xyz = parse_skeleton(path).xyz  # (3, records, 25)
        assert (chirality(xyz) < 0).mean() > 0.95, path.name


def test_convert_layout_keeps_splits_labels_ids_and_names(tmp_path):
    s, t = LAYOUTS["body25"], LAYOUTS["coco17"]
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 1, size=(5, 3, 6, 25, 2)).astype(np.float32)
    arrays = {
        "data": x,
        "lengths": np.array([6, 5, 4, 6, 3]),
        "labels": np.array([0, 1, 0, 1, 1]),
        "names": list("abcde"),
        "subjects": np.arange(5),
    }
    masks = {"train": np.array([1, 1, 1, 0, 0], bool), "test": np.array([0, 0, 0, 1, 1], bool)}
    write_dataset(
        tmp_path / "in",
        s,
        ["p", "q"],
        arrays,
        masks,
        source="openpose",
        benchmark="",
        channels="xy+score",
    )
    out = convert_layout(tmp_path / "in", "coco17", tmp_path / "out", persons=3, chunk=2)
    data = open_dataset(out)
    assert data.layout == t and data.channels == "xy+score" and data.class_names == ("p", "q")
    for name, mask in masks.items():
        split = data.split(name)
        assert split.data.shape == (mask.sum(), 3, 6, 17, 3)
        assert split.names == [n for n, k in zip("abcde", mask, strict=True) if k]
        assert split.lengths.tolist() == arrays["lengths"][mask].tolist()
        assert split.ids["subjects"].tolist() == np.flatnonzero(mask).tolist()
        np.testing.assert_array_equal(split.data[..., :2], map_joints(x[mask], s, t, "xy+score"))
        assert not split.data[..., 2].any()  # the added person is empty
    assert data.extra["converted_from"]["layout"] == "body25"
    assert "neck <-" not in " ".join(data.extra["layout_map"])  # coco17 has no neck
    with pytest.raises(UserError, match="centres and rotates 3D"):
        convert_layout(tmp_path / "in", "coco17", tmp_path / "o2", preprocess="reference")


def test_convert_layout_refuses_before_writing(tmp_path):
    x = np.ones((1, 3, 2, 17, 1), np.float32)
    arrays = {"data": x, "lengths": np.array([2]), "labels": np.array([0])}
    write_dataset(
        tmp_path / "in",
        LAYOUTS["coco17"],
        ["a"],
        arrays,
        {"train": np.ones(1, bool)},
        source="mmpose",
        benchmark="",
        channels="xy+score",
    )
    with pytest.raises(UserError, match="cannot map layout 'coco17' to 'ntu25'"):
        convert_layout(tmp_path / "in", "ntu25", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _two_d_set(path, source, channels="xy+score", extra=None, c=3):
    x = np.random.default_rng(5).uniform(-0.5, 0.5, size=(2, c, 4, 18, 1)).astype(np.float32)
    x[0, :, 1, 3] = 0  # an absent joint
    arrays = {"data": x, "lengths": np.array([4, 3]), "labels": np.array([0, 0])}
    write_dataset(path, LAYOUTS["openpose18"], ["a"], arrays, {"train": np.ones(2, bool)},
                  source=source, benchmark="", channels=channels, extra=extra or {})  # fmt: skip
    return x


def test_convert_layout_rescales_image_coordinates_and_records_them(tmp_path):
    x = _two_d_set(tmp_path / "k", "kinetics-skeleton")  # written before the key: by source
    out = convert_layout(tmp_path / "k", "openpose18", tmp_path / "s", image_coordinates="signed")
    data = open_dataset(out)
    expected = x.copy()
    expected[:, :2] *= 2  # [-0.5, 0.5] -> [-1, 1]; the score stays
    np.testing.assert_allclose(data.split("train").data, expected)
    assert data.extra["image_coordinates"] == "signed" and data.image_coordinates == "signed"
    kept = open_dataset(convert_layout(tmp_path / "s", "openpose18", tmp_path / "same"))
    np.testing.assert_array_equal(kept.split("train").data, data.split("train").data)
    assert kept.extra["image_coordinates"] == "signed"


def test_convert_layout_refuses_to_rescale_what_it_cannot(tmp_path):
    _two_d_set(tmp_path / "clips", "clips", channels="xy", c=2)  # a user's own numbers
    with pytest.raises(UserError, match="does not record how its 2D coordinates are scaled"):
        convert_layout(tmp_path / "clips", "openpose18", tmp_path / "o", image_coordinates="signed")
    x = np.ones((1, 3, 2, 25, 1), np.float32)
    arrays = {"data": x, "lengths": np.array([2]), "labels": np.array([0])}
    write_dataset(tmp_path / "3d", NTU25, ["a"], arrays, {"train": np.ones(1, bool)},
                  source="ntu60", benchmark="")  # fmt: skip
    with pytest.raises(UserError, match="holds 3D"):
        convert_layout(tmp_path / "3d", "ntu25", tmp_path / "o", image_coordinates="centred")
    assert not (tmp_path / "o").exists()
