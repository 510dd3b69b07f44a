"""The `skelcmd` command line: argument parsing and dispatch only.

Every handler imports its library module lazily, so `skelcmd --help` stays instant. A
`UserError` (or an OS error on a user's path) ends the run with one paragraph and exit
status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence

from skelcmd import __version__
from skelcmd.errors import UserError

EPILOG = """\
Typical session:
  skelcmd synth data/synth                 # the built-in synthetic data set (x-sub and x-view)
  skelcmd info data/synth/xsub             # what is in it
  skelcmd show data/synth/xsub --index 5 --out sample.gif
  skelcmd import utd-mhad UTD_DIR data/utd # also: import npz | pyskl | kinetics-skeleton | sbu
                                           #   | clips (your own), prepare ntu60 | pku-mmd
Run `skelcmd COMMAND --help` for the options of a command."""


def _info(args: argparse.Namespace) -> None:
    from skelcmd.data.format import open_dataset
    from skelcmd.data.info import describe

    print(describe(open_dataset(args.dataset)))


def _show(args: argparse.Namespace) -> None:
    from skelcmd.data.format import open_dataset
    from skelcmd.viz import render_sample

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


def _import_utd(args: argparse.Namespace) -> None:
    from skelcmd.sources.utd_mhad import import_utd_mhad

    out = import_utd_mhad(
        args.raw_dir,
        args.out_dir,
        preprocess=args.preprocess,
        align=args.align,
        overwrite=args.overwrite,
    )
    print(f"wrote {out}")


def _import_npz(args: argparse.Namespace) -> None:
    from skelcmd.sources.npz import import_npz

    out = import_npz(
        args.file,
        args.out_dir,
        x_format=args.x_format,
        layout=args.layout,
        class_names=args.classes,
        benchmark=args.benchmark,
        overwrite=args.overwrite,
        preprocess=args.preprocess,
        align=args.align,
    )
    print(f"wrote {out}")


def _import_pyskl(args: argparse.Namespace) -> None:
    from skelcmd.sources.pyskl import import_pyskl

    out = import_pyskl(
        args.file,
        args.out_dir,
        split=args.split,
        layout=args.layout,
        class_names=args.classes,
        overwrite=args.overwrite,
        preprocess=args.preprocess,
        align=args.align,
    )
    print(f"wrote {out}")


def _import_kinetics(args: argparse.Namespace) -> None:
    from skelcmd.sources.kinetics import import_kinetics

    summary = import_kinetics(
        args.clips_dir,
        args.label_file,
        args.out_dir,
        split=args.split,
        test=args.test,
        class_names=args.classes,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(summary.format())


def _import_sbu(args: argparse.Namespace) -> None:
    from skelcmd.sources.sbu import import_sbu

    outs = import_sbu(
        args.raw_dir,
        args.out_dir,
        preprocess=args.preprocess,
        align=args.align,
        overwrite=args.overwrite,
    )
    for out in outs:
        print(f"wrote {out}")


def _import_clips(args: argparse.Namespace) -> None:
    from skelcmd.sources.clips import import_clips

    out = import_clips(
        args.manifest,
        args.out_dir,
        layout=args.layout,
        channels=args.channels,
        class_names=args.classes,
        overwrite=args.overwrite,
    )
    print(f"wrote {out}")


def _prepare_ntu(args: argparse.Namespace) -> None:
    from skelcmd.sources.ntu import prepare_ntu

    summary = prepare_ntu(
        args.raw_dir,
        args.out_dir,
        dataset=args.dataset,
        benchmarks=args.benchmark,
        workers=args.workers,
        preprocess=args.preprocess,
        align=args.align,
        skip_bad=args.skip_bad,
        overwrite=args.overwrite,
    )
    print(summary.format())


def _prepare_pku(args: argparse.Namespace) -> None:
    from skelcmd.sources.pku import prepare_pku

    summary = prepare_pku(
        args.skeleton_dir,
        args.label_dir,
        args.out_dir,
        split_file=args.split_file,
        benchmarks=args.benchmark,
        workers=args.workers,
        preprocess=args.preprocess,
        align=args.align,
        skip_bad=args.skip_bad,
        overwrite=args.overwrite,
    )
    print(summary.format())


def _layout(args: argparse.Namespace) -> None:
    from skelcmd.skeleton import LAYOUTS, get_layout

    if args.name is None and args.out:
        raise UserError("--out draws one layout; name it: `skelcmd layout coco17 --out a.png`.")
    if args.name is None:
        for layout in LAYOUTS.values():
            centre = layout.joint_names[layout.center]
            print(f"{layout.name:10s} {layout.num_joints} joints, centre {centre}")
        return
    layout = get_layout(args.name)
    print(f"layout {layout.name}: {layout.num_joints} joints, centre joint {layout.center + 1}")
    for v, p in layout.bone_pairs:
        bone = "root (zero bone)" if v == p else f"bone to {p + 1:2d} {layout.joint_names[p]}"
        print(f"  {v + 1:2d} {layout.joint_names[v]:16s} {bone}")
    if args.out:
        from skelcmd.layout_picture import draw_layout

        print(f"wrote {draw_layout(layout, args.out)}")


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


def _evaluate(args: argparse.Namespace) -> None:
    from skelcmd.evaluate.commands import evaluate, summary
    from skelcmd.evaluate.protocols import load_eval_config

    overrides = list(args.set)
    if getattr(args, "k", None):
        overrides.append(f"ks={args.k}")
    if getattr(args, "label_fraction", None) is not None:
        overrides.append(f"label_fraction={args.label_fraction}")
    if getattr(args, "seeds", None) is not None:
        overrides.append(f"seeds={list(range(args.seeds))}")
    config = load_eval_config(args.protocol, args.config or args.protocol, overrides)
    records = evaluate(
        args.protocol,
        args.checkpoint,
        args.data,
        config=config,
        stream=args.stream,
        random_init=args.random_init,
        device=args.device,
        out_dir=args.out,
    )
    print(summary(records))


def _report(args: argparse.Namespace) -> None:
    from skelcmd.evaluate.report import build_report

    print(f"wrote {build_report(args.runs, args.out, embeddings=args.embedding)}")


def _embed(args: argparse.Namespace) -> None:
    from skelcmd.evaluate.embed import embed

    out = embed(
        args.checkpoint,
        args.data,
        args.out,
        split=args.split,
        stream=args.stream,
        device=args.device,
        progress=True,
    )
    print(f"wrote {out}")


def _export(args: argparse.Namespace) -> None:
    from skelcmd.evaluate.export import export_onnx

    out = export_onnx(
        args.checkpoint,
        args.out,
        stream=args.stream,
        frames=args.frames,
        data=args.data,
        layout=args.layout,
    )
    print(f"wrote {out}")


def _demo(args: argparse.Namespace) -> None:
    from skelcmd.demo import run_demo

    run_demo(
        args.out,
        samples=args.samples,
        seed=args.seed,
        pretrain_overrides=args.set,
        linear_overrides=args.linear_set,
    )


def _add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT_DIR if it exists (atomically)"
    )


PREPROCESS_CHOICES = ("reference", "tracked-first-frame")  # skelcmd.sources.normalize
IMPORT_PREPROCESS_CHOICES = (*PREPROCESS_CHOICES, "none")


def _add_preprocess_options(
    parser: argparse.ArgumentParser, choices: Sequence[str], default: str
) -> None:
    parser.add_argument(
        "--preprocess",
        choices=choices,
        default=default,
        help=f"normalisation (default {default}): reference = exactly the CMD reference's "
        "(body records in file order, the 2 of most motion, 300 frames with trailing empty "
        "frames filled by repeating, person 1's spine subtracted in every frame, rotated by "
        "frame 0: hip->spine onto z, shoulders onto x); tracked-first-frame = bodies tracked "
        "by ID, empty frames dropped, centred and rotated by person 1's first frame"
        + ("; none = the coordinates as given" if "none" in choices else ""),
    )
    parser.add_argument(
        "--no-align",
        dest="align",
        action="store_false",
        help="skip the centring and rotation of --preprocess: camera coordinates",
    )


def _add_prepare_options(parser: argparse.ArgumentParser, benchmarks: Sequence[str]) -> None:
    parser.add_argument(
        "--benchmark",
        nargs="+",
        choices=benchmarks,
        default=None,
        help="benchmarks to write, each a data set under OUT_DIR/NAME "
        f"(default: all of {', '.join(benchmarks)})",
    )
    parser.add_argument(
        "--workers", type=_positive_int, default=1, help="parallel processes (default 1)"
    )
    _add_preprocess_options(parser, PREPROCESS_CHOICES, "reference")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip malformed files instead of stopping; they are listed in the summary and in "
        "OUT_DIR/prepare_report.txt",
    )
    _add_overwrite(parser)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _kind_adder(kinds: argparse._SubParsersAction) -> Callable[..., argparse.ArgumentParser]:
    def kind(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = kinds.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    return kind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skelcmd",
        description="CMD: self-supervised 3D skeleton action representation learning by "
        "cross-modal mutual distillation (Mao et al., ECCV 2022).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skelcmd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable, help: str, **kw) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, **kw)
        sub.set_defaults(handler=handler)
        return sub

    p = command("info", _info, "Print a data set's splits, class counts and frame lengths.")
    p.add_argument("dataset", metavar="DIR", help="a data set directory (holds meta.json)")

    p = command("show", _show, "Draw one sample as an animated GIF or a PNG strip of frames.")
    p.add_argument("dataset", metavar="DIR", help="a data set directory")
    p.add_argument("--split", default="test", help="split to draw from (default test)")
    p.add_argument("--index", type=int, default=0, help="sample index in the split (default 0)")
    p.add_argument("--out", required=True, help="output file: .gif (animation) or .png (strip)")
    p.add_argument(
        "--frames", type=_positive_int, default=8, help="frames in a .png strip (default 8)"
    )
    p.add_argument(
        "--up",
        choices=["y", "z"],
        default=None,
        help="vertical axis of the data: y for camera coordinates, z for aligned NTU data "
        "(default: z when the data set was aligned, else y)",
    )

    p = command(
        "synth",
        _synth,
        "Generate the built-in synthetic data set (NTU-25 layout, forward kinematics): one data "
        "set per benchmark under OUT_DIR.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument(
        "--samples", type=_positive_int, default=2000, help="number of sequences (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--benchmark",
        nargs="+",
        choices=["xsub", "xview"],
        default=["xsub", "xview"],
        help="splits to write: cross-subject and/or cross-view (default both)",
    )
    _add_preprocess_options(p, IMPORT_PREPROCESS_CHOICES, "reference")  # as `prepare ntu60`
    _add_overwrite(p)

    p = command("import", None, "Convert a data set you already have into skelcmd's format.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    kind = _kind_adder(kinds)
    k = kind("utd-mhad", _import_utd, "UTD-MHAD skeleton .mat files, cross-subject split.")
    k.add_argument("raw_dir", metavar="RAW_DIR", help="folder of aA_sS_tT_skeleton.mat files")
    k.add_argument("out_dir", metavar="OUT_DIR")
    _add_preprocess_options(k, IMPORT_PREPROCESS_CHOICES, "reference")
    _add_overwrite(k)
    k = kind("npz", _import_npz, "An x_train/y_train/x_test/y_test .npz (CTR-GCN family).")
    k.add_argument("file", metavar="FILE")
    k.add_argument("out_dir", metavar="OUT_DIR")
    k.add_argument(
        "--x-format",
        choices=["auto", "ntmvc", "nctvm"],
        default="auto",
        help="layout of x: ntmvc = (N, T, M*V*C) as in CTR-GCN, nctvm = (N, C, T, V, M); "
        "auto decides by the number of dimensions (default)",
    )
    k = kind(
        "pyskl", _import_pyskl, "A pyskl-style annotation pickle: 3D keypoints, or 2D with scores."
    )
    k.add_argument("file", metavar="FILE")
    k.add_argument("out_dir", metavar="OUT_DIR")
    k.add_argument(
        "--split", required=True, help="benchmark, e.g. xsub (uses xsub_train, xsub_val)"
    )
    for k in (kinds.choices["npz"], kinds.choices["pyskl"]):
        k.add_argument(
            "--layout",
            default="ntu25",
            help="layout name or YAML file (default ntu25; pyskl: coco17 for 2D keypoints)",
        )
        k.add_argument(
            "--classes",
            default=None,
            help="class names: ntu60, ntu120, or a text file with one name a line "
            "(default: NTU names for 60/120 classes, else class_1, class_2, ...)",
        )
        _add_preprocess_options(k, IMPORT_PREPROCESS_CHOICES, "none")
        _add_overwrite(k)
    kinds.choices["npz"].add_argument("--benchmark", default="", help="benchmark name to record")
    kinds.choices["pyskl"].set_defaults(layout=None)  # decided by the keypoints: 3D or 2D
    k = kind(
        "kinetics-skeleton",
        _import_kinetics,
        "The Kinetics-skeleton release (ST-GCN's OpenPose 2D poses): <id>.json clips and their "
        "label file; 2 persons by summed score per frame, clips without a skeleton left out.",
    )
    k.add_argument("clips_dir", metavar="CLIPS_DIR", help="folder of <video id>.json clips")
    k.add_argument("label_file", metavar="LABEL_JSON", help="e.g. kinetics_val_label.json")
    k.add_argument("out_dir", metavar="OUT_DIR")
    k.add_argument(
        "--split",
        help="split of these clips (default: test if the label file's name says val or test, "
        "else train)",
    )
    k.add_argument(
        "--test",
        nargs=2,
        metavar=("CLIPS_DIR", "LABEL_JSON"),
        help="a second folder and label file, written as the test split",
    )
    k.add_argument(
        "--classes",
        help="class names, one a line in label order, e.g. label_name.txt (default: the names "
        "in the label files)",
    )
    k.add_argument(
        "--workers", type=_positive_int, default=1, help="parallel processes (default 1)"
    )
    _add_overwrite(k)
    k = kind(
        "sbu",
        _import_sbu,
        "SBU Kinect Interaction (282 two-person sequences) as OUT_DIR/fold1 .. fold5, the "
        "standard 5-fold cross-validation, in metres.",
    )
    k.add_argument("raw_dir", metavar="RAW_DIR", help="folder holding s01s02, s01s03, ...")
    k.add_argument("out_dir", metavar="OUT_DIR")
    _add_preprocess_options(k, IMPORT_PREPROCESS_CHOICES, "none")
    _add_overwrite(k)
    k = kind(
        "clips",
        _import_clips,
        "Your own clips, listed in a manifest CSV (path,label,split[,subject,view,"
        "person_count]); each a .npy (T, V, C) / (M, T, V, C) or a .csv / .txt of one frame a "
        "line.",
    )
    k.add_argument("manifest", metavar="MANIFEST.csv")
    k.add_argument("out_dir", metavar="OUT_DIR")
    k.add_argument("--layout", required=True, help="a built-in layout name or a YAML file")
    k.add_argument(
        "--channels",
        choices=["xyz", "xy", "xy+score"],
        default="xyz",
        help="what each joint's numbers are (default xyz)",
    )
    k.add_argument(
        "--classes",
        help="class names, one a line (default: the labels of the manifest, sorted)",
    )
    _add_overwrite(k)

    p = command("prepare", None, "Prepare NTU RGB+D 60/120 or PKU-MMD from the raw files.")
    kind = _kind_adder(p.add_subparsers(dest="kind", metavar="DATASET", required=True))
    for name, benchmarks in (("ntu60", ["xsub", "xview"]), ("ntu120", ["xsub", "xset"])):
        k = kind(name, _prepare_ntu, f"NTU RGB+D {name[3:]} .skeleton files.")
        k.set_defaults(dataset=name)
        k.add_argument("raw_dir", metavar="RAW_DIR", help="folder of SsssCcccPpppRrrrAaaa.skeleton")
        k.add_argument("out_dir", metavar="OUT_DIR")
        _add_prepare_options(k, benchmarks)
    k = kind("pku-mmd", _prepare_pku, "PKU-MMD skeleton and label files, cut into clips.")
    k.add_argument("skeleton_dir", metavar="RAW_SKELETON_DIR")
    k.add_argument("label_dir", metavar="LABEL_DIR")
    k.add_argument("out_dir", metavar="OUT_DIR")
    k.add_argument(
        "--split-file",
        required=True,
        action="append",
        help="an official split file (cross-subject.txt, cross-view.txt); repeat for both",
    )
    _add_prepare_options(k, ["xsub", "xview"])

    p = command(
        "pretrain",
        _pretrain,
        "Pretrain CMD (MoCo v2 per modality + cross-modal mutual distillation). Multi-GPU: "
        "torchrun --nproc_per_node N -m skelcmd pretrain ...",
    )
    p.add_argument(
        "--config", help="a YAML config or a preset name such as ntu60_xsub (`skelcmd presets`)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=0.02 --set data.path=data/x "
        "(repeatable; values are YAML)",
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in RUN_DIR from its last.pt"
    )

    p = command(
        "convert-checkpoint",
        _convert,
        "Convert a checkpoint of the CMD reference code into a skelcmd checkpoint.",
    )
    p.add_argument("src", metavar="REF.pth.tar")
    p.add_argument("dst", metavar="OUT.pt")

    protocols = {
        "knn": "k-nearest-neighbour retrieval on frozen features (cosine; train split as the "
        "gallery, test split as the queries).",
        "linear": "Linear evaluation: a linear classifier on the frozen encoder (BatchNorm in "
        "eval mode); reports the last epoch and the best epoch.",
        "finetune": "Fine-tune the whole network: all labels, a label fraction (semi-"
        "supervised, several seeds) or another data set (transfer).",
    }
    for name, text in protocols.items():
        p = command(name, _evaluate, text)
        p.set_defaults(protocol=name)
        p.add_argument("--checkpoint", required=True, help="a skelcmd checkpoint (last.pt)")
        p.add_argument("--data", required=True, metavar="DIR", help="the data set to evaluate on")
        p.add_argument(
            "--config", help=f"a YAML file or an eval preset (default: {name}; see skelcmd presets)"
        )
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a protocol setting, e.g. --set epochs=20 (repeatable)",
        )
        p.add_argument(
            "--stream",
            default="all",
            choices=["joint", "motion", "bone", "ensemble", "all"],
            help="one stream, the ensemble, or all of them and the ensemble (default all)",
        )
        p.add_argument(
            "--random-init",
            action="store_true",
            help="score the same encoder untrained, to see what pretraining bought",
        )
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
        p.add_argument(
            "--out",
            metavar="RUN_DIR",
            help="where the JSON records go (default: the checkpoint's folder, in eval/)",
        )
    kinds = commands.choices
    kinds["knn"].add_argument(
        "--k", type=_positive_int, nargs="+", help="neighbours; several at once (default 1)"
    )
    kinds["finetune"].add_argument(
        "--label-fraction", type=float, help="fraction of the train labels, e.g. 0.01"
    )
    kinds["finetune"].add_argument(
        "--seeds", type=_positive_int, help="number of label subsets / runs (seeds 0..N-1)"
    )

    p = command(
        "report",
        _report,
        "Collect evaluation records into a markdown table like the paper's, with training "
        "curves, accuracy bars and t-SNE pictures.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or record files")
    p.add_argument("--out", help="folder for report.md and the pictures (default: first RUN_DIR)")
    p.add_argument(
        "--embedding",
        action="append",
        default=[],
        metavar="FILE.npy",
        help="features written by `skelcmd embed`, drawn as a t-SNE (repeatable)",
    )

    p = command(
        "embed",
        _embed,
        "Export encoder features of every sample of a split (centre crop 95 %%, 64 frames), "
        "as evaluation sees them.",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, metavar="DIR")
    p.add_argument("--split", default="test", help="split to embed (default test)")
    p.add_argument("--stream", default="joint", help="joint, motion or bone (default joint)")
    p.add_argument("--out", required=True, metavar="FILE.npy", help="features (N, D) float32")
    p.add_argument("--device", default="auto")

    p = command(
        "export",
        _export,
        "Export one stream's encoder to ONNX and check it against PyTorch with onnxruntime.",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, metavar="FILE.onnx")
    p.add_argument("--stream", default="joint", help="joint, motion or bone (default joint)")
    p.add_argument("--frames", type=_positive_int, default=64, help="clip length (default 64)")
    p.add_argument("--data", metavar="DIR", help="a data set giving the skeleton layout")
    p.add_argument("--layout", help="the skeleton layout, if not stored in the checkpoint")

    command("presets", _presets, "List the packaged config presets.")

    p = command("layout", _layout, "List the built-in skeleton layouts, or print one's bones.")
    p.add_argument("name", nargs="?", help="a layout name or a YAML layout file")
    p.add_argument("--out", metavar="FILE.png", help="also draw the layout's tree to a PNG")

    p = command(
        "demo",
        _demo,
        "The end-to-end demo on CPU: synthetic data, CMD pretraining, kNN and linear "
        "evaluation of every stream against random init, and a report with a t-SNE.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument(
        "--samples", type=_positive_int, default=2000, help="synthetic sequences (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a pretraining setting of the synthetic_cpu preset (repeatable)",
    )
    p.add_argument(
        "--linear-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of the linear_cpu evaluation preset, e.g. epochs=5",
    )
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` cleans up (temporaries, locks)."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM in this process raises `Terminated`; forked workers
    (data loading, preparation) still end at once as by default."""
    here = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != here:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_error(message: str) -> None:
    """One error paragraph on stderr, naming the user's paths, never skelcmd's temporaries."""
    from skelcmd.atomic import user_text

    print(f"skelcmd: error: {user_text(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _terminate_as_interrupt():
            args.handler(args)
    except UserError as exc:
        if args.debug:
            raise
        _print_error(str(exc))
        return 2
    except BrokenPipeError:  # e.g. `skelcmd info DIR | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        if args.debug:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        advice = "Check the path and its permissions"
        if exc.errno == errno.ENAMETOOLONG:  # outputs are written under a name 30 chars longer
            advice = "Give a shorter file name (skelcmd first writes under a longer one)"
        _print_error(f"{exc.strerror or exc}{where}. {advice} (run with --debug for a traceback).")
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"skelcmd: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
