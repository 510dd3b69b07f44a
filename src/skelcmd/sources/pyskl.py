"""Import pyskl-style annotation pickles (e.g. `ntu60_3danno.pkl`) into the skelcmd format.

The pickle is a dict: `split` maps split names (`xsub_train`, `xsub_val`, ...) to lists of
`frame_dir` names; `annotations` is a list of dicts with `frame_dir`, `label` (0-based),
`keypoint` (M persons, T frames, V joints, C) float, `total_frames` (= T) and optionally
`keypoint_score`. 3D keypoints (C = 3, e.g. `ntu60_3danno.pkl`) become (3, T, V, M), channels
xyz; 2D ones (C = 2, e.g. `ntu60_hrnet.pkl`, COCO-17 order) become channels xy+score (xy
without scores), normalised to the image as `skelcmd.sources.pose2d` says. Persons are
zero-padded to the largest M of the selected samples.

Pickles can run arbitrary code when loaded, so `load_pickle` uses an unpickler that only
builds plain containers, scalars and NumPy arrays and refuses every other global.
"""

from __future__ import annotations

import importlib
import pickle
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from skelcmd.channels import num_channels
from skelcmd.data.values import to_float32
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError, require_file
from skelcmd.skeleton import Layout, get_layout
from skelcmd.sources.classnames import MAX_LABEL, resolve_class_names
from skelcmd.sources.normalize import (
    NONE,
    check_import_preprocess,
    normalize_arrays,
    preprocess_extra,
)
from skelcmd.sources.pose2d import annotation_channels, check_scores, keypoints_2d

BATCH = 256
NTU_NAME = re.compile(r"S(\d+)C(\d+)P(\d+)R(\d+)A(\d+)")
NTU_IDS = {"setups": 1, "views": 2, "subjects": 3, "replications": 4}  # regex group per id

