"""Whole pretraining steps of skelcmd against a plain, literal version of the reference's.

The reference side is written here the way the authors' `moco/builder_cmd.py` and
`pretrain_moco_cmd.py` compute a step: three modality streams made by hand (motion by frame
differences, bone from the 1-indexed pair list), six encoders (BatchNorm over the per-frame
vector, a bidirectional GRU fed one frame at a time with the state carried, the MLP head in
`fc`), the EMA of every key encoder's parameters, three InfoNCE losses, six KL terms each
computed on its own, the enqueue into three queues and an SGD step with the recipe's values.
skelcmd's side is the model as `skelcmd.build_model` makes it, started from the same
weights (the reference's state dict through `skelcmd.convert`) and stepped as training does.
After three steps on the same fixed views, every parameter and buffer must agree, the key
encoders' BatchNorm running statistics included (each tracks its own, as in the reference).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skelcmd.config import load_config
from skelcmd.convert import convert_reference_state_dict
from skelcmd.model import build_model
from skelcmd.skeleton import NTU25
from tests.helpers.threads import intra_op_threads

N, T, V, M = 8, 12, 25, 2
HIDDEN, LAYERS, DIM, K, TOPK = 16, 2, 128, 16, 8  # K = 2 batches: the queue wraps at step 3
INPUT = 3 * V * M
# The paper's values. MoCo's momentum is lowered from 0.999 to 0.9 on both sides only so that
# three EMA steps move the key encoders by far more than the tolerance.
TEMPERATURE, T_TEACHER, T_STUDENT, CMD_WEIGHT, EMA = 0.07, 0.05, 0.1, 1.0, 0.9
LR, SGD_MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 1e-4
STEPS, TOLERANCE = 3, 1e-5
OVERRIDES = [
    "model.encoder=gru",
    f"model.encoder_args={{hidden: {HIDDEN}, num_layers: {LAYERS}}}",
    f"model.queue_size={K}",
    f"cmd.topk={TOPK}",
    f"model.momentum={EMA}",
]
# The reference's bone list, 1-indexed (v, parent(v)), as docs/method.md#modalities gives it.
BONES = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12),
]  # fmt: skip
STREAMS = {"": "joint", "_motion": "motion", "_bone": "bone"}  # reference suffix -> modality


class RefBIGRU(nn.Module):
    """The reference's encoder with its head: input_norm, encoder.gru, fc (reference names)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.gru = nn.GRU(INPUT, HIDDEN, LAYERS, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * HIDDEN, DIM)
        self.input_norm = nn.BatchNorm1d(INPUT)
        with torch.no_grad():  # the reference's init: xavier on every 2-D weight of a child
            for child in self.children():
                for p in child.parameters():
                    if p.dim() == 2:
                        nn.init.xavier_uniform_(p)
        d = 2 * HIDDEN  # then the MLP head wraps fc
        self.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), self.fc)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, T, I) -> (N, DIM): BatchNorm, then the GRU one frame at a time, last output."""
        frames = self.input_norm(frames.permute(0, 2, 1)).permute(0, 2, 1)
        outputs, hidden = [], None
        for t in range(frames.shape[1]):
            out, hidden = self.encoder.gru(frames[:, t : t + 1], hidden)
            outputs.append(out)
        return self.fc(torch.cat(outputs, dim=1)[:, -1])


class RefMoCo(nn.Module):
    """encoder_{q,k}{s}, queue{s} (DIM, K) and queue_ptr{s} (1,) per stream suffix s."""

    def __init__(self) -> None:
        super().__init__()
        for s in STREAMS:
            setattr(self, f"encoder_q{s}", RefBIGRU())
            setattr(self, f"encoder_k{s}", RefBIGRU())
        for s in STREAMS:
            for q, k in self.pairs(s):
                k.data.copy_(q.data)
                k.requires_grad = False
            self.register_buffer(f"queue{s}", F.normalize(torch.randn(DIM, K), dim=0))
            self.register_buffer(f"queue_ptr{s}", torch.zeros(1, dtype=torch.long))

    def enc(self, role: str, s: str) -> RefBIGRU:
        return getattr(self, f"encoder_{role}{s}")

    def pairs(self, s: str):
        """(query, key) parameters of stream s, in order."""
        q, k = self.enc("q", s), self.enc("k", s)
        return zip(q.parameters(), k.parameters(), strict=True)


def ref_streams(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N, C, T, V, M) -> per suffix the (N, T, V * C * M) frames of joint, motion, bone."""
    motion = torch.zeros_like(x)
    motion[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    bone = torch.zeros_like(x)
    for v1, v2 in BONES:
        bone[:, :, :, v1 - 1] = x[:, :, :, v1 - 1] - x[:, :, :, v2 - 1]
    n, _, t, _, _ = x.shape
    flat = {"": x, "_motion": motion, "_bone": bone}
    return {s: y.permute(0, 2, 3, 1, 4).reshape(n, t, -1) for s, y in flat.items()}


def kl_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) || softmax(student)), batch mean, as the reference's loss_kld."""
    log_student = F.log_softmax(student_logits, dim=1)
    return F.kl_div(log_student, F.softmax(teacher_logits, dim=1), reduction="batchmean")


