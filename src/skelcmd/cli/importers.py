"""`skelcmd import KIND`: the table of importers, one `Source` entry each (see
`skelcmd.cli.sources` for what an entry holds and how to add one)."""

from __future__ import annotations

import argparse

from skelcmd.cli import video
from skelcmd.cli.options import add_command, add_overwrite, add_preprocess_options, add_workers
from skelcmd.cli.sources import Source, add_sources
from skelcmd.names import IMPORT_PREPROCESS, NONE, REFERENCE


def _layout_and_classes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layout",
        default="ntu25",
        help="layout name or YAML file (default ntu25; pyskl: coco17 for 2D keypoints)",
    )
    parser.add_argument(
        "--classes",
        dest="class_names",
        metavar="CLASSES",
        default=None,
        help="class names: ntu60, ntu120, or a text file with one name a line "
        "(default: NTU names for 60/120 classes, else class_1, class_2, ...)",
    )


def _npz_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--x-format",
        choices=["auto", "ntmvc", "nctvm"],
        default="auto",
        help="layout of x: ntmvc = (N, T, M*V*C) as in CTR-GCN, nctvm = (N, C, T, V, M); "
        "auto decides by the number of dimensions (default)",
    )
    _layout_and_classes(parser)
    parser.add_argument("--benchmark", default="", help="benchmark name to record")


def _pyskl_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split", required=True, help="benchmark, e.g. xsub (uses xsub_train, xsub_val)"
    )
    _layout_and_classes(parser)
    parser.set_defaults(layout=None)  # decided by the keypoints: 3D or 2D


def _kinetics_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        help="split of these clips (default: test if the label file's name says val or test, "
        "else train)",
    )
    parser.add_argument(
        "--test",
        nargs=2,
        metavar=("CLIPS_DIR", "LABEL_JSON"),
        help="a second folder and label file, written as the test split",
    )
    parser.add_argument(
        "--classes",
        dest="class_names",
        metavar="CLASSES",
        help="class names, one a line in label order, e.g. label_name.txt (default: the names "
        "in the label files)",
    )
    add_workers(parser)


def _clips_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", required=True, help="a built-in layout name or a YAML file")
    parser.add_argument(
        "--channels",
        choices=["xyz", "xy", "xy+score"],
        default="xyz",
        help="what each joint's numbers are (default xyz)",
    )
    parser.add_argument(
        "--classes",
        dest="class_names",
        metavar="CLASSES",
        help="class names, one a line (default: the labels of the manifest, sorted)",
    )


IMPORTERS: tuple[Source, ...] = (
    Source(
        "utd-mhad",
        "UTD-MHAD skeleton .mat files, cross-subject split.",
        "skelcmd.sources.utd_mhad:import_utd_mhad",
        inputs=(("raw_dir", "RAW_DIR", "folder of aA_sS_tT_skeleton.mat files"),),
        preprocess=REFERENCE,
    ),
    Source(
        "npz",
        "An x_train/y_train/x_test/y_test .npz (CTR-GCN family).",
        "skelcmd.sources.npz:import_npz",
        inputs=(("file", "FILE", None),),
        options=_npz_options,
        preprocess=NONE,
    ),
    Source(
        "pyskl",
        "A pyskl-style annotation pickle: 3D keypoints, or 2D with scores.",
        "skelcmd.sources.pyskl:import_pyskl",
        inputs=(("file", "FILE", None),),
        options=_pyskl_options,
        preprocess=NONE,
    ),
    Source(
        "kinetics-skeleton",
        "The Kinetics-skeleton release (ST-GCN's OpenPose 2D poses): <id>.json clips and their "
        "label file; 2 persons by summed score per frame, clips without a skeleton left out.",
        "skelcmd.sources.kinetics:import_kinetics",
        inputs=(
            ("clips_dir", "CLIPS_DIR", "folder of <video id>.json clips"),
            ("label_file", "LABEL_JSON", "e.g. kinetics_val_label.json"),
        ),
        options=_kinetics_options,
    ),
    Source(
        "sbu",
        "SBU Kinect Interaction (282 two-person sequences) as OUT_DIR/fold1 .. fold5, the "
        "standard 5-fold cross-validation, in metres.",
        "skelcmd.sources.sbu:import_sbu",
        inputs=(("raw_dir", "RAW_DIR", "folder holding s01s02, s01s03, ..."),),
        preprocess=NONE,
    ),
    Source(
        "clips",
        "Your own clips, listed in a manifest CSV (path,label,split[,subject,view,"
        "person_count]); each a .npy (T, V, C) / (M, T, V, C) or a .csv / .txt of one frame a "
        "line.",
        "skelcmd.sources.clips:import_clips",
        inputs=(("manifest", "MANIFEST.csv", None),),
        options=_clips_options,
    ),
    Source(
        "openpose",
        "OpenPose --write_json folders (BODY_25, BODY_25B, COCO-18): one clip per video, "
        "persons tracked, confidences as the score channel.",
        "skelcmd.sources.pose_estimators.openpose:import_openpose",
        inputs=(("input", "INPUT", video.INPUT_HELP["openpose"]),),
        options=video.openpose_options,
    ),
    Source(
        "mediapipe",
        "MediaPipe Pose landmarks (CSV or JSON): world landmarks as 3D in metres, image "
        "landmarks as 2D.",
        "skelcmd.sources.pose_estimators.mediapipe:import_mediapipe",
        inputs=(("input", "INPUT", video.INPUT_HELP["mediapipe"]),),
        options=video.mediapipe_options,
    ),
    Source(
        "mmpose",
        "MMPose / RTMPose predictions JSON (COCO-17 keypoints and scores per instance).",
        "skelcmd.sources.pose_estimators.mmpose:import_mmpose",
        inputs=(("input", "INPUT", video.INPUT_HELP["mmpose"]),),
        options=video.image_size_option,
    ),
    Source(
        "yolo-pose",
        "Ultralytics YOLO-pose results: save_txt rows, or a JSON of keypoints per track id.",
        "skelcmd.sources.pose_estimators.yolo_pose:import_yolo_pose",
        inputs=(("input", "INPUT", video.INPUT_HELP["yolo-pose"]),),
        options=video.image_size_option,
    ),
)


def _shared(parser: argparse.ArgumentParser, source: Source) -> None:
    if source.preprocess is not None:
        add_preprocess_options(parser, IMPORT_PREPROCESS, source.preprocess)
    add_overwrite(parser)


def register(commands: argparse._SubParsersAction) -> None:
    parser = add_command(
        commands, "import", None, "Convert a data set you already have into skelcmd's format."
    )
    add_sources(
        parser.add_subparsers(dest="kind", metavar="KIND", required=True), IMPORTERS, _shared
    )
