"""benchmarks/accuracy/shortcut_probe.py: subject ids from sample names, leave-one-out 1-NN."""

import numpy as np
import torch

from benchmarks.accuracy import shortcut_probe


def test_subject_ids_of_each_naming_scheme():
    assert shortcut_probe.subject_of("a12_s3_t4") == "3"  # UTD-MHAD
    assert shortcut_probe.subject_of("S001C002P017R001A060") == "017"  # NTU RGB+D: P, not S
    assert shortcut_probe.subject_of("S004V1R002A013") == "004"  # the synthetic set
    assert shortcut_probe.subject_of("clip_9") == "clip_9"


def test_leave_one_out_never_counts_the_row_itself():
    features = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    plain_labels = np.array([0, 0, 1, 1])
    assert shortcut_probe.leave_one_out(features, plain_labels) == 100.0
    # each row's nearest other row has the other label: 0 %, although every row matches itself
    assert shortcut_probe.leave_one_out(features, np.array([0, 1, 2, 3])) == 0.0
