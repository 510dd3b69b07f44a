"""CPU building blocks of the batched GRU recurrence: matrix products and a scratch workspace.

- `linear(x, w, b)`, x w^T + b for (M, K) x (N, K): on the CPU, in float32 and bfloat16,
  through oneDNN's matrix product (`torch.ops.mkldnn._linear_pointwise`, the op
  `torch.compile` uses for CPU Linear layers; a private API, checked at import). PyTorch's
  float32 `mm` goes to MKL instead, which on the project's AMD EPYC machine ran at half
  oneDNN's speed (`benchmarks/README.md`, step section). Otherwise (float64, other devices,
  a torch without oneDNN) `F.linear`.
- `batched_linear(x, w, b, out)`: G independent products (G, M, K) x (G, N, K) + (G, N):
  one oneDNN product per group on the CPU, with weights `prepare`d (packed into oneDNN's
  blocked layout once, not at every call) where they serve many calls; `baddbmm` otherwise.
- `Workspace`: big scratch tensors kept between training steps. glibc memory-maps every
  allocation above 32 MiB afresh and the kernel zeroes each page at its first touch; before
  the workspace, those page faults took 13 % (float32) to 19 % (bfloat16) of a benchmark
  step's CPU time (single-threaded, against the same step run with MALLOC_MMAP_MAX_=0).
  A tensor given back is handed out again for the same shape and dtype.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Workspace", "batched_linear", "linear", "prepare"]


def _onednn_linear_works(dtype: torch.dtype) -> bool:
    """Whether this torch has oneDNN's Linear op and weight packing (a private API), working in
    `dtype` on this CPU: oneDNN has no bfloat16 product on CPUs without AVX-512 (it then
    fails to create its primitive), and those products go to PyTorch's own kernels instead."""
    try:
        op, x = torch.ops.mkldnn._linear_pointwise, torch.ones(2, 3, dtype=dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(x, 2)
        plain = op(x, x, None, "none", [], "")
        return bool(
            torch.equal(plain, x @ x.T) and torch.equal(op(x, packed, None, "none", [], ""), plain)
        )
    except (AttributeError, RuntimeError):
        return False


_ONEDNN_DTYPES = (
    frozenset(d for d in (torch.float32, torch.bfloat16) if _onednn_linear_works(d))
    if torch.backends.mkldnn.is_available()
    else frozenset()
)


def _onednn(x: Tensor) -> bool:
    return x.dtype in _ONEDNN_DTYPES and x.device.type == "cpu"


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """x (M, K), w (N, K), b (N,) or None -> x w^T + b, (M, N); not differentiable."""
    if _onednn(x):
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    return F.linear(x, w, b)


def prepare(w: Tensor, rows: int) -> Tensor | list[Tensor]:
    """Weights (G, N, K) for many `batched_linear` calls of `rows` rows: packed once into
    oneDNN's blocked layout where oneDNN computes them (10-20 % faster per frame), else w."""
    if _onednn(w):
        return [torch.ops.mkldnn._reorder_linear_weight(w[g], rows) for g in range(len(w))]
    return w


def batched_linear(
    x: Tensor, w: Tensor | list[Tensor], b: Tensor | None = None, out: Tensor | None = None
) -> Tensor:
    """x (G, M, K), w (G, N, K) or `prepare`d, b (G, N) or None -> x_g w_g^T + b_g for every
    g, (G, M, N), written into `out` if given (of x's dtype); not differentiable."""
    if _onednn(x):
        op = torch.ops.mkldnn._linear_pointwise
        parts = [op(x[g], w[g], None if b is None else b[g], "none", [], "") for g in range(len(x))]
        return torch.stack(parts, out=out)
    if b is None:
        return torch.bmm(x, w.transpose(1, 2), out=out)
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2), out=out)


class Workspace:
    """Scratch tensors by (shape, dtype, device), kept for reuse; at most `keep` layouts.

    `take` hands out a kept tensor of that layout (its contents are stale) or a new one;
    `give` keeps tensors for later. A tensor must not be used after it was given back.
    """

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self.free: OrderedDict[tuple, list[Tensor]] = OrderedDict()

    def take(
        self, shape: tuple[int, ...], like: Tensor, dtype: torch.dtype | None = None
    ) -> Tensor:
        """An uninitialised tensor of `shape` with `like`'s device and `dtype` (or like's)."""
        dtype = like.dtype if dtype is None else dtype
        kept = self.free.get((tuple(shape), dtype, like.device))
        return kept.pop() if kept else like.new_empty(shape, dtype=dtype)

    def give(self, *tensors: Tensor) -> None:
        if any(t._base is not None for t in tensors):  # a view would alias its base's memory
            raise ValueError("give back the tensors that `take` handed out, not views of them")
        for t in tensors:
            key = (tuple(t.shape), t.dtype, t.device)
            self.free.setdefault(key, []).append(t)
            self.free.move_to_end(key)
        while len(self.free) > self.keep:
            self.free.popitem(last=False)
