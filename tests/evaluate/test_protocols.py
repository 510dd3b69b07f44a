"""The evaluation protocols' configs: every numeric option's range (item 6 of issue 13)."""

import pytest

from skelcmd.errors import UserError
from skelcmd.evaluate.protocols import load_eval_config


@pytest.mark.parametrize(
    ("protocol", "override", "match"),
    [
        ("linear", "gamma=0", "lr and gamma must be > 0"),
        ("linear", "seed=-1", "LinearConfig.seed must be at least 0"),
        ("linear", "workers=-2", "LinearConfig.workers must be at least 0"),
        ("finetune", "milestones=[-1]", r"milestones \[-1\] must be epochs >= 1"),
        ("finetune", "seeds=[-1]", "distinct ints >= 0"),
        ("knn", "seed=-1", "seed \\(-1\\) must be >= 0"),
    ],
)
def test_evaluation_options_out_of_range(protocol, override, match):
    with pytest.raises(UserError, match=match):
        load_eval_config(protocol, None, [override])


def test_a_note_when_test_clips_are_of_classes_the_train_split_lacks():
    import numpy as np

    from skelcmd.evaluate.common import unseen_classes_note

    names = ["a", "b", "c", "d"]
    train, test = np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3, 3, 1])
    note = unseen_classes_note(train, test, names, "train", "test")
    unseen = [label for label in test if label not in set(train)]  # plain: 3 clips of c, d
    assert note is not None and f"{len(unseen)} of {len(test)} test clips" in note
    assert "2 class(es) with no train clip (c, d)" in note
    assert f"at most {100 * (1 - len(unseen) / len(test)):.1f} %" in note  # 50.0
    assert unseen_classes_note(train, np.array([1, 0]), names, "train", "test") is None


def test_knn_says_so_when_the_test_split_has_classes_the_train_split_lacks(
    trained, data, tmp_path, capsys
):
    import numpy as np

    from skelcmd.cli import main
    from skelcmd.data.format import open_dataset
    from skelcmd.data.writer import write_dataset

    source = open_dataset(data)
    split = source.split("train")
    x, n, y = np.asarray(split.data[:8]), split.lengths[:8], np.array(split.labels[:8])
    gallery_classes = set(y.tolist())
    unseen = [c for c in range(len(source.class_names)) if c not in gallery_classes]
    assert unseen  # 8 clips cannot cover every class of the synthetic set
    y_test = y.copy()
    y_test[:2] = unseen[0]
    arrays = {"data": np.concatenate([x, x]), "lengths": np.concatenate([n, n]),
              "labels": np.concatenate([y, y_test])}  # fmt: skip
    masks = {"train": np.arange(16) < 8, "test": np.arange(16) >= 8}
    write_dataset(tmp_path / "d", source.layout, source.class_names, arrays, masks,
                  source="synthetic", benchmark="xsub")  # fmt: skip
    assert main(["knn", "--checkpoint", str(trained / "last.pt"), "--data", str(tmp_path / "d"),
                 "--out", str(tmp_path / "records")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "note: 2 of 8 test clips are of 1 class(es) with no train clip" in err
    assert "at most 75.0 %" in err


def test_a_preset_of_another_protocol_is_refused_naming_the_right_ones(tmp_path):
    # knn_cpu holds only `frames`, a key linear has too: it would run silently as linear
    said = r"knn_cpu is a preset of skelcmd knn, not of skelcmd linear; linear's presets are "
    with pytest.raises(UserError, match=said + "linear, linear_cpu, linear_standardized"):
        load_eval_config("linear", "knn_cpu")
    with pytest.raises(UserError, match=r"preset of skelcmd linear, not of skelcmd knn"):
        load_eval_config("knn", "eval/linear")
    with pytest.raises(UserError, match=r"semi is a preset of skelcmd finetune, not of skelcmd kn"):
        load_eval_config("knn", "semi")
    assert load_eval_config("finetune", "semi").label_fraction < 1  # semi is finetune's
    own = tmp_path / "knn_mine.yaml"  # a file of the user's, whatever its name
    own.write_text("frames: 16\n")
    assert load_eval_config("linear", str(own)).frames == 16
