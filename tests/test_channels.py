"""2D data (channels xy and xy+score) through modalities, augmentation, encoders, the format,
evaluation features and pictures, each against a plain version written here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from skelcmd.augment import apply_spatial, draw_spatial, spatial_augment, two_views
from skelcmd.channels import coordinate_dims, has_score, num_channels, resolve_channels
from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.data.writer import DatasetWriter
from skelcmd.encoders import ENCODERS, build_encoder
from skelcmd.errors import UserError
from skelcmd.modalities import derive, to_bone, to_motion
from skelcmd.model import build_model
from skelcmd.skeleton import COCO17, NTU25, OPENPOSE18
from skelcmd.viz import render_sample
from tests.helpers.tiny import TINY_MODEL

SMALL = {"gru": {"hidden": 8, "num_layers": 1}, "bigru": {"hidden": 8, "num_layers": 1}}
SMALL["stgcn"] = {"width": 4, "out_dim": 8}


def clips(c=3, n=4, t=9, layout=OPENPOSE18, m=2, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, t, layout.num_joints, m, generator=g, dtype=torch.float64)
    if c == 3:
        x[:, 2] = x[:, 2].abs()  # a score
    return x


def plain_motion(x, score):
    out = torch.zeros_like(x)
    for t in range(x.shape[2] - 1):
        out[:, :, t] = x[:, :, t + 1] - x[:, :, t]
        if score:
            out[:, -1, t] = (x[:, -1, t + 1] + x[:, -1, t]) / 2
    return out


def plain_bone(x, layout, score):
    out = torch.zeros_like(x)
    for v, p in layout.bone_pairs:
        out[:, :, :, v] = x[:, :, :, v] - x[:, :, :, p]
        if score:
            out[:, -1, :, v] = (x[:, -1, :, v] + x[:, -1, :, p]) / 2
    return out


def test_channel_specs():
    assert [num_channels(c) for c in ("xyz", "xy", "xy+score")] == [3, 2, 3]
    assert [coordinate_dims(c) for c in ("xyz", "xy", "xy+score")] == [3, 2, 2]
    assert [has_score(c) for c in ("xyz", "xy", "xy+score")] == [False, False, True]
    assert resolve_channels(None, 2) == "xy" and resolve_channels("xy+score", 3) == "xy+score"
    with pytest.raises(UserError, match="unknown channels 'uv'"):
        num_channels("uv")
    with pytest.raises(UserError, match="has 2 channels per joint, but channels 'xyz'"):
        resolve_channels("xyz", 2)


@pytest.mark.parametrize("channels", ["xy", "xy+score", "xyz"])
@pytest.mark.parametrize("layout", [COCO17, OPENPOSE18], ids=lambda lay: lay.name)
def test_motion_and_bone_keep_the_score_and_difference_the_coordinates(channels, layout):
    x = clips(num_channels(channels), layout=layout)
    score = has_score(channels)
    torch.testing.assert_close(to_motion(x, layout, channels), plain_motion(x, score))
    torch.testing.assert_close(to_bone(x, layout, channels), plain_bone(x, layout, score))
    streams = derive(x, ["joint", "motion", "bone"], layout, channels)
    assert all(s.shape == x.shape and s.dtype == x.dtype for s in streams.values())


def plain_spatial(x, draw, d):
    """Per sample: the first d channels p -> A p at the touched joints; a zeroing corruption
    zeroes every channel of its joints; the other channels are kept."""
    out = x.clone()
    for i in range(x.shape[0]):
        a = draw.matrix[i].to(x.dtype)
        moved = x[i].clone()
        moved[:d] = torch.einsum("ab,btvm->atvm", a, x[i, :d])
        for v in range(x.shape[3]):
            if draw.corrupt[i] and not draw.joints[i, v]:
                continue
            if draw.corrupt[i] and draw.zero[i]:
                out[i, :, :, v] = 0
            else:
                out[i, :, :, v] = moved[:, :, v]
    return out


@pytest.mark.parametrize("c", [2, 3])
def test_2d_shear_and_corruption_are_2x2_on_xy_only(c):
    x = clips(c, n=40, layout=COCO17)
    g = torch.Generator().manual_seed(1)
    draw = draw_spatial(40, COCO17.num_joints, 0.5, 9, dtype=x.dtype, generator=g, dims=2)
    assert draw.matrix.shape == (40, 2, 2)
    assert draw.corrupt.any() and (~draw.corrupt).any() and (draw.corrupt & draw.zero).any()
    shear = draw.matrix[~draw.corrupt]
    assert torch.equal(shear.diagonal(dim1=1, dim2=2), torch.ones(len(shear), 2, dtype=x.dtype))
    out = apply_spatial(x, draw)
    torch.testing.assert_close(out, plain_spatial(x, draw, 2), rtol=1e-12, atol=1e-12)
    if c == 3:  # the score only ever stays or, with its zeroed joint, becomes 0
        kept = out[:, 2] == x[:, 2]
        assert (kept | (out[:, 2] == 0)).all()
        assert torch.equal(out[~draw.corrupt, 2], x[~draw.corrupt, 2])


def test_spatial_augment_and_views_follow_coords():
    x = clips(3, n=6, layout=COCO17).float()
    torch.manual_seed(0)
    out = spatial_augment(x, 0.0, 0, coords=2)  # shear only: xy change, the score never
    assert torch.equal(out[:, 2], x[:, 2]) and not torch.equal(out[:, :2], x[:, :2])
    lengths = torch.full((6,), 9)
    v1, v2 = two_views(x, lengths, generator=torch.Generator().manual_seed(2), coords=2)
    assert v1.shape == (6, 3, 64, COCO17.num_joints, 2) and not torch.equal(v1, v2)
    with pytest.raises(ValueError, match="needs 3 coordinates, got C=2"):
        spatial_augment(x[:, :2], coords=3)


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize("c", [2, 3])
def test_every_encoder_reads_c_channels(name, c):
    encoder = build_encoder(name, COCO17, 2, c, **SMALL[name])
    feats = encoder(clips(c, layout=COCO17, t=16).float())
    assert feats.shape == (4, encoder.feat_dim)
    with pytest.raises(UserError, match=f"C={c}"):
        encoder(clips(5 - c, layout=COCO17, t=16).float())


def test_the_model_and_its_checkpoint_know_the_channels():
    config = load_config(None, TINY_MODEL)
    model = build_model(config, OPENPOSE18, 2, channels="xy+score")
    assert model.channels == "xy+score"
    assert model.branches["joint"].encoder_q.input_norm.num_features == 3 * 18 * 2
    x = clips(3, n=8, t=16).float()
    model.eval()
    streams = derive(x, ["bone"], OPENPOSE18, "xy+score")
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode(x, "bone"), model.branches["bone"].encoder_q(streams["bone"])
        )
    losses = model(x, x.flip(2))
    assert torch.isfinite(losses["loss"])
    assert (
        build_model(config, COCO17, 1, channels="xy").branches["joint"].encoder_q.input_size == 34
    )


def write_2d(path, channels, rng, layout=COCO17):
    c = num_channels(channels)
    data = rng.normal(size=(5, c, 12, layout.num_joints, 1)).astype(np.float32)
    with DatasetWriter(
        path, layout, ["a", "b"], source="t", benchmark="b", channels=channels
    ) as writer:
        writer.add_split("test", 5, 12, 1).append(data, np.full(5, 12), np.arange(5) % 2)
    return data


@pytest.mark.parametrize("channels", ["xy", "xy+score"])
def test_format_round_trip_records_the_channels(tmp_path, channels):
    data = write_2d(tmp_path / "ds", channels, np.random.default_rng(0))
    ds = open_dataset(tmp_path / "ds")
    assert ds.channels == channels
    assert json.loads((tmp_path / "ds" / "meta.json").read_text())["channels"] == channels
    np.testing.assert_array_equal(ds.split("test").data, data)


def test_old_data_sets_read_as_xyz_and_shapes_must_match_the_channels(tmp_path):
    rng = np.random.default_rng(0)
    write_2d(tmp_path / "ds", "xy", rng)
    meta_path = tmp_path / "ds" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["channels"]  # as written before 2D data existed: xyz, so C = 2 is wrong
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"shape \(5, 2, 12, 17, 1\); expected \(N, 3, T, 17"):
        open_dataset(tmp_path / "ds")
    meta["channels"] = "uvw"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"meta\.json: unknown channels 'uvw'"):
        open_dataset(tmp_path / "ds")
    write_2d(tmp_path / "old", "xyz", rng, NTU25)
    meta = json.loads((tmp_path / "old" / "meta.json").read_text())
    del meta["channels"]
    (tmp_path / "old" / "meta.json").write_text(json.dumps(meta))
    assert open_dataset(tmp_path / "old").channels == "xyz"


def _widest_row(png) -> float:
    """Where (0 top, 1 bottom) the picture's drawing is widest."""
    ink = np.asarray(Image.open(png).convert("L")) < 128
    cols = [np.flatnonzero(row) for row in ink]
    width = [c.max() - c.min() if len(c) else 0 for c in cols]
    return int(np.argmax(width)) / len(ink)


