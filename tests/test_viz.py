"""Rendering skeleton sequences to PNG strips and GIF animations."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20, NTU25, Layout
from skelcmd.viz import bone_polyline, joint_present, person_colors, render_sample

# A standing pose in Kinect camera space (x right, y up, z depth; metres), by NTU25 joint name.
POSE = {
    "spine_base": (0.0, 0.0, 0.0),
    "spine_mid": (0.0, 0.3, 0.0),
    "spine_shoulder": (0.0, 0.52, 0.0),
    "neck": (0.0, 0.6, 0.0),
    "head": (0.0, 0.75, 0.0),
    "shoulder_left": (-0.18, 0.5, 0.0),
    "elbow_left": (-0.22, 0.25, 0.0),
    "wrist_left": (-0.25, 0.02, 0.0),
    "hand_left": (-0.26, -0.05, 0.0),
    "hand_tip_left": (-0.27, -0.12, 0.0),
    "thumb_left": (-0.22, -0.07, -0.02),
    "hip_left": (-0.1, -0.02, 0.0),
    "knee_left": (-0.11, -0.45, 0.0),
    "ankle_left": (-0.12, -0.85, 0.0),
    "foot_left": (-0.12, -0.9, -0.1),
}
POSE |= {
    k.replace("_left", "_right"): (-x, y, z) for k, (x, y, z) in list(POSE.items()) if "_left" in k
}
KINECT_NAMES = {
    "shoulder_center": "spine_shoulder",
    "spine": "spine_mid",
    "hip_center": "spine_base",
}


def walk(layout: Layout, frames: int, seed: int = 0, x0: float = 0.0) -> np.ndarray:
    """(3, frames, V): the pose walking to the right with a small random walk on every joint."""
    rng = np.random.default_rng(seed)
    pose = np.array([POSE[KINECT_NAMES.get(n, n)] for n in layout.joint_names]).T  # (3, V)
    pose = pose + np.array([[x0], [0.1], [3.0]])
    jitter = np.cumsum(rng.normal(0, 0.005, (3, frames, layout.num_joints)), axis=1)
    drift = np.zeros((3, frames, 1))
    drift[0, :, 0] = np.linspace(0, 0.5, frames)
    return (pose[:, None, :] + drift + jitter).astype(np.float32)


def stack(*people: np.ndarray) -> np.ndarray:
    """(3, T, V, M) from M (3, T, V) persons."""
    return np.stack(people, axis=-1)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_png_strip(tmp_path: Path) -> None:
    out = render_sample(stack(walk(NTU25, 30)), 30, NTU25, tmp_path / "a.png", title="walk")
    assert out == tmp_path / "a.png"
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.mode in ("RGB", "RGBA")
        assert img.width > img.height > 0
    with Image.open(render_sample(stack(walk(NTU25, 30)), 30, NTU25, tmp_path / "b.png")) as two:
        assert two.width == img.width  # 8 panels either way


def test_png_with_fewer_frames_than_panels(tmp_path: Path) -> None:
    wide = render_sample(stack(walk(NTU25, 3)), 3, NTU25, tmp_path / "three.png", frames=8)
    single = render_sample(stack(walk(NTU25, 3)), 3, NTU25, tmp_path / "one.png", frames=1)
    with Image.open(wide) as a, Image.open(single) as b:
        assert a.width == 3 * b.width


def test_gif_has_one_frame_per_valid_frame(tmp_path: Path) -> None:
    sample = stack(walk(NTU25, 20))
    sample[:, 12:] = 50.0  # beyond `length`: must be neither drawn nor counted in the limits
    out = render_sample(sample, 12, NTU25, tmp_path / "a.gif", title="walk", fps=10)
    with Image.open(out) as img:
        assert img.format == "GIF"
        assert img.n_frames == 12
        assert img.info["duration"] == 100
    trimmed = render_sample(sample[:, :12], 12, NTU25, tmp_path / "b.gif", title="walk", fps=10)
    assert out.read_bytes() == trimmed.read_bytes()


def test_long_gif_is_subsampled(tmp_path: Path) -> None:
    out = render_sample(stack(walk(NTU25, 100)), 100, NTU25, tmp_path / "long.gif")
    with Image.open(out) as img:
        assert img.n_frames == 60


def test_two_persons_get_two_colours(tmp_path: Path) -> None:
    sample = stack(walk(NTU25, 10, seed=1, x0=-0.6), walk(NTU25, 10, seed=2, x0=0.6))
    out = render_sample(sample, 10, NTU25, tmp_path / "pair.png", frames=3, title="pair")
    rgb = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3).astype(int)
    colours = [np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)]) for c in person_colors(2)]
    assert len(set(person_colors(2))) == 2
    for colour in colours:
        near = np.abs(rgb - colour).max(axis=1) < 25
        assert near.sum() > 200, f"too few pixels of {colour}"


def test_one_person_in_two_slots(tmp_path: Path) -> None:
    one = walk(NTU25, 8)
    padded = stack(one, np.zeros_like(one))
    a = render_sample(padded, 8, NTU25, tmp_path / "padded.png", frames=4)
    b = render_sample(stack(one), 8, NTU25, tmp_path / "single.png", frames=4)
    assert a.read_bytes() == b.read_bytes()  # the absent person adds nothing, not even a legend
    with Image.open(render_sample(padded, 8, NTU25, tmp_path / "padded.gif")) as img:
        assert img.n_frames == 8


def test_kinect20(tmp_path: Path) -> None:
    sample = stack(walk(KINECT20, 16), walk(KINECT20, 16, seed=3, x0=0.7))
    with Image.open(render_sample(sample, 16, KINECT20, tmp_path / "k.png", frames=4)) as img:
        assert img.width > 0
    with Image.open(render_sample(sample, 16, KINECT20, tmp_path / "k.gif")) as img:
        assert img.n_frames == 16


def test_dropped_joints_break_their_bones() -> None:
    frame = walk(NTU25, 1)[:, 0]
    head = NTU25.index("head")
    frame[:, head] = 0.0
    assert not joint_present(frame)[head] and joint_present(frame).sum() == 24
    line = bone_polyline(frame, NTU25).reshape(3, -1, 3)
    for e, (v, p) in enumerate(NTU25.edges):
        touches = head in (v, p)
        assert np.isnan(line[:, e, :2]).all() == touches
        assert np.isnan(line[:, e, 2]).all()  # the separator


def test_dropouts_render(tmp_path: Path) -> None:
    sample = stack(walk(NTU25, 6))
    sample[:, 2, NTU25.index("hand_left")] = 0.0
    sample[:, 3] = 0.0  # a whole frame lost
    with Image.open(render_sample(sample, 6, NTU25, tmp_path / "d.gif")) as img:
        assert img.n_frames == 6


def test_deterministic(tmp_path: Path) -> None:
    sample = stack(walk(NTU25, 10), walk(NTU25, 10, seed=5, x0=0.8))
    for suffix in (".png", ".gif"):
        a = render_sample(sample, 10, NTU25, tmp_path / f"a{suffix}", title="t")
        b = render_sample(sample, 10, NTU25, tmp_path / f"b{suffix}", title="t")
        assert a.stat().st_size == b.stat().st_size
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("name", "length", "zero", "match"),
    [
        ("x.jpg", 5, False, r"x\.jpg.*\.png, \.gif"),
        ("x.png", 5, True, "nothing to draw"),
        ("x.gif", 5, True, "nothing to draw"),
        ("x.png", 0, False, "outside 1..5"),
        ("x.gif", 6, False, "outside 1..5"),
    ],
)
def test_errors_leave_nothing(
    tmp_path: Path, name: str, length: int, zero: bool, match: str
) -> None:
    sample = stack(walk(NTU25, 5))
    if zero:
        sample[:, :3] = 0.0  # zero over the valid frames, whatever follows
        length = 3
    with pytest.raises(UserError, match=match):
        render_sample(sample, length, NTU25, tmp_path / "out" / name)
    assert not (tmp_path / "out" / name).exists()
    assert not (tmp_path / "out").exists() or leftovers(tmp_path / "out") == []


def test_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"\(3, T, 20, M\)"):
        render_sample(stack(walk(NTU25, 4)), 4, KINECT20, tmp_path / "x.png")


def test_overwrite_keeps_backend(tmp_path: Path) -> None:
    backend = matplotlib.get_backend()
    target = tmp_path / "x.png"
    target.write_text("old")
    render_sample(stack(walk(NTU25, 4)), 4, NTU25, target)
    assert target.read_bytes().startswith(b"\x89PNG")
    assert matplotlib.get_backend() == backend
    assert leftovers(tmp_path) == ["x.png"]


def test_z_up_data_is_drawn_like_the_same_y_up_data(tmp_path):
    """Turning a y-up sample so its spine lies on z, then drawing it with up="z", gives the
    same picture as the original drawn with up="y"."""
    rng = np.random.default_rng(3)
    sample = rng.normal(size=(3, 6, 25, 1)) + np.array([0, 1.0, 3.0])[:, None, None, None]
    z_up = np.stack([sample[0], -sample[2], sample[1]])  # (x, y, z) -> (x, -z, y): y goes to z
    a = render_sample(sample, 6, NTU25, tmp_path / "a.png", up="y")
    b = render_sample(z_up, 6, NTU25, tmp_path / "b.png", up="z")
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(UserError, match="up axis 'x'"):
        render_sample(sample, 6, NTU25, tmp_path / "c.png", up="x")


def test_the_centring_joint_at_the_origin_is_drawn() -> None:
    # NTU's reference preparation centres every frame on spine_middle: it sits at (0, 0, 0)
    frame = walk(NTU25, 1)[:, 0]
    origin = NTU25.body_frame.origin
    frame = frame - frame[:, origin : origin + 1]
    assert joint_present(frame, NTU25).all()
    line = bone_polyline(frame, NTU25).reshape(3, -1, 3)
    assert not np.isnan(line[:, :, :2]).any()  # every bone, the spine's too
    frame[:, NTU25.index("head")] = 0.0  # another joint at zero is still missing
    assert joint_present(frame, NTU25).sum() == 24
    assert not joint_present(np.zeros_like(frame), NTU25).any()  # an absent person
