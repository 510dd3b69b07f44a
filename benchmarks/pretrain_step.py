"""One CMD pretraining step, skelcmd against a baseline written the way the reference code works.

Both sides do the same work per step: two augmented views of 64 samples, three modalities
(joint, motion, bone), MoCo v2 per modality with queues of K keys, the CMD loss over the six
ordered pairs with top-k neighbours, backward and an SGD step. The baseline, written here:
motion and bone made per sample in numpy, augmentation per sample in numpy with one
`F.interpolate` per sample, a bidirectional GRU fed one frame at a time (state carried), one
Python pass per modality pair for the CMD loss. skelcmd: batched augmentation and modalities on
the device, batched losses and, on the CPU, all modalities' GRUs in one batched recurrence per
layer (`skelcmd.encoders.recurrence`), as training runs them. On the CPU its variants are
`fp32` (train.cpu_bf16=false), `bf16` (true: bfloat16 autocast), both on the batched
recurrence, `nn.GRU` (float32 with nn.GRU's CPU kernel, one GRU after another: skelcmd's step
before the batched recurrence) and `default`: what training picks with its default settings
(`train.cpu_bf16` and `train.cpu_recurrence` auto: the precision and the GRU path chosen by
measurement at start; the lines "<variant> ran:" say what each variant ran). On CUDA,
`skelcmd` is the step as training runs it (cuDNN, `train.amp` auto). The variants' steps
alternate in one process; peak memory is measured for each alone, in a fresh process.
`--encoder stgcn` times skelcmd's step with SkeletonCLR's ST-GCN instead, fp32 against bf16
(the baseline is the reference's GRU, so it does not run then).

    python -m benchmarks.pretrain_step [--encoder gru|stgcn] [--hidden 256] [--steps 5]
                                       [--device cpu] [--variants fp16,bf16,baseline] [--quick]
                                       [--library measured|onednn|bmm]

`--variants` picks among fp32, bf16, fp16 (float16 autocast with a GradScaler: CUDA's), nn.GRU,
default, skelcmd and baseline; `--quick` (a smoke test, for CI) times one step each and skips
the peak-memory runs. `--library bmm` (or `onednn`) forces the library of the batched
recurrence's products instead of measuring it per shape: with `bmm` every variant computes its
float32 products in MKL, which shows what the batched recurrence gives where oneDNN is no
faster than MKL (the issue-25 Intel Xeon).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skelcmd.encoders.kernels import LIBRARIES, using
from skelcmd.skeleton import NTU25
from skelcmd.synthetic.generator import generate

BATCH, FRAMES, PERSONS = 64, 64, 2
SUFFIX = {"joint": "", "motion": "_motion", "bone": "_bone"}


# ----------------------------------------------------------------------------- the baseline
def baseline_view(sample: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """One sample (3, T, V, M) -> augmented (3, 64, V, M), per sample, as the reference does."""
    ratio = rng.uniform(0.1, 1.0)
    crop = int(min(max(np.floor(length * ratio), FRAMES), length))
    start = rng.integers(0, length - crop + 1)
    c, _, v, m = sample.shape
    clip = torch.from_numpy(sample[:, start : start + crop].transpose(0, 2, 3, 1).copy())
    clip = clip.reshape(1, c * v * m, crop, 1)
    clip = F.interpolate(clip, size=(FRAMES, 1), mode="bilinear", align_corners=False)
    x = clip.reshape(c, v, m, FRAMES).permute(0, 3, 1, 2).numpy()
    if rng.random() < 0.5:  # joint corruption
        joints = rng.choice(v, 15, replace=False)
        if rng.random() < 0.5:
            x[:, :, joints] = 0
        else:
            matrix = rng.uniform(-1, 1, (3, 3))
            x[:, :, joints] = np.einsum("ij,jtvm->itvm", matrix, x[:, :, joints])
    else:  # shear
        matrix = rng.uniform(-1, 1, (3, 3))
        np.fill_diagonal(matrix, 1.0)
        x = np.einsum("ij,jtvm->itvm", matrix, x)
    return x.astype(np.float32)


def baseline_streams(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample numpy modalities, as the reference's data set class makes them."""
    motion = np.zeros_like(x)
    motion[:, :-1] = x[:, 1:] - x[:, :-1]
    bone = np.zeros_like(x)
    for v, p in NTU25.bone_pairs:
        bone[:, :, v] = x[:, :, v] - x[:, :, p]
    return {"joint": x, "motion": motion, "bone": bone}


