"""Encoders: registry-wide checks, and each formula against a plain, slow version."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from skelcmd.encoders import ENCODERS, build_encoder, encoder_options
from skelcmd.encoders.gru import flatten_frames
from skelcmd.encoders.stgcn import spatial_partitions
from skelcmd.errors import UserError
from skelcmd.skeleton import KINECT20, NTU25
from skelcmd.synthetic.generator import generate

SMALL = {"gru": {"hidden": 16}, "bigru": {"hidden": 16}, "stgcn": {"width": 4, "out_dim": 24}}


def small(name: str, layout=NTU25, num_persons: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return build_encoder(name, layout, num_persons=num_persons, **SMALL[name])


def sample(n: int = 3, t: int = 16, v: int = 25, m: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, t, v, m, generator=torch.Generator().manual_seed(seed))


def test_registry_is_covered() -> None:
    assert set(SMALL) == set(ENCODERS)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_shape_gradients_and_no_nan(name: str) -> None:
    enc = small(name).train()
    feat = enc(sample())
    assert feat.shape == (3, enc.feat_dim)
    assert torch.isfinite(feat).all()
    (feat * torch.randn_like(feat)).sum().backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().max() > 0, pname


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_kinect20_single_person_and_eval_determinism(name: str) -> None:
    enc = small(name, KINECT20, num_persons=1).eval()
    x = sample(n=2, v=20, m=1)
    with torch.no_grad():
        a, b = enc(x), enc(x)
    assert a.shape == (2, enc.feat_dim)
    assert torch.isfinite(a).all()
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_wrong_input_shape_is_a_user_error(name: str) -> None:
    with pytest.raises(UserError, match="V=25"):
        small(name)(sample(v=20))


def test_feat_dims() -> None:
    assert build_encoder("gru", NTU25, hidden=8, num_layers=2).feat_dim == 16
    assert build_encoder("bigru", NTU25, hidden=8).feat_dim == 16
    assert build_encoder("stgcn", NTU25).feat_dim == 256
    assert build_encoder("stgcn", NTU25, width=8, out_dim=None).feat_dim == 32


def test_unknown_name_and_options() -> None:
    with pytest.raises(UserError, match="gru, bigru, stgcn"):
        build_encoder("lstm", NTU25)
    with pytest.raises(UserError, match=r"hidden=1024, num_layers=3"):
        build_encoder("gru", NTU25, width=4)
    with pytest.raises(UserError, match="width=16"):
        build_encoder("stgcn", NTU25, hidden=4)
    with pytest.raises(UserError, match="hidden must be at least 1"):
        build_encoder("gru", NTU25, hidden=0)
    with pytest.raises(UserError, match="integer"):
        build_encoder("stgcn", NTU25, width=2.5)
    assert encoder_options("stgcn") == {"width": 16, "out_dim": 256, "dropout": 0.0}


# --- gru / bigru against plain versions -------------------------------------------------------


def plain_frames(x: torch.Tensor) -> torch.Tensor:
    """Per frame, value (c, v, m) at index (v * C + c) * M + m, by explicit indexing."""
    n, c_, t, v_, m_ = x.shape
    out = torch.empty(n, t, c_ * v_ * m_, dtype=x.dtype)
    for v in range(v_):
        for c in range(c_):
            for m in range(m_):
                out[:, :, (v * c_ + c) * m_ + m] = x[:, c, :, v, m]
    return out


def test_flatten_order() -> None:
    x = sample(n=2, t=4)
    assert torch.equal(flatten_frames(x), plain_frames(x))


def reference_gru(enc: nn.Module) -> nn.GRU:
    """The reference's `nn.GRU(I, H, L, bidirectional=True)` holding `enc`'s weights."""
    ref = nn.GRU(enc.input_size, enc.hidden, enc.num_layers, bidirectional=True, batch_first=True)
    ref = ref.to(next(enc.parameters()).dtype)
    with torch.no_grad():
        for layer in range(enc.num_layers):
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{w}_l{layer}").copy_(getattr(enc.fwd[layer], f"{w}_l0"))
                getattr(ref, f"{w}_l{layer}_reverse").copy_(getattr(enc.rev[layer], f"{w}_l0"))
    return ref


def stepped_reference(norm: nn.BatchNorm1d, gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """The reference's forward: input BatchNorm, then the GRU fed one frame at a time."""
    frames = norm(plain_frames(x).transpose(1, 2)).transpose(1, 2)
    h = None
    for t in range(frames.shape[1]):
        out, h = gru(frames[:, t : t + 1], h)
    return out[:, 0]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gru_equals_frame_by_frame_reference(mode: str, dtype: torch.dtype) -> None:
    enc = small("gru").to(dtype)
    with torch.no_grad():  # non-trivial BatchNorm state
        enc.input_norm.running_mean.uniform_(-0.5, 0.5)
        enc.input_norm.running_var.uniform_(0.5, 2.0)
        enc.input_norm.weight.uniform_(0.5, 1.5)
        enc.input_norm.bias.uniform_(-0.2, 0.2)
    ref_norm, ref_gru = copy.deepcopy(enc.input_norm), reference_gru(enc)
    enc.train(mode == "train")
    ref_norm.train(mode == "train")
    x = sample(n=4, t=12).to(dtype)
    with torch.no_grad():
        ours, theirs = enc(x), stepped_reference(ref_norm, ref_gru, x)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(ours, theirs, atol=tol, rtol=tol)
    torch.testing.assert_close(enc.input_norm.running_mean, ref_norm.running_mean)