def test_2d_pictures_are_flat_with_y_down(tmp_path):
    """A "Λ": the nose high in the image (small y), the shoulders wide apart low in it (large
    y). Drawn with y down, the drawing is widest near the bottom; flipped, near the top."""
    pose = {"nose": (0.0, -0.8), "shoulder_left": (-0.6, 0.8), "shoulder_right": (0.6, 0.8)}
    x = np.zeros((3, 4, COCO17.num_joints, 1), np.float32)
    for name, (u, v) in pose.items():
        x[:2, :, COCO17.index(name), 0] = np.array([u, v])[:, None]
        x[2, :, COCO17.index(name), 0] = 0.9  # a score, not drawn
    out = render_sample(x, 4, COCO17, tmp_path / "a.png", frames=1, channels="xy+score")
    assert _widest_row(out) > 0.6
    flipped = x.copy()
    flipped[1] *= -1
    render_sample(flipped, 4, COCO17, tmp_path / "b.png", frames=1, channels="xy+score")
    assert _widest_row(tmp_path / "b.png") < 0.4
    render_sample(x[:2], 4, COCO17, tmp_path / "c.png", frames=1, channels="xy")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tmp_path / "c.png")))
    with pytest.raises(UserError, match=r"\(3, T, 17, M\), or \(2, T, 17, M\)"):
        render_sample(x[:, :, :5], 4, COCO17, tmp_path / "d.png", channels="xy+score")