class BaselineGRU(nn.Module):
    """Input norm, a bidirectional 3-layer GRU fed one frame at a time, MLP head."""

    def __init__(self, hidden: int):
        super().__init__()
        size = 3 * 25 * PERSONS
        self.input_norm = nn.BatchNorm1d(size)
        self.gru = nn.GRU(size, hidden, num_layers=3, bidirectional=True, batch_first=True)
        self.fc = nn.Sequential(
            nn.Linear(2 * hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, 128)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        frames = x.permute(0, 2, 3, 1, 4).reshape(n, t, v * c * m)
        frames = self.input_norm(frames.transpose(1, 2)).transpose(1, 2)
        h = None
        for i in range(t):
            out, h = self.gru(frames[:, i : i + 1], h)
        return self.fc(out[:, 0])


class Baseline(nn.Module):
    def __init__(self, hidden: int, queue: int):
        super().__init__()
        self.q = nn.ModuleDict({m: BaselineGRU(hidden) for m in SUFFIX})
        self.k = nn.ModuleDict({m: BaselineGRU(hidden) for m in SUFFIX})
        for m in SUFFIX:
            self.k[m].load_state_dict(self.q[m].state_dict())
            self.k[m].requires_grad_(False)
            self.register_buffer(f"queue{SUFFIX[m]}", F.normalize(torch.randn(128, queue), dim=0))

    def forward(self, v1: dict, v2: dict, topk: int) -> torch.Tensor:
        loss, q, k, queues = 0.0, {}, {}, {}
        for m in SUFFIX:
            with torch.no_grad():
                for pq, pk in zip(self.q[m].parameters(), self.k[m].parameters(), strict=True):
                    pk.mul_(0.999).add_(pq.detach(), alpha=0.001)
                k[m] = F.normalize(self.k[m](v2[m]), dim=1)
            q[m] = F.normalize(self.q[m](v1[m]), dim=1)
            queues[m] = getattr(self, f"queue{SUFFIX[m]}").clone().detach()
            logits = torch.cat([(q[m] * k[m]).sum(1, keepdim=True), q[m] @ queues[m]], 1) / 0.07
            labels = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
            loss = loss + F.cross_entropy(logits, labels)
        for a in SUFFIX:
            for b in SUFFIX:
                if a != b:
                    teacher = k[a] @ queues[a]
                    values, index = teacher.topk(topk, dim=1)
                    student = torch.gather(q[b] @ queues[b], 1, index)
                    log_p_s = F.log_softmax(student / 0.1, dim=1)
                    loss = loss + F.kl_div(
                        log_p_s, F.softmax(values / 0.05, dim=1), reduction="batchmean"
                    )
        with torch.no_grad():  # enqueue, as the reference does after the loss
            for m in SUFFIX:
                getattr(self, f"queue{SUFFIX[m]}")[:, : len(k[m])] = k[m].T
        return loss


def baseline_step(model, optimizer, data, lengths, rng, topk) -> None:
    device = next(model.parameters()).device  # the reference's loader works on the CPU
    views = []
    for _ in range(2):
        streams = [
            baseline_streams(baseline_view(s, n, rng)) for s, n in zip(data, lengths, strict=True)
        ]
        views.append(
            {m: torch.from_numpy(np.stack([s[m] for s in streams])).to(device) for m in SUFFIX}
        )
    loss = model(views[0], views[1], topk)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


# ----------------------------------------------------------------------------- skelcmd
def skelcmd_step(model, optimizer, data, lengths, config, amp, scaler) -> None:
    from skelcmd.augment import two_views

    v1, v2 = two_views(data, lengths, config.augment)
    with torch.autocast(data.device.type, dtype=amp, enabled=amp is not None):
        loss = model(v1, v2)["loss"]
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


# skelcmd's variants: train.cpu_bf16 and train.cpu_recurrence (nn_gru: nn.GRU's CPU kernel, one
# GRU after another, as skelcmd ran before the batched recurrence). `default` and, on CUDA,
# `skelcmd` are the step as training runs it with the default settings.
SKELCMD = {
    "fp32": ["train.cpu_bf16=false", "train.amp=false", "train.cpu_recurrence=batched"],
    "bf16": ["train.cpu_bf16=true", "train.amp=bfloat16", "train.cpu_recurrence=batched"],
    "fp16": ["train.cpu_bf16=false", "train.amp=float16"],  # (float32 on the CPU)
    "nn.GRU": ["train.cpu_bf16=false", "train.amp=false", "train.cpu_recurrence=nn_gru"],
    "default": [],
    "skelcmd": [],
}


def make_step(variant: str, args: argparse.Namespace):
    """A closure running one training step of `variant` on a fixed batch of 64 samples."""
    hidden, queue, topk, device = args.hidden, args.queue, args.topk, args.device
    torch.manual_seed(0)
    synth = generate(BATCH, seed=0, max_frames=300)
    lengths = np.maximum(synth.lengths, 64)  # NTU clips are mostly longer than the crop
    if variant == "baseline":
        model = Baseline(hidden, queue).to(device)
        step_args = (synth.data, lengths, np.random.default_rng(0), topk)
        step = baseline_step
    else:
        from skelcmd.config import load_config
        from skelcmd.model import build_model
        from skelcmd.precision import autocast_dtype, choose_recurrence, describe, use_recurrence

        overrides = [f"model.encoder={args.encoder}"]
        if args.encoder == "stgcn":  # SkeletonCLR's ST-GCN: width 16, 256-d output
            overrides.append("model.encoder_args={}")
        else:
            overrides.append(f"model.encoder_args={{hidden: {hidden}, num_layers: 3}}")
        overrides += [f"model.queue_size={queue}", f"cmd.topk={topk}", *SKELCMD[variant]]
        config = load_config(None, overrides)
        model = build_model(config, NTU25, PERSONS, device)  # as training builds it and
        amp = autocast_dtype(config.train, torch.device(device))  # chooses what runs
        queries = [branch.encoder_q for branch in model.branches.values()]
        path = choose_recurrence(config.train, queries, BATCH, FRAMES, amp, torch.device(device))
        if path is not None:
            use_recurrence(model, path.path)
        ran = [describe(config.train, torch.device(device))]
        ran += [path.describe()] if path is not None else []
        data = torch.from_numpy(synth.data).to(device)
        scaler = torch.amp.GradScaler(data.device.type, enabled=amp == torch.float16)
        lengths = torch.from_numpy(lengths.astype(np.int64)).to(device)
        step_args = (data, lengths, config, amp, scaler)
        step = skelcmd_step
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)

    def run() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        tick = time.perf_counter()
        step(model, optimizer, *step_args)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - tick

    run.model = model  # for the tests
    run.ran = [] if variant == "baseline" else ran  # what precision and GRU path ran
    return run


