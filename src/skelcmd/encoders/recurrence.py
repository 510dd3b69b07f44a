"""A layer of GRU pairs stepped together on the CPU: batched products, a hand-written backward.

`gru_pair_layer` runs P pairs of single-layer GRUs over T frames (P encoders, e.g. one per
modality, each layer with two GRUs that read the same input: the reference's forward pair, or a
bidirectional GRU's two directions), G = 2P GRUs in lockstep. With PyTorch's gate order
(r, z, n) and h_0 = 0, for every GRU and step:

    gi  = x_t W_ih^T + b_ih                        (every frame at once: one product per pair)
    gh  = h_{t-1} W_hh^T + b_hh                    (one batched product per step, all G GRUs)
    r   = sigmoid(gi_r + gh_r),   z = sigmoid(gi_z + gh_z)
    n   = tanh(gi_n + r * gh_n)
    h_t = (1 - z) * n + z * h_{t-1}

which is `nn.GRU`'s formula; only the loop over the T steps is in Python. The backward is
written out: the forward keeps, per step, the coefficients that turn dL/dh_t into the
gradients of the pre-activations (computed while the step's gates are in cache), so the
backward loop does a few element-wise operations and one batched product per step; the weight
gradients and dL/dx are then one product per pair over all frames.

The state and the gate arithmetic are float32 (float64 for float64 inputs). The products take
the autocast dtype under CPU autocast (bfloat16, with float32 accumulation), else the input's;
see `skelcmd.encoders.kernels` for which library computes them.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from skelcmd.encoders.kernels import (
    Weights,
    Workspace,
    add_batched_linear_,
    batched_at_b,
    batched_linear,
)

__all__ = ["gru_pair_layer"]

_WORKSPACE = Workspace()


def gru_pair_layer(
    x: Tensor, w_ih: Tensor, b_ih: Tensor, w_hh: Tensor, b_hh: Tensor, reverse: bool = False
) -> Tensor:
    """P pairs of GRUs over the frames of x; returns both GRUs' states at every frame.

    x: (P, T, N, I), frame-major; w_ih: (P, 2, 3H, I), b_ih: (P, 2, 3H), w_hh: (P, 2, 3H, H),
    b_hh: (P, 2, 3H): GRU d of pair p has weights [p, d] and reads x[p]. With `reverse`,
    GRU 1 of every pair reads the frames from last to first (a bidirectional GRU's backward
    direction); each output stays at the frame that was read. Returns (P, T, N, 2H):
    [h of GRU 0, h of GRU 1] per frame and sample. Differentiable once.
    """
    p, _, _, i = x.shape
    h = w_hh.shape[-1]
    shapes = [(p, 2, 3 * h, i), (p, 2, 3 * h), (p, 2, 3 * h, h), (p, 2, 3 * h)]
    if [tuple(t.shape) for t in (w_ih, b_ih, w_hh, b_hh)] != shapes:
        raise ValueError(
            f"x {tuple(x.shape)}, w_ih {tuple(w_ih.shape)}, b_ih {tuple(b_ih.shape)}, w_hh "
            f"{tuple(w_hh.shape)} and b_hh {tuple(b_hh.shape)} do not describe P GRU pairs"
        )
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    with torch.autocast(device, enabled=False):
        return _PairLayer.apply(x, w_ih, b_ih, w_hh, b_hh, reverse, dtype)


_BOTH, _FIRST, _SECOND = slice(0, 2), slice(0, 1), slice(1, 2)


def _views(t: Tensor, step: int, reverse: bool) -> list[tuple[slice, Tensor]]:
    """What step `step` uses of t (P, T, N, 2, D), as (GRUs, (P, GRUs, N, D) view) pairs: one
    view for a forward pair; one per GRU for a bidirectional one (GRU 1 at frame T-1-step)."""
    if not reverse:
        return [(_BOTH, t[:, step].transpose(1, 2))]
    last = t.shape[1] - 1
    return [(d, t[:, f, :, d].transpose(1, 2)) for d, f in ((_FIRST, step), (_SECOND, last - step))]


def _doubled_n(w: Tensor) -> Tensor:
    """(G, 3H, ...) -> a copy with the n gate's rows times 2 (exact): the products then give
    2 a_n, and tanh(a_n) = 2 sigmoid(2 a_n) - 1 costs a fraction of torch's CPU tanh."""
    w = w.clone()
    w.view(w.shape[0], 3, -1)[:, 2] *= 2
    return w


