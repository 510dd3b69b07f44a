"""`skelcmd demo`: the whole pipeline on the built-in synthetic data set, on a CPU.

generate the data set -> draw a sample -> pretrain CMD (preset `synthetic_cpu`) -> kNN and
linear evaluation of every stream and the ensemble, for the pretrained encoder and for the
same encoder untrained (the pretrained encoder's ensemble classifier is saved as
`pretrain/classifier.pt`) -> t-SNE of test features -> `skelcmd predict` with that classifier
on the test split (`pretrain/predictions.csv`, its confusion matrix) -> `report.md` with the
table and pictures.
A finished pretraining run in the output folder is reused (an unfinished one is resumed),
so running the demo again only re-evaluates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.data.info import describe
from skelcmd.evaluate.commands import evaluate, summary
from skelcmd.evaluate.embed import embed
from skelcmd.evaluate.predict import predict_files
from skelcmd.evaluate.protocols import load_eval_config
from skelcmd.evaluate.report import build_report
from skelcmd.synthetic.generator import TWO_PERSON_CLASSES, write_synthetic
from skelcmd.train import pretrain_or_reuse
from skelcmd.viz import render_sample

PRETRAIN_PRESET = "synthetic_cpu"
EVALUATIONS = (("knn", "knn_cpu"), ("linear", "linear_cpu"))  # (protocol, eval preset)


def _banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _draw_interaction(data_dir: Path, out: Path) -> list[Path]:
    """A two-person test sample, as a PNG strip and a GIF."""
    dataset = open_dataset(data_dir, check_values=False)
    split = dataset.split("test")
    index = int(np.flatnonzero(np.isin(split.labels, sorted(TWO_PERSON_CLASSES)))[0])
    title = f"{dataset.class_names[split.labels[index]]} ({split.sample_name(index)})"
    return [
        render_sample(
            split.data[index],
            int(split.lengths[index]),
            dataset.layout,
            out / f"sample{suffix}",
            title=title,
        )
        for suffix in (".png", ".gif")
    ]


def run_demo(
    out: str | Path,
    *,
    samples: int = 2000,
    seed: int = 0,
    pretrain_overrides: list[str] | None = None,
    linear_overrides: list[str] | None = None,
) -> Path:
    """Run the demo into `out`; return the path of `report.md`. The overrides are `key=value`
    strings for the pretraining preset and for the linear-evaluation preset."""
    out = Path(out)
    _banner(f"1/6 synthetic data set: {samples} sequences, seed {seed}")
    (data,) = write_synthetic(
        out / "data", num_samples=samples, seed=seed, benchmarks=["xsub"], overwrite=True
    )
    print(describe(open_dataset(data)))
    for path in _draw_interaction(data, out):
        print(f"wrote {path}")

    _banner(f"2/6 pretraining CMD (preset {PRETRAIN_PRESET})")
    config = load_config(
        PRETRAIN_PRESET, [f"data.path={data}", f"train.seed={seed}", *(pretrain_overrides or [])]
    )
    run = out / "pretrain"
    checkpoint = pretrain_or_reuse(config, run)

    classifier = run / "classifier.pt"
    for step, random_init in (("3/6", False), ("4/6", True)):
        what = "the same encoder, untrained" if random_init else "the pretrained encoder"
        _banner(f"{step} kNN and linear evaluation of {what}")
        for protocol, preset in EVALUATIONS:
            overrides = linear_overrides if protocol == "linear" else None
            settings = load_eval_config(protocol, preset, overrides or [])
            records = evaluate(
                protocol,
                checkpoint,
                data,
                config=settings,
                random_init=random_init,
                out_dir=run,
                save=classifier if protocol == "linear" and not random_init else None,
            )
            print(summary(records))

    _banner("5/6 features for t-SNE")
    embed(checkpoint, data, run / "embed_joint.npy", stream="joint")

    _banner(f"6/6 skelcmd predict with {classifier.name} on the test split, and the report")
    print(predict_files(classifier, [data], run / "predictions.csv").format())
    report = build_report([run], out)
    table = report.read_text().split("\n## ")[1]
    print(f"\n## {table.strip()}\n\nwrote {report}")
    return report
