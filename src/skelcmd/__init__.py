"""skelcmd: cross-modal mutual distillation (CMD) for self-supervised skeleton action learning.

The public Python API (everything else is internal and may change):

    load_encoder(checkpoint, stream="joint", device=None) -> Encoder
        a pretrained stream encoder: `.embed(x, lengths)` (N, C, T, V, M) -> (N, D) features,
        `.transform(x, lengths)` the test-time crop and resize, `.module` the nn.Module
    load_classifier(path, device=None) -> TrainedClassifier
        a classifier saved by `skelcmd linear | finetune --save`: `.predict(clips, lengths)`
        -> (probabilities, labels), `.classes`, `.module` the nn.Module
    open_dataset(path) -> Dataset      a data set directory; `.split("train")` -> Split
    Layout, get_layout(name), LAYOUTS  skeleton layouts (ntu25, kinect20, sbu15, coco17, ...)
    CMD                                the model: one MoCo branch per modality + distillation
    UserError                          what every mistake a user can fix raises

Names are imported on first use, so `import skelcmd` (and the command line) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_encoder": "skelcmd.api",
    "Encoder": "skelcmd.api",
    "load_classifier": "skelcmd.evaluate.predict",
    "open_dataset": "skelcmd.data.format",
    "Dataset": "skelcmd.data.format",
    "Split": "skelcmd.data.format",
    "Layout": "skelcmd.skeleton",
    "get_layout": "skelcmd.skeleton",
    "LAYOUTS": "skelcmd.skeleton",
    "CMD": "skelcmd.model",
    "UserError": "skelcmd.errors",
}
__all__ = [
    "CMD",
    "LAYOUTS",
    "Dataset",
    "Encoder",
    "Layout",
    "Split",
    "UserError",
    "__version__",
    "get_layout",
    "load_classifier",
    "load_encoder",
    "open_dataset",
]

if TYPE_CHECKING:
    from skelcmd.api import Encoder, load_encoder
    from skelcmd.data.format import Dataset, Split, open_dataset
    from skelcmd.errors import UserError
    from skelcmd.evaluate.predict import load_classifier
    from skelcmd.model import CMD
    from skelcmd.skeleton import LAYOUTS, Layout, get_layout


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skelcmd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
