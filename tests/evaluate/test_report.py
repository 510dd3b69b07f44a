import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from skelcmd.errors import UserError
from skelcmd.evaluate.records import Record, write_record
from skelcmd.evaluate.report import build_report, dataset_columns, results_table

NTU = {"path": "/d/ntu", "source": "ntu60", "benchmark": "xsub", "split": "test"}
SYN = {"path": "/d/syn", "source": "synthetic", "benchmark": "xsub", "split": "test"}
SEEDS = [60.0, 62.0, 64.0, 66.0, 68.0]  # mean 64, population std 2.83


def rec(protocol, stream, dataset, top1, **kw):
    return Record(protocol=protocol, stream=stream, dataset=dict(dataset), top1=top1, **kw)


def records():
    out = []
    for i, stream in enumerate(("ensemble", "bone", "joint", "motion")):  # any order in
        out.append(rec("knn", stream, NTU, 70.0 + i, top5=90.0 + i))
        out.append(rec("knn", stream, SYN, 50.0 + i))
    out.append(rec("knn", "joint", SYN, 12.34, random_init=True))
    out.append(rec("linear", "joint", NTU, 79.81, extra={"best_top1": 80.55, "best_epoch": 63}))
    standardized = {"best_top1": 81.0, "best_epoch": 70, "feature_norm": "standardize"}
    out.append(rec("linear", "joint", NTU, 80.5, extra=standardized))
    semi_extra = {"label_fraction": 0.01, "per_seed": SEEDS}
    out.append(rec("semi", "joint", NTU, 64.0, extra=semi_extra))
    return out


def test_table_is_laid_out_like_the_paper():
    header, rows = results_table(records())
    assert header == ["protocol", "stream", "ntu60 xsub", "synthetic xsub"]
    assert rows == [
        ["kNN", "joint", "72.0", "52.0"],
        ["", "motion", "73.0", "53.0"],
        ["", "bone", "71.0", "51.0"],
        ["", "ensemble", "70.0", "50.0"],
        ["kNN, random init", "joint", "–", "12.3"],
        ["linear (paper: raw features)", "joint", "79.8", "–"],
        ["linear, standardized features", "joint", "80.5", "–"],
        ["semi-supervised, 1 % labels", "joint", "64.0 ± 2.8", "–"],
    ]


def test_random_init_rows_say_whether_batchnorm_statistics_were_recomputed():
    honest = rec("knn", "joint", SYN, 23.45, random_init=True, extra={"bn_stats": "train"})
    _, rows = results_table([rec("knn", "joint", SYN, 12.34, random_init=True), honest])
    assert rows == [
        ["kNN, random init", "joint", "12.3"],
        ["kNN, random init (BN recomputed)", "joint", "23.4"],
    ]


def test_data_set_columns_follow_the_paper_order():
    labels = ["ntu120 xset", "ntu60 xview", "pku2 xsub", "ntu120 xsub", "ntu60 xsub"]
    recs = [
        rec("knn", "joint", dict(NTU, source=s, benchmark=b), 1.0)
        for s, b in (label.split() for label in labels)
    ]
    assert dataset_columns(recs) == [
        "ntu60 xsub",
        "ntu60 xview",
        "ntu120 xsub",
        "ntu120 xset",
        "pku2 xsub",
    ]


def tables(markdown):
    """Every markdown table of the text as a list of rows of cells."""
    found, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            assert line.endswith("|"), line
            current.append([c.strip() for c in line[1:-1].split("|")])
        elif current:
            found.append(current)
            current = []
    return found


def write_run(tmp_path):
    ntu, syn = tmp_path / "ntu", tmp_path / "syn"
    for record in records():
        write_record(ntu if record.dataset["source"] == "ntu60" else syn, record)
    history = [
        {
            "epoch": e + 1,
            "lr": 0.01 * 0.1 ** (e >= 2),
            "loss/total": 9.0 - e,
            "loss/cmd": 1.0,
            "loss/infonce/joint": 4.0 - e,
            "loss/infonce/bone": 4.5 - e,
            "acc/joint": 0.5,
        }
        for e in range(4)
    ]
    (syn / "history.json").write_text(json.dumps(history))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 60)
    features = rng.normal(size=(60, 8)) + 3 * np.eye(8)[labels]
    np.save(syn / "eval" / "embed_joint.npy", features.astype(np.float32))
    np.save(syn / "eval" / "embed_joint_labels.npy", labels)
    (syn / "eval" / "embed_joint.json").write_text(
        json.dumps({"stream": "joint", "split": "test", "class_names": list("abcd")})
    )
    return ntu, syn


