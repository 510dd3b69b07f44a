"""Run a protocol from paths and keep its results: one JSON record per stream in a run directory.

This is what `skelcmd knn | linear | finetune` and the demo call. Fine-tuning is recorded as
"semi" with a label fraction below 1, and as "transfer" when the checkpoint was pretrained on
another data set than the one evaluated.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from skelcmd.atomic import check_output_file, check_outside_inputs
from skelcmd.checkpoints import load_checkpoint
from skelcmd.config import to_dict
from skelcmd.data.format import META_FILE, open_dataset
from skelcmd.errors import UserError, read_json
from skelcmd.evaluate.classifier import save_trained
from skelcmd.evaluate.common import unseen_classes_note
from skelcmd.evaluate.protocols import run_protocol
from skelcmd.evaluate.records import Record, write_record

_NORM_TAGS = {"none": "raw", "standardize": "standardized", "l2": "L2-normalised"}
_RESULT_FIELDS = {"protocol", "stream", "top1", "top5", "seconds", "random_init", "checkpoint"}


def pretraining_source(state: dict[str, Any]) -> str | None:
    """The source of the data set a checkpoint was pretrained on, if it can still be read."""
    path = getattr(state["config"].data, "path", "")
    try:
        meta = read_json(Path(path) / META_FILE, "a data set's metadata") if path else None
    except UserError:
        return None
    source = meta.get("source") if isinstance(meta, dict) else None
    return source if isinstance(source, str) else None


def record_protocol(protocol: str, config: Any, checkpoint: Path, source: str) -> str:
    """The protocol name a result is recorded and reported under (fine-tuning with all labels
    reads the checkpoint to tell fine-tuning from transfer)."""
    if protocol != "finetune":
        return protocol
    if config.label_fraction < 1:
        return "semi"
    pretrained_on = pretraining_source(load_checkpoint(checkpoint))
    return "transfer" if pretrained_on and pretrained_on != source else "finetune"


def evaluate(
    protocol: str,
    checkpoint: str | Path,
    data: str | Path,
    *,
    config: Any,
    stream: str = "all",
    random_init: bool = False,
    device: str = "auto",
    out_dir: str | Path | None = None,
    progress: bool = True,
    save: str | Path | None = None,
) -> list[Record]:
    """Run `protocol` and write one record per reported stream into `out_dir` (default: the
    checkpoint's run directory). Returns the records, whose `path` says where each went.

    `save` (linear, finetune): also write the trained classifier there (`skelcmd.evaluate.
    classifier`; several streams: the ensemble); the records then say so in `saved`."""
    if save is not None and Path(save).suffix.lower() != ".pt":
        raise UserError(
            f"--save {save}: the classifier is saved as a PyTorch file; give a name ending .pt "
            "(skelcmd export --model FILE.pt --out FILE.onnx then writes the ONNX model)."
        )
    checkpoint = Path(checkpoint)
    out = Path(out_dir) if out_dir is not None else checkpoint.parent
    check_outside_inputs(out, [data])
    dataset = open_dataset(data, check_values=False)
    train, test = config.train_split, config.test_split
    note = unseen_classes_note(
        dataset.split(train).labels, dataset.split(test).labels, dataset.class_names, train, test
    )
    if note:
        print(note, file=sys.stderr)
    trained: dict[str, Any] | None = None
    if save is not None:
        if protocol == "knn":
            raise UserError("kNN trains no classifier to save; use linear or finetune --save.")
        check_output_file(save, inputs=[checkpoint], datasets=[data])
        trained = {}
    results = run_protocol(
        protocol,
        checkpoint,
        data,
        config=config,
        stream=stream,
        random_init=random_init,
        device=device,
        progress=progress,
        trained=trained,
    )
    saved = None
    if save is not None and trained:
        saved = save_trained(
            save,
            trained,
            results,
            protocol=protocol,
            config=config,
            checkpoint=checkpoint,
            dataset=dataset,
            random_init=random_init,
        )
        print(saved)
    name = record_protocol(protocol, config, checkpoint, dataset.source)
    where = {
        "path": str(data),
        "source": dataset.source,
        "benchmark": dataset.benchmark,
        "split": config.test_split,
    }
    records = []
    for result in results:
        record = Record(
            protocol=name,
            stream=result["stream"],
            dataset=where,
            top1=result["top1"],
            top5=result.get("top5"),
            checkpoint=str(checkpoint),
            random_init=random_init,
            settings=to_dict(config),
            extra={k: v for k, v in result.items() if k not in _RESULT_FIELDS}
            | ({"saved": str(save)} if saved else {}),
            seconds=result.get("seconds", 0.0),
        )
        record.path = write_record(out, record)
        records.append(record)
    return records


def summary(records: list[Record]) -> str:
    """A few lines for the terminal: top-1 per stream, and where the records are."""
    lines = []
    for r in records:
        extra = r.extra
        tail = []
        if "best_epoch" in extra:
            tail.append(f"best epoch {extra['best_epoch']}: {extra['best_top1']:.1f}")
        if len(r.seeds) > 1:
            mean, std = r.mean_std()
            tail.append(f"{len(r.seeds)} seeds: {mean:.1f} ± {std:.1f}")
        tags = ["random init"] if r.random_init else []
        tags += ["BN recomputed"] if r.extra.get("bn_stats") == "train" else []
        norm = r.extra.get("feature_norm")
        tags += [f"{_NORM_TAGS.get(norm, norm)} features"] if norm else []
        init = f" ({', '.join(tags)})" if tags else ""
        note = f"   [{'; '.join(tail)}]" if tail else ""
        lines.append(f"{r.protocol:9s} {r.stream:9s} top-1 {r.top1:5.1f}{init}{note}")
    if records:
        lines.append(f"records in {records[0].path.parent}")
    return "\n".join(lines)
