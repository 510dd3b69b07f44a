"""Side-by-side threads: results in order, thread counts, errors, and gradients equal to plain
sequential autograd."""

import threading
import time

import pytest
import torch
from torch import nn

from skelcmd.side_by_side import run_side_by_side, side_by_side_outputs
from threads import intra_op_threads


@pytest.fixture
def four_threads():
    with intra_op_threads(4):
        yield


@pytest.fixture
def one_thread():
    """Every kernel single-threaded, in the threads as in the plain run: equal bit for bit."""
    with intra_op_threads(1):
        yield


def test_results_in_order_from_distinct_threads_with_a_share_of_the_cores(four_threads):
    def task(i):
        time.sleep(0.01 * (3 - i))  # finish in reverse order
        return i, threading.get_ident(), torch.get_num_threads(), torch.ones(64, 64).sum().item()

    out = run_side_by_side([lambda i=i: task(i) for i in range(3)])
    assert [o[0] for o in out] == [0, 1, 2]
    assert len({o[1] for o in out} | {threading.get_ident()}) == 4
    assert [o[2] for o in out] == [1, 1, 1]  # 4 cores // 3 tasks
    assert [o[3] for o in out] == [4096.0] * 3
    assert torch.get_num_threads() == 4  # restored
    two = run_side_by_side([torch.get_num_threads, torch.get_num_threads])
    assert two == [2, 2]


def test_the_tasks_overlap_in_time():
    barrier = threading.Barrier(3, timeout=10)  # would time out if they ran one by one
    assert sorted(run_side_by_side([barrier.wait] * 3)) == [0, 1, 2]


def test_an_error_is_raised_after_every_thread_finished(four_threads):
    done = []

    def slow():
        time.sleep(0.05)
        done.append(True)

    def fails():
        raise ValueError("task 1 broke")

    with pytest.raises(ValueError, match="task 1 broke"):
        run_side_by_side([slow, fails, slow])
    assert done == [True, True] and torch.get_num_threads() == 4


def test_the_callers_grad_mode_holds_in_the_threads():
    with torch.no_grad():
        assert run_side_by_side([torch.is_grad_enabled] * 2) == [False, False]
    assert run_side_by_side([torch.is_grad_enabled] * 2) == [True, True]


def test_a_single_task_runs_in_the_calling_thread():
    assert run_side_by_side([threading.get_ident]) == [threading.get_ident()]
    assert run_side_by_side([]) == []


def branches(seed=0):
    torch.manual_seed(seed)
    return [
        nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 4))
        for _ in range(3)
    ]


def loss_of(outputs, target):
    """A loss that mixes the outputs, like InfoNCE + CMD across modalities."""
    stacked = torch.stack(outputs)
    return ((stacked - target) ** 2).sum() + (stacked[0] * stacked[2]).sum() * stacked[1].mean()


@pytest.mark.parametrize("steps", [1, 3])
def test_gradients_and_statistics_equal_plain_autograd(steps, one_thread):
    inputs = [torch.randn(8, 6, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    target = torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(9))
    plain, threaded = branches(), branches()
    opt_plain = torch.optim.SGD([p for b in plain for p in b.parameters()], lr=0.1)
    opt_threaded = torch.optim.SGD([p for b in threaded for p in b.parameters()], lr=0.1)
    for _ in range(steps):
        reference = loss_of([b(x) for b, x in zip(plain, inputs, strict=True)], target)
        tasks = [lambda b=b, x=x: b(x) for b, x in zip(threaded, inputs, strict=True)]
        params = [p for b in threaded for p in b.parameters()]
        outputs = side_by_side_outputs(tasks, params)
        assert all(o.requires_grad for o in outputs)
        loss = loss_of(outputs, target)
        assert torch.equal(loss, reference)
        for opt, value in ((opt_plain, reference), (opt_threaded, loss)):
            opt.zero_grad()
            value.backward()
            opt.step()
    for a, b in zip(plain, threaded, strict=True):
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            assert torch.equal(p.grad, q.grad) and torch.equal(p, q), name
        for x, y in zip(a.buffers(), b.buffers(), strict=True):
            assert torch.equal(x, y)


def test_without_grad_the_outputs_are_plain_tensors():
    nets = branches()
    tasks = [lambda b=b: b(torch.randn(4, 6)) for b in nets]
    params = [p for b in nets for p in b.parameters()]
    with torch.no_grad():
        assert not any(o.requires_grad for o in side_by_side_outputs(tasks, params))
    for p in params:
        p.requires_grad_(False)
    assert not any(o.requires_grad for o in side_by_side_outputs(tasks, params))


def test_a_second_backward_is_refused():
    nets = branches()
    tasks = [lambda b=b: b(torch.randn(4, 6)) for b in nets]
    loss = torch.stack(side_by_side_outputs(tasks, [p for b in nets for p in b.parameters()]))
    loss = loss.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="twice"):
        loss.backward()
