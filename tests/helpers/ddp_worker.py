"""Run by tests/test_train.py under `torchrun --nproc_per_node 2`: pretrain a tiny model with
the gloo backend and save each process's queue, so the test can compare them across ranks."""

import os
import sys

import torch

import skelcmd.train as train
from skelcmd.config import load_config

models = []


def build_and_keep(*args, **kwargs):
    model = original(*args, **kwargs)
    models.append(model)
    return model


original, train.build_model = train.build_model, build_and_keep
data, out = sys.argv[1], sys.argv[2]
config = load_config(None, [f"data.path={data}", *sys.argv[3:]])
train.pretrain(config, out, progress=False)
queue = models[0].queue
torch.save(
    {"features": queue.features, "ptr": queue.ptr}, f"{out}/queue_rank{os.environ['RANK']}.pt"
)
