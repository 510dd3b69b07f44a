"""CPU building blocks of the batched GRU recurrence: matrix products and a scratch workspace.

Every product of the recurrence is G independent products of one shape (one per GRU, or per
pair of GRUs reading the same input). Two libraries can compute them, and which is faster
depends on the CPU and the shape (benchmarks/README.md, step section):

- `onednn`: one oneDNN product per group (`torch.ops.mkldnn._linear_pointwise`, the op
  `torch.compile` uses for CPU Linear layers; a private API, checked at import), with weights
  packed once into oneDNN's blocked layout where they serve many calls (`Weights`), the
  results then stacked into place. On the project's AMD EPYC, oneDNN's float32 products ran
  at twice the speed of PyTorch's `mm` (MKL there).
- `bmm`: one call of PyTorch's batched product (`baddbmm`, `bmm`; MKL in float32) for all
  groups, written straight into the output: one call and no copy where oneDNN needs G calls
  and a stack.
- `mm`: one call of PyTorch's product (`addmm`, `mm`; MKL in float32) per group, each written
  straight into its slice of the output. The batched product splits its threads over the
  groups, so 3 groups on 2 threads leave one thread idle a third of the time; one product per
  group uses every thread on each. On the project's AMD EPYC the products over all frames
  ran 1.1 to 1.6x as fast this way as with `bmm` (`python -m benchmarks.product_libraries`,
  benchmarks/README.md), and where oneDNN is no faster than MKL (the Intel Xeon of issue 25)
  this is the library left to win.

The first product of each kind and shape in a process times all three (`choose`: a few calls
of each, back to back, large ones on at most `MEASURE_ROWS` of their rows; milliseconds) and
keeps the fastest for the rest of the process. Float64, other devices and a torch without
oneDNN use `bmm`; `using(library)` forces one (tests, benchmarks).

`Workspace`: big scratch tensors kept between training steps. glibc memory-maps every
allocation above 32 MiB afresh and the kernel zeroes each page at its first touch; before the
workspace, those page faults took 13 % (float32) to 19 % (bfloat16) of a benchmark step's CPU
time (single-threaded, against the same step run with MALLOC_MMAP_MAX_=0). A tensor given
back is handed out again for the same shape and dtype.
"""

from __future__ import annotations

import statistics
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LIBRARIES",
    "Weights",
    "Workspace",
    "add_batched_linear_",
    "batched_at_b",
    "batched_linear",
    "chosen",
    "linear",
    "using",
]

LIBRARIES = ("onednn", "bmm", "mm")
MEASURE_ROWS = 512  # products of more rows are timed on this many
MARGIN = 1.1  # how much faster than oneDNN another library must be to be chosen


