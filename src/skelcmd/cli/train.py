"""Training commands: `pretrain`, `convert-checkpoint` and `presets`. Handlers import their
library modules when they run."""

from __future__ import annotations

import argparse

from skelcmd.cli.options import add_command, add_set_option
from skelcmd.errors import UserError


def _pretrain(args: argparse.Namespace) -> None:
    from skelcmd.config import load_config
    from skelcmd.train import pretrain, resume_config

    if args.resume and args.config:
        raise UserError(
            "--resume continues with the config stored in the run; drop --config (--set still "
            "applies, e.g. --set optim.epochs=600 to train longer)."
        )
    if args.resume:
        config = resume_config(args.out, args.set)
    elif args.config:
        config = load_config(args.config, args.set)
    else:
        raise UserError("give --config FILE or a preset (see `skelcmd presets`), or --resume.")
    pretrain(config, args.out, resume=args.resume)  # it says what it wrote, or why nothing


def _convert(args: argparse.Namespace) -> None:
    from skelcmd.convert import convert_checkpoint

    info = convert_checkpoint(args.src, args.dst)
    print(f"wrote {args.dst}: " + ", ".join(f"{k} {v}" for k, v in info.items()))


def _presets(args: argparse.Namespace) -> None:
    from importlib import resources

    from skelcmd.config import preset_names, read_yaml

    for name in preset_names():
        values = read_yaml(name)
        comment = (resources.files("skelcmd") / "configs" / f"{name}.yaml").read_text()
        first = comment.splitlines()[0].lstrip("# ") if comment.startswith("#") else ""
        first = first if len(first) <= 70 else first[:69].rstrip(" ,:") + "…"
        where = values.get("data", {}).get("path") if name.startswith("pretrain/") else None
        print(f"{name:24s} {first}" + (f"  [data.path={where}]" if where else ""))


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "pretrain",
        _pretrain,
        "Pretrain CMD (MoCo v2 per modality + cross-modal mutual distillation). Multi-GPU: "
        "torchrun --nproc_per_node N -m skelcmd pretrain ...",
    )
    p.add_argument(
        "--config", help="a YAML config or a preset name such as ntu60_xsub (`skelcmd presets`)"
    )
    add_set_option(
        p,
        "override a config value, e.g. --set optim.lr=0.02 --set data.path=data/x "
        "(repeatable; values are YAML)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="RUN_DIR",
        help="run directory: a new or empty folder (or a run stopped before its first "
        "checkpoint); a folder holding other files is refused",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in RUN_DIR from its last.pt"
    )

    p = add_command(
        commands,
        "convert-checkpoint",
        _convert,
        "Convert a checkpoint of the CMD reference code into a skelcmd checkpoint.",
    )
    p.add_argument("src", metavar="REF.pth.tar")
    p.add_argument("dst", metavar="OUT.pt")

    add_command(commands, "presets", _presets, "List the packaged config presets.")
