"""The batched GRU recurrence and its kernels against plain nn.GRU / matmul versions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import skelcmd.encoders.kernels as kernels
import skelcmd.encoders.recurrence as recurrence
from skelcmd.encoders.kernels import (
    LIBRARIES,
    Weights,
    Workspace,
    add_batched_linear_,
    batched_at_b,
    batched_linear,
    linear,
    using,
)
from skelcmd.encoders.recurrence import gru_pair_layer

P, T, N, I, H = 3, 7, 5, 6, 4
NAMES = ("weight_ih", "bias_ih", "weight_hh", "bias_hh")


def pairs(dtype: torch.dtype, seed: int = 0) -> list[list[nn.GRU]]:
    torch.manual_seed(seed)
    return [[nn.GRU(I, H, batch_first=True).to(dtype) for _ in range(2)] for _ in range(P)]


def stacked(grus: list[list[nn.GRU]]) -> list[torch.Tensor]:
    """(P, 2, ...) weight_ih, bias_ih, weight_hh, bias_hh, differentiable back to the GRUs."""
    return [
        torch.stack([torch.stack([getattr(g, f"{w}_l0") for g in p]) for p in grus]) for w in NAMES
    ]


def plain(grus: list[list[nn.GRU]], x: torch.Tensor, reverse: bool) -> torch.Tensor:
    """Each GRU on its own with nn.GRU; the second of a pair on the time-reversed input."""
    outs = []
    for p, (first, second) in enumerate(grus):
        seq = x[p].transpose(0, 1)  # (N, T, I)
        a = first(seq)[0]
        b = second(seq.flip(1))[0].flip(1) if reverse else second(seq)[0]
        outs.append(torch.cat([a, b], -1).transpose(0, 1))  # (T, N, 2H)
    return torch.stack(outs)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("reverse", [False, True], ids=["pair", "bidirectional"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_outputs_and_every_gradient_equal_nn_gru(
    dtype: torch.dtype, reverse: bool, library: str
) -> None:
    grus, ref_grus = pairs(dtype), pairs(dtype)
    x = torch.randn(P, T, N, I, dtype=dtype)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    with using(library):  # (float64 products are always torch's bmm)
        ours = gru_pair_layer(x_ours, *stacked(grus), reverse=reverse)
    theirs = plain(ref_grus, x_ref, reverse)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(ours, theirs, atol=tol, rtol=tol)
    weight = torch.randn_like(ours)  # a loss that weighs every output
    with using(library):
        (ours * weight).sum().backward()
    (theirs * weight).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=10 * tol, rtol=10 * tol)
    for pair, ref_pair in zip(grus, ref_grus, strict=True):
        for gru, ref in zip(pair, ref_pair, strict=True):
            for name in NAMES:
                mine, expected = getattr(gru, f"{name}_l0").grad, getattr(ref, f"{name}_l0").grad
                torch.testing.assert_close(mine, expected, atol=10 * tol, rtol=10 * tol, msg=name)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_single_frame(library: str) -> None:
    """One frame (the start-up probe times passes of 1 frame): no recurrent product, so
    W_hh's gradient is zero; everything else as nn.GRU's."""
    grus, ref_grus = pairs(torch.float32), pairs(torch.float32)
    x = torch.randn(P, 1, N, I)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    with using(library):
        ours = gru_pair_layer(x_ours, *stacked(grus))
        ours.square().sum().backward()
    theirs = plain(ref_grus, x_ref, False)
    theirs.square().sum().backward()
    torch.testing.assert_close(ours, theirs, atol=2e-6, rtol=2e-6)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=2e-5, rtol=2e-5)
    for pair, ref_pair in zip(grus, ref_grus, strict=True):
        for gru, ref in zip(pair, ref_pair, strict=True):
            for name in NAMES:
                mine, expected = getattr(gru, f"{name}_l0").grad, getattr(ref, f"{name}_l0").grad
                torch.testing.assert_close(mine, expected, atol=2e-5, rtol=2e-5, msg=name)


def test_without_gradients_the_same_states_and_stale_scratch_is_harmless() -> None:
    grus = pairs(torch.float32)
    x = torch.randn(P, T, N, I)
    with_grad = gru_pair_layer(x.requires_grad_(), *stacked(grus))
    with_grad.sum().backward()  # gives the scratch tensors back to the workspace
    for kept in recurrence._WORKSPACE.free.values():
        for t in kept:
            t.fill_(float("nan"))
    with torch.no_grad():
        again = gru_pair_layer(x, *stacked(grus))
    assert torch.equal(again, with_grad.detach())
    torch.testing.assert_close(again, plain(grus, x, False).detach(), atol=2e-6, rtol=2e-6)


def test_bfloat16_products_under_cpu_autocast_stay_close() -> None:
    grus = pairs(torch.float32)
    x = torch.randn(P, T, N, I, requires_grad=True)
    reference = gru_pair_layer(x, *stacked(grus))
    (d_ref,) = torch.autograd.grad(reference.square().sum(), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = gru_pair_layer(x, *stacked(grus))
    assert low.dtype == torch.float32  # the state stays float32
    (d_low,) = torch.autograd.grad(low.square().sum(), x)
    assert d_low.dtype == torch.float32
    torch.testing.assert_close(low, reference, atol=3e-2, rtol=0)
    assert torch.cosine_similarity(d_low.flatten(), d_ref.flatten(), dim=0) > 0.999
    assert not torch.equal(low, reference)  # it did run in bfloat16


def test_shapes_are_checked() -> None:
    w = stacked(pairs(torch.float32))
    with pytest.raises(ValueError, match="do not describe P GRU pairs"):
        gru_pair_layer(torch.randn(P, T, N, I + 1), *w)
    with pytest.raises(ValueError, match="do not describe P GRU pairs"):
        gru_pair_layer(torch.randn(P - 1, T, N, I), *w)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_products_equal_matmul_in_every_library(dtype: torch.dtype, library: str) -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 9, 8), (3, 5, 8), (3, 5), (3, 9, 5)]
    x, w, b, acc = (torch.randn(*s, generator=g).to(dtype) for s in shapes)
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 5e-2}[dtype]
    expected = x.double() @ w.double().transpose(1, 2) + b.double().unsqueeze(1)

    def close(got: torch.Tensor, want: torch.Tensor) -> None:
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), want, atol=tol * 10, rtol=tol)

    with using(library):
        for weights in (w, Weights(w, 9)):
            out = torch.empty(3, 9, 5, dtype=dtype)
            got = batched_linear(x, weights, b, out=out)
            assert got.data_ptr() == out.data_ptr()
            close(got, expected)
            total = acc.clone()
            assert add_batched_linear_(total, x, weights) is total
            close(total, acc.double() + expected - b.double().unsqueeze(1))
        close(batched_linear(x, w), expected - b.double().unsqueeze(1))
        close(
            batched_linear(x, w.transpose(1, 2).contiguous().transpose(1, 2)),
            expected - b.double().unsqueeze(1),
        )
        close(batched_at_b(x, acc), x.double().transpose(1, 2) @ acc.double())
        close(batched_at_b(x[:, :0], acc[:, :0]), torch.zeros(3, 8, 5, dtype=torch.float64))
        close(
            batched_at_b(x[:, 1:], acc[:, 1:]),
            x[:, 1:].double().transpose(1, 2) @ acc[:, 1:].double(),
        )
    transposed = linear(x[0].T.contiguous().T, w[0].T.contiguous().T, b[0])  # any strides
    close(transposed, expected[0])


def test_each_kind_and_shape_of_product_is_measured_once(monkeypatch) -> None:
    monkeypatch.setattr(kernels, "_CHOSEN", {})
    x, w = torch.randn(2, 600, 4), torch.randn(2, 3, 4)
    calls = []
    real = kernels._seconds
    monkeypatch.setattr(kernels, "_seconds", lambda *a: calls.append(a[1:]) or real(*a))
    for _ in range(2):
        batched_linear(x, w)
        batched_linear(x[:, :9], w)
    keys = list(kernels.chosen())
    if torch.float32 not in kernels._ONEDNN_DTYPES:  # only one library: nothing to measure
        assert keys == [] and calls == []
        return
    assert [k[:3] for k in keys] == [("linear", 2, kernels.MEASURE_ROWS + 1), ("linear", 2, 9)]
    assert set(kernels.chosen().values()) <= set(LIBRARIES)
    assert len(calls) == 2 * len(LIBRARIES) * (1 + 5)  # per shape: each once, then 5 rounds
    assert max(rows for _, rows, _ in calls) == kernels.MEASURE_ROWS  # large ones on a slice


def test_workspace_hands_back_what_it_was_given() -> None:
    like = torch.zeros(1)
    ws = Workspace(keep=2)
    a = ws.take((4, 3), like)
    assert a.shape == (4, 3) and a.dtype == torch.float32
    ws.give(a)
    assert ws.take((4, 3), like).data_ptr() == a.data_ptr()  # reused
    assert ws.take((4, 3), like).data_ptr() != a.data_ptr()  # none left: a new one
    assert ws.take((4, 3), like, torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="not views"):
        ws.give(a[1:])
    ws.give(torch.empty(1), torch.empty(2), torch.empty(3))
    assert list(ws.free) == [((2,), torch.float32, like.device), ((3,), torch.float32, like.device)]
