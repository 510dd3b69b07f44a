"""How long does the paper's NTU-60 x-sub row take? Arithmetic from the GRU's FLOP count.

Counts the multiply-add FLOPs of the GRUs (the bulk of the work; `pretrain_step.gru_step_flops`)
for pretraining with the `ntu60_xsub` preset and for each evaluation protocol at its default
recipe, then converts them to hours at a sustained GPU throughput, or from a measured time
per pretraining step (`python -m benchmarks.pretrain_step --device cuda --hidden 1024`, or
`python -m benchmarks.accuracy.run ... --dry-run` on that machine).

    python -m benchmarks.ntu_time_estimate [--step-seconds S] [--tflops 25 50 100]
"""

from __future__ import annotations

import argparse

from benchmarks.pretrain_step import BATCH, gru_step_flops
from skelcmd.config import load_config
from skelcmd.evaluate.finetune import FinetuneConfig
from skelcmd.evaluate.linear import LinearConfig

TRAIN, TEST = 40_091, 16_487  # NTU-60 x-sub clips (skelcmd prepare ntu60)
STREAMS = 3
BACKWARD = 3.0  # forward + backward of a fine-tuned encoder ~ 3 forwards


def protocol_flops(hidden: int, layers_flops_per_clip: float) -> dict[str, float]:
    """FLOPs of each step of the row, from the FLOPs of one encoder forward on one clip."""
    config = load_config("ntu60_xsub")
    steps = TRAIN // config.optim.batch_size * config.optim.epochs
    linear, finetune = LinearConfig(), FinetuneConfig()
    clip = layers_flops_per_clip
    semi = {}
    for fraction in (0.01, 0.1):
        labelled = round(TRAIN * fraction)
        passes = finetune.epochs * (labelled * BACKWARD + TEST / finetune.eval_every)
        semi[f"semi-supervised {fraction:.0%} (5 seeds)"] = 5 * STREAMS * passes * clip
    return {
        f"pretraining ({steps:,} steps)": steps * gru_step_flops(hidden),
        "linear (80 epochs, 3 streams)": STREAMS * (linear.epochs * TRAIN + TEST) * clip,
        "kNN (3 streams)": STREAMS * (TRAIN + TEST) * clip,
        **semi,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--tflops", type=float, nargs="+", default=[25.0, 50.0, 100.0])
    parser.add_argument("--step-seconds", type=float, help="a measured pretraining step time")
    args = parser.parse_args()
    # one step = 3 modalities x (query forward + backward ~ 3 forwards, key forward)
    per_clip = gru_step_flops(args.hidden) / (STREAMS * 4 * BATCH)
    flops = protocol_flops(args.hidden, per_clip)
    print(f"GRU hidden {args.hidden}: {per_clip / 1e9:.2f} GFLOP per clip per encoder forward")
    header = "".join(f"{f'{t:g} TFLOP/s':>13s}" for t in args.tflops)
    print(f"{'':38s}{'PFLOP':>9s}{header}   (hours)")
    for name, value in flops.items():
        hours = "".join(f"{value / (t * 1e12) / 3600:13.1f}" for t in args.tflops)
        print(f"{name:38s}{value / 1e15:9.0f}{hours}")
    total = sum(flops.values())
    hours = "".join(f"{total / (t * 1e12) / 3600:13.1f}" for t in args.tflops)
    print(f"{'total':38s}{total / 1e15:9.0f}{hours}")
    steps = TRAIN // BATCH * load_config("ntu60_xsub").optim.epochs
    print(f"pretraining hours = {steps / 3600:.1f} x (seconds per step)")
    if args.step_seconds:
        print(f"at {args.step_seconds} s per step: {steps * args.step_seconds / 3600:.1f} h")
    reference = 2 * 24 * 3600 / steps
    print(
        f"the authors' 2 days on one RTX 3090 are {reference:.2f} s per step, "
        f"{gru_step_flops(args.hidden) / reference / 1e12:.1f} TFLOP/s sustained"
    )


if __name__ == "__main__":
    main()
