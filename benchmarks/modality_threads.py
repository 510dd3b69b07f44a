"""Would running the modalities' encoders side by side speed up a CPU step? (issue 5, open)

The three modalities' encoders are independent until the loss. PyTorch's CPU GRU splits each
small per-frame matrix product over the intra-op threads; the alternative measured here gives
every modality its own Python thread with one intra-op thread each (PyTorch releases the GIL
inside its kernels). Work per modality: the key encoder forward (no grad), then the query
encoder forward and backward, at the benchmark step's sizes (batch 64, 64 frames, hidden 256,
3 layers, the `gru` encoder). The variants alternate, median of `--repeats` each.

    python benchmarks/modality_threads.py [--hidden 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import torch

from skelcmd.encoders.gru import ForwardPairGRU
from skelcmd.skeleton import NTU25

MODALITIES = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    cores = torch.get_num_threads()

    def encoder() -> ForwardPairGRU:
        return ForwardPairGRU(NTU25, 2, 3, hidden=args.hidden, num_layers=3)

    queries = [encoder() for _ in range(MODALITIES)]
    keys = [encoder() for _ in range(MODALITIES)]
    inputs = [torch.randn(64, 3, 64, 25, 2) for _ in range(MODALITIES)]

    def modality(i: int) -> None:
        with torch.no_grad():
            keys[i](inputs[i])
        queries[i](inputs[i]).square().sum().backward()

    def sequential() -> None:
        torch.set_num_threads(cores)
        for i in range(MODALITIES):
            modality(i)

    def side_by_side() -> None:
        torch.set_num_threads(1)
        threads = [threading.Thread(target=modality, args=(i,)) for i in range(MODALITIES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    variants = {
        f"one after another, {cores} intra-op threads": sequential,
        f"side by side, {MODALITIES} threads x 1 intra-op thread": side_by_side,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    torch.set_num_threads(cores)
    print(f"{MODALITIES} GRU encoders (hidden {args.hidden}), key forward + query forward/backward")
    for name, values in times.items():
        print(f"{name:45s} {statistics.median(values):.3f} s (min {min(values):.3f})")
    first, second = (statistics.median(v) for v in times.values())
    print(f"side by side: {first / second:.2f}x")


if __name__ == "__main__":
    main()
