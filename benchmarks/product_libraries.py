"""The batched GRU recurrence's matrix products in each library, at the step benchmark's sizes.

Every product of `skelcmd.encoders.recurrence` is G independent products of one shape, and
`skelcmd.encoders.kernels` computes them in oneDNN (one call per group), `bmm` (PyTorch's
batched product, MKL in float32) or `mm` (PyTorch's product once per group, MKL in float32),
choosing per shape by measurement. This prints, for each kind and shape that a pretraining
step at hidden 256 (batch 64, 64 frames, 3 modalities) runs, the speed of each library and
the one `kernels.choose` picks, so the choice can be checked on a new CPU:

    python -m benchmarks.product_libraries [--hidden 256] [--dtype float32|bfloat16]

Times are the best of `--rounds` rounds of calls back to back, one library after another.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from skelcmd.encoders import kernels

BATCH, FRAMES, PAIRS = 64, 64, 3  # the step benchmark's batch and frames; 3 modalities


Shape = tuple[str, int, int, int, int]  # kind, G, rows, inner, columns


def shapes(hidden: int, inputs: int = 150) -> list[Shape]:
    """The products of one step's recurrences, as `recurrence._PairLayer` makes them: per
    layer input the projections over all frames (`linear`), dL/dW_ih (`at_b`) and dL/dx
    (`dx`: W_ih transposed in place, no bias); per frame the recurrent products forward
    (`linear`) and backward (`add`); and dL/dW_hh (`at_b`)."""
    rows, three = BATCH * FRAMES, 3 * hidden
    out: list[Shape] = []
    for i in sorted({inputs, 2 * hidden}):
        out += [
            ("linear", PAIRS, rows, i, 2 * three),
            ("at_b", PAIRS, rows, 2 * three, i),
            ("dx", PAIRS, rows, 2 * three, i),
        ]
    out += [
        ("linear", 2 * PAIRS, BATCH, hidden, three),
        ("add", 2 * PAIRS, BATCH, three, hidden),
        ("at_b", 2 * PAIRS, rows - BATCH, three, hidden),
    ]
    return out


def product(shape: Shape, dtype: torch.dtype) -> Callable[[], object]:
    """One call of the product `shape` on random operands laid out as the recurrence's."""
    kind, g, rows, inner, columns = shape
    x = torch.randn(g, rows, inner, dtype=dtype)
    if kind == "dx":
        w = torch.randn(g, inner, columns, dtype=dtype).transpose(1, 2)
        return lambda: kernels.batched_linear(x, w)
    if kind == "linear":
        w, b = torch.randn(g, columns, inner, dtype=dtype), torch.randn(g, columns, dtype=dtype)
        out = torch.empty(g, rows, columns, dtype=dtype)
        return lambda: kernels.batched_linear(x, w, b, out=out)
    if kind == "add":
        w, acc = torch.randn(g, columns, inner, dtype=dtype), torch.zeros(g, rows, columns)
        return lambda: kernels.add_batched_linear_(acc.to(dtype), x, w)
    other = torch.randn(g, rows, columns, dtype=dtype)
    return lambda: kernels.batched_at_b(x, other)


def seconds(call: Callable[[], object], repeats: int, rounds: int) -> float:
    call()  # warm-up
    best = float("inf")
    for _ in range(rounds):
        tick = time.perf_counter()
        for _ in range(repeats):
            call()
        best = min(best, (time.perf_counter() - tick) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    print(
        f"products of one pretraining step's GRU recurrences: hidden {args.hidden}, batch "
        f"{BATCH}, {FRAMES} frames, {args.dtype}, torch threads {torch.get_num_threads()}; "
        f"GFLOP/s, best of {args.rounds} rounds"
    )
    libraries = kernels.LIBRARIES
    header = "".join(f"{name:>9s}" for name in libraries)
    print(f"{'kind':7s} {'G x rows x inner x columns':28s}{header}")
    for shape in shapes(args.hidden):
        kind, g, rows, inner, columns = shape
        flops = 2 * g * rows * inner * columns
        repeats = max(1, min(200, int(2e9 / flops)))  # about 2 GFLOP of calls a round
        speed = {}
        for library in libraries:
            with kernels.using(library):
                speed[library] = flops / seconds(product(shape, dtype), repeats, args.rounds) / 1e9
        before = set(kernels.chosen())
        product(shape, dtype)()  # its first call measures its library, as in training
        picked = [v for k, v in kernels.chosen().items() if k not in before] or ["-"]
        size = f"{g} x {rows} x {inner} x {columns}"
        cells = "".join(f"{speed[n]:9.1f}" for n in libraries)
        print(f"{kind:7s} {size:28s}{cells}   chosen: {picked[0]}")


if __name__ == "__main__":
    main()
