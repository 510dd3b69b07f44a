import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import skelcmd.evaluate.export as export
import skelcmd.train as train
from skelcmd import checkpoints
from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.embed import embed, labels_path
from skelcmd.evaluate.export import export_onnx
from skelcmd.evaluate.report import build_report
from skelcmd.model import build_model
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY

ONE_EPOCH = [*TINY, "optim.epochs=1"]
has_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="onnx / onnxruntime not installed (pip install 'skelcmd[export]')",
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """(checkpoint, data set directory) of a one-epoch run on a tiny synthetic set."""
    root = tmp_path_factory.mktemp("embed")
    (data,) = write_synthetic(root / "synth", num_samples=72, seed=1, benchmarks=["xsub"])
    config = load_config(None, [f"data.path={data}", *ONE_EPOCH])
    return train.pretrain(config, root / "run", progress=False), data


def plain_features(checkpoint, data, stream):
    """One sample at a time: crop frames [b, n - b), b = int(0.05 * n / 2), resize linearly to
    64 frames with F.interpolate, encode with the pretrained model in eval mode."""
    state = checkpoints.load_checkpoint(checkpoint)
    split = open_dataset(data).split("test")
    model = build_model(state["config"], open_dataset(data).layout, split.data.shape[4])
    model.load_state_dict(state["model"])
    model.eval()
    rows = []
    for i in range(len(split)):
        n = int(split.lengths[i])
        b = int((1 - 0.95) * n / 2)
        clip = torch.from_numpy(np.array(split.data[i, :, b : n - b]))  # (3, t, V, M)
        c, t, v, m = clip.shape
        line = clip.permute(0, 2, 3, 1).reshape(1, c * v * m, t)
        resized = F.interpolate(line, size=64, mode="linear", align_corners=False)
        x = resized.reshape(c, v, m, 64).permute(0, 3, 1, 2)[None]
        with torch.no_grad():
            rows.append(model.encode(x, stream)[0])
    return torch.stack(rows).numpy(), split.labels


@pytest.mark.parametrize("stream", ["joint", "bone"])
def test_embed_is_the_evaluation_feature_of_every_sample_in_order(pretrained, tmp_path, stream):
    checkpoint, data = pretrained
    out = embed(checkpoint, data, tmp_path / f"embed_{stream}.npy", stream=stream, batch_size=7)
    features = np.load(out)
    want, labels = plain_features(checkpoint, data, stream)
    assert features.dtype == np.float32 and features.shape == (len(labels), 16)
    np.testing.assert_allclose(features, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.load(labels_path(out)), labels)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["stream"] == stream and meta["split"] == "test" and meta["shape"] == [24, 16]
    assert meta["dataset"]["source"] == "synthetic" and len(meta["class_names"]) > 1
    again = embed(checkpoint, data, tmp_path / "again.npy", stream=stream, batch_size=256)
    np.testing.assert_allclose(np.load(again), features, rtol=1e-5, atol=1e-6)
    same = embed(checkpoint, data, tmp_path / "same.npy", stream=stream, batch_size=7)
    assert np.array_equal(np.load(same), features)  # deterministic


def test_embed_errors_and_report_tsne(pretrained, tmp_path):
    checkpoint, data = pretrained
    with pytest.raises(UserError, match=r"'ensemble' is not one of .*joint, motion, bone"):
        embed(checkpoint, data, tmp_path / "x.npy", stream="ensemble")
    with pytest.raises(UserError, match=r"\.npy file"):
        embed(checkpoint, data, tmp_path / "x.txt")
    with pytest.raises(UserError, match="no split 'val'"):
        embed(checkpoint, data, tmp_path / "x.npy", split="val")
    assert not list(tmp_path.iterdir())
    embed(checkpoint, data, tmp_path / "run" / "embed_motion.npy", stream="motion")
    text = build_report([tmp_path / "run"]).read_text()
    assert "](tsne_motion.png)" in text and (tmp_path / "run" / "tsne_motion.png").is_file()


