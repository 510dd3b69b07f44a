import argparse
import subprocess
import sys

import numpy as np
import pytest

from skelcmd.cli import build_parser, main
from skelcmd.data.writer import DatasetWriter
from skelcmd.skeleton import NTU25
from tests.helpers.tiny import TINY, set_options


def all_command_paths(parser=None, prefix=()):
    """Every command and sub-command path, e.g. ('import', 'npz')."""
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from all_command_paths(sub, (*prefix, name))


@pytest.mark.parametrize("path", [(), *all_command_paths()], ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skelcmd")
    assert "--help" in out


@pytest.fixture
def tiny_dataset(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny"
    with DatasetWriter(path, NTU25, ["wave", "clap"], source="test", benchmark="xsub") as w:
        for name, n in (("train", 4), ("test", 3)):
            data = rng.normal(size=(n, 3, 12, 25, 2)).astype(np.float32)
            data[:, :, :, :, 1] = 0
            data[0, :, :, :, 1] = 1.0  # one two-person sample per split
            data[:, :, 10:] = 0
            w.add_split(name, n, 12, 2).append(
                data, np.full(n, 10), np.arange(n) % 2, subjects=np.arange(n) + 1
            )
    return path


def test_info_prints_splits_classes_and_lengths(tiny_dataset, capsys):
    assert main(["info", str(tiny_dataset)]) == 0
    out = capsys.readouterr().out
    assert "layout     ntu25 (25 joints)   channels xyz   classes 2" in out
    lines = out.splitlines()
    train = next(line for line in lines if line.startswith("train"))
    assert train.split()[:6] == ["train", "4", "10/10/10.0/10", "12", "1", "subjects"]
    wave = next(line for line in lines if "wave" in line)
    assert wave.split() == ["0", "wave", "2", "2"]


def test_layout_command_lists_and_describes(capsys):
    assert main(["layout"]) == 0
    assert "ntu25" in capsys.readouterr().out
    assert main(["layout", "ntu25"]) == 0
    out = capsys.readouterr().out
    assert "21 spine_shoulder   root (zero bone)" in out
    assert "22 hand_tip_left    bone to 23 thumb_left" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "{tmp}/missing"], "does not exist"),
        (["layout", "smpl"], "unknown layout 'smpl'"),
        (["show", "{data}", "--index", "99", "--out", "{tmp}/x.png"], "--index 99 is out of range"),
        (["show", "{data}", "--split", "val", "--out", "{tmp}/x.png"], "no split 'val'"),
    ],
)
def test_user_mistakes_exit_2_with_one_message(argv, message, tiny_dataset, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, data=tiny_dataset) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("skelcmd: error: ") and message in err
    assert "Traceback" not in err


def test_bad_option_values_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", "out", "--samples", "0"])
    assert exit_info.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        main(["--debug", "info", str(tmp_path / "missing")])


def test_console_script_runs_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "skelcmd", "info", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_synth_info_show_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", str(out), "--samples", "96", "--benchmark", "xview"]) == 0
    assert (out / "xview" / "meta.json").is_file() and not (out / "xsub").exists()
    assert main(["synth", str(out), "--samples", "96", "--benchmark", "xview"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["info", str(out / "xview")]) == 0
    assert "handshake" in capsys.readouterr().out
    for suffix in (".png", ".gif"):
        picture = tmp_path / f"s{suffix}"
        assert main(["show", str(out / "xview"), "--index", "3", "--out", str(picture)]) == 0
        assert picture.stat().st_size > 1000
    assert main(["info", str(out)]) == 2
    assert "name one, e.g." in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "demo"), "--samples", "96"]
    argv += set_options(TINY)
    argv += ["--linear-set", "epochs=2", "--linear-set", "milestones=[1]"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "source     synthetic   benchmark xsub" in out
    for name in ("sample.png", "sample.gif", "report.md", "accuracy.png", "tsne_joint.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 500, name
    report = (tmp_path / "demo" / "report.md").read_text()
    linear = "linear, standardized features"  # the demo's linear_cpu preset standardizes
    for row in ("| kNN | joint |", "| kNN, random init (BN recomputed) | joint |"):
        assert row in report
    assert f"| {linear} | joint |" in report and "| ensemble |" in report
    assert f"| {linear}, random init (BN recomputed) | joint |" in report
    records = sorted(p.name for p in (tmp_path / "demo" / "pretrain" / "eval").iterdir())
    assert len(records) == 16  # 2 protocols x 4 streams x (pretrained, random init)
    assert (tmp_path / "demo" / "pretrain" / "predictions.csv").is_file()  # step 6: predict
    assert "](predictions_confusion.png)" in report
    assert (tmp_path / "demo" / "predictions_confusion.png").stat().st_size > 1000
    assert main(argv) == 0  # again: the finished pretraining run is reused
    assert "reusing the finished run" in capsys.readouterr().out
