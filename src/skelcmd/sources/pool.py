"""The process pools the importers parse their files in: how many workers (`bounded_workers`),
a pool that a SIGTERM cannot break while it forks (`start_pool`), and a worker set-up that
keeps glibc from returning freed memory to the OS per file (`keep_freed_memory`)."""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack

from skelcmd.errors import UserError


def bounded_workers(workers: int) -> int:
    """`--workers` checked (at least 1) and capped at the CPUs this process may use, saying
    so on stderr: every importer's pool is sized here."""
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}.")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    if workers > cpus:
        print(f"skelcmd: --workers {workers} is more than the {cpus} CPUs this process may use; "
              f"using {cpus}.", file=sys.stderr)  # fmt: skip
    return min(workers, cpus)


def start_pool(
    stack: ExitStack, workers: int, initializer: Callable[[], None] | None = None
) -> multiprocessing.pool.Pool:
    """A pool of `workers` processes, closed with `stack`. A SIGTERM that comes while it forks
    is held back (acting inside fork's locks, it was lost or deadlocked the next fork) and
    acts as soon as the pool stands, so the run stops and `stack` terminates the workers.

    Each worker first puts SIGTERM back to the default action (`_start_worker`), then runs
    `initializer`. A worker that kept a Python handler could miss the pool's own SIGTERM at its
    end: a Python handler only flags the signal, and one arriving just before the worker
    blocks on the task queue's lock left it waiting there for ever, and the pool's `join` with
    it (seen once in the test suite)."""
    parent, held = os.getpid(), []

    def hold(signum: int, frame: object) -> None:
        if os.getpid() != parent:  # a new worker: end at once, as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        held.append(signum)

    def pool() -> multiprocessing.pool.Pool:
        context = multiprocessing.get_context()
        return stack.enter_context(context.Pool(workers, _start_worker, (initializer,)))

    try:
        previous = signal.signal(signal.SIGTERM, hold)
    except ValueError:  # not the main thread, where no signal handler runs
        return pool()
    try:
        return pool()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if held:
            os.kill(parent, signal.SIGTERM)


def _start_worker(initializer: Callable[[], None] | None) -> None:
    """A pool worker's set-up: SIGTERM ends it at once, by the kernel (see `start_pool`)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer()


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the OS at once.

    Per file, the parser's numpy temporaries are around 1 MB; by default glibc maps each
    afresh and pays a page fault per 4 KB, about a third of the parsing time. Elsewhere a
    no-op.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
