"""The names and constants that several parts of skelcmd agree on, in one dependency-free home.

The command line imports this module (and nothing heavier) to build `--help`, so every choice
it offers is the library's own tuple, never a copy. Library modules import the same names.
"""

from __future__ import annotations

# Skeleton streams (modalities) a model can be pretrained on; `skelcmd.modalities` registers
# one function per name, in this order.
STREAMS = ("joint", "motion", "bone")
# What an evaluation can report: one stream, the streams' ensemble, or all of them.
ENSEMBLE, ALL = "ensemble", "all"
STREAM_CHOICES = (*STREAMS, ENSEMBLE, ALL)

# Evaluation protocols (`skelcmd.evaluate.protocols.PROTOCOL_TABLE` maps each to its code).
PROTOCOLS = ("knn", "linear", "finetune")
# What a result is recorded and reported under: fine-tuning with a label fraction is "semi",
# fine-tuning on another data set than the pretraining one is "transfer".
RECORDED_PROTOCOLS = (*PROTOCOLS, "semi", "transfer")

# How raw recordings are normalised (`skelcmd.sources.normalize`).
REFERENCE, TRACKED, NONE = "reference", "tracked-first-frame", "none"
PREPROCESS = (REFERENCE, TRACKED)  # what `prepare` offers
IMPORT_PREPROCESS = (*PREPROCESS, NONE)  # what importers offer

# The benchmarks (splits into train and test) of each data set `prepare` or `synth` writes.
BENCHMARKS = {
    "ntu60": ("xsub", "xview"),
    "ntu120": ("xsub", "xset"),
    "pku-mmd": ("xsub", "xview"),
    "synthetic": ("xsub", "xview"),
}
BENCHMARK_ORDER = ("xsub", "xview", "xset")  # the paper's column order in reports

# The evaluation view of a clip (the reference's test transform): a centre crop of this
# fraction of the valid frames, resized to this many frames.
EVAL_CROP = 0.95
EVAL_FRAMES = 64
