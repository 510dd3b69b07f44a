"""The 2D and SBU layouts: their graphs are the published ones, and `skelcmd layout` lists them."""

from __future__ import annotations

import numpy as np
import pytest

from skelcmd.cli import main
from skelcmd.layout_picture import tree_positions
from skelcmd.skeleton import COCO17, LAYOUTS, OPENPOSE18, SBU15, layout_from_dict

# pyskl's `coco` graph (pyskl/utils/graph.py): inward edges (joint, towards the centre), centre 0
PYSKL_COCO = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5), (10, 8),
              (8, 6), (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)]  # fmt: skip
# ST-GCN's `openpose` graph (net/utils/graph.py): neighbour links, centre 1 (the neck)
STGCN_OPENPOSE = [(4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5),
                  (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)]  # fmt: skip
# the joint orders of the data's documentation (COCO; OpenPose COCO-18; SBU's README)
COCO_ORDER = (
    "nose eye_left eye_right ear_left ear_right shoulder_left shoulder_right elbow_left "
    "elbow_right wrist_left wrist_right hip_left hip_right knee_left knee_right ankle_left "
    "ankle_right"
).split()
OPENPOSE_ORDER = (
    "nose neck shoulder_right elbow_right wrist_right shoulder_left elbow_left wrist_left "
    "hip_right knee_right ankle_right hip_left knee_left ankle_left eye_right eye_left ear_right "
    "ear_left"
).split()
SBU_ORDER = (
    "head neck torso shoulder_left elbow_left hand_left shoulder_right elbow_right hand_right "
    "hip_left knee_left foot_left hip_right knee_right foot_right"
).split()


def undirected(edges):
    return {frozenset(e) for e in edges}


@pytest.mark.parametrize(
    ("layout", "order", "edges", "center"),
    [(COCO17, COCO_ORDER, PYSKL_COCO, 0), (OPENPOSE18, OPENPOSE_ORDER, STGCN_OPENPOSE, 1)],
    ids=["coco17", "openpose18"],
)
def test_2d_layouts_are_the_published_graphs(layout, order, edges, center):
    assert list(layout.joint_names) == order
    assert undirected(layout.edges) == undirected(edges)
    assert layout.center == center
    assert sum(v == p for v, p in layout.bone_pairs) == 1  # one tree, rooted at the centre
    assert layout.parents[center] == center


def test_sbu15_tree():
    assert list(SBU15.joint_names) == SBU_ORDER
    name = SBU15.joint_names
    bones = {(name[v], name[p]) for v, p in SBU15.edges}
    assert bones == {
        ("head", "neck"), ("neck", "torso"), ("shoulder_left", "neck"),
        ("elbow_left", "shoulder_left"), ("hand_left", "elbow_left"),
        ("shoulder_right", "neck"), ("elbow_right", "shoulder_right"),
        ("hand_right", "elbow_right"), ("hip_left", "torso"), ("knee_left", "hip_left"),
        ("foot_left", "knee_left"), ("hip_right", "torso"), ("knee_right", "hip_right"),
        ("foot_right", "knee_right"),
    }  # fmt: skip
    assert name[SBU15.center] == "torso"


@pytest.mark.parametrize("layout", [COCO17, OPENPOSE18, SBU15], ids=lambda lay: lay.name)
def test_layouts_survive_meta_json(layout):
    assert layout_from_dict(layout.to_dict()) == layout
    assert LAYOUTS[layout.name] is layout


def test_skelcmd_layout_lists_and_prints_them(capsys):
    assert main(["layout"]) == 0
    listing = capsys.readouterr().out
    for line in ("coco17     17 joints, centre nose", "openpose18 18 joints, centre neck",
                 "sbu15      15 joints, centre torso"):  # fmt: skip
        assert line in listing
    assert main(["layout", "openpose18"]) == 0
    bones = capsys.readouterr().out
    assert "layout openpose18: 18 joints, centre joint 2" in bones
    assert " 2 neck             root (zero bone)" in bones
    assert " 9 hip_right        bone to  3 shoulder_right" in bones


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=lambda lay: lay.name)
def test_tree_pictures_put_children_under_their_parent(layout):
    pos = tree_positions(layout)
    children = {p: [v for v, q in layout.edges if q == p] for p in range(layout.num_joints)}
    for joint, parent in layout.bone_pairs:
        if joint == parent:
            assert pos[joint, 1] == 0  # a root at the top
            continue
        assert pos[joint, 1] == pos[parent, 1] - 1
        assert pos[parent, 0] == pytest.approx(np.mean([pos[c, 0] for c in children[parent]]))
    leaves = sorted(pos[v, 0] for v in range(layout.num_joints) if not children[v])
    assert leaves == list(range(len(leaves)))  # one column per leaf, none shared


def test_skelcmd_layout_draws_the_tree(tmp_path, capsys):
    out = tmp_path / "coco.png"
    assert main(["layout", "coco17", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["layout", "--out", str(out)]) == 2
    assert "--out draws one layout; name it" in capsys.readouterr().err
    assert main(["layout", "coco17", "--out", str(tmp_path / "a.gif")]) == 2
