"""What a sample may hold, checked once for every importer just before it is written.

`DatasetWriter` calls `check_samples` on every batch, after the cast to float32, so a value
that was finite in the source but does not fit float32 (1e300 becomes inf) is refused like a
NaN, and a label is compared with the class count before any integer cast could wrap it
(2**64 - 1 read as uint64 would become -1 as int64). Each refusal is a UserError naming the
sample; since the writer builds the data set under a temporary name, nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from skelcmd.errors import UserError

FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32 = np.iinfo(np.int32)
_ADVICE = "Nothing was written."


class BadSample(UserError):
    """A sample the writer refuses: `sample` names it, `reason` says why (without advice)."""

    def __init__(self, lead: str, sample: str, reason: str, fix: str):
        super().__init__(f"{lead}sample {sample} {reason}; {fix}. {_ADVICE}")
        self.sample, self.reason = sample, reason


def to_float32(values: np.ndarray) -> np.ndarray:
    """`values` as float32 without numpy's overflow warning: a value beyond float32's range
    becomes +-inf, which `check_samples` then refuses, naming the sample."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values, dtype=np.float32)


def check_samples(
    data: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    ids: Mapping[str, np.ndarray],
    *,
    max_frames: int,
    num_classes: int,
    name_of: Callable[[int], str],
    where: str = "",
) -> None:
    """UserError for the first bad sample of a batch, else nothing.

    data float32 (n, C, T, V, M), finite; lengths (n,) in 1..max_frames; labels (n,) integers in
    0..num_classes - 1 (checked in their own dtype); ids (n,) each fitting int32.
    `name_of(i)` names sample i of the batch; `where` (the input, if known) leads the message.
    """
    lead = f"{where}: " if where else ""
    n = len(data)
    finite = np.isfinite(data).reshape(n, -1).all(axis=1)
    if not finite.all():
        i, count = int(np.argmin(finite)), n - int(finite.sum())
        more = f" (and {count - 1} more)" if count > 1 else ""
        raise BadSample(
            lead,
            name_of(i) + more,
            "holds coordinates that are NaN, infinite or too large for float32 (beyond "
            f"+-{FLOAT32_MAX:.1e})",
            "fix or remove it and import again",
        )
    lengths, labels = np.asarray(lengths), np.asarray(labels)
    for key, values in {"lengths": lengths, "labels": labels, **ids}.items():
        if np.asarray(values).dtype.kind not in "iu":
            raise ValueError(f"{key} must be integers, got dtype {np.asarray(values).dtype}")
    bad = np.flatnonzero((lengths < 1) | (lengths > max_frames))
    if bad.size:
        raise BadSample(
            lead,
            name_of(int(bad[0])),
            f"has {lengths[bad[0]]} frames, outside 1..{max_frames}",
            "fix its frame count and import again",
        )
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise BadSample(
            lead,
            name_of(int(bad[0])),
            f"has label {labels[bad[0]]}, outside the {num_classes} classes (0..{num_classes - 1})",
            "fix the label or the class names and import again",
        )
    for key, values in ids.items():
        values = np.asarray(values)
        bad = np.flatnonzero((values < _INT32.min) | (values > _INT32.max))
        if bad.size:
            raise BadSample(
                lead,
                name_of(int(bad[0])),
                f"has {key} id {values[bad[0]]}, which does not fit a 32-bit integer",
                "fix the id and import again",
            )
