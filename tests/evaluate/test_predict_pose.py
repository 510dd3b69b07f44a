"""`skelcmd predict` on pose estimators' outputs: read by the importers' readers, mapped to the
classifier's layout as `convert-layout` maps a data set, so predicting on the output equals
predicting on `convert-layout` of its import; refusals for joints that cannot be mapped and
for 2D / 3D mismatches."""

import csv
import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from skelcmd.encoders import build_encoder
from skelcmd.errors import UserError
from skelcmd.evaluate.classifier import classifier_state, save_classifier
from skelcmd.evaluate.commands import evaluate
from skelcmd.evaluate.finetune import StreamNet
from skelcmd.evaluate.predict import predict_files
from skelcmd.evaluate.predict_pose import pose_format
from skelcmd.evaluate.protocols import load_eval_config
from skelcmd.layout_map import convert_layout
from skelcmd.skeleton import LAYOUTS
from skelcmd.sources.pose_estimators.mediapipe import import_mediapipe
from skelcmd.sources.pose_estimators.mmpose import import_mmpose
from skelcmd.sources.pose_estimators.openpose import import_openpose
from tests.helpers.data_paths import SHARED_DATA

pytestmark = pytest.mark.usefixtures("one_thread")
POSE = SHARED_DATA / "pose_outputs"
needs_pose = pytest.mark.skipif(not POSE.is_dir(), reason="needs ../shared/data/pose_outputs")
ETF = POSE / "mediapipe_world_landmarks_etf" / "landmarks.csv"
DGS = POSE / "openpose_body25_dgs_signing" / "du_wohn_wo_json"
FAST = ["epochs=3", "milestones=[2]", "batch_size=16", "frames=16", "min_frames=8"]


