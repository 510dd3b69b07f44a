"""End to end through the command line: pretrain a few steps, then every protocol, embed,
export and report, on a tiny synthetic data set."""

import json

import numpy as np
import pytest

from skelcmd.cli import main
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY, set_options

ONE_EPOCH = [*TINY, "optim.epochs=1"]


@pytest.mark.slow
def test_pretrain_then_every_protocol_and_the_report(tmp_path, capsys):
    (data,) = write_synthetic(tmp_path / "synth", num_samples=96, seed=2, benchmarks=["xsub"])
    run = tmp_path / "run"
    argv = ["pretrain", "--config", "synthetic_cpu", "--out", str(run)]
    pretraining = [f"data.path={data}", *ONE_EPOCH, "train.knn_every=1"]
    assert main([*argv, *set_options(pretraining)]) == 0
    ckpt = str(run / "last.pt")
    common = ["--checkpoint", ckpt, "--data", str(data)]

    assert main(["knn", *common, "--k", "1", "3"]) == 0
    assert main(["knn", *common, "--random-init", "--stream", "joint"]) == 0
    linear = ["--config", "linear_cpu", *set_options(["epochs=2", "milestones=[1]"])]
    assert main(["linear", *common, *linear]) == 0
    semi = ["--config", "finetune_cpu", *set_options(["epochs=1", "milestones=[1]"])]
    semi += ["--label-fraction", "0.5", "--seeds", "2", "--stream", "bone"]
    assert main(["finetune", *common, *semi]) == 0
    out = capsys.readouterr().out
    assert "semi      bone      top-1" in out and "2 seeds:" in out

    records = {p.name: json.loads(p.read_text()) for p in (run / "eval").glob("*.json")}
    assert {"knn_joint_k1.json", "knn_ensemble_k1.json", "knn_joint_random_k1.json"} <= set(records)
    assert set(records["knn_ensemble_k1.json"]["extra"]["top1_by_k"]) == {"1", "3"}
    assert records["knn_joint_random_k1.json"]["extra"]["bn_stats"] == "train"
    linear_names = {"linear_joint_standardize.json", "linear_ensemble_standardize.json"}
    assert linear_names | {"semi_bone_frac0.5.json"} <= set(records)
    linear_joint = records["linear_joint_standardize.json"]
    assert linear_joint["dataset"]["source"] == "synthetic" and linear_joint["stream"] == "joint"
    assert 0 <= linear_joint["top1"] <= 100 and "best_top1" in linear_joint["extra"]
    assert len(records["semi_bone_frac0.5.json"]["extra"]["per_seed"]) == 2

    embedding = tmp_path / "embed_joint.npy"
    assert main(["embed", *common, "--out", str(embedding)]) == 0
    features = np.load(embedding)
    assert features.shape == (len(np.load(data / "test" / "labels.npy")), 16)

    onnx = tmp_path / "encoder.onnx"
    assert main(["export", "--checkpoint", ckpt, "--out", str(onnx), "--stream", "bone"]) == 0
    assert onnx.stat().st_size > 1000

    assert main(["report", str(run), "--embedding", str(embedding)]) == 0
    report = (run / "report.md").read_text()
    assert "| kNN (k=1) | joint |" in report or "| kNN | joint |" in report
    assert "| semi-supervised, 50 % labels | bone |" in report
    assert "| kNN, random init (BN recomputed) | joint |" in report
    assert "| linear, standardized features | joint |" in report
    assert (run / "tsne_joint.png").is_file() and (run / "curves.png").is_file()
    assert (run / "knn_curve.png").is_file()  # train.knn_every=1: the learning curve


def test_user_mistakes_in_evaluation_commands(tmp_path, capsys):
    assert main(["knn", "--checkpoint", str(tmp_path / "none.pt"), "--data", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nothing to report" in err and "Traceback" not in err
