import pytest
import torch

from skelcmd.augment import center_crop_resize
from skelcmd.config import load_config, to_dict
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.features import (
    extract_features,
    extract_streams,
    load_encoder_model,
)
from skelcmd.model import build_model
from skelcmd.skeleton import KINECT20, NTU25, Layout
from skelcmd.synthetic.generator import write_synthetic
from tests.helpers.tiny import TINY_MODEL


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    (path,) = write_synthetic(
        tmp_path_factory.mktemp("synth"), num_samples=96, seed=1, benchmarks=["xsub"]
    )
    return open_dataset(path)


@pytest.fixture(scope="module")
def checkpoint(dataset, tmp_path_factory):
    """A pretrained-looking checkpoint: trained BatchNorm statistics, non-default weights."""
    config = load_config(None, [f"data.path={dataset.path}", *TINY_MODEL])
    torch.manual_seed(3)
    model = build_model(config, dataset.layout, 2)
    for name, buffer in model.named_buffers():
        if "running" in name:
            buffer.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    torch.save({"model": model.state_dict(), "config": to_dict(config), "epoch": 1}, path)
    return path, model


def test_features_are_the_eval_mode_encoding_of_centre_crops_in_split_order(dataset, checkpoint):
    _, model = checkpoint
    split = dataset.split("test")
    model.train()
    feats = extract_features(model, split, "bone", batch_size=7, out_frames=16)
    assert model.training and all(m.training for m in model.modules())  # modes restored
    model.eval()
    data = torch.tensor(split.data[:, :, : int(split.lengths.max())])
    clips = center_crop_resize(data, torch.as_tensor(split.lengths), 0.95, 16)
    with torch.no_grad():
        expected = model.encode(clips, "bone")
    assert feats.shape == (len(split), model.branches["bone"].encoder_q.feat_dim)
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-6)
    both = extract_streams(model, split, ["joint", "bone"], batch_size=32, out_frames=16)
    torch.testing.assert_close(both["bone"], expected, rtol=1e-5, atol=1e-6)


def test_checkpoint_and_random_init(dataset, checkpoint):
    path, model = checkpoint
    kw = {"data_layout": dataset.layout, "num_persons": 2}
    loaded = load_encoder_model(path, **kw)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    fresh = load_encoder_model(None, random_init_like=path, **kw, seed=5)
    again = load_encoder_model(None, random_init_like=path, **kw, seed=5)
    other = load_encoder_model(None, random_init_like=path, **kw, seed=6)
    key = "branches.joint.encoder_q.fwd.0.weight_ih_l0"
    assert torch.equal(fresh.state_dict()[key], again.state_dict()[key])
    assert not torch.equal(fresh.state_dict()[key], other.state_dict()[key])
    assert not torch.equal(fresh.state_dict()[key], model.state_dict()[key])
    running = "branches.joint.encoder_q.input_norm.running_var"
    assert torch.equal(fresh.state_dict()[running], torch.ones_like(model.state_dict()[running]))
    assert fresh.modalities == model.modalities
    # A random-init model of the same config fits any skeleton.
    assert (
        load_encoder_model(None, random_init_like=path, data_layout=KINECT20, num_persons=1).layout
        == KINECT20
    )


def test_layout_and_person_mismatches_are_explained(dataset, checkpoint, tmp_path):
    path, _ = checkpoint
    with pytest.raises(UserError, match=r"ntu25.*25 joints.*kinect20.*20 joints.*input size"):
        load_encoder_model(path, data_layout=KINECT20, num_persons=2)
    with pytest.raises(UserError, match=r"2 person\(s\).*1 person\(s\)"):
        load_encoder_model(path, data_layout=NTU25, num_persons=1)
    # Same joint count, other joints: the shapes fit but the meaning does not.
    renamed = Layout("ntu25_renamed", tuple(f"j{i}" for i in range(25)), NTU25.parents, 20)
    with pytest.raises(UserError, match="ntu25_renamed"):
        load_encoder_model(path, data_layout=renamed, num_persons=2)
    # Without the pretraining data set, the layout is judged by the tensor shapes alone.
    state = torch.load(path, weights_only=False)
    state["config"]["data"]["path"] = str(tmp_path / "gone")
    torch.save(state, tmp_path / "moved.pt")
    with pytest.raises(UserError, match=r"unknown layout.*Mismatched tensors"):
        load_encoder_model(tmp_path / "moved.pt", data_layout=KINECT20, num_persons=2)
    assert load_encoder_model(tmp_path / "moved.pt", data_layout=renamed, num_persons=2)


def test_a_mismatch_names_the_convert_layout_command_before_the_tensors(
    dataset, checkpoint, tmp_path
):
    """QA item 5: the advice was only "pretrain on this data set"; `convert-layout` maps a data
    set onto the checkpoint's skeleton (docs/video.md, "Mapping between layouts")."""
    path, _ = checkpoint
    with pytest.raises(UserError) as caught:  # an NTU checkpoint on a 1-person data set
        load_encoder_model(path, data_layout=NTU25, num_persons=1)
    message = str(caught.value)
    command = "`skelcmd convert-layout DATA --to ntu25 --persons 2 OUT_DIR`"
    assert command in message and "Mapping between layouts" in message
    assert message.index(command) < message.index("Mismatched tensors:")
    # kinect20 lacks joints of ntu25 (hands, feet tips): the mapping is refused, so say so.
    with pytest.raises(UserError, match=r"Layout 'kinect20' cannot be mapped onto 'ntu25'"):
        load_encoder_model(path, data_layout=KINECT20, num_persons=2)
    # A kinect20 checkpoint on ntu25 data: ntu25 maps onto kinect20.
    config = load_config(None, [f"data.path={tmp_path / 'gone'}", *TINY_MODEL])
    model = build_model(config, KINECT20, 1)
    state = {"model": model.state_dict(), "config": to_dict(config), "epoch": 1}
    torch.save({**state, "layout": KINECT20.to_dict(), "num_persons": 1}, tmp_path / "k.pt")
    with pytest.raises(UserError, match=r"convert-layout DATA --to kinect20 --persons 1 OUT_D"):
        load_encoder_model(tmp_path / "k.pt", data_layout=NTU25, num_persons=2)
    # Neither layout nor persons known: placeholders, said to be the checkpoint's.
    torch.save(state, tmp_path / "unknown.pt")
    with pytest.raises(UserError) as caught:
        load_encoder_model(tmp_path / "unknown.pt", data_layout=NTU25, num_persons=2)
    message = str(caught.value)
    assert "(LAYOUT its layout and M its persons per sample)" in message
    assert "convert-layout DATA --to LAYOUT --persons M OUT_DIR" in message
    # 2D data for a 3D checkpoint: no mapping helps.
    with pytest.raises(UserError, match=r"2D and 3D coordinates do not convert into each other"):
        load_encoder_model(path, data_layout=NTU25, num_persons=2, channels="xy")