def probabilities(path):
    """{input: {class: probability}} of a CSV written with --top-k of all classes."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    k = sum(1 for c in rows[0] if c.startswith("class_"))
    return {
        r["input"]: {r[f"class_{j}"]: float(r[f"prob_{j}"]) for j in range(1, k + 1)} for r in rows
    }


def largest_difference(a, b):
    assert a.keys() == b.keys()
    return max(abs(a[n][c] - b[n][c]) for n in a for c in a[n])


def hand_made(
    path,
    layout,
    channels,
    persons=2,
    classes=("a", "b", "c"),
    seed=0,
    source="hand",
    frames=32,
    streams=("joint",),
):
    """A classifier file of `layout` and `channels`: a random GRU encoder and linear head per
    stream of `streams` (several: an ensemble), trained (its preparation says) on a data set of
    `source` with clips of `frames` frames; the classifier itself takes 16 frames."""
    torch.manual_seed(seed)
    c = 3 if channels in ("xyz", "xy+score") else 2
    args = {"hidden": 8, "num_layers": 1}
    nets = {}
    for stream in streams:
        encoder = build_encoder("gru", LAYOUTS[layout], persons, in_channels=c, **args)
        features = encoder(torch.zeros(1, c, 4, LAYOUTS[layout].num_joints, persons)).shape[1]
        fc = nn.Linear(features, len(classes))
        nets[stream] = StreamNet(encoder, stream, LAYOUTS[layout], fc, channels).eval()
    preparation = {"source": source, "benchmark": "", "channels": channels, "layout": layout,
                   "frames": frames, "num_persons": persons, "extra": {}}  # fmt: skip
    state = classifier_state(
        nets, classes=list(classes), encoder={"name": "gru", "args": args},
        num_persons=persons, crop=0.95, frames=16, preparation=preparation, training={},
    )  # fmt: skip
    return save_classifier(path, state)


def mmpose_file(path, frames=6, people=1):
    """An MMPose predictions JSON of `frames` frames, 17 keypoints in a 640x480 image."""
    rng = np.random.default_rng(0)
    out = [
        {
            "frame_id": t,
            "instances": [
                {
                    "keypoints": (rng.uniform(50, 400, (17, 2))).tolist(),
                    "keypoint_scores": rng.uniform(0.5, 1, 17).tolist(),
                }
                for _ in range(people)
            ],
        }
        for t in range(frames)
    ]
    path.write_text(json.dumps(out))
    return path


@needs_pose
def test_mediapipe_world_landmarks_on_an_ntu_classifier_equal_convert_layout(
    trained, data, tmp_path
):
    config = load_eval_config("linear", "linear", FAST)
    evaluate(
        "linear", trained / "last.pt", data, config=config, stream="joint",
        out_dir=tmp_path / "records", progress=False, save=tmp_path / "ntu.pt",
    )  # fmt: skip
    summary = predict_files(tmp_path / "ntu.pt", [ETF], tmp_path / "raw.csv", top_k=100)
    assert summary.rows == 1
    assert "layout mediapipe33 mapped to ntu25" in summary.format()
    assert "spine_base <- 0.5 hip_left + 0.5 hip_right" in summary.format()

    extra = open_dataset(data).extra
    import_mediapipe(ETF, tmp_path / "etf", persons=2)
    convert_layout(
        tmp_path / "etf", "ntu25", tmp_path / "ntu", persons=2,
        preprocess=extra["preprocess"], align=extra["aligned"],
    )  # fmt: skip
    predict_files(tmp_path / "ntu.pt", [tmp_path / "ntu"], tmp_path / "set.csv", split="train",
                  top_k=100)  # fmt: skip
    raw, converted = probabilities(tmp_path / "raw.csv"), probabilities(tmp_path / "set.csv")
    assert list(raw) == ["landmarks"]
    assert largest_difference(raw, converted) < 1e-5


@needs_pose
def test_openpose_body25_on_a_coco17_classifier_equals_convert_layout(tmp_path):
    model = hand_made(tmp_path / "coco.pt", "coco17", "xy+score")
    summary = predict_files(model, [DGS], tmp_path / "raw.csv", top_k=3)
    assert summary.rows == 1 and "layout body25 mapped to coco17" in summary.format()
    import_openpose(DGS, tmp_path / "dgs")
    convert_layout(tmp_path / "dgs", "coco17", tmp_path / "coco")
    predict_files(model, [tmp_path / "coco"], tmp_path / "set.csv", split="train", top_k=3)
    raw, converted = probabilities(tmp_path / "raw.csv"), probabilities(tmp_path / "set.csv")
    assert largest_difference(raw, converted) < 1e-5


@needs_pose
def test_the_cli_reads_an_openpose_folder_and_windows_it(tmp_path, capsys):
    model = hand_made(tmp_path / "coco.pt", "coco17", "xy+score")
    out = tmp_path / "w.csv"
    argv = ["predict", "--model", str(model), str(DGS), "--out", str(out), "--window", "50"]
    main([*argv, "--format", "openpose"])
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["start"]) for r in rows] == [0, 50, 100]  # 175 frames
    assert "body25 mapped to coco17" in capsys.readouterr().out


def test_a_mapping_that_would_invent_joints_is_refused_with_its_error(tmp_path):
    model = hand_made(tmp_path / "body25.pt", "body25", "xy+score")
    predictions = mmpose_file(tmp_path / "clip.json")
    with pytest.raises(UserError) as err:
        predict_files(model, [predictions], tmp_path / "p.csv", image_size="640x480")
    message = str(err.value)
    assert message.startswith(f"{predictions}: cannot map layout 'coco17' to 'body25'")
    assert "never invents one" in message and "big_toe_left" in message
    assert not (tmp_path / "p.csv").exists()


def test_2d_poses_on_a_3d_classifier_say_what_the_model_expects(tmp_path):
    model = hand_made(tmp_path / "ntu.pt", "ntu25", "xyz")
    predictions = mmpose_file(tmp_path / "clip.json")
    with pytest.raises(UserError, match=r"xy\+score \(2D image coordinates\), but the classifier"):
        predict_files(model, [predictions], tmp_path / "p.csv", image_size="640x480")
    with pytest.raises(UserError, match=r"clips of layout 'ntu25' \(25 joints\), xyz") as error:
        predict_files(model, [predictions], tmp_path / "p.csv", image_size="640x480")
    assert str(error.value).endswith(
        "Give 3D poses (e.g. MediaPipe world landmarks), or a classifier trained on 2D image "
        "coordinates."
    )


def test_3d_poses_on_a_2d_classifier_say_what_the_model_expects(tmp_path):
    from tests.sources.test_import_mediapipe import world_poses

    model = hand_made(tmp_path / "coco.pt", "coco17", "xy+score", persons=1)
    landmarks = [
        {
            "frame": t,
            "pose_world_landmarks": [dict(zip("xyz", p[:3].tolist(), strict=True)) for p in pose],
        }
        for t, pose in enumerate(world_poses())
    ]
    (tmp_path / "world.json").write_text(json.dumps(landmarks))
    with pytest.raises(
        UserError, match=r"read as xyz \(3D coordinates\), but the classifier"
    ) as error:
        predict_files(model, [tmp_path / "world.json"], tmp_path / "p.csv")
    assert str(error.value).endswith(
        "Give 2D poses (e.g. OpenPose, MMPose, YOLO-pose or MediaPipe image landmarks), or a "
        "classifier trained on 3D coordinates."
    )
    assert not (tmp_path / "p.csv").exists()


def test_an_mmpose_file_equals_its_import_and_persons_are_the_classifiers(tmp_path):
    model = hand_made(tmp_path / "coco.pt", "coco17", "xy+score", persons=1)
    predictions = mmpose_file(tmp_path / "clip.json", people=2)
    predict_files(model, [predictions], tmp_path / "raw.csv", image_size="640x480")
    import_mmpose(predictions, tmp_path / "set", image_size="640x480", persons=1)
    predict_files(model, [tmp_path / "set"], tmp_path / "set.csv", split="train")
    raw, converted = probabilities(tmp_path / "raw.csv"), probabilities(tmp_path / "set.csv")
    assert largest_difference(raw, converted) < 1e-5


def test_the_estimator_is_told_from_the_form_or_asked_for(tmp_path):
    (tmp_path / "lm.csv").write_text("frame,landmark,x,y,z\n0,NOSE,0,0,0\n")
    (tmp_path / "clips.csv").write_text("path,label,split\na.npy,x,test\n")
    (tmp_path / "kinetics.json").write_text(json.dumps({"data": [], "label": "x"}))
    (tmp_path / "mp.json").write_text(json.dumps([{"frame": 0, "pose_world_landmarks": []}]))
    (tmp_path / "yolo.json").write_text(json.dumps([{"frame": 0, "person_1": {}}]))
    (tmp_path / "odd.json").write_text(json.dumps([{"frame": 0, "who": 3}]))
    openpose = tmp_path / "op"
    openpose.mkdir()
    (openpose / "v_000000000000_keypoints.json").write_text(json.dumps({"people": []}))
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "v_1.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert pose_format(tmp_path / "lm.csv", None) == "mediapipe"
    assert pose_format(tmp_path / "clips.csv", None) is None
    assert pose_format(tmp_path / "kinetics.json", None) is None
    assert pose_format(tmp_path / "mp.json", None) == "mediapipe"
    assert pose_format(mmpose_file(tmp_path / "mm.json"), None) == "mmpose"
    assert pose_format(openpose, None) == "openpose"
    assert pose_format(yolo, None) == "yolo-pose"
    assert pose_format(tmp_path / "yolo.json", None) == "yolo-pose"
    assert pose_format(tmp_path / "odd.json", "yolo-pose") == "yolo-pose"
    with pytest.raises(
        UserError, match=re.escape("--format openpose | mediapipe | mmpose | yolo-pose")
    ):
        pose_format(tmp_path / "odd.json", None)
    with pytest.raises(UserError, match="--format 'vicon'"):
        pose_format(tmp_path / "odd.json", "vicon")
