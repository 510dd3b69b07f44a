"""benchmarks/pretrain_step.py: every variant's step runs, at tiny sizes, on the CPU."""

import argparse
import importlib.util
import math
from pathlib import Path

import pytest
import torch

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "pretrain_step.py"
_spec = importlib.util.spec_from_file_location("pretrain_step", _path)
pretrain_step = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pretrain_step)


@pytest.mark.parametrize("variant", ["skelcmd", "side-by-side", "one-by-one", "baseline"])
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
    if variant != "baseline":
        assert run.model.side_by_side == (variant != "one-by-one")  # a GRU on the CPU
