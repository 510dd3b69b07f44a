"""Reference checkpoint conversion: the converted encoders compute the reference's features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skelcmd.convert import convert_checkpoint, convert_reference_state_dict
from skelcmd.encoders import build_encoder
from skelcmd.errors import UserError
from skelcmd.modalities import derive
from skelcmd.skeleton import NTU25

HIDDEN, LAYERS, DIM, K = 16, 3, 8, 12
SUFFIXES = {"joint": "", "motion": "_motion", "bone": "_bone"}


class RefBIGRU(nn.Module):
    """The reference's `BIGRU` (module names and forward), small and on CPU."""

    def __init__(self, mlp: bool) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.gru = nn.GRU(150, HIDDEN, LAYERS, bidirectional=True, batch_first=True)
        d = 2 * HIDDEN
        self.fc = (
            nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, DIM))
            if mlp
            else nn.Linear(d, DIM)
        )
        self.input_norm = nn.BatchNorm1d(150)
        with torch.no_grad():
            self.input_norm.running_mean.uniform_(-1, 1)
            self.input_norm.running_var.uniform_(0.5, 2)
            self.input_norm.weight.uniform_(0.5, 1.5)
            self.input_norm.bias.uniform_(-0.5, 0.5)
            self.input_norm.num_batches_tracked.fill_(7)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, 2H): permute, input norm, GRU fed one frame at a time."""
        n, _, t, _, _ = x.shape
        frames = x.permute(0, 2, 3, 1, 4).reshape(n, t, -1)
        frames = self.input_norm(frames.permute(0, 2, 1)).permute(0, 2, 1)
        h = None
        for i in range(t):
            out, h = self.encoder.gru(frames[:, i : i + 1], h)
        return out[:, 0]


def reference_model(mlp: bool = True, streams=("joint", "motion", "bone"), ptr: int = 4):
    """Reference-named state dict plus the modules that made it."""
    torch.manual_seed(0)
    modules, state = {}, {}
    for name in streams:
        s = SUFFIXES[name]
        for role in ("q", "k"):
            modules[f"encoder_{role}{s}"] = net = RefBIGRU(mlp).eval()
            state |= {f"encoder_{role}{s}.{k}": v for k, v in net.state_dict().items()}
        state[f"queue{s}"] = F.normalize(torch.randn(DIM, K), dim=0)
        state[f"queue_ptr{s}"] = torch.tensor([ptr])
    return state, modules


def sub_state(state: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


@pytest.mark.parametrize("mlp", [True, False])
def test_converted_encoders_match_the_reference(mlp: bool) -> None:
    ref_state, modules = reference_model(mlp)
    ours, info = convert_reference_state_dict(ref_state)
    assert info["modalities"] == ["joint", "motion", "bone"]
    assert (info["hidden"], info["num_layers"], info["input_size"]) == (HIDDEN, LAYERS, 150)
    assert (info["feature_dim"], info["queue_size"], info["mlp"]) == (DIM, K, mlp)
    assert info["encoder_kwargs"] == {"hidden": HIDDEN, "num_layers": LAYERS}
    x = torch.randn(3, 3, 6, 25, 2)
    for modality, s in SUFFIXES.items():
        for role in ("q", "k"):
            enc = build_encoder("gru", NTU25, **info["encoder_kwargs"]).eval()
            enc.load_state_dict(sub_state(ours, f"branches.{modality}.encoder_{role}."))
            d = enc.feat_dim
            head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, DIM)) if mlp else None
            head = head or nn.Linear(d, DIM)
            head.load_state_dict(sub_state(ours, f"branches.{modality}.head_{role}."))
            ref = modules[f"encoder_{role}{s}"]
            with torch.no_grad():
                expected = ref.features(x)
                torch.testing.assert_close(enc(x), expected, atol=2e-6, rtol=2e-6)
                torch.testing.assert_close(head(enc(x)), ref.fc(expected), atol=2e-6, rtol=2e-6)
            assert enc.input_norm.num_batches_tracked.item() == 7


def test_queue_is_transposed_and_stacked() -> None:
    ref_state, _ = reference_model(ptr=8)
    ours, _ = convert_reference_state_dict(ref_state)
    assert ours["queue.features"].shape == (3, K, DIM)
    for i, s in enumerate(SUFFIXES.values()):
        for slot in range(K):
            assert torch.equal(ours["queue.features"][i, slot], ref_state[f"queue{s}"][:, slot])
    assert ours["queue.ptr"].dtype == torch.long and ours["queue.ptr"].item() == 8


def test_module_prefix_and_partial_streams() -> None:
    ref_state, _ = reference_model(streams=("joint", "bone"))
    ours, info = convert_reference_state_dict({f"module.{k}": v for k, v in ref_state.items()})
    assert info["modalities"] == ["joint", "bone"]
    assert ours["queue.features"].shape == (2, K, DIM)
    assert not any(k.startswith("branches.motion") for k in ours)
    plain, _ = convert_reference_state_dict(ref_state)
    assert plain.keys() == ours.keys()


def test_every_key_is_used_once() -> None:
    ref_state, _ = reference_model()
    ours, _ = convert_reference_state_dict(ref_state)
    # 6 encoders x (5 norm + 24 GRU + 4 head) tensors, one queue and one pointer
    assert len(ours) == 6 * (5 + 2 * 4 * LAYERS + 4) + 2
    assert len(ref_state) == 6 * (5 + 2 * 4 * LAYERS + 4) + 6


def test_disagreeing_pointers() -> None:
    ref_state, _ = reference_model()
    ref_state["queue_ptr_bone"] = torch.tensor([3])
    with pytest.raises(UserError, match="pointers disagree"):
        convert_reference_state_dict(ref_state)


def test_missing_and_unexpected_keys() -> None:
    ref_state, _ = reference_model()
    broken = {k: v for k, v in ref_state.items() if "encoder_k_motion.encoder.gru" not in k}
    with pytest.raises(UserError, match=r"lacks 24 expected key\(s\).*encoder_k_motion"):
        convert_reference_state_dict(broken)
    with pytest.raises(UserError, match="queue_ptr_motion"):
        convert_reference_state_dict(
            {k: v for k, v in ref_state.items() if k != "queue_ptr_motion"}
        )
    with pytest.raises(UserError, match=r"does not know: encoder_q\.extra"):
        convert_reference_state_dict({**ref_state, "encoder_q.extra": torch.zeros(1)})
    with pytest.raises(UserError, match="not a pretraining state dict"):
        convert_reference_state_dict({"fc.weight": torch.zeros(2, 2)})
    bad = dict(ref_state)
    bad["encoder_k_bone.encoder.gru.weight_hh_l1"] = torch.zeros(48, 15)
    with pytest.raises(UserError, match="weight_hh_l1"):
        convert_reference_state_dict(bad)


def test_convert_checkpoint_round_trip(tmp_path) -> None:
    ref_state, _ = reference_model()
    src = tmp_path / "checkpoint_0450.pth.tar"
    torch.save(
        {
            "epoch": 451,
            "state_dict": {f"module.{k}": v for k, v in ref_state.items()},
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0, 1]}]},
        },
        src,
    )
    dst = tmp_path / "out" / "cmd.pt"
    info = convert_checkpoint(src, dst)
    assert info["epoch"] == 451 and info["modalities"] == ["joint", "motion", "bone"]
    saved = torch.load(dst, map_location="cpu", weights_only=True)
    assert saved["epoch"] == 451 and saved["source"] == str(src)
    assert saved["info"]["hidden"] == HIDDEN
    expected, _ = convert_reference_state_dict(ref_state)
    assert saved["model"].keys() == expected.keys()
    assert all(torch.equal(saved["model"][k], v) for k, v in expected.items())
    assert [p.name for p in dst.parent.iterdir()] == ["cmd.pt"]  # no temporary left behind


def test_convert_checkpoint_bad_files(tmp_path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        convert_checkpoint(tmp_path / "nope.pth.tar", tmp_path / "out.pt")
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"PK\x03\x04 a zip archive cut short")  # (other content: not PyTorch)
    with pytest.raises(UserError, match=r"junk\.pth\.tar is damaged or incomplete"):
        convert_checkpoint(junk, tmp_path / "out.pt")
    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    with pytest.raises(UserError, match="holds no state dict"):
        convert_checkpoint(listing, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_loads_into_the_cmd_model() -> None:
    from skelcmd.model import CMD, CMDLossConfig

    ref_state, modules = reference_model()
    ours, info = convert_reference_state_dict(ref_state)
    model = CMD(
        lambda: build_encoder("gru", NTU25, **info["encoder_kwargs"]),
        info["modalities"],
        NTU25,
        feature_dim=info["feature_dim"],
        queue_size=info["queue_size"],
        mlp=info["mlp"],
        cmd=CMDLossConfig(topk=4),
    )
    model.load_state_dict(ours, strict=True)
    x = torch.randn(2, 3, 6, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            model.eval().encode(x, "joint"), modules["encoder_q"].features(x), atol=2e-6, rtol=2e-6
        )


def test_cli_converted_checkpoint_loads_like_our_own(tmp_path, capsys) -> None:
    from skelcmd.checkpoints import load_checkpoint
    from skelcmd.cli import main
    from skelcmd.model import build_model

    ref_state, modules = reference_model()
    src = tmp_path / "checkpoint_0450.pth.tar"
    torch.save({"epoch": 451, "state_dict": ref_state, "optimizer": {}}, src)
    assert main(["convert-checkpoint", str(src), str(tmp_path / "cmd.pt")]) == 0
    assert "modalities ['joint', 'motion', 'bone']" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "cmd.pt")
    config = state["config"]
    assert config.model.encoder_args == {"hidden": HIDDEN, "num_layers": 3}
    assert config.cmd.topk <= config.model.queue_size == K
    model = build_model(config, NTU25, num_persons=2)
    model.load_state_dict(state["model"], strict=True)
    x = torch.randn(2, 3, 6, 25, 2)
    with torch.no_grad():
        for name in ("joint", "motion", "bone"):
            suffix = SUFFIXES[name]
            expected = modules[f"encoder_q{suffix}"].features(derive(x, [name], NTU25)[name])
            torch.testing.assert_close(model.eval().encode(x, name), expected, atol=2e-6, rtol=2e-6)
    assert main(["convert-checkpoint", str(tmp_path / "none.tar"), str(tmp_path / "x.pt")]) == 2


def test_a_skelcmd_checkpoint_or_classifier_is_named_as_such(tmp_path) -> None:
    """QA item 3: our own checkpoint was said to hold no state dict, with a stray `}`."""
    ref_state, _ = reference_model()
    src = tmp_path / "checkpoint_0450.pth.tar"
    torch.save({"epoch": 1, "state_dict": ref_state, "optimizer": {}}, src)
    convert_checkpoint(src, tmp_path / "converted.pt")
    with pytest.raises(UserError) as caught:
        convert_checkpoint(tmp_path / "converted.pt", tmp_path / "out.pt")
    assert "converted.pt is already a skelcmd checkpoint (converted from " in str(caught.value)
    assert "needs no conversion: give it as it is to --checkpoint" in str(caught.value)
    ours = tmp_path / "last.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "config": {"model": {}}, "epoch": 3}, ours)
    with pytest.raises(UserError, match=r"last\.pt is already a skelcmd checkpoint \(written by"):
        convert_checkpoint(ours, tmp_path / "out.pt")
    classifier = tmp_path / "classifier.pt"
    torch.save({"skelcmd_classifier": 1, "classes": ["a"], "preparation": {}}, classifier)
    with pytest.raises(UserError) as caught:
        convert_checkpoint(classifier, tmp_path / "out.pt")
    assert "classifier.pt is a skelcmd classifier (written by `skelcmd linear --save`" in str(
        caught.value
    )
    assert "`skelcmd predict --model` or `skelcmd export --model`" in str(caught.value)
    other = tmp_path / "other.pt"
    torch.save({"epoch": 1, "weights": [1]}, other)
    with pytest.raises(UserError) as caught:
        convert_checkpoint(other, tmp_path / "out.pt")
    message = str(caught.value)
    assert "holds no state dict (it holds a dict with the keys epoch, weights)" in message
    assert "{'epoch', 'state_dict', 'optimizer'} checkpoint" in message and "}}" not in message
    assert not (tmp_path / "out.pt").exists()
