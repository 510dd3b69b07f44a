"""benchmarks/pretrain_step.py: every variant's step runs, at tiny sizes, on the CPU."""

import argparse
import math

import pytest
import torch

from benchmarks import pretrain_step


@pytest.mark.parametrize("variant", ["skelcmd", "fp32", "bf16", "nn.GRU", "default", "baseline"])
def test_each_variant_steps_and_trains(variant):
    # (the stgcn encoder is left out: at the benchmark's batch its step takes half a minute)
    args = argparse.Namespace(encoder="gru", hidden=8, queue=128, topk=16, device="cpu")
    run = pretrain_step.make_step(variant, args)
    params = [p for p in run.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    seconds = run()
    assert math.isfinite(seconds) and seconds > 0
    assert all(torch.isfinite(p).all() for p in params)
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    if variant != "baseline":  # nn.GRU: the GRUs' nn.GRU kernels, one encoder after another
        fused = {m.fused for m in run.model.modules() if hasattr(m, "fused")}
        assert fused == {variant != "nn.GRU"}
        precision, path = run.ran  # what ran, as training prints it
        assert precision.startswith("precision on the CPU: ")
        shown = "nn.GRU" if variant == "nn.GRU" else "batched recurrence"
        assert path.startswith(f"GRU path on the CPU: {shown} (")


def test_gru_flops_and_matmul_speed():
    # hidden 256: 3 modalities x (3 + 1 passes) x 64 frames x the 6 GRUs' products per frame
    assert pretrain_step.gru_step_flops(256) / 1e9 == pytest.approx(293.2, abs=0.1)
    for onednn in (False, True):
        assert pretrain_step.matmul_gflops(torch.float32, 64, 1, 1, onednn=onednn) > 0