class _PairLayer(torch.autograd.Function):
    """`gru_pair_layer`'s forward and backward. Saved per step (G, N, 6H), float32:

    [A gh_n r(1 - r), (h_{t-1} - n) z(1 - z), A r, A, r, z] with A = (1 - z)(1 - n^2): the
    first three times dL/dh_t are dL/d(gh_r, gh_z, gh_n); gi's are the same for r and z and
    dL/dh_t * A for n; dL/dh_{t-1} = dL/dh_t * z + dL/d(gh) W_hh. And every h_t in the
    products' dtype, for dL/dW_hh.
    """

    @staticmethod
    def forward(ctx, x, w_ih, b_ih, w_hh, b_hh, reverse, dtype):
        p, frames, n, i = x.shape
        hid = w_hh.shape[-1]
        g, three, six = 2 * p, 3 * hid, 6 * hid
        acc = torch.promote_types(dtype, x.dtype)  # of the state and the gates
        grads = any(ctx.needs_input_grad[:5])
        kept = frames if grads else 1
        ws = _WORKSPACE if x.device.type == "cpu" else Workspace(0)
        xs = x.to(dtype).contiguous()
        wi = w_ih.detach().to(dtype).reshape(p, 2 * three, i)
        bi = b_ih.detach().to(dtype).reshape(p, 2 * three)
        wh = w_hh.detach().to(dtype).reshape(g, three, hid)
        bh = b_hh.detach().to(dtype).reshape(g, three)
        gi = ws.take((p, frames * n, 2 * three), xs)  # every frame's input projections
        wi2, bi2 = (_doubled_n(t.view(g, three, -1)).view(p, 2 * three, -1) for t in (wi, bi))
        batched_linear(xs.view(p, frames * n, i), wi2, bi2.view(p, 2 * three), out=gi)
        gi5 = gi.view(p, frames, n, 2, three)  # (r, z, 2 n) per GRU
        wh_packed, bh2 = Weights(_doubled_n(wh), n), _doubled_n(bh)
        out = x.new_empty((p, frames, n, 2, hid), dtype=acc)  # the layer's output
        hs = ws.take((g, kept, n, hid), xs)  # h_t in the products' dtype
        saved = ws.take((g, kept, n, six), xs, acc)
        gi_step, gh = ws.take((p, 2, n, three), xs), ws.take((g, n, three), xs)
        cand, n2, state = (x.new_zeros((p, 2, n, hid), dtype=acc) for _ in range(3))
        mix, slope = (x.new_empty((p, 2, n, 2 * hid), dtype=acc) for _ in range(2))
        one, zero, minus_one = (torch.full((), v, dtype=acc, device=x.device) for v in (1, 0, -1))
        for step in range(frames):
            k = step if grads else 0
            views = _views(gi5, step, reverse)
            git = views[0][1] if len(views) == 1 else gi_step  # a view, or a copy of both
            for sel, view in views if len(views) > 1 else ():
                gi_step[:, sel].copy_(view)
            if step == 0:  # h_0 = 0, so gh = b_hh
                gh.copy_(bh2.unsqueeze(1).expand_as(gh))
            else:
                batched_linear(hs[:, k - 1 if grads else 0], wh_packed, bh2, out=gh)
            ghp = gh.view(p, 2, n, three)  # (r, z, 2 gh_n)
            st = saved[:, k].view(p, 2, n, six)
            gates = torch.add(git[..., : 2 * hid], ghp[..., : 2 * hid], out=st[..., 4 * hid :])
            r, z = gates.sigmoid_()[..., :hid], gates[..., hid:]
            torch.addcmul(git[..., 2 * hid :], r, ghp[..., 2 * hid :], out=cand)  # 2 a_n
            torch.add(minus_one, cand.sigmoid_(), alpha=2, out=cand)  # n = tanh(a_n)
            if dtype == acc:  # the state is the products' operand, h_t in hs (in place if k)
                h = hs[:, k].view(p, 2, n, hid)
                prev = hs[:, k - 1 if grads else 0].view(p, 2, n, hid) if step else state
            else:  # a float32 state, copied to hs in the products' dtype
                prev = h = state
            d = torch.sub(prev, cand, out=mix[..., hid:])  # h_{t-1} - n
            torch.addcmul(cand, z, d, out=h)  # h_t = n + z (h_{t-1} - n)
            if h is state:
                hs[:, k].view(p, 2, n, hid).copy_(state)
            for sel, view in _views(out, step, reverse):
                view.copy_(h[:, sel])
            if grads:
                torch.addcmul(gates, gates, gates, value=-1, out=slope)  # r(1-r), z(1-z)
                torch.addcmul(one, cand, cand, value=-1, out=n2)  # 1 - n^2
                a = torch.addcmul(n2, z, n2, value=-1, out=st[..., 3 * hid : 4 * hid])
                torch.addcmul(zero, a, ghp[..., 2 * hid :], value=0.5, out=mix[..., :hid])
                torch.mul(mix, slope, out=st[..., : 2 * hid])
                torch.mul(a, r, out=st[..., 2 * hid : 3 * hid])
        ws.give(gi, gi_step, gh)
        if grads:
            ctx.save_for_backward(xs, wi, wh)
            ctx.scratch = (saved, hs)
            ctx.reverse = reverse
            ctx.dtypes = [t.dtype for t in (x, w_ih, b_ih, w_hh, b_hh)]
        else:
            ws.give(saved, hs)
        return out.view(p, frames, n, 2 * hid)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        xs, wi, wh = ctx.saved_tensors
        (saved, hs), ctx.scratch = ctx.scratch, None
        reverse, ws = ctx.reverse, _WORKSPACE if xs.device.type == "cpu" else Workspace(0)
        p, frames, n, i = xs.shape
        g, _, _, six = saved.shape
        hid = six // 6
        three = 3 * hid
        whT_packed = Weights(wh.transpose(1, 2).contiguous(), n)  # dL/dh_{t-1} += dL/d(gh) W_hh
        gout = grad_out.view(p, frames, n, 2, hid)
        dgh = ws.take((g, frames, n, three), hs)
        dgi = ws.take((p, frames * n, 2 * three), hs)
        dgi5 = dgi.view(p, frames, n, 2, three)
        dh, dh_next = (ws.take((g, n, hid), saved) for _ in range(2))
        for sel, view in _views(gout, frames - 1, reverse):
            dh.view(p, 2, n, hid)[:, sel].copy_(view)
        for step in range(frames - 1, -1, -1):
            st, dgt = saved[:, step], dgh[:, step]
            coef = st[..., :three].view(g, n, 3, hid)
            torch.mul(dh.unsqueeze(-2), coef, out=dgt.view(g, n, 3, hid))
            dgp, stp, dhp = dgt.view(p, 2, n, three), st.view(p, 2, n, six), dh.view(p, 2, n, hid)
            for sel, view in _views(dgi5, step, reverse):
                view[..., : 2 * hid].copy_(dgp[:, sel, :, : 2 * hid])
                torch.mul(dhp[:, sel], stp[:, sel, :, 3 * hid : 4 * hid], out=view[..., 2 * hid :])
            if step == 0:
                break
            nxt = dh_next.view(p, 2, n, hid)
            for sel, view in _views(gout, step - 1, reverse):
                torch.addcmul(view, dhp[:, sel], stp[:, sel, :, 5 * hid :], out=nxt[:, sel])
            add_batched_linear_(dh_next, dgt, whT_packed)
            dh, dh_next = dh_next, dh
        # The weights' gradients and dL/dx: one product per GRU or pair over all frames.
        rows = (frames - 1) * n
        d_wh = batched_at_b(dgh[:, 1:].reshape(g, rows, three), hs[:, :-1].reshape(g, rows, hid))
        d_bh = dgh.sum(dim=(1, 2))  # (summed in float32 for bfloat16 too)
        d_wi = batched_at_b(dgi, xs.view(p, frames * n, i))
        d_bi = dgi.sum(dim=1)
        d_x = batched_linear(dgi, wi.transpose(1, 2))
        ws.give(saved, hs, dgh, dgi, dh, dh_next)
        grads = (
            d_x.view(p, frames, n, i),
            d_wi.view(p, 2, three, i),
            d_bi.view(p, 2, three),
            d_wh.view(p, 2, three, hid),
            d_bh.view(p, 2, three),
        )
        return (*(t.to(dt) for t, dt in zip(grads, ctx.dtypes, strict=True)), None, None)
