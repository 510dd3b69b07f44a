"""Every real estimator output in ../shared/data/pose_outputs imports with the frames and persons
its SOURCE.txt states, draws, and (MediaPipe world landmarks mapped to NTU-25) runs through an
NTU-layout encoder's embed and a saved classifier's predict; `skelcmd extract` end to end where
a MediaPipe environment is installed (SKELCMD_MEDIAPIPE_PYTHON)."""

from __future__ import annotations

import csv
import os
import sys

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.data.info import describe
from skelcmd.errors import UserError
from skelcmd.layout_map import convert_layout
from skelcmd.skeleton import LAYOUTS
from skelcmd.sources.pose_estimators.extract import PYTHON_VARIABLE, extract
from skelcmd.sources.pose_estimators.image import video_size
from skelcmd.sources.pose_estimators.mediapipe import import_mediapipe
from skelcmd.sources.pose_estimators.openpose import import_openpose
from skelcmd.sources.pose_estimators.yolo_pose import import_yolo_pose
from skelcmd.viz import render_sample
from tests.helpers.data_paths import SHARED_DATA

POSE = SHARED_DATA / "pose_outputs"
pytestmark = pytest.mark.skipif(not POSE.is_dir(), reason="needs ../shared/data/pose_outputs")
DGS = POSE / "openpose_body25_dgs_signing"
P2S = POSE / "openpose_body25b_pose2sim_balancing"
ETF = POSE / "mediapipe_world_landmarks_etf"
YOLO = POSE / "yolov8pose_trasce_theatre"
BACKEND = os.environ.get(PYTHON_VARIABLE)


def persons_per_frame(path):
    """(T,) persons with a joint in each frame of sample 0 of the train split."""
    split = open_dataset(path).split("train")
    x = np.asarray(split.data[0])[: 2 if split.data.shape[1] == 3 else None]
    return (x != 0).any(axis=(0, 2)).sum(axis=1)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("pose_outputs")
    import_openpose(DGS / "du_wohn_wo_json", root / "dgs")
    import_openpose(P2S / "cam01_json", root / "p2s", persons=3)
    import_mediapipe(ETF / "landmarks.csv", root / "etf", persons=1)
    import_yolo_pose(YOLO, root / "yolo", persons=3)
    return root


def test_video_sizes_are_read_from_the_mp4_headers():
    sizes = {
        DGS / "du_wohn_wo.mp4": (848, 480),
        P2S / "cam01.mp4": (1080, 1920),
        ETF / "video.mp4": (640, 360),
        YOLO / "video_test.mp4": (1280, 720),
        POSE / "video_sports2d_demo" / "demo.mp4": (1768, 994),
    }
    for path, size in sizes.items():
        assert video_size(path) == size, path.name


def test_frames_persons_and_models_are_as_the_sources_state(imported):
    dgs, p2s = open_dataset(imported / "dgs"), open_dataset(imported / "p2s")
    assert dgs.layout == LAYOUTS["body25"] and p2s.layout == LAYOUTS["body25b"]
    assert dgs.extra["image_sizes"] == {"du_wohn_wo": [848, 480]}
    assert persons_per_frame(imported / "dgs").tolist() == [1] * 175  # 1 person, 175 frames
    assert np.bincount(persons_per_frame(imported / "p2s")).tolist() == [0, 0, 99, 1]
    assert persons_per_frame(imported / "etf").tolist() == [1] * 340
    assert persons_per_frame(imported / "yolo").tolist() == [3] * 105
    yolo = np.asarray(open_dataset(imported / "yolo").split("train").data[0])
    assert int(((yolo == 0).all(axis=0)).sum()) == 1648  # SOURCE: 1648 of 5355 undetected
    etf = np.asarray(open_dataset(imported / "etf").split("train").data[0, :, :, :, 0])
    assert -etf[0].max() == pytest.approx(-0.62, abs=0.005)  # SOURCE: x -0.62..0.47, negated
    assert -etf[0].min() == pytest.approx(0.47, abs=0.005)
    text = describe(dgs)
    assert "175/175/175.0/175" in text and "body25 (25 joints)   channels xy+score" in text
    assert "340/340/340.0/340" in describe(open_dataset(imported / "etf"))


def test_knees_and_ankles_of_the_signing_clip_are_mostly_missing(imported):
    x = np.asarray(open_dataset(imported / "dgs").split("train").data[0, :, :, :, 0])
    body = LAYOUTS["body25"]
    legs = [body.index(n) for n in ("knee_left", "knee_right", "ankle_left", "ankle_right")]
    arms = [body.index(n) for n in ("shoulder_left", "shoulder_right", "nose", "neck")]
    assert (x[2][:, legs] == 0).mean() > 0.5 and (x[2][:, arms] > 0).all()


@pytest.mark.parametrize("name", ["dgs", "p2s", "etf", "yolo"])
def test_every_set_draws(imported, tmp_path, name):
    data = open_dataset(imported / name)
    split = data.split("train")
    out = render_sample(
        split.data[0],
        int(split.lengths[0]),
        data.layout,
        tmp_path / "a.png",
        frames=4,
        channels=data.channels,
    )
    assert out.stat().st_size > 5000


def test_mediapipe_world_landmarks_mapped_to_ntu_run_through_embed_and_predict(
    imported, trained, data, tmp_path
):
    from skelcmd.evaluate.commands import evaluate
    from skelcmd.evaluate.embed import embed
    from skelcmd.evaluate.predict import predict_files
    from skelcmd.evaluate.protocols import load_eval_config

    mapped = convert_layout(
        imported / "etf", "ntu25", tmp_path / "ntu", persons=2, preprocess="reference"
    )
    features = embed(trained / "last.pt", mapped, tmp_path / "f.npy", split="train")
    assert np.isfinite(np.load(features)).all() and np.load(features).shape[0] == 1
    config = load_eval_config("linear", "linear", ["epochs=1", "batch_size=16", "frames=16"])
    evaluate(
        "linear",
        trained / "last.pt",
        data,
        config=config,
        stream="joint",
        out_dir=tmp_path / "records",
        progress=False,
        save=tmp_path / "joint.pt",
    )
    predict_files(tmp_path / "joint.pt", [mapped], tmp_path / "p.csv", split="train")
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["prob_1"]) > 0


def test_extract_without_the_backend_says_what_to_install(tmp_path):
    with pytest.raises(UserError) as err:
        extract([ETF / "video.mp4"], tmp_path / "out", python=sys.executable)
    assert "pip install mediapipe==0.10.21" in str(err.value)
    assert "--python" in str(err.value) and PYTHON_VARIABLE in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not BACKEND, reason=f"set {PYTHON_VARIABLE} to a Python with mediapipe 0.10.21")
def test_extract_reproduces_the_published_world_landmarks(imported, tmp_path):
    summary = extract(
        [ETF / "video.mp4"],
        tmp_path / "out",
        python=BACKEND,
        landmarks=tmp_path / "landmarks",
        persons=1,
    )
    assert "340 frames, a pose in 340" in summary.format()
    ours = np.asarray(open_dataset(tmp_path / "out").split("train").data[0])
    published = np.asarray(open_dataset(imported / "etf").split("train").data[0])
    assert ours.shape == published.shape
    assert np.abs(ours - published).mean() < 1e-3  # metres; the same model on the same video
    assert (tmp_path / "landmarks" / "image" / "video.csv").is_file()
