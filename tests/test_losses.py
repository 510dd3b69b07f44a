"""InfoNCE and CMD against plain, slow versions written with Python loops and float64."""

import math

import pytest
import torch
import torch.nn.functional as F

from skelcmd.errors import UserError
from skelcmd.losses import CMDLossConfig, cmd_loss, info_nce


def unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def dot(u, v):
    return float(u.double() @ v.double())


def log_softmax(values):
    top = max(values)
    lse = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - lse for v in values]


def plain_info_nce(q, k, queue, t):
    losses = []
    for n in range(len(q)):
        logits = [dot(q[n], k[n]) / t] + [dot(q[n], slot) / t for slot in queue]
        losses.append(-log_softmax(logits)[0])
    return sum(losses) / len(losses)


def plain_kl(keys, queries, queues, topk, t_t, t_s):
    p, n, _ = keys.shape
    terms = {}
    for a in range(p):
        for b in range(p):
            if a == b:
                continue
            rows = []
            for i in range(n):
                s_t = [dot(keys[a, i], slot) for slot in queues[a]]
                index = sorted(range(len(s_t)), key=lambda j: -s_t[j])[:topk]
                log_pt = log_softmax([s_t[j] / t_t for j in index])
                log_ps = log_softmax([dot(queries[b, i], queues[b, j]) / t_s for j in index])
                rows.append(
                    sum(math.exp(lt) * (lt - ls) for lt, ls in zip(log_pt, log_ps, strict=True))
                )
            terms[f"{a}->{b}"] = sum(rows) / n
    return terms


def plain_positive_mining(keys, queries, queues, t_s):
    p, n, _ = keys.shape
    terms = {}
    for a in range(p):
        for b in range(p):
            if a == b:
                continue
            rows = []
            for i in range(n):
                s_t = [dot(keys[a, i], slot) for slot in queues[a]]
                j_star = max(range(len(s_t)), key=lambda j: s_t[j])
                logits = [dot(queries[b, i], keys[b, i]) / t_s]
                logits += [dot(queries[b, i], slot) / t_s for slot in queues[b]]
                log_p = log_softmax(logits)
                rows.append(-0.5 * log_p[0] - 0.5 * log_p[1 + j_star])
            terms[f"{a}->{b}"] = sum(rows) / n
    return terms


def test_info_nce_matches_plain_loop():
    q, k, queue = unit(5, 8, seed=1), unit(5, 8, seed=2), unit(7, 8, seed=3)
    loss, logits = info_nce(q, k, queue, 0.07)
    assert logits.shape == (5, 8) and logits.dtype == torch.float32
    assert loss.item() == pytest.approx(plain_info_nce(q, k, queue, 0.07), rel=1e-5)
    assert torch.allclose(logits[:, 0], (q * k).sum(1) / 0.07)


def test_info_nce_runs_in_float32_for_low_precision_inputs():
    q, k, queue = unit(4, 8, seed=1), unit(4, 8, seed=2), unit(6, 8, seed=3)
    loss, logits = info_nce(q.bfloat16(), k.bfloat16(), queue.bfloat16(), 0.07)
    assert loss.dtype == logits.dtype == torch.float32
    reference = plain_info_nce(q.bfloat16().float(), k.bfloat16().float(), queue.bfloat16(), 0.07)
    assert loss.item() == pytest.approx(reference, rel=1e-5)


def test_info_nce_gradient_reaches_only_the_query():
    q, k, queue = (t.requires_grad_() for t in (unit(4, 8), unit(4, 8, seed=5), unit(6, 8)))
    info_nce(q, k, queue, 0.07)[0].backward()
    assert q.grad is not None and k.grad is None and queue.grad is None


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("topk", [3, 10])
def test_cmd_kl_matches_plain_loop(p, topk):
    keys, queries, queues = unit(p, 4, 6, seed=1), unit(p, 4, 6, seed=2), unit(p, 10, 6, seed=3)
    total, pairs = cmd_loss(keys, queries, queues, topk, 0.05, 0.1)
    expected = plain_kl(keys, queries, queues, topk, 0.05, 0.1)
    assert list(pairs) == list(expected)  # ordered pairs, teacher-major
    assert len(pairs) == p * (p - 1)
    for name, value in expected.items():
        assert pairs[name].item() == pytest.approx(value, rel=1e-4, abs=1e-6)
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-4, abs=1e-6)
    if p == 1:
        assert total.item() == 0.0