def _onednn_linear_works(dtype: torch.dtype) -> bool:
    """Whether this torch has oneDNN's Linear op and weight packing (a private API), working in
    `dtype` on this CPU: oneDNN has no bfloat16 product on CPUs without AVX-512 (it then
    fails to create its primitive), and those products go to PyTorch's own kernels instead."""
    try:
        op, x = torch.ops.mkldnn._linear_pointwise, torch.ones(2, 3, dtype=dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(x, 2)
        plain = op(x, x, None, "none", [], "")
        added = op.binary(x, plain, packed, None, "add")
        return bool(
            torch.equal(plain, x @ x.T)
            and torch.equal(op(x, packed, None, "none", [], ""), plain)
            and torch.equal(added, 2 * plain)
        )
    except (AttributeError, RuntimeError):
        return False


_ONEDNN_DTYPES = (
    frozenset(d for d in (torch.float32, torch.bfloat16) if _onednn_linear_works(d))
    if torch.backends.mkldnn.is_available()
    else frozenset()
)
_CHOSEN: dict[tuple, str] = {}  # (kind, shapes, dtype) -> library, measured once per process
_FORCED: list[str] = []


def _onednn(x: Tensor) -> bool:
    return x.dtype in _ONEDNN_DTYPES and x.device.type == "cpu"


@contextmanager
def using(library: str) -> Iterator[None]:
    """Compute every product in the block with `library` where it can (not measured)."""
    if library not in LIBRARIES:
        raise ValueError(f"library {library!r} is not one of {LIBRARIES}")
    _FORCED.append(library)
    try:
        yield
    finally:
        _FORCED.pop()


def chosen() -> dict[tuple, str]:
    """The libraries measured fastest so far, by (kind, shapes, dtype)."""
    return dict(_CHOSEN)


def choose(key: tuple, run: Callable[[str, int], object], rows: int, pairs: int = 5) -> str:
    """The library for products of `key`: forced, measured before, or measured now by
    `run(library, rows)` (one product of at most MEASURE_ROWS rows into scratch).

    The libraries run back to back in `pairs` rounds (the order reverses each round), and per
    library the median of its rounds' speed-ups over oneDNN decides: a burst of other work on
    a shared machine slows all of a round alike, or spoils one round out of several. Another
    library must be `MARGIN` times as fast to be taken: oneDNN, where it works, is the
    library the recurrence was tuned with."""
    if _FORCED:
        return _FORCED[-1]
    if key not in _CHOSEN:
        rows = min(rows, MEASURE_ROWS)
        for library in LIBRARIES:
            run(library, rows)  # warm-up: primitive creation, packing, caches
        once = min(_seconds(run, library, rows, 1) for library in LIBRARIES)
        repeats = max(1, min(8, int(2e-3 / max(once, 1e-9))))
        others = LIBRARIES[1:]
        speedups: dict[str, list[float]] = {library: [] for library in others}
        for i in range(pairs):
            order = LIBRARIES if i % 2 == 0 else LIBRARIES[::-1]
            seconds = {library: _seconds(run, library, rows, repeats) for library in order}
            for library in others:
                speedups[library].append(seconds["onednn"] / seconds[library])
        best = max(others, key=lambda library: statistics.median(speedups[library]))
        _CHOSEN[key] = best if statistics.median(speedups[best]) >= MARGIN else "onednn"
    return _CHOSEN[key]


def _seconds(run: Callable[[str, int], object], library: str, rows: int, repeats: int) -> float:
    tick = time.perf_counter()
    for _ in range(repeats):
        run(library, rows)
    return time.perf_counter() - tick


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """x (M, K), w (N, K), b (N,) or None -> x w^T + b, (M, N), in oneDNN where it computes
    x's dtype (else `F.linear`); not differentiable."""
    if _onednn(x):
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    return F.linear(x, w, b)


class Weights:
    """Weights w (G, N, K) of many `batched_linear` calls of `rows` rows: oneDNN's packed
    copy (10-20 % faster per call) is made once, the first time oneDNN computes them."""

    def __init__(self, w: Tensor, rows: int) -> None:
        self.plain, self.rows = w, rows
        self._packed: list[Tensor] | None = None

    def packed(self) -> list[Tensor]:
        if self._packed is None:
            reorder = torch.ops.mkldnn._reorder_linear_weight
            self._packed = [reorder(self.plain[g], self.rows) for g in range(len(self.plain))]
        return self._packed


def batched_linear(
    x: Tensor, w: Tensor | Weights, b: Tensor | None = None, out: Tensor | None = None
) -> Tensor:
    """x (G, M, K), w (G, N, K) or `Weights`, b (G, N) or None -> x_g w_g^T + b_g for every
    g, (G, M, N), written into `out` if given (of x's dtype); not differentiable."""
    plain = w.plain if isinstance(w, Weights) else w
    if not _onednn(x):
        return _bmm_linear(x, plain, b, out)
    g, m, k = x.shape
    n = plain.shape[1]

    def run(library: str, rows: int, target: Tensor | None = None) -> Tensor:
        xs = x if rows == m else x[:, :rows]
        if library == "bmm":
            return _bmm_linear(xs, plain, b, target)
        if library == "mm":
            into = xs.new_empty((g, rows, n)) if target is None else target
            for i in range(g):
                if b is None:
                    torch.mm(xs[i], plain[i].T, out=into[i])
                else:
                    torch.addmm(b[i], xs[i], plain[i].T, out=into[i])
            return into
        packed = isinstance(w, Weights) and rows == w.rows
        weights = w.packed() if packed else plain
        op, bias = torch.ops.mkldnn._linear_pointwise, [None] * g if b is None else b
        parts = [op(xs[i], weights[i], bias[i], "none", [], "") for i in range(g)]
        return torch.stack(parts, out=target)

    key = ("linear", g, min(m, MEASURE_ROWS + 1), k, n, b is not None, x.dtype)
    return run(choose(key, run, m), m, out)


def add_batched_linear_(acc: Tensor, x: Tensor, w: Tensor | Weights) -> Tensor:
    """acc (G, M, N) += x_g w_g^T for x (G, M, K), w (G, N, K) or `Weights`; returns acc.
    An accumulator of another dtype than x's (float32 for bfloat16 products) is added to."""
    if acc.dtype != x.dtype:
        return acc.add_(batched_linear(x, w))
    plain = w.plain if isinstance(w, Weights) else w
    if not _onednn(x):
        return acc.baddbmm_(x, plain.transpose(1, 2))
    g, m, k = x.shape

    def run(library: str, rows: int, target: Tensor | None = None) -> Tensor:
        xs, into = (x, acc) if target is not None else (x[:, :rows], acc[:, :rows].clone())
        if library == "bmm":
            return into.baddbmm_(xs, plain.transpose(1, 2))
        if library == "mm":
            for i in range(g):
                into[i].addmm_(xs[i], plain[i].T)
            return into
        packed = isinstance(w, Weights) and rows == w.rows
        weights = w.packed() if packed else plain
        op = torch.ops.mkldnn._linear_pointwise.binary
        parts = [op(xs[i], into[i], weights[i], None, "add") for i in range(g)]
        return torch.stack(parts, out=into)

    key = ("add", g, min(m, MEASURE_ROWS + 1), k, plain.shape[1], x.dtype)
    return run(choose(key, run, m), m, acc)


def batched_at_b(a: Tensor, b: Tensor) -> Tensor:
    """a (G, R, M), b (G, R, N) -> a_g^T b_g for every g, (G, M, N) (weight gradients)."""
    g, r, m = a.shape
    if not _onednn(a) or r == 0:  # (oneDNN has no product over 0 rows: a 1-frame clip's W_hh)
        return torch.bmm(a.transpose(1, 2), b)

    def run(library: str, rows: int) -> Tensor:
        a_, b_ = (a, b) if rows == r else (a[:, :rows], b[:, :rows])
        if library == "bmm":
            return torch.bmm(a_.transpose(1, 2), b_)
        if library == "mm":
            out = a.new_empty((g, m, b.shape[2]))
            for i in range(g):
                torch.mm(a_[i].T, b_[i], out=out[i])
            return out
        # oneDNN copies a transposed first operand, so b (the narrower here) goes first
        return torch.stack([linear(b_[i].T, a_[i].T).T for i in range(g)])

    key = ("at_b", g, min(r, MEASURE_ROWS + 1), m, b.shape[2], a.dtype)
    return run(choose(key, run, r), r)


def _bmm_linear(x: Tensor, w: Tensor, b: Tensor | None, out: Tensor | None) -> Tensor:
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
