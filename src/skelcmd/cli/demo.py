"""The `demo` command: the whole pipeline on synthetic data, on CPU."""

from __future__ import annotations

import argparse

from skelcmd.cli.options import add_command, add_set_option, positive_int


def _demo(args: argparse.Namespace) -> None:
    from skelcmd.demo import run_demo

    run_demo(
        args.out,
        samples=args.samples,
        seed=args.seed,
        pretrain_overrides=args.set,
        linear_overrides=args.linear_set,
    )


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "demo",
        _demo,
        "The end-to-end demo on CPU: synthetic data, CMD pretraining, kNN and linear "
        "evaluation of every stream against random init, and a report with a t-SNE.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument(
        "--samples", type=positive_int, default=2000, help="synthetic sequences (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_set_option(p, "override a pretraining setting of the synthetic_cpu preset (repeatable)")
    add_set_option(
        p,
        "override a setting of the linear_cpu evaluation preset, e.g. epochs=5",
        flag="--linear-set",
    )
