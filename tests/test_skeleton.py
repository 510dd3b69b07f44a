from collections import deque

import numpy as np
import pytest
import yaml

from skelcmd.errors import UserError
from skelcmd.skeleton import (
    KINECT20,
    LAYOUTS,
    NTU25,
    Layout,
    get_layout,
    layout_from_dict,
    printable,
)

# The CMD reference code's bone list, 1-based (joint, parent), as in docs/method.md#modalities.
PAPER_NTU_BONES = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12),
]  # fmt: skip

UTD_ORDER = (
    "head shoulder_center spine hip_center shoulder_left elbow_left wrist_left hand_left "
    "shoulder_right elbow_right wrist_right hand_right hip_left knee_left ankle_left foot_left "
    "hip_right knee_right ankle_right foot_right"
).split()


def test_ntu25_bones_are_the_papers_list():
    assert [(v + 1, p + 1) for v, p in NTU25.bone_pairs] == PAPER_NTU_BONES
    assert NTU25.num_joints == 25
    assert NTU25.joint_names[20] == "spine_shoulder"
    assert [NTU25.joint_names[i] for i in (0, 1, 4, 8)] == [
        "spine_base", "spine_mid", "shoulder_left", "shoulder_right"
    ]  # fmt: skip


def test_kinect20_follows_utd_mhad_joint_order():
    assert list(KINECT20.joint_names) == UTD_ORDER
    named = {KINECT20.joint_names[v]: KINECT20.joint_names[p] for v, p in KINECT20.bone_pairs}
    assert named["hand_left"] == "wrist_left"
    assert named["foot_right"] == "ankle_right"
    assert named["hip_left"] == named["hip_right"] == "hip_center"
    assert named["shoulder_center"] == "shoulder_center"  # the root


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_graph_properties(layout):
    a = layout.adjacency()
    assert a.shape == (layout.num_joints,) * 2
    assert np.array_equal(a, a.T) and np.all(np.diag(a) == 0)
    assert int(a.sum()) == 2 * len(layout.edges)
    assert len(layout.edges) == layout.num_joints - 1  # a tree with one root
    assert all(v != p for v, p in layout.edges)


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_hop_distance_matches_breadth_first_search(layout):
    neighbours = {v: set() for v in range(layout.num_joints)}
    for v, p in layout.edges:
        neighbours[v].add(p)
        neighbours[p].add(v)
    hops = layout.hop_distance()
    for start in range(layout.num_joints):
        dist, todo = {start: 0}, deque([start])
        while todo:
            v = todo.popleft()
            for w in neighbours[v]:
                if w not in dist:
                    dist[w] = dist[v] + 1
                    todo.append(w)
        for end in range(layout.num_joints):
            assert hops[start, end] == dist[end]


def test_disconnected_graph_has_infinite_hops():
    layout = Layout("two", ("a", "b"), (0, 1), 0)
    assert np.isinf(layout.hop_distance()[0, 1])


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_dict_round_trip(layout):
    assert layout_from_dict(layout.to_dict()) == layout


def test_yaml_layout_by_names_and_indices(tmp_path):
    spec = {
        "name": "stick",
        "joints": ["pelvis", "chest", "head", "hand"],
        "parents": ["pelvis", 1, "chest", 2],
        "center": "chest",
    }
    path = tmp_path / "stick.yaml"
    path.write_text(yaml.safe_dump(spec))
    layout = get_layout(str(path))
    assert layout.parents == (0, 0, 1, 1)
    assert layout.center == 1
    assert layout.edges == [(1, 0), (2, 1), (3, 1)]
    assert get_layout(spec) == layout
    assert get_layout(layout) is layout