def test_bigru_is_a_true_bidirectional_gru() -> None:
    enc = small("bigru").double().eval()
    x = sample(n=3, t=10).double()
    ref = nn.GRU(enc.input_size, 16, 3, bidirectional=True, batch_first=True).double()
    ref.load_state_dict(enc.gru.state_dict())
    frames = enc.input_norm(plain_frames(x).transpose(1, 2)).transpose(1, 2)
    out, _ = ref(frames)
    expected = torch.cat([out[:, -1, :16], out[:, 0, 16:]], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), expected)
    # The backward half has read the clip from its end down to frame 0: run it by hand.
    h = frames
    for layer in range(3):
        one = {}
        for suffix in ("", "_reverse"):
            gru = nn.GRU(h.shape[-1], 16, batch_first=True).double()
            gru.load_state_dict(
                {
                    f"{w}_l0": getattr(ref, f"{w}_l{layer}{suffix}")
                    for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                }
            )
            one[suffix] = gru(h)[0] if suffix == "" else gru(h.flip(1))[0].flip(1)
        h = torch.cat([one[""], one["_reverse"]], dim=-1)
    torch.testing.assert_close(expected, torch.cat([h[:, -1, :16], h[:, 0, 16:]], dim=1))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", ["gru", "bigru"])
def test_mean_readout_averages_the_last_layer_over_frames(name: str, fused: bool) -> None:
    """readout "mean": the last layer's output (by hand with nn.GRU, as above) averaged over
    every frame; the default readout is unchanged ("last")."""
    torch.manual_seed(0)
    last = build_encoder(name, NTU25, 2, hidden=16, num_layers=2).double().eval()
    mean = build_encoder(name, NTU25, 2, hidden=16, num_layers=2, readout="mean").double().eval()
    mean.load_state_dict(last.state_dict())
    assert last.readout == "last"
    mean.fused = fused
    x = sample(n=3, t=10).double()
    frames = last.input_norm(plain_frames(x).transpose(1, 2)).transpose(1, 2)
    if name == "gru":
        h = frames
        for fwd, rev in zip(last.fwd, last.rev, strict=True):
            h = torch.cat([fwd(h)[0], rev(h)[0]], dim=-1)
    else:
        ref = nn.GRU(last.input_size, 16, 2, bidirectional=True, batch_first=True).double()
        ref.load_state_dict(last.gru.state_dict())
        h = ref(frames)[0]
    expected = sum(h[:, t] for t in range(h.shape[1])) / h.shape[1]
    with torch.no_grad():
        torch.testing.assert_close(mean(x), expected)
        assert not torch.allclose(last(x), expected)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", ["gru", "bigru"])
def test_centre_time_subtracts_each_clips_average_over_its_frames(name: str, fused: bool) -> None:
    """centre_time: the encoder reads each clip minus its average over the frames (per
    channel, joint and person; computed by hand here), so a pose held still adds nothing; off
    by default (the reference)."""
    torch.manual_seed(0)
    plain = build_encoder(name, NTU25, 2, hidden=16, num_layers=2, readout="mean").double()
    centred = build_encoder(
        name, NTU25, 2, hidden=16, num_layers=2, readout="mean", centre_time=True
    ).double()
    centred.load_state_dict(plain.state_dict())
    plain.eval(), centred.eval()
    assert plain.centre_time is False
    centred.fused = fused
    x = sample(n=3, t=10).double()
    average = torch.zeros_like(x[:, :, :1])
    for t in range(x.shape[2]):
        average += x[:, :, t : t + 1] / x.shape[2]
    posture = torch.randn(3, 3, 1, 25, 2, dtype=torch.float64)  # a still offset per joint
    with torch.no_grad():
        torch.testing.assert_close(centred(x), plain(x - average))
        torch.testing.assert_close(centred(x + posture), centred(x))
        assert not torch.allclose(plain(x + posture), plain(x))


def test_encoder_flags_must_be_booleans() -> None:
    with pytest.raises(UserError, match="centre_time must be true or false"):
        build_encoder("gru", NTU25, 2, hidden=8, centre_time=1)


