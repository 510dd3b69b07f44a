"""pyskl 2D annotations (HRNet keypoints with scores, COCO-17): pyskl's normalisation against a
plain loop, the channels recorded, and the mistakes a 2D file can hold."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import COCO17
from skelcmd.sources.classnames import ntu_class_names
from skelcmd.sources.pyskl import import_pyskl

# frame_dir, label, persons, frames, img_shape (None: pyskl's default 1080 x 1920)
SAMPLES = [
    ("S001C001P001R001A001", 0, 1, 5, (480, 640)),
    ("S001C002P002R002A060", 59, 2, 7, None),
    ("S002C003P001R001A013", 12, 1, 3, (1080, 1920)),
]


def annotation(frame_dir, label, m, t, img_shape, score=True) -> dict:
    rng = np.random.default_rng(sum(map(ord, frame_dir)))
    h, w = img_shape or (1080, 1920)
    ann = {
        "frame_dir": frame_dir,
        "label": label,
        "keypoint": (rng.uniform(0, 1, (m, t, 17, 2)) * [w, h]).astype(np.float16),
        "total_frames": t,
    }
    if score:
        ann["keypoint_score"] = rng.uniform(0, 1, (m, t, 17)).astype(np.float16)
    if img_shape is not None:
        ann["img_shape"] = img_shape
    return ann


def dump(path: Path, annotations: list[dict]) -> Path:
    names = [a["frame_dir"] for a in annotations]
    content = {
        "split": {"xsub_train": names[:2], "xsub_val": names[2:]},
        "annotations": annotations,
    }
    path.write_bytes(pickle.dumps(content))
    return path


def plain(ann: dict, m_max: int, t_max: int) -> np.ndarray:
    """pyskl's PreNormalize2D then GenSkeFeat's concatenation, joint by joint: (C, T, V, M)."""
    h, w = ann.get("img_shape", (1080, 1920))
    kp = ann["keypoint"].astype(np.float64)
    m, t, v, _ = kp.shape
    c = 3 if "keypoint_score" in ann else 2
    out = np.zeros((c, t_max, v, m_max))
    for p in range(m):
        for f in range(t):
            for j in range(v):
                out[0, f, j, p] = (kp[p, f, j, 0] - w / 2) / (w / 2)
                out[1, f, j, p] = (kp[p, f, j, 1] - h / 2) / (h / 2)
                if c == 3:
                    out[2, f, j, p] = ann["keypoint_score"][p, f, j]
    return out


@pytest.mark.parametrize("score", [True, False])
def test_2d_keypoints_are_normalised_as_pyskl_does(tmp_path, score):
    anns = [annotation(*s, score=score) for s in SAMPLES]
    out = import_pyskl(dump(tmp_path / "hrnet.pkl", anns), tmp_path / "ds", split="xsub")
    ds = open_dataset(out)
    assert ds.channels == ("xy+score" if score else "xy")
    assert ds.layout == COCO17 and ds.class_names == ntu_class_names(60)  # NTU samples
    rows = {**{n: ("train", i) for i, n in enumerate(s[0] for s in SAMPLES[:2])}}
    rows[SAMPLES[2][0]] = ("test", 0)
    for ann in anns:
        split, i = rows[ann["frame_dir"]]
        sample = ds.split(split).data[i]
        np.testing.assert_allclose(sample, plain(ann, 2, 7).astype(np.float32), rtol=1e-6)


def test_2d_mistakes(tmp_path, capsys):
    anns = [annotation(*s) for s in SAMPLES]
    anns[1].pop("keypoint_score")
    with pytest.raises(UserError, match="some 2D annotations have keypoint_score and some not"):
        import_pyskl(dump(tmp_path / "a.pkl", anns), tmp_path / "ds", split="xsub")
    anns = [annotation(*s) for s in SAMPLES]
    anns[2]["keypoint_score"] = anns[2]["keypoint_score"][:, :2]
    with pytest.raises(UserError, match=r"S002C003P001R001A013'.*keypoint_score has shape"):
        import_pyskl(dump(tmp_path / "b.pkl", anns), tmp_path / "ds", split="xsub")
    anns = [annotation(*s) for s in SAMPLES]
    anns[0]["img_shape"] = (480,)
    with pytest.raises(UserError, match=r"img_shape is \(480,\); expected \(height, width\)"):
        import_pyskl(dump(tmp_path / "c.pkl", anns), tmp_path / "ds", split="xsub")
    good = dump(tmp_path / "d.pkl", [annotation(*s) for s in SAMPLES])
    with pytest.raises(UserError, match=r"use --preprocess none|with --preprocess none"):
        import_pyskl(good, tmp_path / "ds", split="xsub", preprocess="reference")
    with pytest.raises(UserError, match=r"expected \(M, T, 25, 3\) or, 2D, \(M, T, 25, 2\)"):
        import_pyskl(good, tmp_path / "ds", split="xsub", layout="ntu25")
    assert not (tmp_path / "ds").exists()
    assert main(["import", "pyskl", str(good), str(tmp_path / "ds"), "--split", "xsub"]) == 0
    assert open_dataset(tmp_path / "ds").layout == COCO17