def test_embed_never_writes_inside_the_data_set_it_reads(pretrained, tmp_path):
    """Issue 22 item 1: `--out DATA/test/labels.npy` used to replace the data set's labels."""
    checkpoint, data = pretrained
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    (tmp_path / "link").symlink_to(copy)
    for out in [
        copy / "test" / "labels.npy",  # the data set's own file
        copy / "train" / "data.npy",
        copy / "test" / "features.npy",  # a new file, still inside
        copy / "test_labels.npy",  # side files: FILE_labels.npy, FILE.json
        tmp_path / "link" / "test" / "x.npy",  # another spelling of the same folder
        tmp_path / "elsewhere" / ".." / "copy" / "x.npy",
    ]:
        with pytest.raises(UserError, match="lies inside the input"):
            embed(checkpoint, copy, out)
    with pytest.raises(UserError, match="lies inside the input"):
        embed(checkpoint, tmp_path / "link", copy / "x.npy")
    with pytest.raises(UserError, match="lies inside the input"):
        export_onnx(checkpoint, copy / "test" / "data.npy", data=copy)
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    open_dataset(copy)


@has_onnxruntime
@pytest.mark.parametrize("stream", ["joint", "motion", "bone"])
def test_onnx_export_matches_torch_with_a_dynamic_batch(pretrained, tmp_path, stream, capsys):
    import onnxruntime

    checkpoint, _ = pretrained
    out = export_onnx(checkpoint, tmp_path / "encoder.onnx", stream=stream, frames=32)
    assert "max |onnxruntime - torch|" in capsys.readouterr().out
    model = build_model(checkpoints.load_checkpoint(checkpoint)["config"], *_skeleton(pretrained))
    model.load_state_dict(checkpoints.load_checkpoint(checkpoint)["model"])
    model.eval()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["joints"]
    for batch in (1, 5):
        x = torch.randn(batch, 3, 32, 25, 2, generator=torch.Generator().manual_seed(batch))
        (got,) = session.run(None, {"joints": x.numpy()})
        with torch.no_grad():
            want = model.encode(x, stream).numpy()
        assert got.shape == (batch, 16)
        np.testing.assert_allclose(got, want, atol=1e-5)


def _skeleton(pretrained):
    split = open_dataset(pretrained[1]).split("train")
    return open_dataset(pretrained[1]).layout, split.data.shape[4]


@has_onnxruntime
def test_export_finds_the_skeleton_or_says_what_to_give(pretrained, tmp_path, monkeypatch):
    checkpoint, data = pretrained
    state = torch.load(checkpoint, weights_only=False)
    state["config"]["data"]["path"] = str(tmp_path / "gone")
    kept = tmp_path / "kept.pt"  # the data set is gone, the checkpoint still names its layout
    torch.save(state, kept)
    assert export_onnx(kept, tmp_path / "kept.onnx", verbose=False).is_file()
    del state["layout"], state["num_persons"]  # as in an older or a converted checkpoint
    moved = tmp_path / "moved.pt"
    torch.save(state, moved)
    with pytest.raises(UserError, match=r"--data DIR.*--layout NAME"):
        export_onnx(moved, tmp_path / "a.onnx", verbose=False)
    assert export_onnx(moved, tmp_path / "b.onnx", layout="ntu25", verbose=False).is_file()
    assert export_onnx(moved, tmp_path / "c.onnx", data=data, verbose=False).is_file()
    with pytest.raises(UserError, match="trained on another skeleton"):
        export_onnx(moved, tmp_path / "d.onnx", layout="kinect20", verbose=False)
    with pytest.raises(UserError, match="not one of this checkpoint's streams"):
        export_onnx(checkpoint, tmp_path / "e.onnx", stream="ensemble")
    monkeypatch.setattr(export, "onnx_difference", lambda *args: 0.5)
    with pytest.raises(UserError, match=r"differs from PyTorch by up to 0\.5"):
        export_onnx(checkpoint, tmp_path / "f.onnx")
    assert not (tmp_path / "f.onnx").exists()


def test_export_without_onnxruntime_says_how_to_install(pretrained, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name)
    )
    with pytest.raises(UserError, match=r"needs onnxruntime: pip install 'skelcmd\[export\]'"):
        export_onnx(pretrained[0], tmp_path / "x.onnx")
