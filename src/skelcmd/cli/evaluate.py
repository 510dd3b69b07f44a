"""Evaluation commands: `knn`, `linear` and `finetune` (one handler, the protocol by name),
`report`, `predict`, `embed` and `export`. Handlers import their library modules when they run."""

from __future__ import annotations

import argparse

from skelcmd.cli.options import add_command, add_set_option, positive_int
from skelcmd.names import ALL, EVAL_CROP, EVAL_FRAMES, PROTOCOLS, STREAM_CHOICES, STREAMS

PROTOCOL_HELP = {
    "knn": "k-nearest-neighbour retrieval on frozen features (cosine; train split as the "
    "gallery, test split as the queries).",
    "linear": "Linear evaluation: a linear classifier on the frozen encoder (BatchNorm in "
    "eval mode); reports the last epoch and the best epoch.",
    "finetune": "Fine-tune the whole network: all labels, a label fraction (semi-"
    "supervised, several seeds) or another data set (transfer).",
}
ONE_STREAM = f"{', '.join(STREAMS[:-1])} or {STREAMS[-1]} (default {STREAMS[0]})"


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
        save=getattr(args, "save", None),
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
    from skelcmd.errors import UserError
    from skelcmd.evaluate.export import export_classifier, export_onnx

    if (args.checkpoint is None) == (args.model is None):
        given = "both" if args.model is not None else "neither"
        raise UserError(f"export got {given} of --checkpoint and --model: give --checkpoint CKPT "
                        "(one stream's encoder) or --model FILE.pt (a classifier saved by "
                        "linear / finetune --save).")  # fmt: skip
    if args.model is not None:
        skeleton = [f"--{name}" for name in ("data", "layout") if getattr(args, name) is not None]
        if skeleton:
            verb, them = ("does", "it") if len(skeleton) == 1 else ("do", "them")
            raise UserError(
                f"{' and '.join(skeleton)} {verb} not apply to --model: the classifier file holds "
                "its skeleton layout, and export --model exports all of the classifier's streams "
                f"at its frames. Drop {them}."
            )
        export_classifier(args.model, args.out, stream=args.stream, frames=args.frames)
        return
    export_onnx(  # prints what it wrote
        args.checkpoint,
        args.out,
        stream=args.stream or STREAMS[0],
        frames=args.frames or EVAL_FRAMES,
        data=args.data,
        layout=args.layout,
    )


def _predict(args: argparse.Namespace) -> None:
    from skelcmd.evaluate.predict import predict_files

    summary = predict_files(
        args.model,
        args.inputs,
        args.out,
        split=args.split,
        top_k=args.top_k,
        batch_size=args.batch_size,
        device=args.device,
        window=args.window,
        stride=args.stride,
        min_score=args.min_score,
        pose_format=args.format,
        image_size=args.image_size,
    )
    print(summary.format())


