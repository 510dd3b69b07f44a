"""Recurrent encoders over the per-frame vector of all coordinates: `gru` (the paper's) and `bigru`.

Both flatten a sample (C, T, V, M) frame by frame in the reference's order, permuted to
(T, V, C, M): the value of channel c, joint v, person m sits at index (v * C + c) * M + m of the
frame's vector of C * V * M numbers (150 for NTU with 2 persons). A BatchNorm1d over those
channels (statistics over batch and time) normalises the input.

`gru` (`ForwardPairGRU`) is the reference's encoder, computed without stepping frames in Python.
The reference calls `nn.GRU(I, H, num_layers=L, bidirectional=True)` on one frame at a time and
carries the state. On a sequence of length 1 the "reverse" direction is just one more GRU cell
step, so both directions run forward in time: layer l is two forward GRUs over the whole
sequence, one with the forward weights and one with the `_reverse` weights, both fed with the
concatenated outputs of layer l - 1 at the same frame. The feature is the output of the last
layer at the last frame, `[h_fwd(T-1), h_rev(T-1)]`, (N, 2H).

Weight mapping from the reference (`encoder.gru` of its `BIGRU`) to this module:

    input_norm.{weight,bias,running_mean,running_var,num_batches_tracked} -> input_norm.*
    encoder.gru.{weight_ih,weight_hh,bias_ih,bias_hh}_l{l}           -> fwd.{l}.*_l0
    encoder.gru.{weight_ih,weight_hh,bias_ih,bias_hh}_l{l}_reverse   -> rev.{l}.*_l0

`bigru` (`BiGRU`) is a true bidirectional GRU of the same sizes (`gru.*` holds the usual
`nn.GRU` weights). Its feature is the standard bidirectional summary: the forward direction's
output at the last frame concatenated with the backward direction's output at the first frame
(each has then seen the whole clip), (N, 2H).

Initialisation, as the reference (`weights_init_gru` in its `moco/builder_cmd.py`): every 2-D
weight of the GRUs (`weight_ih` and `weight_hh` of every layer and direction) is drawn
xavier-uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) over the whole stacked
(3H, I) or (3H, H) matrix; the GRU biases (U(-1/sqrt(H), 1/sqrt(H))) and the input BatchNorm
keep PyTorch's defaults. `bigru` follows the same rule.

Clips are resized to a fixed number of frames before encoding, so every sample's last valid
frame is T - 1 and no packing is needed.

`readout` chooses the feature: "last" (the default, the reference's, described above) or "mean",
the last layer's output averaged over all frames, (N, 2H) for both classes. The mean is not the
paper's; it is there for small data sets, where the last frame's state summarises a crop by how
it ends (benchmarks/README.md, issue 16).

`centre_time` (default False, the reference's input) subtracts from every input channel (a
coordinate of one joint of one person) its average over the clip's T frames, before the input
BatchNorm. The encoder then reads the movement, not the still pose it is made on: with the mean
readout, an uncentred feature mostly describes the clip's average pose (a subject's posture and
body size), which identifies a clip and its augmented views but not its action. It is not the
paper's; the CPU presets use it (benchmarks/README.md, issue 16, part 3). An absent person or
joint (zeros in every frame) stays zero; a score channel is centred like the coordinates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from skelcmd.encoders.recurrence import gru_pair_layer
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout


def flatten_frames(x: Tensor) -> Tensor:
    """(N, C, T, V, M) -> (N, T, V * C * M), index (v * C + c) * M + m as in the reference."""
    n, _, t, _, _ = x.shape
    return x.permute(0, 2, 3, 1, 4).reshape(n, t, -1)


_WEIGHTS = ("weight_ih", "bias_ih", "weight_hh", "bias_hh")
READOUTS = ("last", "mean")


def _recording() -> bool:
    """Whether a tracer or compiler is recording the model (ONNX export, torch.jit.trace,
    torch.export, torch.compile): it gets `nn.GRU`, which they know how to translate."""
    return (
        torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
    )


def _nn_gru_precision(device: str) -> contextlib.AbstractContextManager:
    """Where `nn.GRU` runs under bfloat16 autocast: in float32, autocast off. PyTorch's
    autocast wrapper for cuDNN's RNNs casts to float16 whatever the autocast dtype, which under
    bfloat16 training (no GradScaler) would leave the GRUs' gradients unscaled in float16; on
    the CPU `nn.GRU` computes in float32 under autocast anyway. Float16 autocast (with its
    GradScaler) is left to PyTorch."""
    bf16 = torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device) == torch.bfloat16
    return torch.autocast(device, enabled=False) if bf16 else contextlib.nullcontext()


class _FrameEncoder(nn.Module):
    """Shared by both GRUs: shape check, reference flattening, the input BatchNorm, and the
    choice of kernels. Per layer the subclass has a pair of GRUs reading the same input
    (`pair_weights`); `reverse` says whether the second one reads the frames backwards.

    On the CPU the layers run as batched recurrences (`skelcmd.encoders.recurrence`, all
    encoders of `encode_together` at once); elsewhere, while a tracer or compiler records the
    model, or with `fused` set to False (`train.cpu_recurrence`, chosen at the start of training
    by `skelcmd.precision.choose_recurrence`), `nn.GRU` (cuDNN on GPUs) in `layers_one_by_one`.
    """

    reverse = False
    hidden: int
    num_layers: int

    def __init__(
        self, layout: Layout, num_persons: int, in_channels: int, readout: str, centre_time: bool
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise UserError(
                f"{type(self).__name__}: readout {readout!r} is not one of {', '.join(READOUTS)} "
                "(model.encoder_args.readout)."
            )
        self.readout = readout
        self.centre_time = bool(centre_time)
        self.expected = (in_channels, layout.num_joints, num_persons)
        self.input_size = in_channels * layout.num_joints * num_persons
        self.input_norm = nn.BatchNorm1d(self.input_size)
        self.fused = True

    def normalised_frames(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, T, C * V * M) after the input BatchNorm (and, with
        `centre_time`, each clip's average over its T frames subtracted first)."""
        if x.dim() != 5 or (x.shape[1], x.shape[3], x.shape[4]) != self.expected:
            c, v, m = self.expected
            raise UserError(
                f"{type(self).__name__} was built for input (N, C={c}, T, V={v}, M={m}) but got "
                f"{tuple(x.shape)}; check the layout, num_persons and in_channels settings."
            )
        frames = flatten_frames(x)  # (N, T, I)
        if self.centre_time:
            frames = frames - frames.mean(dim=1, keepdim=True)
        return self.input_norm(frames.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, 2H)."""
        return self.encode_together([self], [x])[0]

    @classmethod
    def encode_together(
        cls, encoders: Sequence[_FrameEncoder], inputs: Sequence[Tensor]
    ) -> list[Tensor]:
        """Each encoder's features (N, 2H) of its input (N, C, T, V, M), e.g. one encoder per
        modality. On the CPU, encoders of one size on inputs of one shape step all their GRUs
        together: per layer one recurrence (`gru_pair_layer`) for 2 x len(encoders) GRUs,
        whose products run in bfloat16 under CPU autocast."""
        frames = [e.normalised_frames(x) for e, x in zip(encoders, inputs, strict=True)]
        sizes = {
            (e.hidden, e.num_layers, e.readout, f.shape)
            for e, f in zip(encoders, frames, strict=True)
        }
        fused = all(e.fused for e in encoders) and not _recording()
        if frames[0].device.type != "cpu" or len(sizes) > 1 or not fused:
            with _nn_gru_precision(frames[0].device.type):
                return [
                    e.summary(e.layers_one_by_one(f)) for e, f in zip(encoders, frames, strict=True)
                ]
        h = torch.stack(frames).transpose(1, 2)  # (P, T, N, I)
        for layer in range(encoders[0].num_layers):
            pairs = [e.pair_weights(layer) for e in encoders]
            weights = [torch.stack([pair[k] for pair in pairs]) for k in range(4)]  # (P, 2, ...)
            h = gru_pair_layer(h, *weights, reverse=cls.reverse)  # (P, T, N, 2H)
        return list(encoders[0].summary(h.transpose(1, 2)).unbind(0))

    def pair_weights(self, layer: int) -> tuple[Tensor, ...]:
        """Layer `layer`'s w_ih (2, 3H, I), b_ih (2, 3H), w_hh (2, 3H, H), b_hh (2, 3H)."""
        raise NotImplementedError

    def layers_one_by_one(self, frames: Tensor) -> Tensor:
        """(N, T, I) normalised frames -> the last layer's output (N, T, 2H), with `nn.GRU`."""
        raise NotImplementedError

    def summary(self, out: Tensor) -> Tensor:
        """The last layer's output (..., N, T, 2H) -> the feature (..., N, 2H)."""
        return out.mean(dim=-2) if self.readout == "mean" else self.last_summary(out)

    def last_summary(self, out: Tensor) -> Tensor:
        """The "last" readout of `summary`."""
        raise NotImplementedError

    @torch.no_grad()
    def _init_weights(self) -> None:
        """Xavier-uniform on every 2-D parameter (the GRU weights), as the reference does;
        1-D ones (GRU biases, BatchNorm) keep PyTorch's defaults. Called by the constructors."""
        for param in self.parameters():
            if param.dim() == 2:
                nn.init.xavier_uniform_(param)