def test_image_coordinates_are_recorded_or_known_by_source():
    from skelcmd.channels import image_coordinates

    assert image_coordinates("xy+score", {"image_coordinates": "centred"}, "openpose") == "centred"
    assert image_coordinates("xy+score", {}, "kinetics-skeleton") == "centred"  # before the key
    for source in ("openpose", "mediapipe", "mmpose", "yolo-pose", "pyskl"):
        assert image_coordinates("xy", {}, source) == "signed"
    assert image_coordinates("xy", {}, "clips") is None  # a user's own numbers: unknown
    assert image_coordinates("xyz", {"image_coordinates": "signed"}, "pyskl") is None


def test_rescaling_image_coordinates_against_a_plain_loop():
    from skelcmd.channels import rescale_image_coordinates, rescale_note

    data = clips(c=3, n=1)[0].numpy()  # (C, T, V, M): x, y, score
    data[:, 2, 3] = 0  # an absent joint
    for source, target, factor in [("signed", "centred", 0.5), ("centred", "signed", 2.0)]:
        out = rescale_image_coordinates(data, source, target)
        expected = data.copy()
        for c, t, v, m in np.ndindex(*data.shape):
            if c < 2:
                expected[c, t, v, m] = data[c, t, v, m] * factor
        np.testing.assert_array_equal(out, expected)
        assert not (out[:, 2, 3] != 0).any() and out is not data
        assert f"times {factor:g}" in rescale_note(source, target)
    for source, target in [("signed", "signed"), (None, "centred"), ("centred", None)]:
        assert rescale_image_coordinates(data, source, target) is data
        assert rescale_note(source, target) == ""