def _add_predict(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "predict",
        _predict,
        "Classify clips with a classifier saved by linear / finetune --save: a data set's "
        "split, or raw recordings prepared as its training set was; --window for long ones.",
    )
    p.add_argument("--model", required=True, metavar="FILE.pt", help="the saved classifier")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a skelcmd data set folder, or raw recordings: NTU .skeleton files, Kinetics-"
        "skeleton .json clips, a clips manifest .csv (path,label,split), .npy clips (T, V, C) "
        "or (M, T, V, C), or a pose estimator's output (mapped to the classifier's layout)",
    )
    p.add_argument(
        "--format",
        choices=["openpose", "mediapipe", "mmpose", "yolo-pose"],
        help="the pose estimator that wrote INPUT (default: told from its form)",
    )
    p.add_argument(
        "--image-size",
        metavar="WxH",
        help="the video's size in pixels for an estimator's pixel coordinates (default: read "
        "from the video beside the output)",
    )
    p.add_argument("--out", required=True, metavar="FILE.csv", help="one row per clip / window")
    p.add_argument("--split", default="test", help="the data set's split (default test)")
    p.add_argument("--top-k", type=positive_int, help="classes per row (default 5)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="clips per batch")
    p.add_argument(
        "--window",
        type=positive_int,
        metavar="FRAMES",
        help="classify windows of this many frames of each (long) recording",
    )
    p.add_argument(
        "--stride",
        type=positive_int,
        metavar="FRAMES",
        help="frames between windows, with --window (default the window)",
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=0.0,
        help="leave windows whose best probability is below this unlabelled (default 0)",
    )
    p.add_argument("--device", default="auto")


def _add_protocol(commands: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = add_command(commands, name, _evaluate, PROTOCOL_HELP[name])
    p.set_defaults(protocol=name)
    p.add_argument("--checkpoint", required=True, help="a skelcmd checkpoint (last.pt)")
    p.add_argument("--data", required=True, metavar="DIR", help="the data set to evaluate on")
    p.add_argument(
        "--config", help=f"a YAML file or an eval preset (default: {name}; see skelcmd presets)"
    )
    add_set_option(p, "override a protocol setting, e.g. --set epochs=20 (repeatable)")
    p.add_argument(
        "--stream",
        default=ALL,
        choices=STREAM_CHOICES,
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
    return p


def register(commands: argparse._SubParsersAction) -> None:
    protocol = {name: _add_protocol(commands, name) for name in PROTOCOLS}
    protocol["knn"].add_argument(
        "--k", type=positive_int, nargs="+", help="neighbours; several at once (default 1)"
    )
    protocol["finetune"].add_argument(
        "--label-fraction", type=float, help="fraction of the train labels, e.g. 0.01"
    )
    protocol["finetune"].add_argument(
        "--seeds", type=positive_int, help="number of label subsets / runs (seeds 0..N-1)"
    )
    for name in ("linear", "finetune"):
        protocol[name].add_argument(
            "--save",
            metavar="FILE.pt",
            help="also save the trained classifier (encoders, heads, classes, the data set's "
            "preparation) for skelcmd predict / export; several streams: the ensemble; "
            "several seeds: seed 0's",
        )

    p = add_command(
        commands,
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

    _add_predict(commands)

    p = add_command(
        commands,
        "embed",
        _embed,
        "Export encoder features of every sample of a split (centre crop "
        f"{EVAL_CROP * 100:.0f} %%, {EVAL_FRAMES} frames), as evaluation sees them.",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, metavar="DIR")
    p.add_argument("--split", default="test", help="split to embed (default test)")
    p.add_argument("--stream", default=STREAMS[0], help=ONE_STREAM)
    p.add_argument("--out", required=True, metavar="FILE.npy", help="features (N, D) float32")
    p.add_argument("--device", default="auto")

    p = add_command(
        commands,
        "export",
        _export,
        "Export one stream's encoder, or a saved classifier, to ONNX and check it against "
        "PyTorch with onnxruntime.",
    )
    p.add_argument("--checkpoint", help="a checkpoint: export its --stream encoder")
    p.add_argument(
        "--model",
        metavar="FILE.pt",
        help="a classifier saved by linear / finetune --save: export encoders + heads (+ the "
        "ensemble) as one graph, clips (N, C, T, V, M) already centre-cropped and resized -> "
        "probabilities (N, K)",
    )
    p.add_argument("--out", required=True, metavar="FILE.onnx")
    p.add_argument("--stream", help=f"with --checkpoint: {ONE_STREAM}")
    p.add_argument(
        "--frames",
        type=positive_int,
        help=f"with --checkpoint: clip length (default {EVAL_FRAMES}); --model exports the "
        "classifier's frames",
    )
    p.add_argument(
        "--data", metavar="DIR", help="with --checkpoint: a data set giving the skeleton layout"
    )
    p.add_argument(
        "--layout", help="with --checkpoint: the skeleton layout, if not stored in the checkpoint"
    )
