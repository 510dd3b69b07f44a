"""benchmarks/pretrain_step.py: every variant's step runs, at tiny sizes, on the CPU."""

import argparse
import math
import subprocess
import sys

import pytest
import torch

from benchmarks import pretrain_step
from skelcmd.encoders import kernels


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


@pytest.mark.slow
def test_the_command_forces_the_recurrence_library_when_asked():
    sizes = ["--hidden", "8", "--queue", "128", "--topk", "16", "--variants", "fp32,nn.GRU"]
    command = [sys.executable, "-m", "benchmarks.pretrain_step", "--quick", *sizes]
    out = subprocess.run([*command, "--library", "bmm"], check=True, capture_output=True,
                         text=True).stdout  # fmt: skip
    assert "recurrence products: bmm" in out and "fp32 against nn.GRU: " in out


@pytest.mark.skipif(
    torch.float32 not in kernels._ONEDNN_DTYPES, reason="one library only: nothing to choose"
)
def test_a_forced_library_is_what_the_recurrence_uses(monkeypatch):
    monkeypatch.setattr(kernels, "_CHOSEN", {})  # as in a fresh process: nothing measured yet
    args = argparse.Namespace(encoder="gru", hidden=8, queue=128, topk=16, device="cpu")
    with kernels.using("bmm"):
        run = pretrain_step.make_step("fp32", args)
        run()
    assert kernels.chosen() == {}  # forced: nothing measured
    run()  # not forced: each kind and shape of product is measured at its first use
    assert {key[0] for key in kernels.chosen()} >= {"linear", "add", "at_b"}
