"""The pose estimators' layouts: joint orders as the estimators document them, bones from
their drawn connections (where those form a tree), and a round trip through meta.json."""

from __future__ import annotations

import pytest

from skelcmd.layout_map import joint_points
from skelcmd.skeleton import LAYOUTS, layout_from_dict
from skelcmd.sources.pose_estimators.mediapipe import LANDMARKS

# OpenPose's poseParameters.cpp: BODY_25 part names and the pairs it draws
BODY25_ORDER = ("Nose Neck RShoulder RElbow RWrist LShoulder LElbow LWrist MidHip RHip RKnee "
                "RAnkle LHip LKnee LAnkle REye LEye REar LEar LBigToe LSmallToe LHeel RBigToe "
                "RSmallToe RHeel").split()  # fmt: skip
BODY25_PAIRS = [(1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10),
                (10, 11), (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16),
                (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24)]  # fmt: skip
# BODY_25B as Pose2Sim's skeletons.py lists it (COCO-17 order, then neck, head, feet)
BODY25B_ORDER = ("Nose LEye REye LEar REar LShoulder RShoulder LElbow RElbow LWrist RWrist LHip "
                 "RHip LKnee RKnee LAnkle RAnkle Neck Head LBigToe LSmallToe LHeel RBigToe "
                 "RSmallToe RHeel").split()  # fmt: skip
BODY25B_PAIRS = [(0, 1), (0, 2), (1, 3), (2, 4), (5, 7), (6, 8), (7, 9), (8, 10), (5, 11),
                 (6, 12), (11, 13), (12, 14), (13, 15), (14, 16), (15, 19), (19, 20), (15, 21),
                 (16, 22), (22, 23), (16, 24), (5, 17), (6, 17), (17, 18), (11, 12)]  # fmt: skip
# MediaPipe's POSE_CONNECTIONS
MEDIAPIPE_PAIRS = [(0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
                   (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
                   (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20), (11, 23),
                   (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29),
                   (28, 30), (29, 31), (30, 32), (27, 31), (28, 32)]  # fmt: skip


def spelled(name):
    """OpenPose / MediaPipe spelling of a skelcmd joint name: shoulder_right -> RShoulder."""
    words = name.split("_")
    side = {"left": "L", "right": "R"}.get(words[-1], "")
    body = "".join(w.capitalize() for w in (words[:-1] if side else words))
    return side + {"HeadTop": "Head", "MidHip": "MidHip"}.get(body, body)


@pytest.mark.parametrize(("name", "order"), [("body25", BODY25_ORDER),
                                             ("body25b", BODY25B_ORDER)])  # fmt: skip
def test_openpose_joint_orders(name, order):
    assert [spelled(j) for j in LAYOUTS[name].joint_names] == order


def test_mediapipe_joint_order():
    layout = LAYOUTS["mediapipe33"]
    for joint, landmark in zip(layout.joint_names, LANDMARKS, strict=True):
        words = joint.split("_")
        if words[-1] in ("left", "right") and words[0] != "mouth":  # MOUTH_LEFT, LEFT_EYE
            words = [words[-1], *words[:-1]]
        assert "_".join(words).upper() == landmark


@pytest.mark.parametrize(("name", "pairs", "added"), [
    ("body25", BODY25_PAIRS, set()),
    # BODY_25B draws no nose-neck or head-nose line, and joins the hips to the shoulders
    ("body25b", BODY25B_PAIRS, {(0, 17), (18, 0)}),
    # MediaPipe draws the face apart from the body: mouth, eyes and shoulders hang off the nose
    ("mediapipe33", MEDIAPIPE_PAIRS, {(9, 0), (10, 0), (11, 0), (12, 0)}),
])  # fmt: skip
def test_bones_are_drawn_connections(name, pairs, added):
    layout = LAYOUTS[name]
    drawn = {frozenset(p) for p in pairs}
    extra = {frozenset(e) for e in layout.edges} - drawn
    assert extra == {frozenset(e) for e in added}, sorted(tuple(e) for e in extra)


@pytest.mark.parametrize("name", ["body25", "body25b", "mediapipe33"])
def test_round_trip_and_every_joint_matched_or_declared(name):
    layout = LAYOUTS[name]
    assert layout_from_dict(layout.to_dict()) == layout
    assert len(joint_points(layout)) == layout.num_joints
