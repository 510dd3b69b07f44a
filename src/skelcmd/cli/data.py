"""Data commands: `info`, `show`, `synth`, `import` (its table is `skelcmd.cli.importers`),
`prepare` (its table is `PREPARERS` below; see `skelcmd.cli.sources` for how an entry works)
and `layout`. Handlers import their library modules when they run."""

from __future__ import annotations

import argparse

from skelcmd.cli import importers, video
from skelcmd.cli.options import (
    add_command,
    add_overwrite,
    add_prepare_options,
    add_preprocess_options,
    positive_int,
)
from skelcmd.cli.sources import Source, add_sources
from skelcmd.errors import UserError
from skelcmd.names import BENCHMARKS, IMPORT_PREPROCESS, REFERENCE


def _info(args: argparse.Namespace) -> None:
    from skelcmd.data.format import open_dataset
    from skelcmd.data.info import describe

    print(describe(open_dataset(args.dataset)))


def _show(args: argparse.Namespace) -> None:
    from skelcmd.atomic import check_outside_inputs
    from skelcmd.data.format import open_dataset
    from skelcmd.viz import render_sample

    check_outside_inputs(args.out, [args.dataset])
    dataset = open_dataset(args.dataset, check_values=False)
    split = dataset.split(args.split)
    if not 0 <= args.index < len(split):
        raise UserError(
            f"--index {args.index} is out of range: split {args.split!r} of {args.dataset} has "
            f"{len(split)} samples (0..{len(split) - 1})."
        )
    i = args.index
    title = f"{dataset.class_names[split.labels[i]]} ({split.sample_name(i)})"
    up = args.up or ("z" if dataset.extra.get("aligned") else "y")
    out = render_sample(
        split.data[i],
        int(split.lengths[i]),
        dataset.layout,
        args.out,
        title=title,
        frames=args.frames,
        up=up,
        channels=dataset.channels,
    )
    print(f"wrote {out}")


def _synth(args: argparse.Namespace) -> None:
    from skelcmd.synthetic.generator import write_synthetic

    for path in write_synthetic(
        args.out_dir,
        num_samples=args.samples,
        seed=args.seed,
        benchmarks=args.benchmark,
        overwrite=args.overwrite,
        preprocess=args.preprocess,
        align=args.align,
    ):
        print(f"wrote {path}")


def _layout(args: argparse.Namespace) -> None:
    from skelcmd.skeleton import LAYOUTS, get_layout, printable

    if args.name is None and args.out:
        raise UserError("--out draws one layout; name it: `skelcmd layout coco17 --out a.png`.")
    if args.name is None:
        for layout in LAYOUTS.values():
            centre = layout.joint_names[layout.center]
            print(f"{layout.name:10s} {layout.num_joints} joints, centre {centre}")
        return
    layout = get_layout(args.name)
    joints = [printable(name) for name in layout.joint_names]  # names from a file: no escapes
    print(f"layout {printable(layout.name)}: {layout.num_joints} joints, centre joint "
          f"{layout.center + 1}")  # fmt: skip
    for v, p in layout.bone_pairs:
        bone = "root (zero bone)" if v == p else f"bone to {p + 1:2d} {joints[p]}"
        print(f"  {v + 1:2d} {joints[v]:16s} {bone}")
    if args.out:
        from skelcmd.layout_picture import draw_layout

        print(f"wrote {draw_layout(layout, args.out)}")


def _pku_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split-file",
        required=True,
        action="append",
        help="an official split file (cross-subject.txt, cross-view.txt); repeat for both",
    )


PREPARERS: tuple[Source, ...] = (
    *(
        Source(
            name,
            f"NTU RGB+D {name[3:]} .skeleton files.",
            "skelcmd.sources.ntu:prepare_ntu",
            inputs=(("raw_dir", "RAW_DIR", "folder of SsssCcccPpppRrrrAaaa.skeleton"),),
            defaults={"dataset": name},
        )
        for name in ("ntu60", "ntu120")
    ),
    Source(
        "pku-mmd",
        "PKU-MMD skeleton and label files, cut into clips.",
        "skelcmd.sources.pku:prepare_pku",
        inputs=(
            ("skeleton_dir", "RAW_SKELETON_DIR", None),
            ("label_dir", "LABEL_DIR", None),
        ),
        options=_pku_options,
    ),
)


def _prepare_options(parser: argparse.ArgumentParser, source: Source) -> None:
    add_prepare_options(parser, BENCHMARKS[source.name])


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands, "info", _info, "Print a data set's splits, class counts and frame lengths."
    )
    p.add_argument("dataset", metavar="DIR", help="a data set directory (holds meta.json)")

    p = add_command(
        commands, "show", _show, "Draw one sample as an animated GIF or a PNG strip of frames."
    )
    p.add_argument("dataset", metavar="DIR", help="a data set directory")
    p.add_argument("--split", default="test", help="split to draw from (default test)")
    p.add_argument("--index", type=int, default=0, help="sample index in the split (default 0)")
    p.add_argument("--out", required=True, help="output file: .gif (animation) or .png (strip)")
    p.add_argument(
        "--frames", type=positive_int, default=8, help="frames in a .png strip (default 8)"
    )
    p.add_argument(
        "--up",
        choices=["y", "z"],
        default=None,
        help="vertical axis of the data: y for camera coordinates, z for aligned NTU data "
        "(default: z when the data set was aligned, else y)",
    )

    p = add_command(
        commands,
        "synth",
        _synth,
        "Generate the built-in synthetic data set (NTU-25 layout, forward kinematics): one data "
        "set per benchmark under OUT_DIR.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument(
        "--samples", type=positive_int, default=2000, help="number of sequences (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--benchmark",
        nargs="+",
        choices=BENCHMARKS["synthetic"],
        default=list(BENCHMARKS["synthetic"]),
        help="splits to write: cross-subject and/or cross-view (default both)",
    )
    add_preprocess_options(p, IMPORT_PREPROCESS, REFERENCE)  # as `prepare ntu60`
    add_overwrite(p)

    importers.register(commands)
    video.register(commands)  # convert-layout, extract
    p = add_command(
        commands, "prepare", None, "Prepare NTU RGB+D 60/120 or PKU-MMD from the raw files."
    )
    kinds = p.add_subparsers(dest="kind", metavar="DATASET", required=True)
    add_sources(kinds, PREPARERS, _prepare_options)

    p = add_command(
        commands, "layout", _layout, "List the built-in skeleton layouts, or print one's bones."
    )
    p.add_argument("name", nargs="?", help="a layout name or a YAML layout file")
    p.add_argument("--out", metavar="FILE.png", help="also draw the layout's tree to a PNG")