_BUILTINS = ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "bool")
ALLOWED_GLOBALS = frozenset(
    {("builtins", name) for name in (*_BUILTINS, "str", "bytes", "bytearray")}
    | {("collections", "OrderedDict"), ("_codecs", "encode")}  # encode: bytes in protocol <= 2
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {
        (f"numpy.{core}.{module}", name)
        for core in ("core", "_core")
        for module, name in (
            ("multiarray", "_reconstruct"),
            ("multiarray", "scalar"),
            ("numeric", "_frombuffer"),  # arrays pickled with protocol 5
        )
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only `ALLOWED_GLOBALS`; any other global (e.g. os.system) is a UserError."""

    def __init__(self, file: Any, where: str):
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins"}.get(module, module)  # protocol <= 2 names
        if (module, name) not in ALLOWED_GLOBALS:
            raise UserError(
                f"{self.where} asks to load the global {module}.{name}, which an annotation "
                "file never needs, so it was refused and nothing in it was run. The file may be "
                "malicious or not a pyskl annotation pickle; only import files you trust."
            )
        if module.startswith("numpy.core."):  # written by NumPy 1.x; NumPy 2 renamed the package
            try:
                importlib.import_module("numpy._core")
                module = "numpy._core." + module.removeprefix("numpy.core.")
            except ImportError:
                pass
        return super().find_class(module, name)


def load_pickle(path: str | Path) -> Any:
    """Load a pickle with the restricted unpickler; every failure is a UserError."""
    path = Path(path)
    require_file(path, "annotation file", "give a pyskl .pkl file")
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, str(path)).load()
    except UserError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... from a broken file
        raise UserError(f"{path} is not a readable pickle ({type(exc).__name__}: {exc}).") from None


def _pick_splits(splits: Mapping[str, Any], benchmark: str, where: str) -> dict[str, str]:
    """{"train": "<b>_train", "test": "<b>_test" or "<b>_val"} for benchmark `b`."""
    test = next((f"{benchmark}_{s}" for s in ("test", "val") if f"{benchmark}_{s}" in splits), "")
    if f"{benchmark}_train" not in splits or not test:
        stems = {str(k).rsplit("_", 1)[0] for k in splits if str(k).endswith("_train")}
        benchmarks = sorted(b for b in stems if f"{b}_val" in splits or f"{b}_test" in splits)
        raise UserError(
            f"{where} has no splits {benchmark}_train and {benchmark}_val / {benchmark}_test; "
            f"its splits are {', '.join(map(str, splits)) or 'none'}. Choose the benchmark "
            f"with --split ({', '.join(benchmarks) or 'none available'})."
        )
    return {"train": f"{benchmark}_train", "test": test}


def _check_sample(ann: Any, where: str, layout: Layout) -> tuple[int, int, int]:
    """Validate one annotation; return (label, total_frames, persons)."""
    missing = [k for k in ("label", "keypoint", "total_frames") if k not in ann]
    if missing:
        raise UserError(f"{where} lacks {', '.join(missing)}.")
    label, frames, kp = ann["label"], ann["total_frames"], ann["keypoint"]
    for key, value in (("label", label), ("total_frames", frames)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            raise UserError(f"{where}: {key} is {value!r}; expected an integer.")
    if not 0 <= label <= MAX_LABEL:
        raise UserError(
            f"{where}: label {label} is outside 0..{MAX_LABEL}; labels are 0-based class indices."
        )
    if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.dtype.kind not in "fiu":
        raise UserError(
            f"{where}: keypoint has shape {getattr(kp, 'shape', type(kp).__name__)}; expected "
            "a numeric array (M persons, T frames, V joints, C)."
        )
    m, t, v, c = kp.shape
    if c not in (2, 3) or v != layout.num_joints or m < 1 or t < 1:
        raise UserError(
            f"{where}: keypoint has shape {kp.shape}; expected (M, T, {layout.num_joints}, 3) "
            f"or, 2D, (M, T, {layout.num_joints}, 2) for layout {layout.name!r}. Check --layout."
        )
    if c == 2:
        check_scores(ann, where)
    if frames != t:
        raise UserError(f"{where}: total_frames is {frames} but keypoint holds {t} frames.")
    if not np.isfinite(kp).all():
        raise UserError(f"{where}: keypoint holds NaN or infinite coordinates.")
    return int(label), int(frames), m


def import_pyskl(
    file: str | Path,
    out: str | Path,
    *,
    split: str,
    layout: str | Path | Layout | None = None,
    class_names: str | Path | Sequence[str] | None = None,
    overwrite: bool = False,
    preprocess: str = NONE,
    align: bool = True,
) -> Path:
    """Import benchmark `split` (e.g. "xsub") of the pyskl pickle `file` into `out`.

    Writes splits `train` (`<split>_train`) and `test` (`<split>_test`, else `<split>_val`):
    data (N, C, T_max, V, M_max) float32, lengths = total_frames, labels, names = frame_dir,
    and for NTU-style names (SsssCcccPpppRrrrAaaa) subjects, views, setups, replications.
    `layout` defaults to ntu25 for 3D keypoints and coco17 for 2D ones.
    `preprocess` (default none: pyskl's keypoints come normalised) as `normalize_arrays`,
    over T_max frames.
    """
    file, out = Path(file), Path(out)
    content = load_pickle(file)
    if (
        not isinstance(content, Mapping)
        or not isinstance(content.get("split"), Mapping)
        or not isinstance(content.get("annotations"), (list, tuple))
    ):
        raise UserError(
            f"{file} is not a pyskl annotation file: expected a dict with 'split' (a dict of "
            "frame_dir lists) and 'annotations' (a list of dicts)."
        )
    chosen = _pick_splits(content["split"], split, str(file))
    by_dir: dict[str, Mapping[str, Any]] = {}
    for i, ann in enumerate(content["annotations"]):
        if not isinstance(ann, Mapping) or not isinstance(ann.get("frame_dir"), str):
            raise UserError(f"{file}: annotation {i} is not a dict with a 'frame_dir' string.")
        if ann["frame_dir"] in by_dir:
            raise UserError(f"{file}: frame_dir {ann['frame_dir']!r} is annotated twice.")
        by_dir[ann["frame_dir"]] = ann
    members: dict[str, list[str]] = {}
    for out_split, source in chosen.items():
        names = content["split"][source]
        names = list(names) if isinstance(names, (list, tuple, np.ndarray)) else []
        if not names or not all(isinstance(name, str) for name in names):
            raise UserError(f"{file}: split {source!r} is empty or not a list of frame_dir names.")
        absent = [name for name in names if name not in by_dir]
        if absent:
            raise UserError(
                f"{file}: split {source!r} lists {len(absent)} frame_dir without annotation, "
                f"e.g. {', '.join(absent[:3])}; the file is inconsistent."
            )
        repeated = [name for name, count in Counter(names).items() if count > 1]
        if repeated:
            raise UserError(
                f"{file}: split {source!r} lists {len(repeated)} frame_dir more than once, e.g. "
                f"{', '.join(repeated[:3])}; a sample is listed once per split. Fix the file."
            )
        members[out_split] = [str(name) for name in names]
    both = sorted(set(members["train"]) & set(members["test"]))
    if both:
        raise UserError(
            f"{file}: {len(both)} frame_dir are in both {chosen['train']!r} and "
            f"{chosen['test']!r}, e.g. {', '.join(both[:3])}; a sample tested on must not be "
            "trained on. Fix the split lists, or choose another benchmark with --split."
        )
    first = by_dir[members["train"][0]].get("keypoint")
    two_d = isinstance(first, np.ndarray) and first.ndim == 4 and first.shape[-1] == 2
    options = (class_names, layout)  # files among them are inputs that --overwrite must keep
    layout = get_layout(layout if layout is not None else "coco17" if two_d else "ntu25")
    check_import_preprocess(preprocess, layout, align)
    if two_d and preprocess != NONE:
        raise UserError(
            f"{file} holds 2D keypoints; --preprocess {preprocess} centres and rotates 3D "
            "skeletons, so import 2D keypoints with --preprocess none."
        )
    info = {
        name: _check_sample(by_dir[name], f"{file}: annotation {name!r}", layout)
        for names in members.values()
        for name in names
    }
    num_classes = max(label for label, _, _ in info.values()) + 1
    t_max = max(frames for _, frames, _ in info.values())
    m_max = max(persons for _, _, persons in info.values())
    where = f"{file} (labels of {', '.join(chosen.values())})"
    ntu_style = all(NTU_NAME.fullmatch(name) for name in info)
    named_as = "ntu25" if ntu_style else layout.name  # NTU names for NTU samples, 2D ones too
    names_tuple = resolve_class_names(class_names, num_classes, where, layout_name=named_as)
    channels = annotation_channels([by_dir[name] for name in info], str(file))
    extra = {"file": file.name, "splits": chosen, **preprocess_extra(preprocess, align)}
    if channels != "xyz":  # PreNormalize2D: the image spans [-1, 1]
        extra["image_coordinates"] = "signed"
    with DatasetWriter(
        out,
        layout,
        names_tuple,
        source="pyskl",
        benchmark=split,
        extra=extra,
        overwrite=overwrite,
        inputs=[file],
        options=options,
        channels=channels,
    ) as writer:
        for out_split, names in members.items():
            target = writer.add_split(out_split, len(names), t_max, m_max)
            with tqdm(total=len(names), desc=out_split, unit="sample", disable=None) as bar:
                for start in range(0, len(names), BATCH):
                    batch = names[start : start + BATCH]
                    t = max(info[name][1] for name in batch)
                    c = num_channels(channels)
                    data = np.zeros((len(batch), c, t, layout.num_joints, m_max), np.float32)
                    for i, name in enumerate(batch):
                        kp = by_dir[name]["keypoint"]  # (M, T, V, C) -> (C, T, V, M)
                        kp = kp if channels == "xyz" else keypoints_2d(by_dir[name])
                        kp = to_float32(kp.transpose(3, 1, 2, 0))  # (C, T, V, M)
                        data[i, :, : kp.shape[1], :, : kp.shape[3]] = kp
                    ids = {}
                    if ntu_style:
                        groups = [NTU_NAME.fullmatch(name).groups() for name in batch]
                        ids = {
                            k: np.array([int(g[c - 1]) for g in groups]) for k, c in NTU_IDS.items()
                        }
                    lengths = np.array([info[name][1] for name in batch])
                    labels = np.array([info[name][0] for name in batch])
                    data = normalize_arrays(
                        data, lengths, layout, preprocess, align=align, frames=t_max
                    )
                    target.append(data, lengths, labels, names=batch, **ids)
                    bar.update(len(batch))
    return out