def test_report_writes_tables_and_valid_pictures(tmp_path):
    ntu, syn = write_run(tmp_path)
    report = build_report([ntu, syn], tmp_path / "out")
    assert report == tmp_path / "out" / "report.md"
    text = report.read_text()
    found = tables(text)
    assert len(found) == 4  # top-1, best epoch, top-5, records
    for table in found:
        assert len({len(row) for row in table}) == 1  # consistent column counts
        assert all(re.fullmatch(r":?-+:?", cell) for cell in table[1])
    top1, best, top5, sources = found
    assert top1[2:] == [r for r in results_table(records())[1]]
    assert best[2:] == [
        ["linear (paper: raw features)", "joint", "80.5 (epoch 63)", "–"],
        ["linear, standardized features", "joint", "81.0 (epoch 70)", "–"],
    ]
    assert [row[2] for row in top5[2:]] == ["92.0", "93.0", "91.0", "90.0"]
    assert len(sources) == 2 + len(records())
    assert "last epoch" in text and "best epoch (as the reference reports)" in text
    assert "mean and standard deviation over 5 seeds" in text
    for name in ("accuracy.png", "curves.png", "tsne_joint.png"):
        assert f"]({name})" in text
        with Image.open(tmp_path / "out" / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 100
    assert "## Notes" not in text


def test_missing_history_and_embedding_skip_their_pictures_with_a_note(tmp_path):
    ntu, syn = write_run(tmp_path)
    (syn / "eval" / "embed_joint_labels.npy").unlink()
    report = build_report([ntu])  # default out: the first run directory
    text = report.read_text()
    assert report == ntu / "report.md"
    assert "No training curves" in text and "No t-SNE picture" in text
    assert sorted(p.name for p in ntu.glob("*.png")) == ["accuracy.png"]
    text = build_report([syn], tmp_path / "out").read_text()
    assert "embed_joint_labels.npy does not exist" in text
    assert not (tmp_path / "out" / "tsne_joint.png").exists()


def test_an_out_that_is_a_file_or_an_embedding_that_is_a_folder_is_explained(tmp_path):
    """Issue 22 item 12: `report --out RUN/config.yaml` failed with a bare 'File exists', and
    an --embedding folder named dir.npy was said not to exist."""
    ntu, _ = write_run(tmp_path)
    config = ntu / "config.yaml"
    config.write_text("mine\n")
    with pytest.raises(UserError, match=r"config\.yaml is a file; these outputs go into a folder"):
        build_report([ntu], config)
    assert config.read_text() == "mine\n"
    (tmp_path / "dir.npy").mkdir()
    text = build_report([ntu], tmp_path / "out", embeddings=[tmp_path / "dir.npy"]).read_text()
    assert "dir.npy is a folder, not a file" in text


@pytest.mark.parametrize("when", ["between the moves", "after the moves"])
def test_a_sigterm_while_the_files_are_put_in_place_ends_with_all_of_them(tmp_path, when):
    """Issue 22 item 12: a report SIGTERMed after writing all its files exited 143; one
    SIGTERMed between two moves would have left half of them in place."""
    ntu, _ = write_run(tmp_path)
    out = tmp_path / "out"
    patched, path, hit = {  # the call, its argument, and when it signals
        "between the moves": ("os.replace", "args[1]", f"str(path) == {str(out / 'report.md')!r}"),
        "after the moves": ("atomic._remove", "args[0]", "path.name.startswith('.report.tmp-')"),
    }[when]
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "import skelcmd.atomic as atomic\n"
        "from skelcmd.cli import main\n"
        f"original = {patched}\n"
        "def with_a_signal(*args):\n"
        f"    path = Path({path})\n"
        f"    if {hit}:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return original(*args)\n"
        f"{patched} = with_a_signal\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "report", str(ntu), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "report.md"]


def test_history_alone_and_explicit_embedding(tmp_path):
    _, syn = write_run(tmp_path)
    history_only = tmp_path / "pretrain"
    history_only.mkdir()
    (history_only / "history.json").write_text((syn / "history.json").read_text())
    embedding = tmp_path / "features.npy"
    np.save(embedding, np.load(syn / "eval" / "embed_joint.npy"))
    np.save(tmp_path / "features_labels.npy", np.load(syn / "eval" / "embed_joint_labels.npy"))
    text = build_report([history_only], embeddings=[embedding]).read_text()
    assert "No evaluation records" in text
    assert "](curves.png)" in text and "](tsne_features.png)" in text
    (history_only / "history.json").write_text("{oops")
    with pytest.raises(
        UserError, match=r"history.json is not a readable JSON file of a training history"
    ):
        build_report([history_only])


def test_duplicate_cells_show_the_newest_with_a_note(tmp_path):
    old = rec("knn", "joint", NTU, 10.0, created="2024-01-01T00:00:00+00:00")
    new = rec("knn", "joint", NTU, 20.0, created="2025-01-01T00:00:00+00:00")
    write_record(tmp_path / "a", old)
    write_record(tmp_path / "b", new)
    text = build_report([tmp_path / "a", tmp_path / "b"], tmp_path).read_text()
    assert tables(text)[0][2] == ["kNN", "joint", "20.0"]
    assert "give the same cell" in text and "newer (2025-01-01" in text


def test_knn_scores_of_pretraining_give_a_learning_curve(tmp_path):
    history = [{"epoch": e, "lr": 0.01, "loss/total": 5.0 - e / 10} for e in range(1, 7)]
    for row in history[1::2]:  # train.knn_every=2
        row.update({"knn/joint": 10.0 + row["epoch"], "knn/bone": 8.0, "knn_seconds": 1.5})
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text(json.dumps(history))
    text = build_report([run]).read_text()
    assert "](curves.png)" in text and "](knn_curve.png)" in text
    with Image.open(run / "knn_curve.png") as image:
        image.verify()
        assert image.format == "PNG"
    (run / "history.json").write_text(json.dumps(history[:1]))  # no scores: no learning curve
    text = build_report([run]).read_text()
    assert "knn_curve" not in text
