"""Saved classifiers (`linear | finetune --save`), `predict_files` and `load_classifier`."""

import csv
import itertools
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import skelcmd
from skelcmd.checkpoints import load_checkpoint
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.classifier import load_classifier_file
from skelcmd.evaluate.commands import evaluate
from skelcmd.evaluate.predict import predict_files
from skelcmd.evaluate.protocols import load_eval_config
from skelcmd.model import build_model
from tests.evaluate.test_predict_pose import hand_made
from tests.helpers.data_paths import SHARED_DATA

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["epochs=3", "milestones=[2]", "batch_size=16", "frames=16", "min_frames=8"]
PRESET = {"joint": "linear_standardized", "ensemble": "linear"}
NTU_SAMPLES = SHARED_DATA / "ntu_samples"
KINETICS = SHARED_DATA / "kinetics_skeleton"


def linear_saved(checkpoint, data, stream, out):
    """Run linear evaluation with --save; (classifier file, the record of the saved stream)."""
    config = load_eval_config("linear", PRESET.get(stream, "linear"), FAST)
    records = evaluate(
        "linear", checkpoint, data, config=config, stream=stream, out_dir=out / "records",
        progress=False, save=out / f"{stream}.pt",
    )  # fmt: skip
    return out / f"{stream}.pt", next(r for r in records if r.stream == stream)


