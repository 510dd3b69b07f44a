"""FeatureQueue (lockstep, wrap-around, errors) and the momentum update against plain formulas."""

import pytest
import torch
from torch import nn

from skelcmd.errors import UserError
from skelcmd.queue import FeatureQueue, momentum_update


def test_queue_starts_with_unit_vectors_at_slot_zero():
    queue = FeatureQueue(3, 8, 5)
    assert queue.features.shape == (3, 8, 5)
    assert (queue.num_streams, queue.size, queue.dim) == (3, 8, 5)
    assert torch.allclose(queue.features.norm(dim=-1), torch.ones(3, 8))
    assert queue.ptr.dtype == torch.long and int(queue.ptr) == 0
    assert set(queue.state_dict()) == {"features", "ptr"}  # saved with checkpoints


def test_queue_matches_a_plain_ring_buffer_and_stays_in_lockstep():
    p, k, b, d = 3, 6, 2, 4
    queue = FeatureQueue(p, k, d)
    plain = [[queue.features[s, i].clone() for i in range(k)] for s in range(p)]
    pointer = 0
    for step in range(5):  # 10 keys into 6 slots: wraps around once
        keys = torch.randn(p, b, d)
        queue.push(keys)
        for s in range(p):
            for i in range(b):
                plain[s][(pointer + i) % k] = keys[s, i]
        pointer = (pointer + b) % k
        assert int(queue.ptr) == pointer, step
        for s in range(p):
            assert torch.equal(queue.features[s], torch.stack(plain[s]))
    # slot i of every stream was written by the same push, at the same row of the batch
    last = torch.randn(p, b, d)
    queue.push(last)
    slots = [(pointer + i) % k for i in range(b)]
    assert torch.equal(queue.features[:, slots], last)


def test_queue_wraps_around_to_slot_zero():
    queue = FeatureQueue(2, 4, 3)
    batches = [torch.full((2, 2, 3), float(i)) for i in range(3)]
    for keys in batches:
        queue.push(keys)
    assert int(queue.ptr) == 2
    assert torch.equal(queue.features[:, :2], batches[2])  # overwrote the oldest
    assert torch.equal(queue.features[:, 2:], batches[1])


def test_queue_size_must_be_a_multiple_of_the_global_batch():
    queue = FeatureQueue(2, 6, 3)
    with pytest.raises(UserError, match=r"K=6 must be a multiple of the global batch size B=4"):
        queue.push(torch.randn(2, 4, 3))
    assert int(queue.ptr) == 0


def test_queue_rejects_keys_of_the_wrong_shape():
    queue = FeatureQueue(2, 6, 3)
    with pytest.raises(ValueError, match="do not fit"):
        queue.push(torch.randn(3, 2, 3))
    with pytest.raises(UserError):
        FeatureQueue(0, 6, 3)


def test_queue_casts_low_precision_keys_and_detaches():
    queue = FeatureQueue(1, 4, 3)
    keys = torch.randn(1, 2, 3, requires_grad=True)
    queue.push(keys.bfloat16())
    assert queue.features.dtype == torch.float32 and not queue.features.requires_grad
    assert torch.equal(queue.features[:, :2], keys.detach().bfloat16().float())


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))


def test_momentum_update_matches_the_formula_and_leaves_buffers_alone():
    online, target = net(), net()
    target(torch.randn(8, 4))  # the target's own BatchNorm running statistics
    online(torch.randn(8, 4))  # and the online network's, which must not be copied
    before = {name: t.clone() for name, t in target.named_parameters()}
    buffers = {name: t.clone() for name, t in target.named_buffers()}
    m = 0.9
    momentum_update(online, target, m)
    for name, o in online.named_parameters():
        expected = m * before[name] + (1 - m) * o.detach()
        assert torch.allclose(dict(target.named_parameters())[name], expected, atol=1e-7)
    for name, t in target.named_buffers():
        assert torch.equal(t, buffers[name]), name
    momentum_update(online, target, 0.0)  # m = 0 copies
    assert all(
        torch.equal(o, t) for o, t in zip(online.parameters(), target.parameters(), strict=True)
    )


def test_momentum_update_keeps_gradients_out():
    online, target = net(), net()
    target.requires_grad_(False)
    momentum_update(online, target, 0.99)
    assert all(p.grad_fn is None and not p.requires_grad for p in target.parameters())


def test_momentum_update_rejects_different_networks():
    with pytest.raises(ValueError):
        momentum_update(net(), nn.Sequential(nn.Linear(4, 5)), 0.9)
