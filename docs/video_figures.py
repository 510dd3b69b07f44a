"""Draw the layout-mapping picture of docs/video.md: one frame of MediaPipe world landmarks
(the 33 landmarks as imported), the same frame mapped to NTU-25, and a frame of skelcmd's
synthetic NTU-25 data (or of a real NTU RGB+D .skeleton file, --ntu) beside them.

    python docs/video_figures.py LANDMARKS.csv docs/video_layout_map.png [--frame 170]

LANDMARKS.csv is MediaPipe Pose world landmarks (e.g. what `skelcmd extract --landmarks DIR`
keeps, or any long / wide landmark CSV that `skelcmd import mediapipe` reads).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from skelcmd.data.format import open_dataset
from skelcmd.layout_map import convert_layout
from skelcmd.skeleton import NTU25
from skelcmd.sources.pose_estimators.mediapipe import import_mediapipe
from skelcmd.synthetic.generator import write_synthetic
from skelcmd.viz import render_sample


def _frame(path: Path, frame: int) -> tuple[np.ndarray, object]:
    data = open_dataset(path)
    sample = np.asarray(data.split("train" if "train" in data.splits else "test").data[0])
    return sample[:, frame : frame + 1], data.layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("landmarks", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frame", type=int, default=170)
    parser.add_argument("--ntu", type=Path, help="a real NTU RGB+D .skeleton file instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        import_mediapipe(args.landmarks, root / "mp", persons=1)
        convert_layout(root / "mp", NTU25, root / "ntu")
        panels = [
            (*_frame(root / "mp", args.frame), "MediaPipe, 33 landmarks"),
            (*_frame(root / "ntu", args.frame), "mapped to NTU-25"),
        ]
        if args.ntu is not None:
            from skelcmd.sources.ntu_parse import parse_skeleton

            xyz = parse_skeleton(args.ntu).xyz[:, :1, :, None]
            panels.append((xyz, NTU25, "NTU RGB+D"))
        else:
            (synth,) = write_synthetic(root / "s", num_samples=60, benchmarks=["xsub"],
                                       preprocess="none")  # fmt: skip
            panels.append((*_frame(synth, 0), "NTU-25, synthetic"))
        images = []
        for k, (sample, layout, title) in enumerate(panels):
            out = render_sample(sample, 1, layout, root / f"{k}.png", title=title, frames=1)
            images.append(Image.open(out).convert("RGB"))
        height = min(image.height for image in images)
        images = [im.resize((im.width * height // im.height, height)) for im in images]
        picture = Image.new("RGB", (sum(im.width for im in images), height), "white")
        x = 0
        for image in images:
            picture.paste(image, (x, 0))
            x += image.width
        picture.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