def test_center_defaults_to_the_root():
    layout = layout_from_dict({"name": "x", "joints": ["a", "b"], "parents": ["b", "b"]})
    assert layout.center == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "joints": ["a", "b"], "parents": ["b", "a"]}, "no root"),
        ({"name": "x", "joints": ["a", "b", "c"], "parents": ["a", "c", "b"]}, "cycle"),
        ({"name": "x", "joints": ["a", "b"], "parents": ["a"]}, "2 joints but 1 parents"),
        ({"name": "x", "joints": ["a", "b"], "parents": ["a", "z"]}, "'z' is not one of"),
        ({"name": "x", "joints": ["a", "b"], "parents": ["a", 3]}, "outside 1..2"),
        ({"name": "x", "joints": ["a", "a"], "parents": ["a", "a"]}, "repeats a joint"),
        ({"name": "x", "joints": ["a"]}, "lacks parents"),
        (["a", "b"], "must be a mapping"),
    ],
)
def test_bad_layouts_are_explained(spec, message):
    with pytest.raises(UserError, match=message):
        layout_from_dict(spec)


def test_unknown_layout_names_the_built_ins(tmp_path):
    with pytest.raises(UserError, match="kinect20, mediapipe33, ntu25"):
        get_layout("smpl")
    with pytest.raises(UserError, match="does not exist"):
        get_layout(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        get_layout(str(bad))


def test_joint_lookup():
    assert NTU25.index("head") == 3
    with pytest.raises(UserError, match="no joint 'tail'"):
        NTU25.index("tail")


def test_body_frames_of_the_builtin_layouts():
    assert (NTU25.body_frame.origin, NTU25.body_frame.up, NTU25.body_frame.across) == (
        1,
        (0, 1),
        (4, 8),
    )  # the reference's joints 2, 1 -> 2, 5 and 9 (1-based)
    frame = KINECT20.body_frame
    assert [KINECT20.joint_names[j] for j in frame.joints] == [
        "spine", "hip_center", "spine", "shoulder_left", "shoulder_right",
    ]  # fmt: skip


def test_yaml_body_frame_round_trips_and_is_optional(tmp_path):
    spec = {
        "name": "stick",
        "joints": ["pelvis", "chest", "l", "r"],
        "parents": ["pelvis", 1, "chest", "chest"],
        "body_frame": {"origin": "chest", "up": ["pelvis", 2], "across": ["l", "r"]},
    }
    path = tmp_path / "stick.yaml"
    path.write_text(yaml.safe_dump(spec))
    layout = get_layout(str(path))
    assert layout.body_frame.joints == (1, 0, 1, 2, 3)
    assert layout_from_dict(layout.to_dict()) == layout
    del spec["body_frame"]
    bare = layout_from_dict(spec)
    assert bare.body_frame is None and "body_frame" not in bare.to_dict()
    with pytest.raises(UserError, match="layout 'stick' has no body frame, which --preprocess"):
        bare.require_body_frame("--preprocess reference")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"origin": "a", "up": ["a"], "across": ["a", "b"]}, "body_frame must be a mapping"),
        (["a", "b"], "body_frame must be a mapping"),
        ({"origin": "z", "up": ["a", "b"], "across": ["a", "b"]}, "'z' is not one of"),
    ],
)
def test_bad_body_frames_are_explained(frame, message):
    spec = {"name": "x", "joints": ["a", "b"], "parents": ["a", "a"], "body_frame": frame}
    with pytest.raises(UserError, match=message):
        layout_from_dict(spec)


# Issue 22, items 5 and 8: a layout file with YAML aliases, or not UTF-8, is a user error.
def test_layout_aliases_and_bad_encoding_are_refused(tmp_path):
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(laughs) + "\nname: *a8\njoints: [a]\nparents: [a]\n")
    with pytest.raises(UserError, match=r"bomb.yaml.*alias"):
        get_layout(str(bomb))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\njoints: [a]\nparents: [a]\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.yaml.*UTF-8"):
        get_layout(str(latin))


def test_the_layout_command_escapes_control_characters_in_names(tmp_path, capsys):
    """Issue 22 item 12: joint names from a file reached the terminal raw (ANSI escapes)."""
    from skelcmd.cli import main

    path = tmp_path / "evil.yaml"
    red, bell = "\x1b[31mred\x1b[0m", "b\x07ell"
    yaml.safe_dump(
        {"name": "e\x1bvil", "joints": [red, bell], "parents": [red, red]}, open(path, "w")
    )
    assert main(["layout", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mred\\x1b[0m" in out and "b\\x07ell" in out and "e\\x1bvil" in out
    assert printable("tëst joint_1") == "tëst joint_1"
