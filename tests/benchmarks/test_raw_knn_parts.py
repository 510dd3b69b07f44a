"""benchmarks/accuracy/raw_knn.py --streams: a stream split into its time-average and the rest."""

import numpy as np

from benchmarks.accuracy import raw_knn
from skelcmd.skeleton import get_layout


def test_parts_are_the_time_average_and_the_rest_of_each_stream():
    layout = get_layout("ntu25")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 3, 6, 25, 2)).astype(np.float32)
    for stream in raw_knn.STREAMS:
        whole, mean, rest = raw_knn.stream_parts(x, layout, stream).values()
        assert whole.shape == x.shape and mean.shape == (3, 3, 25, 2) and rest.shape == x.shape
        for n in range(3):  # plain: per clip, channel, joint and person, over the 6 frames
            for v in (0, 7, 24):
                for m in range(2):
                    for c in range(3):
                        frames = [float(whole[n, c, t, v, m]) for t in range(6)]
                        average = sum(frames) / 6
                        assert abs(float(mean[n, c, v, m]) - average) < 1e-5
                        for t in range(6):
                            assert abs(float(rest[n, c, t, v, m]) - (frames[t] - average)) < 1e-5
    joint = raw_knn.stream_parts(x, layout, "joint")["whole clip"]
    np.testing.assert_allclose(joint, x)  # the joint stream is the coordinates
    bone = raw_knn.stream_parts(x, layout, "bone")["whole clip"]
    child, parent = 5, layout.parents[5]  # elbow_left <- shoulder_left
    want = x[:, :, :, child] - x[:, :, :, parent]
    np.testing.assert_allclose(bone[:, :, :, child], want, atol=1e-6)
