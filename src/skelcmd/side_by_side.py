"""Independent CPU work side by side: one Python thread per task, a share of the cores each.

PyTorch splits every CPU kernel over its intra-op threads, which pays poorly for the small
matrix products of a recurrent step (64 x 256 by 256 x 768 per frame at the benchmark's
sizes). The modalities' encoders are independent until the loss, so on the CPU they can run
concurrently instead: each task in its own thread with `cores // tasks` intra-op threads
(at least one). PyTorch releases the GIL inside its kernels, so the threads really overlap.
`benchmarks/pretrain_step.py` measures the gain (its `one-by-one` variant turns this off).

- `run_side_by_side(tasks)` runs callables and returns their results in order;
- `side_by_side_outputs(tasks, params)` does the same for computations that need gradients:
  the forward passes run side by side now, and their backward passes run side by side when
  the caller's `loss.backward()` reaches them, accumulating into the parameters' `.grad`.

Each task must touch only its own modules (one modality's encoder): the threads share no
state but the process-wide thread count, which is restored when they finish. Results are
deterministic as long as the tasks draw no random numbers (the order of draws from the
shared generator would depend on the threads' timing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import torch
from torch import Tensor

__all__ = ["run_side_by_side", "side_by_side_outputs"]

T = TypeVar("T")


def run_side_by_side(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run `tasks` concurrently, one thread each; return their results in the tasks' order.

    The caller's grad mode holds in every thread. The first task's exception, if any, is
    raised here once all threads have finished. A single task runs in the calling thread.
    """
    if len(tasks) <= 1:
        return [task() for task in tasks]
    cores = torch.get_num_threads()
    grad_enabled = torch.is_grad_enabled()
    results: list[T | None] = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)

    def work(i: int) -> None:
        try:
            with torch.set_grad_enabled(grad_enabled):
                results[i] = tasks[i]()
        except BaseException as exc:  # re-raised in the calling thread
            errors[i] = exc

    threads = [
        threading.Thread(target=work, args=(i,), name=f"skelcmd-side-by-side-{i}", daemon=True)
        for i in range(len(tasks))
    ]
    # A new thread takes the process-wide count at its first parallel kernel.
    torch.set_num_threads(max(1, cores // len(tasks)))
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        torch.set_num_threads(cores)
    for exc in errors:
        if exc is not None:
            raise exc
    return results  # type: ignore[return-value]


class _SideBySide(torch.autograd.Function):
    """Outputs of independent graphs computed side by side; their backward passes likewise.

    `params` are the parameters the tasks use: they make the outputs require gradients, but
    their gradients arrive by accumulation in the inner backward passes, not through here.
    """

    @staticmethod
    def forward(ctx, tasks: Sequence[Callable[[], Tensor]], *params: Tensor) -> tuple[Tensor, ...]:
        with torch.enable_grad():
            outputs = run_side_by_side(tasks)
        ctx.outputs = outputs
        ctx.num_params = len(params)
        return tuple(out.detach() for out in outputs)

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[None, ...]:
        outputs, ctx.outputs = ctx.outputs, None
        if outputs is None:
            raise RuntimeError("side-by-side outputs were backpropagated through twice")
        jobs = [
            partial(torch.autograd.backward, out, grad)
            for out, grad in zip(outputs, grads, strict=True)
            if out.requires_grad
        ]
        run_side_by_side(jobs)
        return (None,) * (1 + ctx.num_params)


def side_by_side_outputs(
    tasks: Sequence[Callable[[], Tensor]], params: Sequence[Tensor]
) -> list[Tensor]:
    """The tensors `tasks` return, computed side by side, with backward passes side by side.

    `params`: every tensor requiring gradients that the tasks use. Differentiable once, for
    `loss.backward()` (not for `torch.autograd.grad`, which would see no gradient for
    `params`). Under `torch.no_grad()`, or if no parameter requires gradients, this is
    `run_side_by_side(tasks)`.
    """
    params = [p for p in params if p.requires_grad]
    if not torch.is_grad_enabled() or not params:
        return run_side_by_side(tasks)
    return list(_SideBySide.apply(tasks, *params))
