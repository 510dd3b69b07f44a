"""CMD with a tiny encoder: outputs, gradients, EMA, queue updates, gather, modality subsets."""

import pytest
import torch
from torch import nn

from skelcmd.encoders.gru import ForwardPairGRU
from skelcmd.errors import UserError
from skelcmd.losses import CMDLossConfig
from skelcmd.modalities import derive, to_motion
from skelcmd.model import CMD, encode_all
from skelcmd.skeleton import NTU25

N, T, M = 4, 4, 2
ALL = ["joint", "motion", "bone"]


class Tiny(nn.Module):
    """Flatten + Linear + BatchNorm: enough to have parameters and buffers."""

    feat_dim = 16

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(3 * T * NTU25.num_joints * M, 16), nn.BatchNorm1d(16)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make(modalities=ALL, seed=0, encoder_factory=Tiny, **kwargs) -> CMD:
    torch.manual_seed(seed)
    kwargs.setdefault("queue_size", 16)
    kwargs.setdefault("feature_dim", 8)
    kwargs.setdefault("cmd", CMDLossConfig(topk=8))
    return CMD(encoder_factory, modalities, NTU25, **kwargs)


def views(seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (N, 3, T, NTU25.num_joints, M)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def params(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def test_forward_returns_every_log_and_a_finite_loss():
    model = make()
    out = model(*views())
    pairs = [f"loss/cmd/{a}->{b}" for a in ALL for b in ALL if a != b]
    expected = {"loss", "loss/total", "loss/cmd", *pairs}
    expected |= {f"loss/infonce/{m}" for m in ALL} | {f"acc/{m}" for m in ALL}
    assert set(out) == expected
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"]) and out["loss"].requires_grad
    assert all(not v.requires_grad for k, v in out.items() if k != "loss")
    infonce = sum(out[f"loss/infonce/{m}"] for m in ALL)
    assert torch.allclose(out["loss"], infonce + out["loss/cmd"])
    assert torch.allclose(out["loss/cmd"], sum(out[p] for p in pairs))
    assert all(0 <= out[f"acc/{m}"] <= 1 for m in ALL)


def test_branches_are_independent_and_keys_start_as_copies():
    model = make()
    assert list(model.branches) == ALL
    encoders = [b.encoder_q for b in model.branches.values()]
    assert len({id(e) for e in encoders}) == 3
    for branch in model.branches.values():
        for (_, q), (_, k) in zip(
            [*branch.encoder_q.named_parameters(), *branch.head_q.named_parameters()],
            [*branch.encoder_k.named_parameters(), *branch.head_k.named_parameters()],
            strict=True,
        ):
            assert torch.equal(q, k) and q.data_ptr() != k.data_ptr() and not k.requires_grad
    head = model.branches["joint"].head_q
    assert [type(layer) for layer in head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert head[0].in_features == head[0].out_features == 16 and head[2].out_features == 8
    assert isinstance(make(mlp=False).branches["joint"].head_q, nn.Linear)


def test_backward_reaches_only_query_encoders_and_heads():
    model = make()
    model(*views())["loss"].backward()
    for name, p in model.named_parameters():
        if "_k." in name:
            assert p.grad is None and not p.requires_grad, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_queue_receives_this_batchs_keys_after_the_losses():
    model = make()
    before = model.queue.features.clone()
    v1, v2 = views()
    model(v1, v2)
    assert int(model.queue.ptr) == N  # one pointer: every stream advanced by B together
    assert torch.equal(model.queue.features[:, N:], before[:, N:])
    derived = derive(v2, ALL, NTU25)
    for i, m in enumerate(ALL):  # slot i holds the same sample in every modality
        key = model.branches[m].key(derived[m])
        assert torch.allclose(model.queue.features[i, :N], key, atol=1e-6), m


def test_key_encoders_follow_the_query_encoders_by_ema():
    model = make(momentum=0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(*views())["loss"].backward()
    opt.step()
    branch = model.branches["motion"]
    q_new, k_old = params(branch.encoder_q), params(branch.encoder_k)
    assert any(not torch.equal(q_new[n], k_old[n]) for n in q_new)
    model(*views(seed=2))
    k_new = params(branch.encoder_k)
    for name in q_new:
        assert torch.allclose(k_new[name], 0.9 * k_old[name] + 0.1 * q_new[name], atol=1e-6)
    bn_q, bn_k = branch.encoder_q.net[2], branch.encoder_k.net[2]
    # buffers copied from the query encoder, then both ran one forward in training mode
    assert bn_k.num_batches_tracked == bn_q.num_batches_tracked == 2


def test_weight_zero_is_exactly_the_sum_of_infonce_and_keeps_infonce_unchanged():
    plain = make(cmd=CMDLossConfig(weight=0.0, topk=8))
    full = make()
    out0, out1 = plain(*views()), full(*views())
    infonce0 = [out0[f"loss/infonce/{m}"] for m in ALL]
    assert torch.equal(out0["loss"].detach(), torch.stack(infonce0).sum())
    assert out0["loss/cmd"].item() == 0.0
    assert all(out0[k].item() == 0.0 for k in out0 if k.startswith("loss/cmd/"))
    for m in ALL:  # same seed, same init: only the CMD term differs
        assert torch.equal(out0[f"loss/infonce/{m}"], out1[f"loss/infonce/{m}"])
    assert out1["loss/cmd"].item() > 0
    assert torch.allclose(out1["loss"], out0["loss"] + out1["loss/cmd"])


@pytest.mark.parametrize("modalities", [["bone"], ["motion", "joint"], ["bone", "joint"]])
def test_modality_subsets_in_any_order(modalities):
    model = make(modalities)
    out = model(*views())
    assert list(model.branches) == modalities
    assert model.queue.features.shape[0] == len(modalities)
    pairs = {k for k in out if k.startswith("loss/cmd/")}
    assert pairs == {f"loss/cmd/{a}->{b}" for a in modalities for b in modalities if a != b}
    out["loss"].backward()
    if len(modalities) == 1:
        assert out["loss/cmd"].item() == 0.0
        assert torch.equal(out["loss"].detach(), out[f"loss/infonce/{modalities[0]}"])


@pytest.mark.parametrize("mode", ["kl", "positive-mining"])
def test_cmd_modes_run(mode):
    out = make(cmd=CMDLossConfig(topk=8, mode=mode, weight=0.5))(*views())
    infonce = sum(out[f"loss/infonce/{m}"] for m in ALL)
    assert torch.allclose(out["loss"], infonce + 0.5 * out["loss/cmd"])


def test_gather_feeds_the_queue():
    calls = []

    def duplicate(keys):
        calls.append(keys.shape)
        return torch.cat([keys, keys], dim=-2)

    model = make(gather=duplicate)
    model(*views())
    assert calls == [(3, N, 8)]  # (P, N, d), gathered along the batch dim -2
    assert int(model.queue.ptr) == 2 * N
    assert torch.equal(model.queue.features[:, :N], model.queue.features[:, N : 2 * N])


def test_eval_mode_has_no_side_effects():
    model = make().eval()
    queue, keys = model.queue.features.clone(), params(model.branches["bone"].encoder_k)
    model.branches["bone"].encoder_q.net[1].weight.data.add_(1.0)
    out = model(*views())
    assert torch.isfinite(out["loss"])
    assert int(model.queue.ptr) == 0 and torch.equal(model.queue.features, queue)
    assert all(torch.equal(keys[n], p) for n, p in params(model.branches["bone"].encoder_k).items())


def test_queue_not_a_multiple_of_the_batch_is_a_user_error():
    with pytest.raises(UserError, match="K=10 must be a multiple of the global batch size B=4"):
        make(queue_size=10)(*views())


def test_bad_construction_is_a_user_error():
    with pytest.raises(UserError, match=r"cmd\.topk=32 exceeds the queue size K=16"):
        make(cmd=CMDLossConfig(topk=32))
    make(cmd=CMDLossConfig(topk=32, weight=0.0))  # unused top-k: fine
    make(["joint"], cmd=CMDLossConfig(topk=32))  # one stream: no pairs, fine
    for bad in (["joint", "joint"], [], ["depth"]):
        with pytest.raises(UserError):
            make(bad)


def test_encode_uses_the_query_encoder_of_the_modality():
    model = make().eval()
    x = views()[0]
    features = model.encode(x, "motion")
    assert features.shape == (N, Tiny.feat_dim)
    assert torch.equal(features, model.branches["motion"].encoder_q(to_motion(x)))
    with pytest.raises(UserError, match="not pretrained"):
        make(["joint"]).encode(x, "bone")


def test_autocast_forward_is_finite_float32():
    model = make()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*views())
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert model.queue.features.dtype == torch.float32


def small_gru():
    return ForwardPairGRU(NTU25, M, 3, hidden=8, num_layers=2)


def test_encode_all_runs_one_class_together_and_others_one_by_one(monkeypatch):
    gru, tiny = small_gru(), Tiny()
    x = views()[0]
    calls = []
    original = ForwardPairGRU.encode_together.__func__

    def counted(cls, encoders, inputs):
        calls.append(len(encoders))
        return original(cls, encoders, inputs)

    monkeypatch.setattr(ForwardPairGRU, "encode_together", classmethod(counted))
    together = encode_all([gru, small_gru()], [x, x])
    assert calls == [2] and [f.shape for f in together] == [(N, 16), (N, 16)]
    torch.testing.assert_close(together[0], gru(x))  # gru(x) is encode_together([gru], [x])
    mixed = encode_all([gru, tiny], [x, x])  # two classes: each encoder on its own
    assert calls == [2, 1, 1] and torch.equal(mixed[1], tiny(x))


def test_gru_steps_together_equal_steps_one_by_one():
    """Three CMD steps with the modalities' GRUs in one recurrence (the CPU default) and with
    nn.GRU one encoder after another: the same losses and states within float rounding."""
    runs = []
    for fused in (True, False):
        model = make(encoder_factory=small_gru)
        for module in model.modules():
            if isinstance(module, ForwardPairGRU):
                module.fused = fused
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        outs = []
        for seed in range(3):
            out = model(*views(seed))
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            outs.append(out)
        runs.append((model.state_dict(), outs))
    (state_a, outs_a), (state_b, outs_b) = runs
    for a, b in zip(outs_a, outs_b, strict=True):
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4, msg=key)
    for key in state_a:  # query and key encoders, heads, BatchNorm statistics, queues
        torch.testing.assert_close(state_a[key], state_b[key], atol=2e-5, rtol=1e-4, msg=key)
    assert not torch.equal(
        state_a["branches.joint.encoder_q.fwd.0.weight_hh_l0"],
        make(encoder_factory=small_gru).state_dict()["branches.joint.encoder_q.fwd.0.weight_hh_l0"],
    )
