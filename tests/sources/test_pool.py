"""The importers' process pools (`skelcmd.sources.pool`)."""

import signal
from contextlib import ExitStack

import pytest

from skelcmd.errors import UserError
from skelcmd.sources import pool

_STARTED = []


def _mark_started():
    _STARTED.append(True)


def _worker_state(_):
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, bool(_STARTED)


def test_workers_end_on_sigterm_by_default_and_run_the_initializer():
    # A worker that kept the parent's Python SIGTERM handler could miss the pool's terminate
    # (flagged, not acted on, while blocked on the queue's lock) and hang the pool's join.
    before = signal.getsignal(signal.SIGTERM)
    with ExitStack() as stack:
        workers = pool.start_pool(stack, 2, _mark_started)
        assert signal.getsignal(signal.SIGTERM) is before  # the parent's handler is back
        assert workers.map(_worker_state, range(4)) == [(True, True)] * 4


def test_bounded_workers_refuses_zero_and_caps_at_the_cpus(capsys):
    with pytest.raises(UserError, match="at least 1"):
        pool.bounded_workers(0)
    assert pool.bounded_workers(10_000) < 10_000
    assert "more than the" in capsys.readouterr().err
