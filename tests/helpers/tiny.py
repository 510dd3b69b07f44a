"""A tiny CMD config shared by the tests: a one-layer GRU of 8 units, a queue of 32 keys,
16-frame views, batches of 16, two epochs. `--set` overrides, as the CLI takes them."""

TINY_MODEL = ["model.encoder_args={hidden: 8, num_layers: 1}", "model.queue_size=32", "cmd.topk=8"]
TINY = [
    *TINY_MODEL,
    "model.feature_dim=16",
    "optim.batch_size=16",
    "optim.epochs=2",
    "optim.milestones=[1]",
    "data.workers=0",
    "train.checkpoint_every=1",
    "train.log_every=1",
    "augment.min_frames=16",
    "augment.out_frames=16",
]


def set_options(overrides: list[str]) -> list[str]:
    """["a=1", "b=2"] -> ["--set", "a=1", "--set", "b=2"]."""
    return [arg for item in overrides for arg in ("--set", item)]
