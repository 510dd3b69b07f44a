"""CMD pretraining: the loop, checkpoints, resume and logging. Reads top to bottom.

A run directory holds `config.yaml` (the resolved config), `last.pt` (written atomically after
every epoch), `epoch_NNNN.pt` every `train.checkpoint_every` epochs, `history.json` (per-epoch
means of every logged term) and `tb/` (TensorBoard). `resume=True` continues from `last.pt`
exactly: model, key encoders, queues, optimizer, scaler, RNG states and epoch (from the newest
usable `epoch_NNNN.pt` if `last.pt` is damaged: `skelcmd.checkpoints.resume_point`). The main
process holds the run directory while it trains (`skelcmd.locking`).
"""

from __future__ import annotations

import json
import shlex
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from skelcmd.atomic import atomic_path, check_outside_inputs
from skelcmd.augment import two_views
from skelcmd.channels import coordinate_dims
from skelcmd.checkpoints import (
    changed_settings,
    check_new_run,
    check_resumable,
    checkpoint_state,
    load_weights,
    resume_point,
    rng_state,
    save_checkpoint,
    saved_checkpoints,
    set_rng_state,
)
from skelcmd.config import PretrainConfig, apply_overrides, from_dict, to_dict
from skelcmd.data.format import open_dataset
from skelcmd.data.loader import make_loader
from skelcmd.distributed import World, close_world, init_world
from skelcmd.errors import UserError
from skelcmd.evaluate.monitor import KNNMonitor
from skelcmd.locking import folder_lock
from skelcmd.model import build_model
from skelcmd.precision import autocast_dtype, choose_recurrence, use_recurrence
from skelcmd.precision import describe as describe_precision
from skelcmd.schedule import learning_rate


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resume_config(out_dir: str | Path, overrides: list[str] | None = None) -> PretrainConfig:
    """The config stored in the checkpoint a resumed run continues from (`out_dir/last.pt`, or
    see `skelcmd.checkpoints.resume_point`), with `--set` overrides applied."""
    stored = to_dict(resume_point(out_dir)[1]["config"])
    config = from_dict(PretrainConfig, apply_overrides(stored, overrides or []))
    config.validate()
    return config


