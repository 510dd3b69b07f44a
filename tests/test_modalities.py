import pytest
import torch

from skelcmd.errors import UserError
from skelcmd.modalities import MODALITIES, check_modalities, derive, to_bone, to_motion
from skelcmd.skeleton import KINECT20, NTU25, layout_from_dict


def plain_motion(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    for t in range(x.shape[2] - 1):
        out[:, :, t] = x[:, :, t + 1] - x[:, :, t]
    return out


def plain_bone(x: torch.Tensor, layout) -> torch.Tensor:
    out = torch.zeros_like(x)
    for v, p in layout.bone_pairs:
        out[:, :, :, v] = x[:, :, :, v] - x[:, :, :, p]
    return out


def skeletons(layout, n=3, t=7, m=2, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(layout.num_joints)
    return torch.randn(n, 3, t, layout.num_joints, m, generator=g).to(dtype)


@pytest.mark.parametrize("layout", [NTU25, KINECT20], ids=lambda lay: lay.name)
def test_motion_and_bone_match_plain_loops(layout):
    x = skeletons(layout)
    torch.testing.assert_close(to_motion(x), plain_motion(x), rtol=0, atol=0)
    torch.testing.assert_close(to_bone(x, layout), plain_bone(x, layout), rtol=0, atol=0)


def test_motion_last_frame_is_zero_and_single_frame_is_zero():
    x = skeletons(NTU25)
    assert torch.count_nonzero(to_motion(x)[:, :, -1]) == 0
    assert torch.count_nonzero(to_motion(x[:, :, :1])) == 0


@pytest.mark.parametrize("layout", [NTU25, KINECT20], ids=lambda lay: lay.name)
def test_root_bones_are_zero(layout):
    bone = to_bone(skeletons(layout), layout)
    roots = [v for v, p in layout.bone_pairs if v == p]
    assert roots  # every layout has a root
    for v in roots:
        assert torch.count_nonzero(bone[:, :, :, v]) == 0
    others = [v for v, p in layout.bone_pairs if v != p]
    assert torch.all(bone[:, :, :, others].abs().sum(dim=(0, 1, 2, 4)) > 0)


def test_custom_layout_bones():
    layout = layout_from_dict(
        {"name": "chain", "joints": ["a", "b", "c"], "parents": ["a", "a", "b"]}
    )
    x = skeletons(layout)
    torch.testing.assert_close(to_bone(x, layout), plain_bone(x, layout), rtol=0, atol=0)


def test_bone_rejects_the_wrong_layout():
    with pytest.raises(UserError, match="25 joints"):
        to_bone(skeletons(NTU25), KINECT20)


@pytest.mark.parametrize(
    "names",
    [["joint"], ["motion"], ["bone"], ["bone", "joint"], ["motion", "bone", "joint"],
     ["joint", "motion", "bone"], ("bone", "motion")],
)  # fmt: skip
def test_derive_any_subset_in_order(names):
    x = skeletons(NTU25)
    out = derive(x, names, NTU25)
    assert list(out) == list(names)
    plain = {"joint": x, "motion": plain_motion(x), "bone": plain_bone(x, NTU25)}
    for name, value in out.items():
        torch.testing.assert_close(value, plain[name], rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(MODALITIES))
def test_modalities_follow_shape_dtype_device(name):
    x = skeletons(KINECT20, dtype=torch.float64)
    y = MODALITIES[name](x, KINECT20)
    assert (y.shape, y.dtype, y.device) == (x.shape, x.dtype, x.device)


def test_unknown_empty_and_repeated_names_are_user_errors():
    x = skeletons(NTU25)
    with pytest.raises(UserError, match="joint, motion, bone"):
        derive(x, ["joint", "velocity"], NTU25)
    with pytest.raises(UserError, match="'velocity'"):
        check_modalities(["velocity"])
    with pytest.raises(UserError, match="non-empty"):
        derive(x, [], NTU25)
    with pytest.raises(UserError, match="more than once"):
        derive(x, ["bone", "bone"], NTU25)
    assert check_modalities("bone") == ["bone"]
