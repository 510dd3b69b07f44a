"""Run MediaPipe Pose on a video and write its landmarks as CSV (`skelcmd extract` runs this).

This file is run as a script by the Python of the environment where MediaPipe 0.10.21 is
installed (it needs numpy < 2, so it usually lives apart from skelcmd's); it imports only the
standard library, OpenCV and MediaPipe, never skelcmd.

    python mediapipe_worker.py --check
    python mediapipe_worker.py VIDEO WORLD.csv IMAGE.csv

The legacy `solutions.pose` model of complexity 1 (`pose_landmark_full.tflite`) and the pose
detector ship inside the MediaPipe wheel; the worker checks that both files are there and
makes MediaPipe's download helper fail, so it never downloads anything. Each CSV has one row
per video frame: `frame_number`, then x_i, y_i, z_i, visibility_i of the 33 landmarks (world
landmarks in metres, or image landmarks as fractions of the image), empty where no pose was
found. The last line on stdout is a JSON summary.
"""

import contextlib
import csv
import json
import os
import sys
import time

MODELS = ("pose_landmark/pose_landmark_full.tflite", "pose_detection/pose_detection.tflite")
LANDMARKS = 33


def _setup():
    """The mediapipe module, its legacy pose model checked present and downloads disabled."""
    import mediapipe

    root = os.path.join(os.path.dirname(mediapipe.__file__), "modules")
    absent = [m for m in MODELS if not os.path.isfile(os.path.join(root, m))]
    if absent or not hasattr(getattr(mediapipe, "solutions", None), "pose"):
        raise SystemExit(
            f"mediapipe {mediapipe.__version__} has no legacy pose model inside its package "
            f"({', '.join(absent) or 'no solutions.pose'}); install mediapipe==0.10.21."
        )
    from mediapipe.python.solutions import download_utils

    def refuse(*args, **kwargs):
        raise RuntimeError("skelcmd extract never downloads models; this one is not installed")

    download_utils.download_oss_model = refuse
    return mediapipe, os.path.join(root, MODELS[0])


def _header():
    return ["frame_number"] + [
        f"{axis}_{i}" for i in range(LANDMARKS) for axis in ("x", "y", "z", "visibility")
    ]


def _row(number, landmarks):
    if landmarks is None:
        return [number] + [""] * (4 * LANDMARKS)
    cells = [number]
    for point in landmarks.landmark:
        cells += [repr(point.x), repr(point.y), repr(point.z), repr(point.visibility)]
    return cells


def run(video, world_csv, image_csv):
    import cv2

    mediapipe, _ = _setup()
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise SystemExit(f"OpenCV cannot open the video {video}.")
    frames = found = 0
    started = time.time()
    with contextlib.ExitStack() as stack:  # (not a parenthesised `with`: Python 3.9 runs this)
        world = csv.writer(stack.enter_context(open(world_csv, "w", newline="")))
        image = csv.writer(stack.enter_context(open(image_csv, "w", newline="")))
        pose = stack.enter_context(
            mediapipe.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
        )
        world.writerow(_header())
        image.writerow(_header())
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            result = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            world.writerow(_row(frames, result.pose_world_landmarks))
            image.writerow(_row(frames, result.pose_landmarks))
            found += result.pose_landmarks is not None
            frames += 1
    fps = capture.get(cv2.CAP_PROP_FPS)
    print(
        json.dumps(
            {
                "frames": frames,
                "with_pose": found,
                "fps": fps,
                "seconds": round(time.time() - started, 2),
            }
        )
    )


def main(argv):
    if argv == ["--check"]:
        mediapipe, model = _setup()
        import cv2  # noqa: F401  (the worker reads videos with it)

        print(json.dumps({"mediapipe": mediapipe.__version__, "model": model}))
    elif len(argv) == 3:
        run(*argv)
    else:
        raise SystemExit("usage: mediapipe_worker.py --check | VIDEO WORLD.csv IMAGE.csv")


if __name__ == "__main__":
    main(sys.argv[1:])