def test_unknown_readout_is_a_user_error() -> None:
    with pytest.raises(UserError, match="readout 'max' is not one of last, mean"):
        build_encoder("gru", NTU25, 2, hidden=8, readout="max")


# --- stgcn graph ------------------------------------------------------------------------------


def plain_partitions(layout) -> np.ndarray:
    """ST-GCN's `Graph(strategy='spatial')`, written with loops."""
    hop = layout.hop_distance()
    v_ = layout.num_joints
    adj = np.array([[1.0 if hop[i, j] <= 1 else 0.0 for j in range(v_)] for i in range(v_)])
    degree = adj.sum(axis=0)
    norm = np.zeros((v_, v_))
    for j in range(v_):
        for i in range(v_):
            norm[j, i] = adj[j, i] / degree[i]
    center = layout.center
    parts = []
    for h in (0, 1):
        root, close, further = (np.zeros((v_, v_)) for _ in range(3))
        for i in range(v_):
            for j in range(v_):
                if hop[j, i] == h:
                    if hop[j, center] == hop[i, center]:
                        root[j, i] = norm[j, i]
                    elif hop[j, center] > hop[i, center]:
                        close[j, i] = norm[j, i]
                    else:
                        further[j, i] = norm[j, i]
        parts += [root] if h == 0 else [root + close, further]
    return np.stack(parts)


@pytest.mark.parametrize("layout", [NTU25, KINECT20], ids=lambda lay: lay.name)
def test_spatial_partitions(layout) -> None:
    a = spatial_partitions(layout)
    np.testing.assert_allclose(a, plain_partitions(layout), atol=1e-7)
    # every joint's incoming weights (over partitions and source joints) sum to one
    np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(layout.num_joints), atol=1e-6)
    # the centre has no nearer neighbour; a leaf (the head of NTU) only a nearer one
    assert a[2, :, layout.center].sum() == 0
    if layout is NTU25:
        head, neck = layout.index("head"), layout.index("neck")
        assert a[1, :, head].sum() == 0 and a[2, neck, head] == pytest.approx(0.5)


def test_stgcn_strides_and_widths() -> None:
    enc = build_encoder("stgcn", NTU25, width=4, out_dim=None)
    strides = [b.tcn[2].stride[0] for b in enc.blocks]
    widths = [b.tcn[0].num_features for b in enc.blocks]
    assert strides == [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert widths == [4, 4, 4, 4, 8, 8, 8, 16, 16, 16]
    assert enc.blocks[0].residual is None
    assert all(p.shape == (3, 25, 25) for p in enc.edge_importance)


@pytest.mark.parametrize("name", ["gru", "bigru"])
def test_cpu_recurrence_equals_nn_gru_outputs_and_gradients(name: str) -> None:
    """Three encoders (one per modality) stepped together in the batched CPU recurrence,
    against each on its own with nn.GRU (`fused = False`, the GPU path): the same features
    and the same gradient for every parameter, within float32 rounding."""
    torch.manual_seed(0)
    ours = [build_encoder(name, NTU25, 2, hidden=16, num_layers=2) for _ in range(3)]
    theirs = copy.deepcopy(ours)
    for enc in theirs:
        enc.fused = False
    xs = [sample(n=4, t=10, seed=s) for s in range(3)]
    mine = type(ours[0]).encode_together(ours, xs)
    reference = [enc(x) for enc, x in zip(theirs, xs, strict=True)]
    weights = [torch.randn_like(f) for f in reference]
    for feats in (mine, reference):
        sum((f * w).sum() for f, w in zip(feats, weights, strict=True)).backward()
    for a, b in zip(mine, reference, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    for enc, ref in zip(ours, theirs, strict=True):
        named = dict(ref.named_parameters())
        for pname, p in enc.named_parameters():
            torch.testing.assert_close(p.grad, named[pname].grad, atol=1e-6, rtol=1e-5, msg=pname)
        torch.testing.assert_close(enc.input_norm.running_mean, ref.input_norm.running_mean)


@pytest.mark.parametrize("name", ["gru", "bigru"])
def test_tracing_records_nn_gru(name: str) -> None:
    """A tracer (ONNX export, torch.jit.trace) gets nn.GRU, which it can translate; it
    computes what the batched recurrence computes."""
    enc, x = small(name).eval(), sample()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's remarks on nn.GRU
        traced = torch.jit.trace(enc, x)
        torch.testing.assert_close(traced(x), enc(x), atol=1e-6, rtol=1e-5)
    assert "aten::gru" in str(traced.inlined_graph)


def test_encoder_dropout_and_synthetic_seed_out_of_range():
    with pytest.raises(UserError, match=r"dropout must be a number in \[0, 1\), got 2"):
        build_encoder("stgcn", NTU25, 2, 3, dropout=2)
    with pytest.raises(UserError, match="seed must be a whole number >= 0"):
        generate(30, seed=-1)
