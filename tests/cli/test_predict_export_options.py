"""Options of `skelcmd predict`, `export` and `linear | finetune --save` that do not apply, or
file names of the wrong kind, are refused before anything is read or written; an option that
is capped says so."""

import numpy as np
import pytest

from skelcmd.cli import main
from tests.evaluate.test_predict_pose import hand_made

pytestmark = pytest.mark.usefixtures("one_thread")


def refused(argv, capsys):
    """The CLI's exit status 2 and its one error paragraph."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return " ".join(err.split())


@pytest.fixture
def models(tmp_path):
    return {
        "joint": hand_made(tmp_path / "joint.pt", "ntu25", "xyz"),
        "ensemble": hand_made(tmp_path / "ens.pt", "ntu25", "xyz", streams=("joint", "motion")),
    }


@pytest.mark.parametrize(
    "model, options, names",
    [
        ("ensemble", ["--stream", "joint"], ["--stream joint", "joint + motion", "16 frames"]),
        ("joint", ["--stream", "bone"], ["--stream bone", "is a joint classifier"]),
        ("joint", ["--frames", "32"], ["--frames 32", "16 frames", "Drop --frames"]),
        ("joint", ["--layout", "ntu25"], ["--layout does not apply to --model", "all of the"]),
        ("joint", ["--data", "somewhere"], ["--data does not apply to --model", "at its frames"]),
    ],
)
def test_export_model_refuses_options_it_would_ignore(models, tmp_path, capsys, model, options,
                                                      names):  # fmt: skip
    out = tmp_path / "a.onnx"
    message = refused(["export", "--model", models[model], "--out", out, *options], capsys)
    for name in names:
        assert name in message, message
    assert "exports the whole classifier" in message or "exports all of" in message
    assert not out.exists()


def test_export_model_takes_options_that_are_the_classifiers_own(models, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "a.onnx"
    argv = ["export", "--model", models["joint"], "--out", out, "--stream", "joint"]
    assert main([str(a) for a in [*argv, "--frames", "16"]]) == 0
    assert capsys.readouterr().out.count("wrote") == 1 and out.is_file()
    argv = ["export", "--model", models["ensemble"], "--out", out, "--stream", "ensemble"]
    assert main([str(a) for a in argv]) == 0


def test_exports_and_saved_classifiers_need_their_suffix(models, tmp_path, capsys):
    for source in (["--model", models["joint"]], ["--checkpoint", tmp_path / "last.pt"]):
        message = refused(["export", *source, "--out", tmp_path / "a.txt"], capsys)
        assert "--out" in message and "a.txt" in message and ".onnx" in message
    for protocol in ("linear", "finetune"):
        argv = [protocol, "--checkpoint", tmp_path / "last.pt", "--data", tmp_path / "d"]
        message = refused([*argv, "--save", tmp_path / "x.onnx"], capsys)
        assert "--save" in message and "x.onnx" in message and "ending .pt" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.pt", "joint.pt"]


def test_export_checkpoint_says_what_it_wrote_once(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "e.onnx"
    assert main(["export", "--checkpoint", str(trained / "last.pt"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("wrote") == 1 and "joint encoder" in printed, printed


def test_predict_stride_needs_a_window_and_a_capped_top_k_is_said(models, tmp_path, capsys):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.random.default_rng(0).normal(size=(40, 25, 3)).astype(np.float32))
    out = tmp_path / "p.csv"
    base = ["predict", "--model", models["joint"], clip, "--out", out]
    assert "--stride 8 needs --window" in refused([*base, "--stride", "8"], capsys)
    assert not out.exists()
    assert main([str(a) for a in [*base, "--window", "16", "--stride", "8"]]) == 0
    assert "top-k" not in capsys.readouterr().err
    assert main([str(a) for a in [*base, "--top-k", "10"]]) == 0
    err = capsys.readouterr().err
    assert err.count("--top-k 10: the classifier has 3 classes") == 1, err
    assert "class_3" in out.read_text().splitlines()[0]
