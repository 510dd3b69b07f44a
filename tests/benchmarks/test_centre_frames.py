"""benchmarks/accuracy/centre_frames.py against a per-joint loop."""

import numpy as np

from benchmarks.accuracy import centre_frames


def test_centre_frames_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 3, 5, 4, 2)).astype(np.float32)
    x[0, :, 3:] = 0  # padding
    x[1, :, :, 2, 1] = 0  # an untracked joint of person 2
    x[2, :, :, :, 1] = 0  # no second person
    out = centre_frames.centre_frames(x, origin=1)
    want = np.zeros_like(x)
    for n in range(3):
        for t in range(5):
            for v in range(4):
                for m in range(2):
                    if np.abs(x[n, :, t, v, m]).sum() != 0:
                        want[n, :, t, v, m] = x[n, :, t, v, m] - x[n, :, t, 1, 0]
    np.testing.assert_allclose(out, want, atol=1e-6)
    assert np.all(out[:, :, :, 1, 0] == 0)