def reference_step(ref, optimizer, im_q, im_k) -> dict[str, float]:
    """One step of the reference; returns its loss terms named as skelcmd logs them."""
    x_q, x_k = ref_streams(im_q), ref_streams(im_k)
    q = {s: F.normalize(ref.enc("q", s)(x_q[s]), dim=1) for s in STREAMS}
    with torch.no_grad():
        for s in STREAMS:  # EMA of the parameters only
            for p_q, p_k in ref.pairs(s):
                p_k.data = p_k.data * EMA + p_q.data * (1.0 - EMA)
        k = {s: F.normalize(ref.enc("k", s)(x_k[s]), dim=1) for s in STREAMS}
    queue = {s: getattr(ref, f"queue{s}").clone().detach() for s in STREAMS}

    terms, loss = {}, 0.0
    for s, name in STREAMS.items():
        l_pos = torch.einsum("nc,nc->n", q[s], k[s]).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q[s], queue[s])
        logits = torch.cat([l_pos, l_neg], dim=1) / TEMPERATURE
        labels = torch.zeros(len(logits), dtype=torch.long)
        terms[f"loss/infonce/{name}"] = F.cross_entropy(logits, labels)
        loss = loss + terms[f"loss/infonce/{name}"]

    def cmd_term(a: str, b: str) -> torch.Tensor:  # teacher stream a, student stream b
        teacher, index = torch.topk(torch.einsum("nc,ck->nk", k[a], queue[a]), TOPK, dim=-1)
        student = torch.gather(torch.einsum("nc,ck->nk", q[b], queue[b]), -1, index)
        return kl_term(student / T_STUDENT, teacher / T_TEACHER)

    cmd = {
        "loss/cmd/joint->motion": cmd_term("", "_motion"),
        "loss/cmd/joint->bone": cmd_term("", "_bone"),
        "loss/cmd/motion->joint": cmd_term("_motion", ""),
        "loss/cmd/motion->bone": cmd_term("_motion", "_bone"),
        "loss/cmd/bone->joint": cmd_term("_bone", ""),
        "loss/cmd/bone->motion": cmd_term("_bone", "_motion"),
    }
    terms |= cmd
    loss = loss + CMD_WEIGHT * sum(cmd.values())
    terms["loss/total"] = loss

    with torch.no_grad():  # dequeue and enqueue, per stream
        for s in STREAMS:
            ptr = int(getattr(ref, f"queue_ptr{s}"))
            getattr(ref, f"queue{s}")[:, ptr : ptr + N] = k[s].T
            getattr(ref, f"queue_ptr{s}")[0] = (ptr + N) % K

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {name: term.item() for name, term in terms.items()}


def fixed_views() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """STEPS pairs of views (N, 3, T, V, M); every third sample has no second person."""
    g = torch.Generator().manual_seed(7)
    views = []
    for _ in range(STEPS):
        pair = torch.randn(2, N, 3, T, V, M, generator=g)
        pair[:, ::3, ..., 1] = 0
        views.append((pair[0], pair[1]))
    return views


def run_reference() -> tuple[dict, dict, list[dict]]:
    """(initial state, state after STEPS steps, per-step terms), reference state dict names."""
    torch.manual_seed(0)
    ref = RefMoCo().train()
    initial = {name: value.clone() for name, value in ref.state_dict().items()}
    optimizer = torch.optim.SGD(
        ref.parameters(), LR, momentum=SGD_MOMENTUM, weight_decay=WEIGHT_DECAY
    )
    terms = [reference_step(ref, optimizer, v1, v2) for v1, v2 in fixed_views()]
    return initial, ref.state_dict(), terms


def run_skelcmd(initial: dict) -> tuple[dict, list[dict]]:
    """skelcmd's model from the reference's initial weights, stepped as `train._pretrain` does."""
    config = load_config(None, OVERRIDES)
    model = build_model(config, NTU25, M)
    state, _ = convert_reference_state_dict(initial)
    model.load_state_dict(state, strict=True)
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.optim.lr,
        momentum=config.optim.momentum,
        weight_decay=config.optim.weight_decay,
    )
    scaler = torch.amp.GradScaler("cpu", enabled=False)  # amp is for CUDA only
    model.train()
    terms = []
    for view1, view2 in fixed_views():
        with torch.autocast("cpu", enabled=False):
            out = model(view1, view2)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()
        terms.append({name: value.item() for name, value in out.items() if name != "loss"})
    return model.state_dict(), terms


def assert_states_agree(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, theirs[name], atol=TOLERANCE, rtol=0, msg=name)
        else:
            assert torch.equal(value, theirs[name]), name


def test_three_training_steps_equal_the_reference() -> None:
    with intra_op_threads(1):
        initial, after, ref_terms = run_reference()
        ours, our_terms = run_skelcmd(initial)
    for step, (mine, theirs) in enumerate(zip(our_terms, ref_terms, strict=True)):
        for name, value in theirs.items():  # 3 InfoNCE, 6 CMD terms and the total
            assert abs(mine[name] - value) < TOLERANCE, (step, name, mine[name], value)
        assert abs(mine["loss/cmd"] - sum(v for n, v in theirs.items() if "/cmd/" in n)) < 1e-5
    expected, _ = convert_reference_state_dict(after)
    assert_states_agree(ours, expected)  # parameters, BatchNorm statistics, queues, pointer
    assert int(ours["queue.ptr"]) == STEPS * N % K
    # not a vacuous agreement: training moved the query and key encoders and filled the queue
    start, _ = convert_reference_state_dict(initial)
    for name in ("branches.bone.encoder_q.fwd.1.weight_hh_l0", "branches.joint.head_k.2.weight"):
        assert (ours[name] - start[name]).abs().max() > 10 * TOLERANCE, name
    assert not torch.isclose(ours["queue.features"], start["queue.features"]).any()
