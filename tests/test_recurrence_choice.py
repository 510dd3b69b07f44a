"""`train.cpu_recurrence`: the GRU path on the CPU as set, or the faster in a probe at start."""

from __future__ import annotations

import json

import pytest
import torch

import skelcmd.precision as precision
import skelcmd.train as train
from skelcmd.config import TrainConfig, load_config
from skelcmd.encoders import build_encoder
from skelcmd.model import build_model
from skelcmd.precision import choose_recurrence, pass_flops, recurrence_seconds, use_recurrence
from skelcmd.skeleton import NTU25
from tests.helpers.tiny import TINY

CPU = torch.device("cpu")


def encoders(hidden: int = 8, layers: int = 1, count: int = 3, name: str = "gru") -> list:
    torch.manual_seed(0)
    args = {"hidden": hidden, "num_layers": layers} if name != "stgcn" else {}
    return [build_encoder(name, NTU25, 2, 3, **args) for _ in range(count)]


def test_flops_of_a_pass_count_both_grus_of_every_layer() -> None:
    # hidden 256, 3 layers, 64 clips of 64 frames: a quarter of the benchmark's 293 GFLOP
    # per step is the key encoders' forward; this is the query encoders' forward + backward
    assert pass_flops(encoders(256, 3), 64, 64) / 1e9 == pytest.approx(293.2 * 3 / 4, abs=0.1)


def test_as_set_without_measuring(monkeypatch) -> None:
    monkeypatch.setattr(precision, "recurrence_seconds", lambda *a, **k: pytest.fail("probed"))
    big = encoders(256, 3)
    for path in ("batched", "nn_gru"):
        choice = choose_recurrence(TrainConfig(cpu_recurrence=path), big, 64, 64, None, CPU)
        assert choice == precision.Recurrence(path, f"train.cpu_recurrence={path}")
    tiny = choose_recurrence(TrainConfig(), encoders(), 16, 16, None, CPU)
    assert tiny.path == "batched" and "a model this small is not measured" in tiny.why
    assert choose_recurrence(TrainConfig(), big, 64, 64, None, torch.device("cuda", 0)) is None
    assert choose_recurrence(TrainConfig(), encoders(name="stgcn"), 64, 64, None, CPU) is None


@pytest.mark.parametrize(
    ("batched", "nn_gru", "expected"), [(1.0, 1.5, "batched"), (2, 1, "nn_gru")]
)
def test_auto_takes_the_faster_path_pair_by_pair(monkeypatch, batched, nn_gru, expected) -> None:
    seen = []

    def timed(encs, batch, frames, dtype):
        seen.append((len(encs), batch, frames, dtype))
        # the other path's second pass was disturbed: pairs, not totals, decide
        return {"batched": [batched, batched, 9.0], "nn_gru": [nn_gru, 9.0, nn_gru]}, (1, 5)

    monkeypatch.setattr(precision, "recurrence_seconds", timed)
    choice = choose_recurrence(TrainConfig(), encoders(256, 3), 64, 64, torch.bfloat16, CPU)
    assert seen == [(3, 64, 64, torch.bfloat16)]  # the run's sizes and precision
    assert choice.path == expected
    assert choice.describe().startswith(
        f"GRU path on the CPU: {'batched recurrence' if expected == 'batched' else 'nn.GRU'} "
        "(auto: forward + backward of 64 frames, from 1 and 5 timed: "
    )


def test_the_probe_times_both_paths_and_leaves_the_encoders_as_they_were(monkeypatch) -> None:
    monkeypatch.setattr(precision, "PROBE_SECONDS", 1e-3)  # as few frames as it takes
    monkeypatch.setattr(precision, "PROBE_BUDGET", 1e3)  # both pairs, however busy the machine
    encs = encoders(16, 2)
    for e in encs:
        e.train()
    before = [{k: v.clone() for k, v in e.state_dict().items()} for e in encs]
    rng = torch.get_rng_state()
    seconds, timed = recurrence_seconds(encs, 8, 12, None, pairs=2)
    assert set(seconds) == {"batched", "nn_gru"} and timed == (1, 3)
    assert all(len(t) == 2 and min(t) > 0 for t in seconds.values())
    assert torch.equal(torch.get_rng_state(), rng)
    for e, state in zip(encs, before, strict=True):
        assert e.training and e.fused
        assert all(p.grad is None for p in e.parameters())
        assert all(torch.equal(v, state[k]) for k, v in e.state_dict().items())  # BN stats too


def test_use_recurrence_sets_every_gru_of_the_model() -> None:
    model = build_model(load_config(None, TINY), NTU25, 2)
    grus = [m for m in model.modules() if hasattr(m, "fused")]
    assert len(grus) == 6  # query and key encoder of each modality
    use_recurrence(model, "nn_gru")
    assert not any(m.fused for m in grus)
    use_recurrence(model, "batched")
    assert all(m.fused for m in grus)
    with pytest.raises(ValueError, match="not one of"):
        use_recurrence(model, "fast")


def test_training_logs_and_records_the_path(data, tmp_path, capsys) -> None:
    config = load_config(
        None, [f"data.path={data}", *TINY, "optim.epochs=1", "train.max_steps_per_epoch=1"]
    )
    train.pretrain(config, tmp_path / "run", progress=False)
    out = capsys.readouterr().out
    assert "GRU path on the CPU: batched recurrence (auto: a model this small is not" in out
    (record,) = json.loads((tmp_path / "run" / "history.json").read_text())
    assert record["cpu_recurrence"] == "batched"


def test_the_probe_extrapolates_from_two_frame_counts(monkeypatch) -> None:
    """A pass costs a fixed part and a part per frame: the probe's estimate for all frames is
    the line through its two timings (here batched: 1 s + 0.1 s per frame, nn.GRU: 0.2 s per
    frame, so nn.GRU wins on few frames and the batched path on the run's 64)."""
    cost = {"batched": lambda f: 1.0 + 0.1 * f, "nn_gru": lambda f: 0.2 * f}
    clock = iter(range(10**6))
    now = [0.0]

    def perf_counter():
        next(clock)
        return now[0]

    def encode_together(encoders, inputs):
        path = "batched" if encoders[0].fused else "nn_gru"
        now[0] += cost[path](inputs[0].shape[2])
        return [
            e.input_norm.weight[:1].expand(len(x), 1)
            for e, x in zip(encoders, inputs, strict=False)
        ]

    monkeypatch.setattr(precision.time, "perf_counter", perf_counter)
    encs = encoders(16, 1)
    monkeypatch.setattr(type(encs[0]), "encode_together", staticmethod(encode_together))
    seconds, timed = recurrence_seconds(encs, 4, 64, None, pairs=1)
    assert timed[0] == 1 and timed[1] >= 3
    assert seconds["batched"] == [pytest.approx(1.0 + 6.4)]
    assert seconds["nn_gru"] == [pytest.approx(12.8)]
