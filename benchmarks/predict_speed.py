"""`skelcmd predict` throughput: clips/s against `skelcmd embed` on the same clips, and
windows/s of a long recording through the demo's 3-stream ensemble.

The model is the demo's (`pretrain/synthetic_cpu`: GRU 128 x 2, three streams; `eval/
linear_cpu`: 95 % centre crop resized to 32 frames), freshly initialised (speed does not depend
on the weights), saved both as a checkpoint (for `embed`) and as classifier files (for
`predict`). Data: the built-in synthetic data set; its test split is classified whole. The long
recording joins the test clips into one `.npy` recording of `--frames` frames (10 minutes at
30 fps by default), classified with `--window 64 --stride 16`. Each timing is the best of
`--repeats`, embed and predict alternating.

    python -m benchmarks.predict_speed [--threads 2] [--samples 2000] [--frames 18000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skelcmd.checkpoints import checkpoint_state, save_checkpoint
from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.evaluate.classifier import classifier_state, preparation_record, save_classifier
from skelcmd.evaluate.embed import embed
from skelcmd.evaluate.finetune import StreamNet
from skelcmd.evaluate.predict import predict_files
from skelcmd.evaluate.protocols import load_eval_config
from skelcmd.model import build_model
from skelcmd.synthetic.generator import write_synthetic


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=18000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="predict_speed_"))
    (data,) = write_synthetic(root / "synth", num_samples=args.samples, seed=0, benchmarks=["xsub"])
    dataset = open_dataset(data)
    test = dataset.split("test")
    config = load_config("synthetic_cpu", [f"data.path={data}"])
    probe = load_eval_config("linear", "linear_cpu")
    torch.manual_seed(0)
    model = build_model(config, dataset.layout, 2).eval()
    checkpoint = root / "last.pt"
    save_checkpoint(checkpoint, checkpoint_state(model, config, dataset.layout, 2))
    nets = {
        m: StreamNet(
            model.branches[m].encoder_q,
            m,
            dataset.layout,
            nn.Linear(model.branches[m].encoder_q.feat_dim, dataset.num_classes),
        )
        for m in model.modalities
    }
    files = {}
    for name, streams in (("joint", ["joint"]), ("ensemble", list(model.modalities))):
        files[name] = save_classifier(
            root / f"{name}.pt",
            classifier_state(
                {m: nets[m] for m in streams},
                classes=list(dataset.class_names),
                encoder={"name": config.model.encoder, "args": config.model.encoder_args},
                num_persons=2,
                crop=probe.test_crop,
                frames=probe.frames,
                preparation=preparation_record(dataset, "test"),
                training={"protocol": "benchmark"},
            ),
        )
    n = len(test)
    print(f"CPU threads {args.threads}; test split {n} clips; frames {probe.frames}")
    timings = {}
    for _ in range(args.repeats):  # alternate, keep the best of each
        for key, fn in (
            ("embed joint", lambda: embed(checkpoint, data, root / "e.npy", stream="joint")),
            ("predict joint", lambda: predict_files(files["joint"], [data], root / "p.csv")),
            (
                "embed x3 streams",
                lambda: [
                    embed(checkpoint, data, root / f"e_{m}.npy", stream=m) for m in model.modalities
                ],
            ),
            ("predict ensemble", lambda: predict_files(files["ensemble"], [data], root / "q.csv")),
        ):
            timings[key] = min(timings.get(key, np.inf), best_of(1, fn))
    for key, seconds in timings.items():
        print(f"{key:18s} {seconds:7.2f} s  {n / seconds:8.1f} clips/s")
    for a, b in (("predict joint", "embed joint"), ("predict ensemble", "embed x3 streams")):
        print(f"{a} / {b}: {timings[a] / timings[b]:.3f}")

    clips = [np.array(test.data[i, :, : test.lengths[i]]) for i in range(n)]
    joined = np.concatenate(clips * (args.frames // sum(c.shape[1] for c in clips) + 1), axis=1)
    joined = joined[:, : args.frames]
    np.save(root / "long.npy", joined.transpose(3, 1, 2, 0))
    windows = (args.frames - 64) // 16 + 1
    seconds = best_of(
        args.repeats,
        lambda: predict_files(
            files["ensemble"], [root / "long.npy"], root / "w.csv", window=64, stride=16
        ),
    )
    print(
        f"windows: {args.frames} frames, window 64, stride 16 = {windows} windows, 3-stream "
        f"ensemble: {seconds:.2f} s, {windows / seconds:.1f} windows/s"
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