def peak_memory(variant: str, args: argparse.Namespace) -> float:
    """MiB at the peak of two steps of `variant` alone in this process (RSS, or GPU memory)."""
    run = make_step(variant, args)
    run(), run()
    if args.device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gru_step_flops(hidden: int, frames: int = FRAMES, batch: int = BATCH) -> float:
    """Multiply-add FLOPs of the GRUs in one step: per modality, the query encoder forward and
    backward (about 3x the forward) and the key encoder forward; 3 layers, 2 directions."""
    inputs = [3 * 25 * PERSONS, 2 * hidden, 2 * hidden]
    per_frame = sum(2 * 3 * (i * hidden + hidden * hidden) * batch * 2 for i in inputs)
    forward = per_frame * frames
    return 3 * (3 * forward + forward)


def matmul_gflops(
    dtype: torch.dtype, size: int = 2048, repeats: int = 5, rounds: int = 3, onednn: bool = False
) -> float:
    """Measured speed of this machine's matrix products in `dtype` (GFLOP/s, best round):
    torch's `a @ b` (float32: MKL; bfloat16: oneDNN), or with `onednn` the products the GRU
    recurrence uses (`skelcmd.encoders.kernels.linear`: oneDNN for float32 too)."""
    from skelcmd.encoders.kernels import linear

    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    product = (lambda: linear(a, b)) if onednn else (lambda: a @ b)
    product()
    best = float("inf")
    for _ in range(rounds):
        tick = time.perf_counter()
        for _ in range(repeats):
            product()
        best = min(best, time.perf_counter() - tick)
    return 2 * size**3 * repeats / best / 1e9