def pretrain(
    config: PretrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Path:
    """Pretrain CMD as `config` says into `out_dir`; return the path of `last.pt`.

    The main process holds `out_dir` for the whole run (`skelcmd.locking`): a second run into
    the same folder is a UserError naming the first. A new run starts only in a new or empty
    folder or one a run left before its first checkpoint (`skelcmd.checkpoints.check_new_run`).
    When Ctrl-C or SIGTERM stops it, the KeyboardInterrupt carries a note saying how to resume.
    """
    check_outside_inputs(out_dir, [config.data.path] if config.data.path else [])
    world = init_world(config.train.device)
    try:
        with folder_lock(out_dir, "pretrain") if world.is_main else nullcontext():
            return _pretrain(config, Path(out_dir), world, resume, progress)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as the CLI raises it
        if world.is_main:  # (BaseException.add_note, which Python 3.10 lacks)
            stop.__notes__ = [*getattr(stop, "__notes__", []), _resume_hint(Path(out_dir))]
        raise
    finally:
        close_world()


def _resume_hint(out: Path) -> str:
    """What to do after a run into `out` was stopped: resume it, or start it again."""
    saved = saved_checkpoints(out)
    if not saved:
        return (
            f"No epoch finished, so {out} holds no checkpoint to resume: run the same command "
            "again to start over."
        )
    return (
        f"The run's last finished epoch is saved in {saved[0]}; continue it with: "
        f"skelcmd pretrain --out {shlex.quote(str(out))} --resume"
    )


def pretrain_or_reuse(config: PretrainConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Pretrain into `out_dir`, reusing a finished run of the same config found there and
    resuming an unfinished one; return the path of its checkpoint (`last.pt`). A run of another
    config there is a UserError (nothing is overwritten)."""
    if not saved_checkpoints(out_dir):
        return pretrain(config, out_dir, progress=progress)
    last, state, _ = resume_point(out_dir)
    if state["config"] != config:
        raise UserError(
            f"{out_dir} holds a pretraining run with another config; delete it or choose "
            "another output folder."
        )
    if state["epoch"] >= config.optim.epochs:
        print(f"reusing the finished run in {out_dir} ({state['epoch']} epochs)")
        return last
    return pretrain(config, out_dir, resume=True, progress=progress)


def _pretrain(
    config: PretrainConfig, out: Path, world: World, resume: bool, progress: bool
) -> Path:
    last = out / "last.pt"
    checkpoint, kept = None, None  # what training continues from; the last good checkpoint
    if resume:
        kept, checkpoint, note = resume_point(out)
        done, epochs = checkpoint["epoch"], config.optim.epochs
        if note and world.is_main:
            print(note, flush=True)
        if done > epochs:
            raise UserError(
                f"--resume: {kept} has trained {done} epochs, more than optim.epochs={epochs}; "
                f"nothing to do. To train longer, pass --set optim.epochs=N with N > {done}."
            )
        if done == epochs:
            changed = changed_settings(to_dict(checkpoint["config"]), to_dict(config))
            if changed:
                raise UserError(
                    f"--resume: {out} is finished ({done} of {epochs} epochs), so nothing was "
                    f"trained and these settings would be ignored: {'; '.join(changed)}. Drop "
                    f"them, or train longer with --set optim.epochs=N, N > {done}, or start a "
                    "new run with another --out."
                )
            if world.is_main:
                print(
                    f"{out} is finished ({done} of {epochs} epochs); nothing to do. To train "
                    f"longer: --resume --set optim.epochs=N with N > {done}."
                )
            return kept
        if world.is_main:
            print(
                f"resuming {out} from {kept.name}: {done} of {epochs} epochs done, continuing "
                f"with epoch {done + 1}",
                flush=True,
            )
    else:
        check_new_run(out)  # an empty folder, or what a run stopped before a checkpoint left
    if not config.data.path:
        raise UserError("data.path is not set: give `--set data.path=DIR` or a preset.")
    dataset = open_dataset(config.data.path)
    split = dataset.split(config.data.split)
    global_batch = config.optim.batch_size * world.size
    if config.model.queue_size % global_batch:
        raise UserError(
            f"model.queue_size={config.model.queue_size} must be a multiple of the global batch "
            f"size {global_batch} (optim.batch_size {config.optim.batch_size} x {world.size} "
            "process(es)), so that every queue slot is overwritten in turn; change one of them."
        )
    torch.manual_seed(config.train.seed + world.rank)

    model = build_model(config, dataset.layout, split.data.shape[4], world.device, dataset.channels)
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.optim.lr,
        momentum=config.optim.momentum,
        weight_decay=config.optim.weight_decay,
    )
    amp = autocast_dtype(config.train, world.device)  # bfloat16 or float16 on CUDA and CPUs
    queries = [branch.encoder_q for branch in model.branches.values()]
    frames, batch = config.augment.out_frames, config.optim.batch_size
    recurrence = (  # the GRUs' CPU path, measured in the precision chosen
        choose_recurrence(config.train, queries, batch, frames, amp, world.device)
        if world.is_main
        else None
    )
    if world.size > 1 and world.device.type == "cpu":  # the main process's probes decide
        choice = [amp, recurrence]
        torch.distributed.broadcast_object_list(choice, src=0)
        amp, recurrence = choice
    if recurrence is not None:
        use_recurrence(model, recurrence.path)
    scaler = torch.amp.GradScaler(world.device.type, enabled=amp == torch.float16)
    if world.is_main:
        print(describe_precision(config.train, world.device), flush=True)
        if recurrence is not None:
            print(recurrence.describe(), flush=True)
    start_epoch, history = 0, []
    if checkpoint is not None:
        check_resumable(
            kept, checkpoint, config, dataset.layout, split.data.shape[4], dataset.channels
        )
        load_weights(model, checkpoint["model"], kept)
        optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint["scaler"]:  # (empty where the run was saved without float16)
            scaler.load_state_dict(checkpoint["scaler"])
        set_rng_state(checkpoint["rng"][min(world.rank, len(checkpoint["rng"]) - 1)])
        start_epoch, history = checkpoint["epoch"], checkpoint["history"]
    network: torch.nn.Module = model
    if world.size > 1:
        if config.train.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        # Queues stay identical because every process pushes the same gathered keys, so
        # buffers (queues of K x 128 per modality) are not re-broadcast at every step.
        ids = [world.device] if world.device.type == "cuda" else None
        network = DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)

    loader = make_loader(
        split,
        config.optim.batch_size,
        shuffle=True,
        drop_last=True,
        workers=config.data.workers,
        seed=config.train.seed,
        rank=world.rank,
        world_size=world.size,
    )
    steps = len(loader)
    coords = coordinate_dims(dataset.channels)  # what shear and corruption act on
    if config.train.max_steps_per_epoch:
        steps = min(steps, config.train.max_steps_per_epoch)
    monitor = None
    if config.train.knn_every:
        monitor = KNNMonitor(config, dataset)
    writer = None
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))

    for epoch in range(start_epoch, config.optim.epochs):
        lr = learning_rate(config.optim, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loader.sampler.set_epoch(epoch)
        network.train()
        sums: dict[str, float] = defaultdict(float)
        bar = tqdm(
            total=steps,
            desc=f"epoch {epoch + 1}/{config.optim.epochs}",
            disable=not (progress and world.is_main),
            leave=False,
            dynamic_ncols=True,
        )
        tick = time.perf_counter()
        for step, (data, lengths, _) in enumerate(loader):
            if step == steps:
                break
            data = data.to(world.device, non_blocking=True)
            view1, view2 = two_views(data, lengths.to(world.device), config.augment, coords=coords)
            with torch.autocast(world.device.type, dtype=amp, enabled=amp is not None):
                terms = network(view1, view2)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                precision = "train.cpu_bf16" if world.device.type == "cpu" else "train.amp"
                then = (
                    f"The last good checkpoint is {kept} (epoch {epoch}): lower optim.lr, or set "
                    f"{precision}=false, then --resume (with --set for the new values)."
                    if kept is not None
                    else "No epoch finished, so there is no checkpoint to resume: lower "
                    f"optim.lr, or set {precision}=false, and run the same command again."
                )
                raise TrainingDiverged(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                    f"training stopped. {then}"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            keys = [k for k in terms if k != "loss"]  # one device sync for all logged terms
            logged = dict(
                zip(keys, torch.stack([terms[k].float() for k in keys]).tolist(), strict=True)
            )
            for key, value in logged.items():
                sums[key] += value
            global_step = epoch * steps + step
            if writer is not None and (global_step % config.train.log_every == 0):
                now = time.perf_counter()
                rate = len(data) * world.size * (step + 1) / max(now - tick, 1e-9)
                for key, value in logged.items():
                    writer.add_scalar(key, value, global_step)
                writer.add_scalar("lr", lr, global_step)
                writer.add_scalar("samples_per_s", rate, global_step)
            bar.set_postfix(loss=f"{logged['loss/total']:.3f}", lr=f"{lr:.2g}")
            bar.update()
        bar.close()
        record = {"epoch": epoch + 1, "lr": lr, **{k: v / steps for k, v in sums.items()}}
        record["seconds"] = time.perf_counter() - tick
        if recurrence is not None:
            record["cpu_recurrence"] = recurrence.path
        if monitor is not None and world.is_main and monitor.due(epoch + 1):
            record.update(monitor(model, writer, global_step=(epoch + 1) * steps))
        history.append(record)
        states = _gather_rng_states(world)
        if world.is_main:
            state = {
                **checkpoint_state(
                    model,
                    config,
                    dataset.layout,
                    split.data.shape[4],
                    epoch=epoch + 1,
                    history=history,
                    image_coordinates=dataset.image_coordinates,
                ),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": states,
            }
            save_checkpoint(last, state)
            kept = last
            if (epoch + 1) % config.train.checkpoint_every == 0:
                save_checkpoint(out / f"epoch_{epoch + 1:04d}.pt", state)
            with atomic_path(out / "history.json") as tmp:
                tmp.write_text(json.dumps(history, indent=1))
            print(
                f"epoch {epoch + 1}/{config.optim.epochs}  loss {record['loss/total']:.4f}  "
                f"lr {lr:.3g}  {record['seconds']:.1f} s"
                + (monitor.summary(record) if monitor is not None else ""),
                flush=True,
            )
    if writer is not None:
        writer.close()
    if world.is_main:
        print(f"wrote {last}")
    return last


def _gather_rng_states(world: World) -> list[dict[str, Any]]:
    """Every process's RNG states, so a resumed multi-process run continues each stream."""
    state = rng_state()
    if world.size == 1:
        return [state]
    states: list[Any] = [None] * world.size
    torch.distributed.all_gather_object(states, state)
    return states
