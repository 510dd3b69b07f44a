"""The public Python API: `load_encoder` gives the features `skelcmd embed` writes, its module and
transform give them too, its mistakes are UserErrors, and the example of docs/api.md runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import skelcmd
import skelcmd.train as train
from skelcmd.config import load_config
from skelcmd.evaluate.embed import embed
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


pytestmark = pytest.mark.usefixtures("one_thread")


def pretrain_synthetic(root: Path) -> tuple[Path, Path]:
    """(checkpoint, data set): one epoch of the tiny config on a small synthetic set, laid out
    as the example of docs/api.md lays it out (data/synth/xsub, runs/synth/last.pt)."""
    (data,) = write_synthetic(root / "data" / "synth", num_samples=72, seed=1, benchmarks=["xsub"])
    config = load_config(None, [f"data.path={data}", *TINY, "optim.epochs=1"])
    return train.pretrain(config, root / "runs" / "synth", progress=False), data


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return pretrain_synthetic(tmp_path_factory.mktemp("api"))


@pytest.mark.parametrize("stream", ["joint", "bone"])
def test_embed_gives_the_features_of_skelcmd_embed(pretrained, tmp_path, stream):
    checkpoint, data = pretrained
    written = np.load(embed(checkpoint, data, tmp_path / "f.npy", stream=stream, device="cpu"))
    encoder = skelcmd.load_encoder(checkpoint, stream=stream, device="cpu")
    test = skelcmd.open_dataset(data).split("test")
    features = encoder.embed(test.data, test.lengths)
    assert isinstance(features, np.ndarray) and features.dtype == np.float32
    np.testing.assert_array_equal(features, written)
    assert features.shape == (len(test), encoder.feat_dim)
    assert "Encoder(stream=" in repr(encoder) and encoder.channels == "xyz"


def test_module_transform_tensors_single_clips_and_persons(pretrained):
    checkpoint, data = pretrained
    encoder = skelcmd.load_encoder(checkpoint, stream="motion", device="cpu")
    test = skelcmd.open_dataset(data).split("test")
    x, lengths = np.array(test.data[:6]), np.array(test.lengths[:6])
    want = encoder.embed(x, lengths)
    clips = encoder.transform(x, lengths)
    assert clips.shape == (6, 3, 64, 25, 2)
    encoder.module.eval()
    with torch.no_grad():
        np.testing.assert_allclose(encoder.module(clips).numpy(), want, rtol=1e-5, atol=1e-6)
    as_tensor = encoder.embed(torch.from_numpy(x), torch.from_numpy(lengths))
    assert isinstance(as_tensor, torch.Tensor)
    np.testing.assert_array_equal(as_tensor.numpy(), want)
    np.testing.assert_allclose(encoder.embed(x[2], lengths[2]), want[2:3], rtol=1e-5, atol=1e-6)
    full = encoder.embed(x[:, :, : lengths.max()])  # lengths default to all T frames
    assert full.shape == want.shape
    one_person = x.copy()
    one_person[..., 1] = 0
    np.testing.assert_array_equal(
        encoder.embed(x[..., :1], lengths), encoder.embed(one_person, lengths)
    )
    encoder.module.train()  # the module trains as any nn.Module
    loss = encoder.module(clips).square().mean()
    loss.backward()
    assert any(p.grad is not None for p in encoder.module.parameters())


def test_mistakes_are_user_errors(pretrained):
    checkpoint, _ = pretrained
    with pytest.raises(skelcmd.UserError, match="stream 'ensemble' is not one of"):
        skelcmd.load_encoder(checkpoint, stream="ensemble")
    encoder = skelcmd.load_encoder(checkpoint, device="cpu")
    with pytest.raises(skelcmd.UserError, match=r"takes clips \(N, 3, T, 25, M <= 2\)"):
        encoder.embed(np.zeros((2, 3, 10, 20, 1)))
    with pytest.raises(skelcmd.UserError, match=r"every length must lie in 1\.\.10"):
        encoder.embed(np.zeros((2, 3, 10, 25, 2)), [0, 10])
    with pytest.raises(skelcmd.UserError, match="lengths must be 2 integers"):
        encoder.embed(np.zeros((2, 3, 10, 25, 2)), [1.5, 2.0])
    with pytest.raises(skelcmd.UserError, match="does not exist"):
        skelcmd.load_encoder(checkpoint.parent / "nope.pt")


# Issue 22, item 10: no clip, text and complex numbers are UserErrors (they were numpy's
# ValueErrors, and complex numbers lost their imaginary part without a word).
def test_empty_text_and_complex_clips_are_user_errors(pretrained):
    encoder = skelcmd.load_encoder(pretrained[0], device="cpu")
    with pytest.raises(skelcmd.UserError, match=r"no clip: got shape \(0, 3, 10, 25, 2\)"):
        encoder.embed(np.zeros((0, 3, 10, 25, 2), np.float32))
    with pytest.raises(skelcmd.UserError, match="clips must be real numbers, got <U1"):
        encoder.embed(np.full((2, 3, 10, 25, 2), "a"))
    with pytest.raises(skelcmd.UserError, match="clips must be real numbers, got complex128"):
        encoder.embed(np.zeros((2, 3, 10, 25, 2), complex))
    with pytest.raises(skelcmd.UserError, match="clips must be real numbers, got complex64"):
        encoder.transform(torch.zeros((2, 3, 10, 25, 2), dtype=torch.complex64))


def test_the_public_names_and_a_light_import():
    for name in skelcmd.__all__:
        assert getattr(skelcmd, name) is not None
    assert set(skelcmd.__all__) >= {"load_encoder", "open_dataset", "Layout", "LAYOUTS", "CMD"}
    assert skelcmd.LAYOUTS["coco17"].num_joints == 17
    with pytest.raises(AttributeError):
        _ = skelcmd.build_model
    code = "import sys, skelcmd; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # the CLI's `--help` stays instant


def api_doc_example() -> str:
    """The first python block of docs/api.md (its "Example" section)."""
    (code, *_) = re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)
    return code


def test_the_api_doc_example_runs(tmp_path, monkeypatch, capsys):
    pretrain_synthetic(tmp_path)
    monkeypatch.chdir(tmp_path)
    exec(compile(api_doc_example(), "docs/api.md: Example", "exec"), {})
    printed = capsys.readouterr().out
    assert "Encoder(stream='joint'" in printed and "(16, 16)" in printed
