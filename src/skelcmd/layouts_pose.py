"""The skeletons of video pose estimators: OpenPose BODY_25 and BODY_25B, MediaPipe Pose (33).

Each is a plain layout description (`skelcmd.skeleton.layout_from_dict` builds it; the
built-in table `skelcmd.skeleton.LAYOUTS` registers them under their names), joints in the
order the estimator writes them and named as the other built-in layouts name theirs
(`shoulder_left`, ...), so that `skelcmd.layout_map` can match joints across layouts. COCO-17
(MMPose, YOLO-pose) and OpenPose's COCO-18 are `coco17` and `openpose18` in
`skelcmd.skeleton`.

Every layout is a tree (one root, the graph centre): the estimator's drawn connections where
they form one, and otherwise the choices coco17 makes (hips hang off the shoulders, the
shoulders off the nose where there is no neck).
"""

from __future__ import annotations

from typing import Any

# OpenPose BODY_25, the order of its `pose_keypoints_2d` (OpenPose's poseParameters.cpp):
# 0 Nose, 1 Neck, 2-4 right arm, 5-7 left arm, 8 MidHip, 9-11 right leg, 12-14 left leg,
# 15-18 eyes and ears, 19-24 feet. Its 24 drawn pairs are this tree, rooted at the neck.
BODY25: dict[str, Any] = {
    "name": "body25",
    "joints": (
        "nose neck shoulder_right elbow_right wrist_right shoulder_left elbow_left wrist_left "
        "mid_hip hip_right knee_right ankle_right hip_left knee_left ankle_left eye_right "
        "eye_left ear_right ear_left big_toe_left small_toe_left heel_left big_toe_right "
        "small_toe_right heel_right"
    ).split(),
    "parents": (
        "neck neck neck shoulder_right elbow_right neck shoulder_left elbow_left neck mid_hip "
        "hip_right knee_right mid_hip hip_left knee_left nose nose eye_right eye_left "
        "ankle_left big_toe_left ankle_left ankle_right big_toe_right ankle_right"
    ).split(),
    "center": "neck",
}

# OpenPose BODY_25B (experimental model; Pose2Sim's default): COCO-17 order first, then
# 17 Neck, 18 Head (top of the head), 19-24 feet as in BODY_25. Its drawn pairs form cycles
# (shoulders-hips, hip-hip); the tree keeps coco17's hips-off-shoulders, hangs the nose off
# the neck and the head top off the nose.
BODY25B: dict[str, Any] = {
    "name": "body25b",
    "joints": (
        "nose eye_left eye_right ear_left ear_right shoulder_left shoulder_right elbow_left "
        "elbow_right wrist_left wrist_right hip_left hip_right knee_left knee_right "
        "ankle_left ankle_right neck head_top big_toe_left small_toe_left heel_left "
        "big_toe_right small_toe_right heel_right"
    ).split(),
    "parents": (
        "neck nose nose eye_left eye_right neck neck shoulder_left shoulder_right elbow_left "
        "elbow_right shoulder_left shoulder_right hip_left hip_right knee_left knee_right "
        "neck nose ankle_left big_toe_left ankle_left ankle_right big_toe_right ankle_right"
    ).split(),
    "center": "neck",
}

# MediaPipe Pose's 33 landmarks (PoseLandmark 0..32). Its connections leave the face apart
# from the body and close loops (hands, feet, the torso); the tree roots everything at the
# nose, as coco17 does: eyes, ears and mouth off the nose, shoulders off the nose, hips off
# the shoulders, the hand's pinky / index / thumb off the wrist, heel and foot index off the
# ankle.
MEDIAPIPE33: dict[str, Any] = {
    "name": "mediapipe33",
    "joints": (
        "nose eye_inner_left eye_left eye_outer_left eye_inner_right eye_right "
        "eye_outer_right ear_left ear_right mouth_left mouth_right shoulder_left "
        "shoulder_right elbow_left elbow_right wrist_left wrist_right pinky_left pinky_right "
        "index_left index_right thumb_left thumb_right hip_left hip_right knee_left "
        "knee_right ankle_left ankle_right heel_left heel_right foot_index_left "
        "foot_index_right"
    ).split(),
    "parents": (
        "nose nose eye_inner_left eye_left nose eye_inner_right eye_right eye_outer_left "
        "eye_outer_right nose nose nose nose shoulder_left shoulder_right elbow_left "
        "elbow_right wrist_left wrist_right wrist_left wrist_right wrist_left wrist_right "
        "shoulder_left shoulder_right hip_left hip_right knee_left knee_right ankle_left "
        "ankle_right ankle_left ankle_right"
    ).split(),
    "center": "nose",
}

POSE_LAYOUTS: tuple[dict[str, Any], ...] = (BODY25, BODY25B, MEDIAPIPE33)
