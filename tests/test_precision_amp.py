"""The GPU's mixed precision, checked on the CPU: `train.amp` from the compute capability, and
float16 (with a GradScaler) and bfloat16 autocast through pretraining, the kNN monitor, every
evaluation protocol and predict, on both GRU paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import skelcmd.precision as precision
import skelcmd.train as train
from skelcmd.augment import two_views
from skelcmd.checkpoints import load_checkpoint
from skelcmd.config import TrainConfig, load_config
from skelcmd.errors import UserError
from skelcmd.evaluate.commands import evaluate
from skelcmd.evaluate.predict import predict_files
from skelcmd.evaluate.protocols import PROTOCOL_TABLE, load_eval_config
from skelcmd.model import build_model
from skelcmd.precision import cuda_autocast_dtype, use_recurrence
from skelcmd.skeleton import NTU25
from skelcmd.synthetic.generator import generate
from tests.helpers.tiny import TINY

CUDA = torch.device("cuda", 0)
F16, BF16 = torch.float16, torch.bfloat16


@pytest.mark.parametrize(
    ("amp", "capability", "expected"),
    [
        ("auto", (6, 1), F16),  # Pascal: no bfloat16 units
        ("auto", (7, 5), F16),  # Turing
        ("auto", (8, 0), BF16),  # Ampere and later compute bfloat16 natively
        ("auto", (8, 9), BF16),
        ("auto", (9, 0), BF16),
        ("float16", (9, 0), F16),
        (True, (9, 0), F16),  # what `amp: true` meant before `auto`
        ("bfloat16", (7, 5), BF16),  # as named, even where it is emulated
        (False, (9, 0), None),
    ],
)
def test_amp_setting_and_capability_give_the_autocast_dtype(amp, capability, expected) -> None:
    assert cuda_autocast_dtype(amp, capability) == expected


def test_training_asks_the_device_for_its_capability(monkeypatch) -> None:
    asked = []

    def capability(device):
        asked.append(device)
        return (8, 0)

    monkeypatch.setattr(precision, "cuda_capability", capability)
    assert precision.autocast_dtype(TrainConfig(), CUDA) == BF16
    assert asked == [CUDA]
    assert precision.describe(TrainConfig(), CUDA) == (
        "precision on cuda:0: bfloat16 autocast (train.amp=auto, compute 8.0)"
    )
    monkeypatch.setattr(precision, "cuda_capability", lambda device: (7, 0))
    assert precision.describe(TrainConfig(amp=False), CUDA) == (
        "precision on cuda:0: float32 (train.amp=false, compute 7.0)"
    )


def test_config_keys() -> None:
    assert load_config(None, []).train.amp == "auto"
    assert load_config(None, []).train.cpu_recurrence == "auto"
    for value, stored in [("bfloat16", "bfloat16"), ("float16", "float16"), ("true", True)]:
        assert load_config(None, [f"train.amp={value}"]).train.amp == stored
    for value in ("batched", "nn_gru"):
        assert load_config(None, [f"train.cpu_recurrence={value}"]).train.cpu_recurrence == value
    with pytest.raises(UserError, match=r"train\.amp is 'half'; use auto, float16, bfloat16"):
        load_config(None, ["train.amp=half"])
    with pytest.raises(UserError, match=r"train\.cpu_recurrence is 'fast'; use auto, batched or"):
        load_config(None, ["train.cpu_recurrence=fast"])


SMALL = [
    "model.encoder_args={hidden: 32, num_layers: 2}",
    "model.queue_size=64",
    "cmd.topk=16",
    "model.feature_dim=32",
    "augment.min_frames=16",
    "augment.out_frames=16",
]


# Training's GradScaler starts at 2^16; at that scale the first two float16 steps of this
# model overflow and are skipped (GradScaler halves the scale each time), so the steps
# compared here start at the scale it settles to, and none may be skipped.
SCALE = 2.0**14


def three_steps(dtype: torch.dtype | None, path: str) -> tuple[torch.nn.Module, list[float]]:
    """Three CMD steps from seed 0, as training runs them: autocast in `dtype` (None: float32),
    a GradScaler for float16, the GRUs on `path`. Returns the model and the step losses."""
    config = load_config(None, SMALL)
    torch.manual_seed(0)
    model = build_model(config, NTU25, 2)
    use_recurrence(model, path)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cpu", init_scale=SCALE, enabled=dtype == F16)
    clips = generate(16, seed=0, max_frames=48)
    data, lengths = torch.from_numpy(clips.data), torch.from_numpy(clips.lengths.astype(np.int64))
    losses = []
    for step in range(3):
        torch.manual_seed(step)  # the same augmentation draws in every run
        view1, view2 = two_views(data, lengths, config.augment)
        with torch.autocast("cpu", dtype=dtype or BF16, enabled=dtype is not None):
            out = model(view1, view2)
        assert out["loss"].dtype == torch.float32  # the losses run in float32
        optimizer.zero_grad()
        scaler.scale(out["loss"]).backward()
        assert all(p.grad.dtype == torch.float32 for p in params)
        scaler.step(optimizer)
        scaler.update()
        losses.append(out["loss/total"].item())
    if dtype == F16:
        assert scaler.get_scale() == SCALE  # no step was skipped for an overflow
    return model, losses


# How far three mixed-precision steps may stray from the float32 ones: each step's loss by
# 2 %, all parameters together by 10 % of how far the float32 steps moved them, the queued
# keys by 0.02 (measured: loss 0.07 % float16, 0.7 % bfloat16; parameters 1.2-1.4 % float16,
# 2.8-3.1 % bfloat16; keys at most 0.004).
LOSS_RTOL, MOVE_RTOL, KEYS_ATOL = 0.02, 0.10, 0.02


@pytest.mark.parametrize("path", ["nn_gru", "batched"])
@pytest.mark.parametrize("dtype", [F16, BF16], ids=["float16", "bfloat16"])
def test_three_mixed_precision_steps_follow_the_float32_steps(dtype, path) -> None:
    torch.manual_seed(0)
    start = build_model(load_config(None, SMALL), NTU25, 2).state_dict()
    reference, expected = three_steps(None, path)
    model, losses = three_steps(dtype, path)
    np.testing.assert_allclose(losses, expected, rtol=LOSS_RTOL)
    assert losses != expected  # it did run in the low precision
    ours, theirs = model.state_dict(), reference.state_dict()
    assert all(ours[k].dtype == theirs[k].dtype for k in ours)  # queues, EMA: float32 still
    weights = [k for k, v in ours.items() if v.is_floating_point() and "queue" not in k]
    strayed = torch.cat([(ours[k] - theirs[k]).flatten() for k in weights]).norm()
    moved = torch.cat([(theirs[k] - start[k]).flatten() for k in weights]).norm()
    assert strayed <= MOVE_RTOL * moved
    assert model.queue.features.dtype == torch.float32
    keys = [p for b in model.branches.values() for p in b.encoder_k.parameters()]
    assert all(p.dtype == torch.float32 for p in keys)
    torch.testing.assert_close(
        model.queue.features, reference.queue.features, atol=KEYS_ATOL, rtol=0
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dtype", "path"), [(F16, "nn_gru"), (BF16, "nn_gru"), (F16, "batched"), (BF16, "batched")]
)
def test_pretraining_monitor_protocols_and_predict_under_autocast(
    data, tmp_path, monkeypatch, capsys, dtype, path
) -> None:
    """The GPU's path (nn.GRU under float16 autocast with a GradScaler; bfloat16 on GPUs of
    compute capability 8 and up) run on the CPU: pretraining with the kNN monitor, then every
    evaluation protocol and predict on its checkpoint, also inside the same autocast. About
    5 s per case on 2 cores."""
    monkeypatch.setattr(train, "autocast_dtype", lambda config, device: dtype)
    overrides = [
        f"data.path={data}",
        *TINY,
        "optim.epochs=1",
        "train.max_steps_per_epoch=2",
        "train.knn_every=1",
        f"train.cpu_recurrence={path}",
    ]
    last = train.pretrain(load_config(None, overrides), tmp_path / "run", progress=False)
    state = load_checkpoint(last)
    assert bool(state["scaler"]) == (dtype == F16)  # a scaler for float16 only
    (record,) = state["history"]
    assert np.isfinite(record["loss/total"]) and "knn/joint" in record
    assert record["cpu_recurrence"] == path
    assert f"train.cpu_recurrence={path}" in capsys.readouterr().out
    fast = {
        "knn": ["frames=16"],
        "linear": ["epochs=1", "milestones=[1]", "batch_size=16", "frames=16", "min_frames=8"],
        "finetune": ["epochs=1", "milestones=[1]", "batch_size=16", "frames=16", "min_frames=8"],
    }
    assert set(fast) == set(PROTOCOL_TABLE)
    for ambient in (False, True):
        with torch.autocast("cpu", dtype=dtype, enabled=ambient):
            for protocol, options in fast.items():
                config = load_eval_config(protocol, None, options)
                save = None if protocol == "knn" else tmp_path / f"{protocol}{ambient}.pt"
                records = evaluate(
                    protocol, last, data, config=config, stream="joint", device="cpu",
                    out_dir=tmp_path / f"eval{ambient}", progress=False, save=save,
                )  # fmt: skip
                assert records and all(np.isfinite(r.top1) for r in records), protocol
                if save is not None:
                    csv = tmp_path / f"{protocol}{ambient}.csv"
                    summary = predict_files(save, [data], csv, device="cpu")
                    assert csv.is_file() and summary.rows > 0


def test_a_run_saved_without_float16_resumes_under_it(data, tmp_path, monkeypatch) -> None:
    """A run started in float32 or bfloat16 saves an empty GradScaler state; resumed where
    `train.amp: auto` picks float16 (an older GPU), it continues with a fresh scaler."""
    overrides = [f"data.path={data}", *TINY, "optim.epochs=1", "train.max_steps_per_epoch=1"]
    run = tmp_path / "run"
    train.pretrain(load_config(None, overrides), run, progress=False)
    assert load_checkpoint(run / "last.pt")["scaler"] == {}
    monkeypatch.setattr(train, "autocast_dtype", lambda config, device: F16)
    config = load_config(None, [*overrides, "optim.epochs=2"])
    train.pretrain(config, run, resume=True, progress=False)
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 2 and state["scaler"]["scale"] > 0