@pytest.fixture(scope="module")
def saved(trained, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("classifiers")
    return {s: linear_saved(trained / "last.pt", data, s, root) for s in ("joint", "ensemble")}


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def all_probabilities(rows, classes):
    """(N, K) probabilities from CSV rows written with --top-k K."""
    out = np.zeros((len(rows), len(classes)))
    index = {c: k for k, c in enumerate(classes)}
    for i, row in enumerate(rows):
        for j in range(1, len(classes) + 1):
            out[i, index[row[f"class_{j}"]]] = float(row[f"prob_{j}"])
    return out


def plain_probabilities(file, checkpoint, data):
    """One test clip at a time: crop [b, n - b) with b = int((1 - crop) * n / 2), resize with
    F.interpolate, the checkpoint's encoder, the saved head (normalisation, then x W^T + b),
    softmax, and the mean over the streams."""
    state = torch.load(file, weights_only=True)
    dataset = open_dataset(data)
    split = dataset.split("test")
    model = build_model(load_checkpoint(checkpoint)["config"], dataset.layout, 2)
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    model.eval()
    frames, crop = state["frames"], state["crop"]
    rows = []
    for i in range(len(split)):
        n = int(split.lengths[i])
        b = int((1 - crop) * n / 2)
        clip = torch.from_numpy(np.array(split.data[i, :, b : n - b]))
        c, t, v, m = clip.shape
        line = clip.permute(0, 2, 3, 1).reshape(1, c * v * m, t)
        x = F.interpolate(line, size=frames, mode="linear", align_corners=False)
        x = x.reshape(c, v, m, frames).permute(0, 3, 1, 2)[None]
        probs = []
        for stream in state["streams"]:
            w = state["weights"][stream]
            with torch.no_grad():
                f = model.encode(x, stream)[0]
            if w["norm"] == "standardize":
                f = (f - w["norm_state"]["mean"]) / w["norm_state"]["std"]
            logits = f @ w["fc"]["weight"].T + w["fc"]["bias"]
            probs.append(logits.softmax(0))
        rows.append(torch.stack(probs).mean(0))
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("stream", ["joint", "ensemble"])
def test_predict_reproduces_the_accuracy_linear_reported(saved, trained, data, tmp_path, stream):
    file, record = saved[stream]
    summary = predict_files(file, [data], tmp_path / "p.csv", top_k=100)
    assert summary.rows == len(open_dataset(data).split("test"))
    assert summary.top1 == pytest.approx(record.top1, abs=1e-4)
    assert summary.top5 == pytest.approx(record.top5, abs=1e-4)
    assert record.extra["saved"] == str(file)
    classes = list(open_dataset(data).class_names)
    got = all_probabilities(read_rows(tmp_path / "p.csv"), classes)
    want = plain_probabilities(file, trained / "last.pt", data)
    assert np.abs(got - want).max() < 1e-5
    per_class = read_rows(tmp_path / "p_per_class.csv")
    assert sum(int(r["correct"]) for r in per_class) == round(record.top1 * summary.rows / 100)
    assert (tmp_path / "p_confusion.png").stat().st_size > 1000


def test_the_file_holds_everything_and_load_classifier_equals_predict(saved, data, tmp_path):
    file, _ = saved["ensemble"]
    info = load_classifier_file(file)
    assert info.streams == ["joint", "motion", "bone"]
    assert (info.crop, info.frames, info.num_persons, info.channels) == (0.95, 16, 2, "xyz")
    assert info.preparation["source"] == "synthetic"
    assert info.preparation["extra"]["preprocess"] == open_dataset(data).extra["preprocess"]
    assert info.training["protocol"] == "linear"
    assert load_classifier_file(saved["joint"][0]).module.nets["joint"].fc[0].mean.shape == (16,)

    classifier = skelcmd.load_classifier(file, device="cpu")
    split = open_dataset(data).split("test")
    probs, labels = classifier.predict(split.data[:10], split.lengths[:10], batch_size=3)
    predict_files(file, [data], tmp_path / "p.csv", top_k=len(classifier.classes))
    rows = read_rows(tmp_path / "p.csv")[:10]
    assert np.abs(all_probabilities(rows, classifier.classes) - probs).max() < 1e-6
    assert [classifier.classes[k] for k in labels] == [r["class_1"] for r in rows]
    # .module: prepared clips -> log-probabilities; one clip alone gives the same numbers
    prepared = classifier.transform(torch.from_numpy(np.array(split.data[:2])),
                                    torch.from_numpy(split.lengths[:2]))  # fmt: skip
    with torch.no_grad():
        assert np.abs(classifier.module(prepared).exp().numpy() - probs[:2]).max() < 1e-6
    one, _ = classifier.predict(split.data[3], split.lengths[3])
    assert np.abs(one[0] - probs[3]).max() < 1e-6


def test_finetune_saves_seed_0_and_says_so(trained, data, tmp_path, capsys):
    config = load_eval_config(
        "finetune", "finetune", ["epochs=1", "milestones=[1]", "batch_size=16", "frames=16",
                                 "min_frames=8", "seeds=[0, 1]"],
    )  # fmt: skip
    records = evaluate(
        "finetune", trained / "last.pt", data, config=config, stream="joint",
        out_dir=tmp_path / "records", progress=False, save=tmp_path / "ft.pt",
    )  # fmt: skip
    assert "model of seed 0" in capsys.readouterr().out
    seed0 = records[0].extra["seed_results"][0]
    summary = predict_files(tmp_path / "ft.pt", [data], tmp_path / "p.csv")
    assert summary.top1 == pytest.approx(seed0["top1"], abs=1e-4)
    assert load_classifier_file(tmp_path / "ft.pt").training["seed"] == 0


def test_damaged_or_foreign_files_are_refused_by_name(saved, trained, data, tmp_path):
    file, _ = saved["joint"]
    cut = tmp_path / "cut.pt"
    cut.write_bytes(file.read_bytes()[:2000])
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"skelcmd_classifier": 1, "x": pickle.PickleError()}, 2))
    odd = tmp_path / "odd.pt"
    torch.save({"skelcmd_classifier": 1, "classes": ["a"]}, odd)
    for path in (cut, evil, odd, trained / "last.pt", tmp_path / "absent.pt"):
        with pytest.raises(UserError, match=path.name):
            predict_files(path, [data], tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_outputs_never_replace_a_folder_or_an_input(saved, data, tmp_path):
    file, _ = saved["joint"]
    (tmp_path / "dir.csv").mkdir()
    for out, match in ((tmp_path / "dir.csv", "folder"), (data / "p.csv", "inside the input"),
                       (tmp_path / "p.txt", ".csv")):  # fmt: skip
        with pytest.raises(UserError, match=match):
            predict_files(file, [data], out)
    with pytest.raises(UserError, match="no split 'nope'"):
        predict_files(file, [data], tmp_path / "p.csv", split="nope")


def test_raw_input_that_does_not_fit_names_the_file_and_what_the_model_expects(saved, tmp_path):
    file, _ = saved["joint"]
    clip = tmp_path / "clip.npy"
    np.save(clip, np.zeros((20, 18, 3), np.float32))  # 18 joints: not the model's 25
    weird = tmp_path / "clip.mp4"
    weird.write_bytes(b"x")
    many = tmp_path / "many.npy"
    np.save(many, np.ones((3, 20, 25, 3), np.float32))  # 3 persons, the model takes 2
    for path, match in ((clip, "clip.npy"), (weird, "unknown format"), (many, "3 persons")):
        with pytest.raises(UserError, match=match):
            predict_files(file, [path], tmp_path / "p.csv")
    with pytest.raises(UserError, match="expects"):
        predict_files(file, [many], tmp_path / "p.csv")


@pytest.mark.skipif(not NTU_SAMPLES.is_dir(), reason="the real NTU samples are absent")
def test_raw_ntu_files_equal_the_data_set_prepare_made_from_them(trained, tmp_path):
    from skelcmd.sources.ntu import prepare_ntu

    files = sorted(NTU_SAMPLES.glob("*.skeleton"))
    prepare_ntu(NTU_SAMPLES, tmp_path / "ntu", dataset="ntu60", benchmarks=["xsub"],
                progress=False)  # fmt: skip
    data = tmp_path / "ntu" / "xsub"
    file, _ = linear_saved(trained / "last.pt", data, "ensemble", tmp_path)
    info = load_classifier_file(file)
    assert info.preparation["extra"]["preprocess"] == "reference"
    assert info.preparation["extra"]["max_frames"] == 300
    k = len(info.classes)
    raw = predict_files(file, files, tmp_path / "raw.csv", top_k=k)
    raw_rows = {r["input"]: r for r in read_rows(tmp_path / "raw.csv")}
    assert raw.rows == len(files) and raw.labelled == len(files)  # labels from the names
    compared = 0
    for split in ("train", "test"):
        predict_files(file, [data], tmp_path / f"{split}.csv", split=split, top_k=k)
        rows = read_rows(tmp_path / f"{split}.csv")
        mine = [raw_rows[r["input"] + ".skeleton"] for r in rows]
        assert [r["true"] for r in mine] == [r["true"] for r in rows]
        got = all_probabilities(mine, info.classes)
        want = all_probabilities(rows, info.classes)
        assert np.abs(got - want).max() < 1e-5
        compared += len(rows)
    assert compared == len(files)


@pytest.mark.parametrize("stream", ["joint", "ensemble"])
def test_the_onnx_classifier_in_onnxruntime_equals_predict(saved, data, tmp_path, stream):
    onnxruntime = pytest.importorskip("onnxruntime")
    from skelcmd.evaluate.export import export_classifier

    file, _ = saved[stream]
    export_classifier(file, tmp_path / "model.onnx", verbose=False)
    classifier = skelcmd.load_classifier(file, device="cpu")
    split = open_dataset(data).split("test")
    probs, _ = classifier.predict(split.data[:7], split.lengths[:7])
    clips = classifier.transform(torch.tensor(split.data[:7]), torch.tensor(split.lengths[:7]))
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["clips"]
    (got,) = session.run(None, {"clips": clips.numpy()})  # a batch of 7: the axis is dynamic
    assert got.shape == probs.shape
    assert np.abs(got - probs).max() < 1e-4


def window_segments_plain(starts, labels, window, stride):
    """Frame by frame: every frame takes the label of the window whose centre region holds
    it; then runs of equal labels."""
    end = starts[-1] + window
    owner = np.zeros(end, np.int64)
    for i, s in enumerate(starts):
        first = 0 if i == 0 else s + (window - stride) // 2
        owner[first:] = labels[i]
    runs, begin = [], 0
    for t in range(1, end + 1):
        if t == end or owner[t] != owner[begin]:
            runs.append((begin, t, int(owner[begin])))
            begin = t
    return runs


def test_window_segments_match_a_frame_by_frame_version():
    from skelcmd.evaluate.predict_windows import window_segments, window_starts

    rng = np.random.default_rng(0)
    for length, window, stride in ((100, 20, 5), (64, 64, 16), (90, 16, 16), (71, 10, 3)):
        starts = window_starts(length, window, stride)
        labels = rng.integers(-1, 3, len(starts))
        assert window_segments(starts, labels, window, stride) == window_segments_plain(
            starts, labels, window, stride
        )


@pytest.mark.skipif(not NTU_SAMPLES.is_dir(), reason="the real NTU samples are absent")
def test_sliding_windows_on_joined_real_clips_recover_their_order(trained, tmp_path):
    """Real NTU clips of four classes: a classifier trained on windows of them, then a long
    recording joining the clips in another order; the recognised segments follow it."""
    from skelcmd.sources.clips import import_clips
    from skelcmd.sources.ntu import prepare_ntu

    prepare_ntu(NTU_SAMPLES, tmp_path / "ntu", dataset="ntu60", benchmarks=["xsub"],
                progress=False)  # fmt: skip
    ntu = open_dataset(tmp_path / "ntu" / "xsub")
    clips = {}
    for split in ntu.splits.values():
        for i in range(len(split)):
            name = ntu.class_names[split.labels[i]]
            clips[name] = np.array(split.data[i, :, : split.lengths[i]])
    chosen = [n for n in sorted(clips, key=lambda n: -clips[n].shape[1])][:4]
    window, stride = 32, 8
    lines = ["path,label,split"]
    for name in chosen:
        x = clips[name]
        for k, s in enumerate(range(0, x.shape[1] - window + 1, 4)):
            np.save(tmp_path / f"{name}_{k}.npy", x[:, s : s + window].transpose(3, 1, 2, 0))
            lines.append(f"{name}_{k}.npy,{name},{'test' if k % 4 == 3 else 'train'}")
    (tmp_path / "windows.csv").write_text("\n".join(lines) + "\n")
    import_clips(tmp_path / "windows.csv", tmp_path / "windows", layout="ntu25")
    recipe = ["epochs=60", "milestones=[40]", "frames=16", "cache_features=true"]
    config = load_eval_config("linear", "linear_standardized", recipe)
    evaluate("linear", trained / "last.pt", tmp_path / "windows", config=config, stream="ensemble",
             out_dir=tmp_path / "records", progress=False, save=tmp_path / "w.pt")  # fmt: skip

    # the manifest itself, read as raw input, equals the data set imported from it
    k = len(chosen)
    predict_files(tmp_path / "w.pt", [tmp_path / "windows.csv"], tmp_path / "m.csv", top_k=k)
    raw = {r["input"]: r for r in read_rows(tmp_path / "m.csv")}
    for split in ("train", "test"):
        predict_files(tmp_path / "w.pt", [tmp_path / "windows"], tmp_path / "d.csv", split=split,
                      top_k=k)  # fmt: skip
        rows = read_rows(tmp_path / "d.csv")
        classes = load_classifier_file(tmp_path / "w.pt").classes
        got = all_probabilities([raw[r["input"]] for r in rows], classes)
        assert np.abs(got - all_probabilities(rows, classes)).max() < 1e-5
        assert [raw[r["input"]]["true"] for r in rows] == [r["true"] for r in rows]

    order = [chosen[2], chosen[0], chosen[3], chosen[1]]
    joined = np.concatenate([clips[n] for n in order], axis=1)  # (3, T, 25, 2)
    np.save(tmp_path / "long.npy", joined.transpose(3, 1, 2, 0))
    summary = predict_files(tmp_path / "w.pt", [tmp_path / "long.npy"], tmp_path / "p.csv",
                            window=window, stride=stride)  # fmt: skip
    rows = read_rows(tmp_path / "p.csv")
    assert summary.rows == len(rows) == (joined.shape[1] - window) // stride + 1
    assert [int(r["start"]) for r in rows[:2]] == [0, stride]
    labels = [r["label"] for r in rows]
    runs = [(k, len(list(g))) for k, g in itertools.groupby(labels)]
    # segments of 3 windows or more (a blip shorter than 24 frames, under a second, where a
    # window straddles two clips, is not a recognised action); neighbours merged
    steady = [k for k, _ in itertools.groupby(k for k, n in runs if n >= 3)]
    assert steady == order, runs
    assert (tmp_path / "p_timeline.png").stat().st_size > 1000


def test_the_readme_example_runs(saved, data, capsys):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Use a trained model", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("runs/demo/classifier.pt", str(saved["ensemble"][0]))
    code = code.replace("runs/demo/data/xsub", str(data))
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    classes = open_dataset(data).class_names
    assert printed.startswith("[") and any(name in printed for name in classes)


def test_a_data_set_of_another_skeleton_or_classes(saved, data, tmp_path):
    from skelcmd.data.writer import write_dataset
    from skelcmd.skeleton import get_layout

    file, _ = saved["joint"]
    sbu = get_layout("sbu15")
    arrays = {"data": np.ones((4, 3, 20, 15, 2), np.float32), "lengths": np.full(4, 20),
              "labels": np.arange(4) % 2}  # fmt: skip
    split = {"test": np.ones(4, bool)}
    write_dataset(tmp_path / "sbu", sbu, ["a", "b"], arrays, split, source="toy", benchmark="")
    with pytest.raises(UserError, match="expects clips of layout 'ntu25'"):
        predict_files(file, [tmp_path / "sbu"], tmp_path / "p.csv")
    # the same skeleton, other class names: predicted, but no accuracy (labels unknown)
    ntu = open_dataset(data).split("test")
    arrays = {
        "data": np.array(ntu.data[:4]),
        "lengths": ntu.lengths[:4],
        "labels": np.arange(4) % 2,
    }
    write_dataset(tmp_path / "other", open_dataset(data).layout, ["x", "y"], arrays, split,
                  source="toy", benchmark="")  # fmt: skip
    summary = predict_files(file, [tmp_path / "other"], tmp_path / "q.csv")
    assert summary.rows == 4 and summary.top1 is None and summary.files == []
    assert {r["true"] for r in read_rows(tmp_path / "q.csv")} == {""}


@pytest.mark.skipif(not KINETICS.is_dir(), reason="the real Kinetics-skeleton clips are absent")
def test_raw_kinetics_clips_equal_the_data_set_imported_from_them(trained, tmp_path):
    from skelcmd.sources.kinetics import import_kinetics

    clips, labels = KINETICS / "kinetics_val", KINETICS / "kinetics_val_label.json"
    names = KINETICS / "label_name.txt"
    import_kinetics(clips, labels, tmp_path / "k", split="train", test=(clips, labels),
                    class_names=names)  # fmt: skip
    config = load_eval_config("linear", "linear_standardized", FAST)
    evaluate("linear", trained / "last.pt", tmp_path / "k", config=config, stream="joint",
             random_init=True, out_dir=tmp_path / "records", progress=False,
             save=tmp_path / "k.pt")  # fmt: skip
    files = sorted(clips.glob("*.json"))
    predict_files(tmp_path / "k.pt", files, tmp_path / "raw.csv", top_k=400)
    raw = {r["input"]: r for r in read_rows(tmp_path / "raw.csv")}
    predict_files(tmp_path / "k.pt", [tmp_path / "k"], tmp_path / "d.csv", top_k=400)
    rows = read_rows(tmp_path / "d.csv")
    assert len(rows) == len(raw) == len(files)
    classes = load_classifier_file(tmp_path / "k.pt").classes
    mine = [raw[r["input"] + ".json"] for r in rows]
    assert np.abs(all_probabilities(mine, classes) - all_probabilities(rows, classes)).max() < 1e-5
    assert [r["true"] for r in mine] == [r["true"] for r in rows] and rows[0]["true"]
    # a long recording in the same format (frame_index beyond the 300 frames of the import)
    # is windowed whole
    clip = json.loads(files[0].read_text())
    frames = [f for f in clip["data"] if f["skeleton"]]
    clip["data"] = [dict(f, frame_index=i + 1) for i, f in enumerate(frames * 8)]
    (tmp_path / "long.json").write_text(json.dumps(clip))
    summary = predict_files(tmp_path / "k.pt", [tmp_path / "long.json"], tmp_path / "w.csv",
                            window=64, stride=32)  # fmt: skip
    assert summary.rows == (len(frames) * 8 - 64) // 32 + 1


def test_batches_of_any_size_give_the_same_rows(saved, data, tmp_path):
    file, _ = saved["ensemble"]
    classes = load_classifier_file(file).classes
    tables = []
    for batch in (5, 256):
        predict_files(file, [data], tmp_path / f"{batch}.csv", batch_size=batch, top_k=100)
        tables.append(read_rows(tmp_path / f"{batch}.csv"))
    assert [r["input"] for r in tables[0]] == [r["input"] for r in tables[1]]
    small, large = (all_probabilities(t, classes) for t in tables)
    assert np.abs(small - large).max() < 1e-5
    # windows: batched in 3s or all at once
    long = np.concatenate([np.array(x) for x in open_dataset(data).split("test").data[:3]], 1)
    np.save(tmp_path / "long.npy", long.transpose(3, 1, 2, 0))
    for batch in (3, 256):
        predict_files(file, [tmp_path / "long.npy"], tmp_path / f"w{batch}.csv", window=20,
                      stride=7, batch_size=batch, top_k=100)  # fmt: skip
    small, large = (all_probabilities(read_rows(tmp_path / f"w{b}.csv"), classes) for b in (3, 256))
    assert len(small) == (long.shape[1] - 20) // 7 + 1
    assert np.abs(small - large).max() < 1e-5
    predict_files(file, [tmp_path / "long.npy"], tmp_path / "u.csv", window=20, stride=7,
                  min_score=0.99)  # fmt: skip
    rows = read_rows(tmp_path / "u.csv")
    assert all((r["label"] == "") == (float(r["prob_1"]) < 0.99) for r in rows)
    assert any(r["label"] == "" for r in rows)


TYPO_CLASSES = ("tear up paper", "wave", "sit down")


def manifest_of(root, labels):
    """A clips manifest of one random NTU clip (T, V, C) per label, in this order."""
    rng = np.random.default_rng(0)
    lines = ["path,label,split"]
    for i, label in enumerate(labels):
        np.save(root / f"clip{i}.npy", rng.normal(size=(20, 25, 3)).astype(np.float32))
        lines.append(f"clip{i}.npy,{label},test")
    (root / "man.csv").write_text("\n".join(lines) + "\n")
    return root / "man.csv"


@pytest.mark.parametrize(
    "labels, line", [(["tear up papr"], 2), (["wave", "tear up papr", "sit down"], 3)]
)
def test_a_manifest_label_the_classifier_does_not_know_is_refused(tmp_path, labels, line):
    model = hand_made(tmp_path / "clf.pt", "ntu25", "xyz", classes=TYPO_CLASSES)
    manifest = manifest_of(tmp_path, labels)
    with pytest.raises(UserError) as error:
        predict_files(model, [manifest], tmp_path / "m.csv")
    message = str(error.value)
    assert f"man.csv, line {line}: label 'tear up papr' is not one of the classes" in message
    assert "'tear up paper'" in message and "label column empty" in message
    assert not (tmp_path / "m.csv").exists()


def test_empty_manifest_labels_are_predicted_without_comparing(tmp_path):
    model = hand_made(tmp_path / "clf.pt", "ntu25", "xyz", classes=TYPO_CLASSES)
    summary = predict_files(model, [manifest_of(tmp_path, ["", "wave"])], tmp_path / "m.csv")
    assert [r["true"] for r in read_rows(tmp_path / "m.csv")] == ["", "wave"]
    assert summary.rows == 2 and summary.labelled == 1


def test_transform_takes_numpy_as_it_takes_tensors(tmp_path):
    classifier = skelcmd.load_classifier(hand_made(tmp_path / "c.pt", "ntu25", "xyz"), "cpu")
    clips = np.random.default_rng(0).normal(size=(3, 3, 30, 25, 2)).astype(np.float32)
    lengths = [30, 12, 21]
    want = classifier.transform(torch.from_numpy(clips), torch.tensor(lengths))
    assert want.shape == (3, 3, 16, 25, 2) and want.dtype == torch.float32
    assert torch.equal(classifier.transform(clips, lengths), want)
    assert torch.equal(classifier.transform(clips, np.array(lengths)), want)
    assert torch.equal(classifier.transform(clips[1], 12), want[1:2])
    with torch.no_grad():
        got = classifier.module(classifier.transform(clips, lengths)).exp().numpy()
    assert np.abs(got - classifier.predict(clips, lengths)[0]).max() < 1e-6


def test_windows_of_a_clip_with_fewer_persons_see_it_zero_padded(tmp_path):
    model = hand_made(tmp_path / "clf.pt", "ntu25", "xyz", persons=2)
    one = np.random.default_rng(0).normal(size=(40, 25, 3)).astype(np.float32)
    np.save(tmp_path / "one.npy", one)
    np.save(tmp_path / "two.npy", np.stack([one, np.zeros_like(one)]))  # (M, T, V, C)
    for name in ("one", "two"):
        predict_files(model, [tmp_path / f"{name}.npy"], tmp_path / f"{name}.csv", window=16,
                      stride=8, top_k=3)  # fmt: skip
    rows = [read_rows(tmp_path / f"{name}.csv") for name in ("one", "two")]
    assert len(rows[0]) == 4
    assert np.abs(all_probabilities(rows[0], "abc") - all_probabilities(rows[1], "abc")).max() == 0