def test_cmd_pair_names():
    keys, queries, queues = unit(3, 2, 4, seed=1), unit(3, 2, 4, seed=2), unit(3, 8, 4, seed=3)
    _, pairs = cmd_loss(keys, queries, queues, 4, 0.05, 0.1, names=["joint", "motion", "bone"])
    assert list(pairs) == [
        "joint->motion", "joint->bone", "motion->joint",
        "motion->bone", "bone->joint", "bone->motion",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["kl", "positive-mining"])
def test_cmd_gradient_reaches_only_the_students(mode):
    keys = unit(3, 4, 6, seed=1).requires_grad_()
    queries = unit(3, 4, 6, seed=2).requires_grad_()
    queues = unit(3, 10, 6, seed=3).requires_grad_()
    total, _ = cmd_loss(keys, queries, queues, 5, 0.05, 0.1, mode=mode)
    total.backward()
    assert keys.grad is None and queues.grad is None
    assert queries.grad is not None and queries.grad.abs().sum() > 0


def test_cmd_kl_is_zero_when_student_logits_are_the_scaled_teacher_logits():
    t_t, t_s = 0.05, 0.1
    keys = unit(1, 4, 6, seed=1).expand(3, 4, 6)  # the same keys and queue in every stream
    queues = unit(1, 10, 6, seed=3).expand(3, 10, 6)
    queries = keys * (t_s / t_t)  # then q_b·Q_b / t_s == k_a·Q_a / t_t for every pair
    total, pairs = cmd_loss(keys, queries, queues, 7, t_t, t_s)
    assert all(abs(term.item()) < 1e-5 for term in pairs.values())
    assert abs(total.item()) < 1e-4


@pytest.mark.parametrize("p", [1, 2, 3])
def test_cmd_positive_mining_matches_plain_loop(p):
    keys, queries, queues = unit(p, 4, 6, seed=1), unit(p, 4, 6, seed=2), unit(p, 10, 6, seed=3)
    total, pairs = cmd_loss(keys, queries, queues, 3, 0.05, 0.1, mode="positive-mining")
    expected = plain_positive_mining(keys, queries, queues, 0.1)
    assert list(pairs) == list(expected)
    for name, value in expected.items():
        assert pairs[name].item() == pytest.approx(value, rel=1e-5)
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-5, abs=1e-7)


def test_cmd_ignores_autocast():
    keys, queries, queues = unit(3, 4, 6, seed=1), unit(3, 4, 6, seed=2), unit(3, 10, 6, seed=3)
    reference, _ = cmd_loss(keys, queries, queues, 5, 0.05, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, _ = cmd_loss(keys, queries, queues, 5, 0.05, 0.1)
        loss, _ = info_nce(queries[0], keys[0], queues[0], 0.07)
    assert total.dtype == loss.dtype == torch.float32
    assert torch.allclose(total, reference, rtol=1e-6)


def test_cmd_topk_larger_than_queue_is_a_user_error():
    keys, queries, queues = unit(2, 4, 6), unit(2, 4, 6), unit(2, 10, 6)
    with pytest.raises(UserError, match=r"cmd\.topk=11 exceeds the queue size K=10"):
        cmd_loss(keys, queries, queues, 11, 0.05, 0.1)


@pytest.mark.parametrize(
    "kwargs", [{"mode": "crossclr"}, {"weight": -1.0}, {"topk": 0}, {"t_teacher": 0.0}]
)
def test_cmd_config_rejects_bad_values(kwargs):
    with pytest.raises(UserError):
        CMDLossConfig(**kwargs)


def test_cmd_config_defaults_are_the_papers():
    cfg = CMDLossConfig()
    assert (cfg.weight, cfg.topk, cfg.t_teacher, cfg.t_student, cfg.mode) == (
        1.0, 8192, 0.05, 0.1, "kl"
    )  # fmt: skip


def test_shared_queue_similarities_give_the_same_losses_and_gradients():
    from skelcmd.losses import queue_similarities

    torch.manual_seed(4)
    p, n, k, d = 3, 5, 40, 8
    keys = F.normalize(torch.randn(p, n, d), dim=-1)
    queues = F.normalize(torch.randn(p, k, d), dim=-1)
    results = []
    for shared in (False, True):
        q = F.normalize(torch.randn(p, n, d, generator=torch.Generator().manual_seed(5)), dim=-1)
        q.requires_grad_(True)
        sims = queue_similarities(q, queues) if shared else None
        total = sum(
            info_nce(q[i], keys[i], queues[i], 0.07, None if sims is None else sims[i])[0]
            for i in range(p)
        )
        cmd, _ = cmd_loss(keys, q, queues, 10, 0.05, 0.1, student_similarities=sims)
        (total + cmd).backward()
        results.append((total.detach(), cmd.detach(), q.grad.clone()))
    for plain, shared in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(plain, shared)