def matmul_peaks(size: int = 2048) -> tuple[float, float, float]:
    """GFLOP/s of float32 products in MKL (torch's mm) and in oneDNN, and of bfloat16 ones."""
    return (
        matmul_gflops(torch.float32, size),
        matmul_gflops(torch.float32, size, onednn=True),
        matmul_gflops(torch.bfloat16, size, onednn=True),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", choices=["gru", "stgcn"], default="gru")
    parser.add_argument("--hidden", type=int, default=256, help="of the GRU")
    parser.add_argument("--queue", type=int, default=16384)
    parser.add_argument("--topk", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each variant")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", help="comma-separated (default: all that apply)")
    parser.add_argument("--quick", action="store_true", help="one step each, no memory runs")
    parser.add_argument(
        "--library",
        choices=["measured", *LIBRARIES],
        default="measured",
        help="the library of the batched recurrence's products: measured per shape (as "
        "training does), or forced (bmm: PyTorch's batched products, MKL in float32; the "
        "library nn.GRU and the baseline use)",
    )
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one variant's peak
    args = parser.parse_args()
    with contextlib.nullcontext() if args.library == "measured" else using(args.library):
        if args.memory_of:
            print(peak_memory(args.memory_of, args))
            return
        report(parser, args)


def report(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Time the variants of `args` and print the figures."""
    gru, cpu = args.encoder == "gru", not args.device.startswith("cuda")
    steps_each = 1 if args.quick else args.steps
    size = f"gru hidden {args.hidden}" if gru else args.encoder
    print(
        f"CMD pretraining step: batch {BATCH}, {FRAMES} frames, 3 modalities, "
        f"{size}, K {args.queue}, top-k {args.topk}, device {args.device}, "
        f"torch threads {torch.get_num_threads()}; steps of the variants interleaved, "
        f"median of {steps_each} each; recurrence products: {args.library}"
    )
    variants = {
        (True, True): ("fp32", "bf16", "nn.GRU", "default", "baseline"),
        (True, False): ("fp32", "bf16", "default"),
        (False, True): ("skelcmd", "baseline"),
        (False, False): ("skelcmd",),
    }[cpu, gru]
    if args.variants:
        variants = tuple(args.variants.split(","))
        unknown = sorted(set(variants) - {*SKELCMD, "baseline"})
        if unknown or ("baseline" in variants and not gru):
            parser.error(f"--variants: {', '.join(unknown) or 'baseline'} cannot run here")
    # The matrix-product peaks, before the steps and again after them (the larger counts: a
    # busy moment of a shared machine lowers one of them)
    peak_size = 256 if args.quick else 2048
    peaks_before = matmul_peaks(peak_size) if cpu and gru else None
    # Memory first, each variant alone in a fresh process: a child's peak RSS counts the
    # parent's at the fork, so the parent must not hold the models yet.
    peaks = {}
    for variant in variants if not args.quick else ():
        command = [sys.executable, __file__, "--memory-of", variant, *sys.argv[1:]]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        peaks[variant] = float(out.strip().splitlines()[-1])
    steps = {v: make_step(v, args) for v in variants}
    for run in steps.values():
        run()  # warm-up
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(steps_each):
        for variant, run in steps.items():
            times[variant].append(run())
    seconds = {v: float(np.median(t)) for v, t in times.items()}
    memory = "GPU" if not cpu else "RSS"
    for variant in variants:
        spread = f"{min(times[variant]):.2f}-{max(times[variant]):.2f}"
        peak = f"{peaks[variant]:.0f} MiB" if variant in peaks else "not measured"
        print(
            f"{variant:9s} {seconds[variant]:7.2f} s/step ({spread})  "
            f"{BATCH / seconds[variant]:7.1f} samples/s  peak {memory} {peak}"
        )
    if "baseline" in seconds:
        for variant in (v for v in variants if v != "baseline"):
            print(f"{variant} against the baseline: {seconds['baseline'] / seconds[variant]:.2f}x")
    if "nn.GRU" in seconds:
        for variant in (v for v in ("fp32", "bf16", "default") if v in seconds):
            print(f"{variant} against nn.GRU: {seconds['nn.GRU'] / seconds[variant]:.2f}x")
    for variant in variants:
        for line in steps[variant].ran:
            print(f"{variant} ran: {line}")
    if cpu and gru:
        flops = gru_step_flops(args.hidden)
        after = matmul_peaks(peak_size)
        mkl, fp32, bf16 = (max(a, b) for a, b in zip(peaks_before, after, strict=True))
        fp32 = max(fp32, mkl)  # the peak: the faster of the two libraries
        print(
            f"GRU arithmetic: {flops / 1e9:.0f} GFLOP per step; measured matmul speed "
            f"({peak_size}^2): "
            f"fp32 {mkl:.0f} GFLOP/s with torch's mm (MKL), {fp32:.0f} peak (oneDNN or MKL), "
            f"bf16 {bf16:.0f} GFLOP/s; so at least {flops / 1e9 / fp32:.2f} s (fp32) and "
            f"{flops / 1e9 / bf16:.2f} s (bf16) per step"
        )
        for variant in variants:
            rate = flops / seconds[variant] / 1e9
            print(
                f"{variant:9s} runs the GRUs at {rate:5.1f} GFLOP/s = {rate / fp32:4.0%} of the "
                f"fp32 peak, {rate / bf16:4.0%} of the bf16 peak"
            )


if __name__ == "__main__":
    main()
