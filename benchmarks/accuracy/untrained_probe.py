"""Why does linear evaluation of an untrained encoder sit at chance where kNN does not?

Builds the untrained CMD model of a pretraining preset (seeded as `--random-init` seeds it),
with its BatchNorm statistics as initialised (mean 0, variance 1) and recomputed on the train
split (`skelcmd.evaluate.batchnorm`), and prints per stream: the features' scale (RMS of the
entries, and the mean cosine similarity of two different test clips: near 1 when every clip
gives nearly the same direction), kNN top-1 and linear top-1 for each `--probe` variant (a
`LinearConfig.feature_norm`, optionally with another lr: `none`, `none@lr=10`, `standardize`,
`l2`). Linear evaluation runs on cached centre-crop features (`cache_features=true`), and
the features of each BatchNorm state are extracted once and shared by kNN and every variant,
so a variant costs seconds.

    python -m benchmarks.accuracy.untrained_probe DATA --config utd_mhad_cpu [--set K=V ...]
        [--frames 32] [--seed 0] [--epochs 80] [--probe none standardize l2 none@lr=10]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.evaluate.batchnorm import recompute_batchnorm
from skelcmd.evaluate.features import extract_streams
from skelcmd.evaluate.knn import knn_accuracy
from skelcmd.evaluate.linear import LinearConfig, linear_eval
from skelcmd.model import build_model


def feature_scale(features: torch.Tensor, seed: int = 0) -> tuple[float, float]:
    """(RMS of the entries, mean cosine similarity of up to 2000 random pairs of rows)."""
    rms = float(features.pow(2).mean().sqrt())
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randint(len(features), (2, 2000), generator=g)
    keep = a != b
    cosine = F.cosine_similarity(features[a[keep]], features[b[keep]], dim=1)
    return rms, float(cosine.mean())


def probe_config(spec: str, frames: int, epochs: int, seed: int) -> LinearConfig:
    """A variant `norm[@lr=X]` of the paper's linear recipe on cached features."""
    norm, _, extra = spec.partition("@")
    lr = float(extra.removeprefix("lr=")) if extra else 0.1
    milestones = [round(epochs * 50 / 80), round(epochs * 70 / 80)]
    return LinearConfig(
        feature_norm=norm,
        lr=lr,
        epochs=epochs,
        milestones=milestones,
        frames=frames,
        min_frames=frames,
        cache_features=True,
        seed=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a data set directory with labelled train and test splits")
    parser.add_argument("--config", required=True, help="pretraining preset or YAML file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=80, help="linear probe epochs")
    parser.add_argument("--probe", nargs="+", default=["none", "none@lr=10", "standardize", "l2"])
    args = parser.parse_args()

    config = load_config(args.config, args.set)
    dataset = open_dataset(args.data)
    train, test = dataset.split("train"), dataset.split("test")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)  # as `load_encoder_model` seeds a random-init twin
        model = build_model(config, dataset.layout, train.data.shape[4], channels=dataset.channels)
    model.eval()
    streams = list(model.modalities)
    labels = [torch.as_tensor(s.labels) for s in (train, test)]
    print(f"{args.data}: {config.model.encoder} {config.model.encoder_args}, seed {args.seed}")
    print(
        "| BatchNorm | stream | feature RMS | mean cosine | kNN | " + " | ".join(args.probe) + " |"
    )
    print("|---|---|---:|---:|---:|" + "---:|" * len(args.probe))
    for bn in ("as initialised", "recomputed on train"):
        tick = time.perf_counter()
        if bn.startswith("recomputed"):
            recompute_batchnorm(model, train, out_frames=args.frames)
        feats = [extract_streams(model, s, streams, out_frames=args.frames) for s in (train, test)]
        # linear evaluation's centre-crop features are these (same crop, frames and model)
        by_split = {"train": feats[0], "test": feats[1]}
        linear = {}
        for spec in args.probe:
            config_ = probe_config(spec, args.frames, args.epochs, args.seed)
            results = linear_eval(model, dataset, config_, progress=False, features=by_split)
            linear[spec] = {r["stream"]: r["top1"] for r in results}
        for stream in [*streams, "ensemble"]:
            group = streams if stream == "ensemble" else [stream]
            knn = knn_accuracy([feats[0][m] for m in group], [feats[1][m] for m in group], *labels)
            rms, cosine = feature_scale(feats[1][stream]) if stream != "ensemble" else (None, None)
            scale = "| – | – |" if rms is None else f"| {rms:.2e} | {cosine:.3f} |"
            cells = " | ".join(f"{linear[spec][stream]:.1f}" for spec in args.probe)
            print(f"| {bn} | {stream} {scale} {knn[1]:.1f} | {cells} |")
        print(f"<!-- {bn}: {time.perf_counter() - tick:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
