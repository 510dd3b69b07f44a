"""2D image coordinates at prediction time: a classifier meets new recordings in its training
set's convention (`skelcmd.channels`: signed [-1, 1] or ST-GCN's centred [-0.5, 0.5]), whatever
form they come in. A real Kinetics-skeleton clip, written out as the OpenPose output it came
from, must give the same probabilities read either way, as a raw file or as an imported set."""

import json

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.data.info import describe
from skelcmd.evaluate.predict import predict_files
from skelcmd.sources.kinetics import import_kinetics
from skelcmd.sources.pose_estimators.openpose import import_openpose
from tests.evaluate.test_predict_pose import hand_made, largest_difference, probabilities
from tests.helpers.data_paths import SHARED_DATA

pytestmark = pytest.mark.usefixtures("one_thread")
KINETICS = SHARED_DATA / "kinetics_skeleton"
CLIP = KINETICS / "kinetics_val" / "__U_scuxNlQ.json"  # 299 frames, 1 or 2 persons each
needs_kinetics = pytest.mark.skipif(not CLIP.is_file(), reason="needs ../shared/data")
WIDTH, HEIGHT = 340, 256  # the Kinetics-skeleton release's videos


def main_person(clip, out):
    """The Kinetics-skeleton clip with only the person of highest summed score in each frame."""
    info = json.loads(clip.read_text())
    for frame in info["data"]:
        frame["skeleton"] = sorted(frame["skeleton"], key=lambda s: -sum(s["score"]))[:1]
    out.write_text(json.dumps(info))
    return out


def as_openpose(clip, folder):
    """A one-person Kinetics-skeleton clip as the OpenPose --write_json files it came from, in
    pixels of a WIDTH x HEIGHT video; joints of score 0 as OpenPose writes them, (0, 0, 0)."""
    folder.mkdir()
    for frame in json.loads(clip.read_text())["data"]:
        people = []
        for person in frame["skeleton"]:
            best = person
            xy = np.array(best["pose"]).reshape(18, 2) * [WIDTH, HEIGHT]
            score = np.array(best["score"])
            xy[score == 0] = 0
            points = np.concatenate([xy, score[:, None]], axis=1)
            people.append({"pose_keypoints_2d": points.ravel().tolist()})
        name = f"{clip.stem}_{frame['frame_index']:012d}_keypoints.json"
        (folder / name).write_text(json.dumps({"people": people}))
    return folder


@needs_kinetics
@pytest.mark.parametrize("trained_on", ["kinetics-skeleton", "openpose"])
def test_a_kinetics_clip_and_its_openpose_output_read_alike(tmp_path, trained_on):
    model = hand_made(tmp_path / "m.pt", "openpose18", "xy+score", source=trained_on, frames=300)
    clip = main_person(CLIP, tmp_path / CLIP.name)
    openpose = as_openpose(clip, tmp_path / "op")
    size = f"{WIDTH}x{HEIGHT}"
    raw = predict_files(model, [clip], tmp_path / "clip.csv", top_k=3)
    estimated = predict_files(model, [openpose], tmp_path / "op.csv", top_k=3, image_size=size)
    import_openpose(openpose, tmp_path / "set", image_size=size)
    imported = predict_files(model, [tmp_path / "set"], tmp_path / "set.csv", split="train",
                             top_k=3)  # fmt: skip
    read = [probabilities(tmp_path / f"{n}.csv") for n in ("clip", "op", "set")]
    assert all(len(rows) == 1 for rows in read)
    a, b, c = ({"clip": next(iter(rows.values()))} for rows in read)
    assert largest_difference(a, b) < 1e-5
    assert largest_difference(a, c) < 1e-5
    notes = {"clip": raw, "op": estimated, "set": imported}
    rescaled = "clip" if trained_on == "openpose" else ("op", "set")
    for name, summary in notes.items():
        said = "image coordinates" in summary.format()
        assert said == (name in rescaled), (name, summary.format())


@needs_kinetics
def test_imports_record_their_image_coordinates(tmp_path):
    labels = KINETICS / "kinetics_val_label.json"
    import_kinetics(KINETICS / "kinetics_val", labels, tmp_path / "k", split="train")
    clip = main_person(CLIP, tmp_path / CLIP.name)
    import_openpose(as_openpose(clip, tmp_path / "op"), tmp_path / "o", image_size="340x256")
    kinetics, openpose = open_dataset(tmp_path / "k"), open_dataset(tmp_path / "o")
    assert kinetics.extra["image_coordinates"] == "centred"
    assert openpose.extra["image_coordinates"] == "signed"
    assert (kinetics.image_coordinates, openpose.image_coordinates) == ("centred", "signed")
    assert "2D scale   centred (the image spans [-0.5, 0.5])" in describe(kinetics)  # skelcmd info
    assert "2D scale   signed (the image spans [-1, 1])" in describe(openpose)