class ForwardPairGRU(_FrameEncoder):
    """The reference's "bidirectional" GRU: per layer two forward GRUs, outputs concatenated.

    forward: (N, C, T, V, M) -> (N, 2 * hidden), the last layer's output at frame T - 1.
    """

    def __init__(
        self,
        layout: Layout,
        num_persons: int = 2,
        in_channels: int = 3,
        hidden: int = 1024,
        num_layers: int = 3,
        readout: str = "last",
        centre_time: bool = False,
    ) -> None:
        super().__init__(layout, num_persons, in_channels, readout, centre_time)
        sizes = [self.input_size] + [2 * hidden] * (num_layers - 1)
        self.fwd = nn.ModuleList(nn.GRU(i, hidden, batch_first=True) for i in sizes)
        self.rev = nn.ModuleList(nn.GRU(i, hidden, batch_first=True) for i in sizes)
        self.hidden = hidden
        self.num_layers = num_layers
        self.feat_dim = 2 * hidden
        self._init_weights()

    def pair_weights(self, layer: int) -> tuple[Tensor, ...]:
        grus = (self.fwd[layer], self.rev[layer])
        return tuple(torch.stack([getattr(g, f"{w}_l0") for g in grus]) for w in _WEIGHTS)

    def layers_one_by_one(self, frames: Tensor) -> Tensor:
        h = frames
        for fwd, rev in zip(self.fwd, self.rev, strict=True):
            h = torch.cat([fwd(h)[0], rev(h)[0]], dim=-1)  # (N, T, 2H)
        return h

    def last_summary(self, out: Tensor) -> Tensor:
        return out[..., -1, :]


