"""Initialisation as the reference: xavier-uniform GRU weights and head output layer, the rest at
PyTorch's defaults, key encoders starting as copies of the query encoders.

A weight W of shape (fan_out, fan_in) drawn U(-a, a) lies within a, comes close to it (with
thousands of draws the largest |W| exceeds 0.97 a all but surely) and has variance a^2 / 3.
Xavier-uniform has a = sqrt(6 / (fan_in + fan_out)); PyTorch's default for a GRU weight is
a = 1 / sqrt(H) and for a Linear or convolution weight a = 1 / sqrt(fan_in).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from skelcmd.config import load_config
from skelcmd.model import build_model
from skelcmd.skeleton import NTU25

HIDDEN, LAYERS, INPUT = 32, 2, 150
GRU_ARGS = f"model.encoder_args={{hidden: {HIDDEN}, num_layers: {LAYERS}}}"


def model_of(encoder: str, *extra: str):
    """The CMD model as training builds it (default feature_dim 128, as the reference)."""
    args = GRU_ARGS if encoder != "stgcn" else "model.encoder_args={}"
    config = load_config(
        None,
        [f"model.encoder={encoder}", args, "model.queue_size=32", "cmd.topk=8", *extra],
    )
    torch.manual_seed(0)
    return build_model(config, NTU25, 2)


def xavier_bound(w: torch.Tensor) -> float:
    fan_out, fan_in = w.shape[0], w[0].numel()
    return math.sqrt(6.0 / (fan_in + fan_out))


def default_bound(w: torch.Tensor) -> float:
    """PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of Linear and convolution layers."""
    return 1.0 / math.sqrt(w[0].numel())


def assert_uniform(w: torch.Tensor, bound: float, variance: bool = True) -> None:
    """w was drawn U(-bound, bound): within the bound, filling it, with variance bound^2 / 3."""
    w = w.detach().double()
    assert w.abs().max() <= bound * (1 + 1e-6), f"max {w.abs().max():.4f} > bound {bound:.4f}"
    fill = 0.97 if w.numel() >= 1000 else 0.8
    assert w.abs().max() >= fill * bound, f"max {w.abs().max():.4f} << bound {bound:.4f}"
    if variance:  # relative standard error sqrt(0.8 / n): under 2 % at n >= 2000
        ratio = (w.square().mean() / (bound**2 / 3)).item()
        assert abs(ratio - 1) < 0.1, f"variance {ratio:.3f} x that of U(-bound, bound)"


def gru_tensors(encoder: nn.Module, kind: str) -> dict[str, torch.Tensor]:
    return {n: p for n, p in encoder.named_parameters() if kind in n}


@pytest.mark.parametrize("encoder", ["gru", "bigru"])
def test_gru_weights_are_xavier_uniform_and_biases_pytorch_defaults(encoder: str) -> None:
    model = model_of(encoder)
    for branch in model.branches.values():
        enc = branch.encoder_q
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            # every layer and both directions
            assert len(gru_tensors(enc, kind)) == 2 * LAYERS, kind
        for name, w in {**gru_tensors(enc, "weight_ih"), **gru_tensors(enc, "weight_hh")}.items():
            assert w.shape[0] == 3 * HIDDEN and w.shape[1] in (INPUT, HIDDEN, 2 * HIDDEN), name
            assert_uniform(w, xavier_bound(w))
        for b in {**gru_tensors(enc, "bias_ih"), **gru_tensors(enc, "bias_hh")}.values():
            assert_uniform(b, 1 / math.sqrt(HIDDEN), variance=False)
        norm = enc.input_norm
        assert torch.equal(norm.weight, torch.ones(INPUT))
        assert torch.equal(norm.bias, torch.zeros(INPUT))
        assert torch.equal(norm.running_mean, torch.zeros(INPUT))
        assert torch.equal(norm.running_var, torch.ones(INPUT))


@pytest.mark.parametrize("mlp", [True, False])
@pytest.mark.parametrize("encoder", ["gru", "stgcn"])
def test_head_output_layer_is_xavier_uniform_and_the_rest_pytorch_defaults(encoder, mlp) -> None:
    head = model_of(encoder, f"model.mlp={str(mlp).lower()}").branches["motion"].head_q
    last = head[2] if mlp else head
    assert last.weight.shape == (128, model_of(encoder).branches["joint"].encoder_q.feat_dim)
    assert_uniform(last.weight, xavier_bound(last.weight))
    assert_uniform(last.bias, default_bound(last.weight), variance=False)
    if mlp:
        assert_uniform(head[0].weight, default_bound(head[0].weight))
        assert_uniform(head[0].bias, default_bound(head[0].weight), variance=False)


def test_stgcn_keeps_pytorch_defaults() -> None:
    enc = model_of("stgcn").branches["bone"].encoder_q
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.weight.abs().max() <= default_bound(m.weight) for m in convs)
    for conv in (m for m in convs if m.weight.numel() >= 2000):
        assert_uniform(conv.weight, default_bound(conv.weight))
    norms = [m for m in enc.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    assert norms and all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    assert all(torch.equal(p, torch.ones_like(p)) for p in enc.edge_importance)


def test_pytorch_defaults_fail_the_xavier_check() -> None:
    """The checks above tell the two rules apart, for every weight shape the GRU has."""
    torch.manual_seed(0)
    for fan_in in (INPUT, HIDDEN, 2 * HIDDEN):
        w = nn.GRU(fan_in, HIDDEN).weight_ih_l0
        with pytest.raises(AssertionError):
            assert_uniform(w, xavier_bound(w))
    w = nn.Linear(2 * HIDDEN, 128).weight
    with pytest.raises(AssertionError):
        assert_uniform(w, xavier_bound(w))


@pytest.mark.parametrize("encoder", ["gru", "bigru", "stgcn"])
def test_key_encoders_start_as_copies_and_modalities_differ(encoder: str) -> None:
    model = model_of(encoder)
    for branch in model.branches.values():
        for q_module, k_module in (
            (branch.encoder_q, branch.encoder_k),
            (branch.head_q, branch.head_k),
        ):
            q_state, k_state = q_module.state_dict(), k_module.state_dict()
            assert q_state.keys() == k_state.keys()
            for name, value in q_state.items():  # parameters and buffers alike
                assert torch.equal(value, k_state[name]), name
                assert value.data_ptr() != k_state[name].data_ptr(), name
            assert not any(p.requires_grad for p in k_module.parameters())
    # each modality's encoder is drawn on its own, as the reference initialises each one
    weights = [b.head_q.state_dict()["2.weight"] for b in model.branches.values()]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
