"""From video to skelcmd: the options of `import openpose | mediapipe | mmpose | yolo-pose`
(their entries are in `skelcmd.cli.importers.IMPORTERS`), and the commands `convert-layout`
(`skelcmd.layout_map`) and `extract` (`skelcmd.sources.pose_estimators.extract`, called by
`skelcmd.cli.sources.run_source` as the importers are)."""

from __future__ import annotations

import argparse
from functools import partial

from skelcmd.channels import IMAGE_COORDINATES
from skelcmd.cli.options import add_command, add_overwrite, add_preprocess_options, positive_int
from skelcmd.cli.sources import Source, run_source
from skelcmd.names import IMPORT_PREPROCESS, NONE

INPUT_HELP = {
    "openpose": "folder of OpenPose --write_json files (subfolders: more videos)",
    "mediapipe": "a landmark .csv / .json file, or a folder of them (one a video)",
    "mmpose": "an MMPose predictions .json file, or a folder of them (one a video)",
    "yolo-pose": "a folder of save_txt .txt files, or a .json of tracks (or a folder of them)",
}


def pose_options(parser: argparse.ArgumentParser) -> None:
    """What every estimator import takes: labels, persons, split, gaps."""
    parser.add_argument(
        "--labels",
        metavar="CSV",
        help="video,label[,start,end][,split] rows: one clip per row (a segment when start and "
        "end are given); without it every video is one unlabelled clip (for pretraining)",
    )
    parser.add_argument(
        "--persons",
        type=positive_int,
        default=2,
        help="persons kept per clip, the most present first (default 2)",
    )
    parser.add_argument(
        "--split", default="train", help="the split of clips the labels do not place (train)"
    )
    parser.add_argument(
        "--allow-gaps",
        action="store_true",
        help="keep missing frame numbers as frames with no person (counted and reported) "
        "instead of refusing them",
    )


def image_size_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image-size",
        metavar="WxH",
        help="the video's size in pixels, e.g. 1920x1080 (default: read from VIDEO.mp4 beside "
        "the output)",
    )
    pose_options(parser)


def openpose_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=["auto", "body25", "body25b", "coco18"],
        default="auto",
        help="the OpenPose model (default: 18 points are COCO-18; 25 are told apart as BODY_25 "
        "or BODY_25B from the poses)",
    )
    parser.add_argument(
        "--keypoint-scale",
        choices=["auto", "pixels", "unit", "signed"],
        default="auto",
        help="coordinates as OpenPose's --keypoint_scale wrote them: pixels (0), unit = [0, 1] "
        "(3), signed = [-1, 1] (4); default: from the values",
    )
    image_size_option(parser)


def mediapipe_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--coordinates",
        choices=["auto", "world", "image"],
        default="auto",
        help="world landmarks (metres: a 3D data set) or image landmarks (2D); default: from "
        "the values (world landmarks are centred between the hips)",
    )
    pose_options(parser)


def _convert_layout(args: argparse.Namespace) -> None:
    from skelcmd.data.format import open_dataset
    from skelcmd.layout_map import convert_layout, describe_map
    from skelcmd.skeleton import get_layout

    source = open_dataset(args.dataset, check_values=False).layout
    target = get_layout(args.to)
    lines = describe_map(source, target)
    out = convert_layout(
        args.dataset,
        target,
        args.out_dir,
        persons=args.persons,
        preprocess=args.preprocess,
        align=args.align,
        image_coordinates=args.image_coordinates,
        overwrite=args.overwrite,
    )
    print(f"{source.name} -> {target.name}:")
    print("\n".join(f"  {line}" for line in lines))
    print(f"wrote {out}")


EXTRACT = Source(
    "extract",
    "Estimate poses in videos with MediaPipe Pose (installed in an environment of its own; "
    "nothing is downloaded) and write them as a data set.",
    "skelcmd.sources.pose_estimators.extract:extract",
    inputs=(("videos", "VIDEO", None),),
)


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "convert-layout",
        _convert_layout,
        "Map a data set to another skeleton layout by the body points its joints mean (e.g. "
        "MediaPipe landmarks to NTU-25); refuses joints the source cannot give.",
    )
    p.add_argument("dataset", metavar="DIR", help="a data set directory")
    p.add_argument("--to", required=True, metavar="LAYOUT", help="a layout name or YAML file")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument(
        "--persons",
        type=positive_int,
        default=None,
        help="persons per sample: pad with empty ones or keep the first (default: as given)",
    )
    add_preprocess_options(p, IMPORT_PREPROCESS, NONE)
    p.add_argument(
        "--image-coordinates",
        choices=list(IMAGE_COORDINATES),
        help="2D data: rescale x, y to this convention: signed, the image in [-1, 1] (pose "
        "estimators' imports, pyskl), or centred, in [-0.5, 0.5] (Kinetics-skeleton) "
        "(default: as the data set has them)",
    )
    add_overwrite(p)

    p = add_command(commands, EXTRACT.name, partial(run_source, EXTRACT), EXTRACT.help)
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument(
        "--python",
        help="the Python of the environment with mediapipe==0.10.21 (default: "
        "$SKELCMD_MEDIAPIPE_PYTHON, else this one)",
    )
    p.add_argument(
        "--coordinates",
        choices=["world", "image"],
        default="world",
        help="world landmarks (3D, metres; default) or image landmarks (2D)",
    )
    p.add_argument("--landmarks", metavar="DIR", help="keep the landmark CSV files in DIR")
    pose_options(p)
    p.set_defaults(allow_gaps=False)
    add_overwrite(p)