class BiGRU(_FrameEncoder):
    """A true bidirectional GRU; feature = [forward output at T - 1, backward output at 0].

    forward: (N, C, T, V, M) -> (N, 2 * hidden).
    """

    reverse = True

    def __init__(
        self,
        layout: Layout,
        num_persons: int = 2,
        in_channels: int = 3,
        hidden: int = 1024,
        num_layers: int = 3,
        readout: str = "last",
        centre_time: bool = False,
    ) -> None:
        super().__init__(layout, num_persons, in_channels, readout, centre_time)
        self.gru = nn.GRU(
            self.input_size, hidden, num_layers=num_layers, bidirectional=True, batch_first=True
        )
        self.hidden = hidden
        self.num_layers = num_layers
        self.feat_dim = 2 * hidden
        self._init_weights()

    def pair_weights(self, layer: int) -> tuple[Tensor, ...]:
        return tuple(
            torch.stack([getattr(self.gru, f"{w}_l{layer}{s}") for s in ("", "_reverse")])
            for w in _WEIGHTS
        )

    def layers_one_by_one(self, frames: Tensor) -> Tensor:
        return self.gru(frames)[0]

    def last_summary(self, out: Tensor) -> Tensor:
        return torch.cat([out[..., -1, : self.hidden], out[..., 0, self.hidden :]], dim=-1)
