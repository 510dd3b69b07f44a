import pytest
import torch
import torch.nn.functional as F

from skelcmd.augment import (
    AugmentConfig,
    SpatialDraw,
    apply_spatial,
    augment,
    center_crop_resize,
    crop_resize,
    draw_crop,
    draw_spatial,
    resize_frames,
    spatial_augment,
    two_views,
)
from skelcmd.errors import UserError

T_MAX, V, M = 120, 25, 2
# Lengths below, at and above the minimum crop, and the full padded length.
LENGTHS = [1, 2, 10, 63, 64, 65, 90, T_MAX, T_MAX, 77, 30, 100]


def batch(lengths=LENGTHS, t_max=T_MAX, seed=0, dtype=torch.float32):
    """Random skeletons, zero after each sample's valid frames, and their lengths."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), t_max, 3, V, M, generator=g, dtype=torch.float64)
    lengths = torch.tensor(lengths)
    x[torch.arange(t_max)[None, :] >= lengths[:, None]] = 0  # padding, masked over (N, T)
    return x.transpose(1, 2).contiguous().to(dtype), lengths


def seeded(seed):
    return torch.Generator().manual_seed(seed)


# ---- plain per-sample versions, written as the reference code does it ----


def plain_resize(x, start, length, out_frames=64):
    """Per sample: crop, flatten to (C*V*M, L), F.interpolate, reshape back."""
    views = []
    for i in range(x.shape[0]):
        s, n = int(start[i]), int(length[i])
        crop = x[i, :, s : s + n]  # (C, L, V, M)
        c, _, v, m = crop.shape
        flat = crop.permute(0, 2, 3, 1).reshape(c * v * m, n)[None, :, :, None]
        flat = F.interpolate(flat, size=(out_frames, 1), mode="bilinear", align_corners=False)
        views.append(flat[0, :, :, 0].reshape(c, v, m, out_frames).permute(0, 3, 1, 2))
    return torch.stack(views)


def plain_spatial(x, draw: SpatialDraw):
    out = x.clone()
    for i in range(x.shape[0]):
        a = draw.matrix[i].to(x.dtype)
        moved = torch.stack([sum(a[c, d] * x[i, d] for d in range(3)) for c in range(3)])
        if not draw.corrupt[i]:
            out[i] = moved
            continue
        for v in range(x.shape[3]):
            if draw.joints[i, v]:
                out[i, :, :, v] = 0 if draw.zero[i] else moved[:, :, v]
    return out


# ---- temporal ----


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crop_resize_matches_plain_for_the_same_draws(seed):
    x, lengths = batch(seed=seed)
    start, length = draw_crop(lengths, (0.1, 1.0), 64, generator=seeded(seed))
    batched = crop_resize(x, lengths, (0.1, 1.0), 64, 64, generator=seeded(seed))
    torch.testing.assert_close(batched, plain_resize(x, start, length), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("out_frames", [64, 17, 300])
def test_resize_frames_matches_interpolate_for_any_crop(out_frames):
    x, _ = batch()
    g = seeded(3)
    length = torch.randint(1, T_MAX + 1, (x.shape[0],), generator=g)
    start = (torch.rand(x.shape[0], generator=g) * (T_MAX - length + 1)).long()
    batched = resize_frames(x, start, length, out_frames)
    plain = plain_resize(x, start, length, out_frames)
    torch.testing.assert_close(batched, plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ratio", [0.95, 0.5, 1.0, 0.9])
def test_center_crop_matches_plain(ratio):
    x, lengths = batch()
    bias = torch.tensor([int((1 - ratio) * int(n) / 2) for n in lengths])
    plain = plain_resize(x, bias, lengths - 2 * bias)
    torch.testing.assert_close(center_crop_resize(x, lengths, ratio), plain, rtol=1e-5, atol=1e-5)


def test_crop_draws_stay_within_the_valid_frames():
    lengths = torch.tensor([1, 30, 63, 64, 65, 150, 300] * 3000)
    start, length = draw_crop(lengths, (0.1, 1.0), 64, generator=seeded(0))
    assert torch.all(length >= lengths.clamp(max=64)) and torch.all(length <= lengths)
    assert torch.all(start >= 0) and torch.all(start + length <= lengths)
    short = lengths <= 64
    assert torch.equal(length[short], lengths[short]) and torch.all(start[short] == 0)
    full = lengths == 300
    assert length[full].min() == 64 and length[full].max() >= 297  # both ends are reached
    room = lengths[full] - length[full]
    assert (start[full] == 0).any() and (start[full] == room).any()
    # floor(300 * U(0.1, 1)) <= 64 with probability (65 / 300 - 0.1) / 0.9 = 0.13
    assert abs((length[full] == 64).float().mean().item() - 0.13) < 0.025
    # ratio range (0.5, 1): crops of at least half the sample
    _, length = draw_crop(lengths, (0.5, 1.0), 64, generator=seeded(1))
    assert torch.all(length >= torch.minimum(lengths, (lengths // 2).clamp(min=64)))


# ---- spatial ----


def test_spatial_matches_plain_for_the_same_draws():
    x = torch.randn(64, 3, 20, V, M, generator=seeded(0), dtype=torch.float64)
    draw = draw_spatial(64, V, 0.5, 15, dtype=torch.float64, generator=seeded(1))
    kinds = {(bool(c), bool(z)) for c, z in zip(draw.corrupt, draw.zero, strict=True)}
    assert {(True, True), (True, False)} <= kinds  # both kinds of corruption
    assert (~draw.corrupt).any()  # and shears
    torch.testing.assert_close(apply_spatial(x, draw), plain_spatial(x, draw))
    # spatial_augment is apply_spatial of draw_spatial with the same generator
    torch.testing.assert_close(
        spatial_augment(x, 0.5, 15, generator=seeded(1)), apply_spatial(x, draw)
    )


def test_corruption_touches_only_the_chosen_joints_and_shear_has_unit_diagonal():
    x = torch.randn(200, 3, 8, V, M, generator=seeded(4))
    draw = draw_spatial(200, V, 0.5, 15, generator=seeded(5))
    out = apply_spatial(x, draw)
    assert torch.all(draw.joints.sum(dim=1) == 15)
    changed = (out != x).any(dim=4).any(dim=2).any(dim=1)  # (N, V)
    corrupt = draw.corrupt
    assert torch.equal(changed[corrupt], draw.joints[corrupt])
    zeroed = corrupt & draw.zero
    assert torch.all(out[zeroed].permute(0, 3, 1, 2, 4)[draw.joints[zeroed]] == 0)
    shear = draw.matrix[~corrupt]
    assert torch.all(torch.diagonal(shear, dim1=1, dim2=2) == 1)
    assert changed[~corrupt].all()  # a shear moves every joint
    assert draw.matrix.min() >= -1 and draw.matrix.max() <= 1


def test_spatial_draw_distribution():
    draw = draw_spatial(20000, V, 0.5, 15, generator=seeded(6))
    assert abs(draw.corrupt.float().mean().item() - 0.5) < 0.02
    assert abs(draw.zero[draw.corrupt].float().mean().item() - 0.5) < 0.02
    assert abs(draw.joints.float().mean(dim=0) - 15 / V).max() < 0.03  # every joint as likely
    off = draw.matrix[~torch.eye(3, dtype=torch.bool).expand(20000, 3, 3)]
    assert off.min() >= -1 and off.max() <= 1 and abs(off.mean().item()) < 0.02
    assert abs(off.abs().mean().item() - 0.5) < 0.02  # U(-1, 1)
    assert draw_spatial(1000, V, 0.0, 15, generator=seeded(7)).corrupt.sum() == 0
    assert draw_spatial(1000, V, 1.0, 15, generator=seeded(7)).corrupt.all()


def test_shear_amplitude_scales_only_the_shears_off_diagonal_draws():
    full = draw_spatial(500, V, 0.5, 15, generator=seeded(8))
    light = draw_spatial(500, V, 0.5, 15, generator=seeded(8), shear=0.25)
    shear, off = ~full.corrupt, ~torch.eye(3, dtype=torch.bool)
    assert torch.equal(light.corrupt, full.corrupt) and torch.equal(light.joints, full.joints)
    assert torch.equal(light.matrix[~shear], full.matrix[~shear])  # corruptions: U(-1, 1)
    for i in range(500):  # shears: unit diagonal, the same draws times 0.25 elsewhere
        if shear[i]:
            for r in range(3):
                for c in range(3):
                    want = 1.0 if r == c else 0.25 * float(full.matrix[i, r, c])
                    assert abs(float(light.matrix[i, r, c]) - want) < 1e-7
    assert light.matrix[shear][:, off].abs().max() <= 0.25
    x, lengths = batch()
    cfg = AugmentConfig(shear=0.0, p_corrupt=0.0, ratio_range=(1.0, 1.0))
    assert torch.allclose(  # no shear, no corruption, whole clips: only the resize is left
        augment(x, lengths, cfg, generator=seeded(9)),
        crop_resize(x, lengths, (1.0, 1.0), 64, 64),
    )
    with pytest.raises(UserError, match=r"augment\.shear"):
        AugmentConfig(shear=-1.0)


def test_corrupting_more_joints_than_the_skeleton_has_is_a_user_error():
    x = torch.zeros(2, 3, 4, 20, 1)
    with pytest.raises(UserError, match="20"):
        spatial_augment(x, num_joints=21)
    assert spatial_augment(x, num_joints=20).shape == x.shape


# ---- the whole view ----


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_follow_the_input(dtype):
    x, lengths = batch(dtype=dtype)
    cfg = AugmentConfig(out_frames=32)
    for y in (*two_views(x, lengths, cfg), center_crop_resize(x, lengths, out_frames=32)):
        assert y.shape == (x.shape[0], 3, 32, V, M)
        assert (y.dtype, y.device) == (x.dtype, x.device)
        assert torch.isfinite(y).all()


def test_two_views_differ_and_are_deterministic_with_a_seed():
    x, lengths = batch()
    v1, v2 = two_views(x, lengths, AugmentConfig(), generator=seeded(0))
    assert not torch.allclose(v1, v2)
    w1, w2 = two_views(x, lengths, AugmentConfig(), generator=seeded(0))
    assert torch.equal(v1, w1) and torch.equal(v2, w2)
    u1, _ = two_views(x, lengths, AugmentConfig(), generator=seeded(1))
    assert not torch.allclose(u1, v1)
    torch.manual_seed(5)  # the global generator is used without one
    g1, _ = two_views(x, lengths)
    torch.manual_seed(5)
    assert torch.equal(g1, two_views(x, lengths)[0])


def test_config_is_validated():
    assert AugmentConfig(ratio_range=[0.5, 1]).ratio_range == (0.5, 1.0)
    for bad in (
        {"ratio_range": (0.0, 1.0)},
        {"ratio_range": (0.8, 0.5)},
        {"min_frames": 0},
        {"p_corrupt": 1.5},
        {"corrupt_joints": -1},
    ):
        with pytest.raises(UserError):
            AugmentConfig(**bad)
    with pytest.raises(UserError):
        center_crop_resize(torch.zeros(1, 3, 4, V, M), torch.tensor([4]), ratio=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_for_the_same_draws():
    x, lengths = batch()
    start, length = draw_crop(lengths.cuda(), generator=torch.Generator("cuda").manual_seed(0))
    on_gpu = resize_frames(x.cuda(), start, length)
    torch.testing.assert_close(on_gpu.cpu(), plain_resize(x, start.cpu(), length.cpu()))
    views = two_views(x.cuda(), lengths, generator=torch.Generator("cuda").manual_seed(0))
    assert all(v.is_cuda for v in views)
