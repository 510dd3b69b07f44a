"""Map skeletons between layouts by the body points their joints mean (`skelcmd convert-layout`).

Every built-in layout's joints are named after body points (`POINTS`): `shoulder_left` is the
left shoulder in NTU-25, COCO-17, BODY_25 and MediaPipe alike. `ALIASES` names the joints
whose body point has another name (NTU-25's `spine_base` is the `pelvis`, OpenPose's `neck`
is the `neck_base` between the shoulders, a nose stands for the `head`) and the joints that
mean no shared point (MediaPipe's mouth corners). Where a layout lacks a point, it is built
from two or more points it has, by their mean: `OWN_MIDPOINTS` per layout (MediaPipe's palm
centre) and `DERIVED` for every layout (a neck base between the shoulders, a pelvis between
the hips, the middle of the spine between them). A target joint whose point the source has
in none of these ways is refused, never invented.

A mapped joint is the weighted mean of its source joints; it is missing (all channels zero)
when any of them is missing (all coordinates zero), and its confidence score (xy+score data)
is the least of theirs: a point is as sure as the least sure point it is made from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelcmd.channels import (
    IMAGE_COORDINATES,
    coordinate_dims,
    describe_image_coordinates,
    has_score,
    image_coordinate_factor,
)
from skelcmd.data.format import Dataset, open_dataset
from skelcmd.data.writer import DatasetWriter
from skelcmd.errors import UserError
from skelcmd.skeleton import LAYOUTS, Layout, get_layout
from skelcmd.sources.normalize import check_import_preprocess, normalize_arrays, preprocess_extra

SIDES = ("left", "right")
_SIDED = (
    "eye",
    "ear",
    "shoulder",
    "elbow",
    "wrist",
    "hand",
    "hand_tip",
    "thumb",
    "hip",
    "knee",
    "ankle",
    "foot",
    "heel",
    "big_toe",
    "small_toe",
)
POINTS: dict[str, str] = {  # the shared body points, what each means
    "head": "the head: a Kinect head joint, or the nose where a layout has no head joint",
    "head_top": "the top of the head (BODY_25B)",
    "neck": "Kinect v2's neck, between the neck base and the head",
    "neck_base": "between the shoulders: OpenPose's neck, Kinect's spine_shoulder",
    "spine_mid": "the middle of the spine (Kinect v1 spine, SBU torso)",
    "pelvis": "between the hips: Kinect's spine_base / hip_center, OpenPose's mid_hip",
    **{
        f"{part}_{side}": f"the {side} {part.replace('_', ' ')}"
        for part in _SIDED
        for side in SIDES
    },
}
POINTS.update(
    hand_left="the left palm centre",
    hand_right="the right palm centre",
    hand_tip_left="the left index finger (tip, or its knuckle)",
    hand_tip_right="the right index finger (tip, or its knuckle)",
    foot_left="the front of the left foot (toes)",
    foot_right="the front of the right foot (toes)",
)

# Joints whose body point is not their own name (None: a point no other layout shares).
ALIASES: dict[str, dict[str, str | None]] = {
    "ntu25": {"spine_base": "pelvis", "spine_shoulder": "neck_base"},
    "kinect20": {"shoulder_center": "neck_base", "spine": "spine_mid", "hip_center": "pelvis"},
    "sbu15": {"neck": "neck_base", "torso": "spine_mid"},
    "coco17": {"nose": "head"},
    "openpose18": {"nose": "head", "neck": "neck_base"},
    "body25": {"nose": "head", "neck": "neck_base", "mid_hip": "pelvis"},
    "body25b": {"nose": "head", "neck": "neck_base"},
    "mediapipe33": {
        "nose": "head",
        "index_left": "hand_tip_left",
        "index_right": "hand_tip_right",
        "foot_index_left": "foot_left",
        "foot_index_right": "foot_right",
        **{
            name: None
            for name in (
                "eye_inner_left",
                "eye_outer_left",
                "eye_inner_right",
                "eye_outer_right",
                "mouth_left",
                "mouth_right",
                "pinky_left",
                "pinky_right",
            )
        },
    },
}
# Points a layout builds from its own joints (by joint name): the mean of the joints.
OWN_MIDPOINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "mediapipe33": {  # the palm centre: wrist, index and pinky knuckles
        f"hand_{side}": (f"wrist_{side}", f"index_{side}", f"pinky_{side}") for side in SIDES
    },
}
# Points any layout builds from points it has, in an order where parts come first.
DERIVED: dict[str, tuple[str, ...]] = {
    "neck_base": ("shoulder_left", "shoulder_right"),
    "pelvis": ("hip_left", "hip_right"),
    "foot_left": ("big_toe_left", "small_toe_left"),
    "foot_right": ("big_toe_right", "small_toe_right"),
    "spine_mid": ("pelvis", "neck_base"),
    "neck": ("neck_base", "head"),
}


def joint_points(layout: Layout) -> tuple[str | None, ...]:
    """The body point of each joint of `layout` (None for a joint that means no shared one).

    A built-in layout uses its `ALIASES`; a layout of its own (from YAML) maps the joints named
    after a point (`POINTS`) to that point. A layout that reuses a built-in name with other
    joints is a UserError."""
    builtin = LAYOUTS.get(layout.name)
    if builtin is not None and builtin.joint_names != layout.joint_names:
        raise UserError(
            f"layout {layout.name!r} has the name of a built-in layout but other joints; "
            "rename it, so that its joints are matched by their names."
        )
    aliases = ALIASES.get(layout.name, {})
    return tuple(
        aliases[name] if name in aliases else name if name in POINTS else None
        for name in layout.joint_names
    )


def source_points(layout: Layout) -> dict[str, dict[int, float]]:
    """Every point `layout` can give: point -> {joint index: weight} (weights sum to 1), from
    its joints, its `OWN_MIDPOINTS` and `DERIVED`, a joint of its own taking precedence."""
    points = {p: {v: 1.0} for v, p in enumerate(joint_points(layout)) if p is not None}
    for point, names in OWN_MIDPOINTS.get(layout.name, {}).items():
        points.setdefault(point, {layout.index(n): 1.0 / len(names) for n in names})
    for point, parts in DERIVED.items():
        if point not in points and all(p in points for p in parts):
            weights: dict[int, float] = {}
            for part in parts:
                for v, w in points[part].items():
                    weights[v] = weights.get(v, 0.0) + w / len(parts)
            points[point] = weights
    return points


def joint_map(source: Layout, target: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(V_target, K) source joint indices and (V_target, K) weights: target joint v is
    sum_k weight[v, k] * x[index[v, k]]. Unused slots repeat a used index with weight 0.

    A UserError names the target joints the source cannot give, and the layouts it can."""
    given = source_points(source)
    wanted = joint_points(target)
    lacking = [target.joint_names[v] for v, p in enumerate(wanted) if p is None or p not in given]
    if lacking:
        reachable = [name for name in LAYOUTS if name != source.name and _maps(given, name)]
        raise UserError(
            f"cannot map layout {source.name!r} to {target.name!r}: {source.name} has nothing "
            f"that means {', '.join(lacking)} (skelcmd maps a joint only from the same body "
            "point, or a midpoint of points the source has, and never invents one). "
            f"{source.name} maps to: {', '.join(reachable) or 'no other built-in layout'}."
        )
    k = max(len(given[p]) for p in wanted)
    index = np.zeros((target.num_joints, k), dtype=np.intp)
    weight = np.zeros((target.num_joints, k))
    for v, point in enumerate(wanted):
        joints, weights = zip(*sorted(given[point].items()), strict=True)
        index[v] = joints[0]
        index[v, : len(joints)] = joints
        weight[v, : len(joints)] = weights
    return index, weight


def _maps(given: dict[str, dict[int, float]], target: str) -> bool:
    return all(p is not None and p in given for p in joint_points(LAYOUTS[target]))


def describe_map(source: Layout, target: Layout) -> list[str]:
    """One line per target joint: which source joints it comes from."""
    index, weight = joint_map(source, target)
    lines = []
    for v, name in enumerate(target.joint_names):
        used = [
            (source.joint_names[j], w) for j, w in zip(index[v], weight[v], strict=True) if w > 0
        ]
        if len(used) == 1:
            lines.append(f"{name} <- {used[0][0]}")
        else:
            parts = " + ".join(f"{w:.3g} {joint}" for joint, w in used)
            lines.append(f"{name} <- {parts}")
    return lines


def map_joints(data: np.ndarray, source: Layout, target: Layout, channels: str) -> np.ndarray:
    """Samples (N, C, T, V_source, M) -> float32 (N, C, T, V_target, M), see the module
    docstring: weighted means of coordinates, missing where any source joint is missing,
    scores the least of the source scores."""
    index, weight = joint_map(source, target)
    x = np.asarray(data, dtype=np.float64)
    d = coordinate_dims(channels)
    picked = x[:, :, :, index, :]  # (N, C, T, V_target, K, M)
    missing = (picked[:, :d] == 0).all(axis=1).any(axis=3)  # (N, T, V_target, M)
    out = np.empty((x.shape[0], x.shape[1], x.shape[2], target.num_joints, x.shape[4]))
    out[:, :d] = np.einsum("nctvkm,vk->nctvm", picked[:, :d], weight)
    if has_score(channels):
        out[:, d:] = picked[:, d:].min(axis=4)
    out[np.broadcast_to(missing[:, None], out.shape)] = 0.0
    return out.astype(np.float32)


def convert_layout(
    data_dir: str | Path,
    to: str | Path | Layout,
    out_dir: str | Path,
    *,
    persons: int | None = None,
    preprocess: str = "none",
    align: bool = True,
    image_coordinates: str | None = None,
    overwrite: bool = False,
    chunk: int = 64,
) -> Path:
    """Write the data set `data_dir` in layout `to` as `out_dir` (see `map_joints`); every
    split, label, id and name is kept. `persons` pads (zeros) or cuts each sample to that
    many persons (an importer's person 1 is the most present). `preprocess` (3D data only)
    normalises the mapped data as the importers do (`skelcmd.sources.normalize`).
    `image_coordinates` (2D data only: signed or centred, `skelcmd.channels`) rescales x and y
    to that convention, e.g. to evaluate on it a model pretrained on Kinetics-skeleton."""
    dataset = open_dataset(data_dir)
    target = get_layout(to)
    source = dataset.layout
    lines = describe_map(source, target)  # refuses an impossible map before any writing
    if preprocess != "none" and dataset.channels != "xyz":
        raise UserError(
            f"--preprocess {preprocess} centres and rotates 3D skeletons; {data_dir} holds "
            f"{dataset.channels} data. Use --preprocess none."
        )
    check_import_preprocess(preprocess, target, align)
    if persons is not None and persons < 1:
        raise UserError(f"--persons must be at least 1, got {persons}.")
    scale = _image_coordinates(dataset, image_coordinates)
    extra = dict(dataset.extra)
    extra.update(
        converted_from={"path": str(dataset.path), "layout": source.name},
        layout_map=lines,
    )
    if preprocess != "none":
        extra.update(preprocess_extra(preprocess, align))
    if dataset.image_coordinates is not None:
        extra["image_coordinates"] = image_coordinates or dataset.image_coordinates
    with DatasetWriter(
        out_dir,
        target,
        dataset.class_names,
        source=dataset.source,
        benchmark=dataset.benchmark,
        extra=extra,
        overwrite=overwrite,
        channels=dataset.channels,
        inputs=[dataset.path],
    ) as writer:
        for name, split in dataset.splits.items():
            n, _, t, _, m = split.data.shape
            m_out = m if persons is None else persons
            out = writer.add_split(name, n, t, m_out)
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                mapped = map_joints(split.data[start:stop], source, target, dataset.channels)
                mapped = _fit_persons(mapped, m_out)
                if scale != 1:
                    mapped[:, :2] *= scale
                lengths = split.lengths[start:stop]
                if preprocess != "none":
                    mapped = normalize_arrays(mapped, lengths, target, preprocess, align=align)
                out.append(
                    mapped,
                    lengths,
                    split.labels[start:stop],
                    names=None if split.names is None else split.names[start:stop],
                    **{key: ids[start:stop] for key, ids in split.ids.items()},
                )
    return Path(out_dir)


def _fit_persons(x: np.ndarray, persons: int) -> np.ndarray:
    """(N, C, T, V, M) -> (N, C, T, V, persons): the first persons, or zero persons added."""
    if persons <= x.shape[4]:
        return x[..., :persons]
    pad = np.zeros((*x.shape[:4], persons - x.shape[4]), x.dtype)
    return np.concatenate([x, pad], axis=4)


def _image_coordinates(dataset: Dataset, wanted: str | None) -> float:
    """What x, y of `dataset` are multiplied by to reach the 2D convention `wanted` (1 for
    None); a UserError where there is nothing to rescale or its scale is unknown."""
    if wanted is None:
        return 1.0
    if wanted not in IMAGE_COORDINATES:
        raise UserError(f"--image-coordinates {wanted!r}: choose {' or '.join(IMAGE_COORDINATES)}.")
    if dataset.channels == "xyz":
        raise UserError(
            f"--image-coordinates rescales 2D image coordinates; {dataset.path} holds 3D (xyz) "
            "data. Leave the option out."
        )
    if dataset.image_coordinates is None:
        raise UserError(
            f"{dataset.path} does not record how its 2D coordinates are scaled (data of source "
            f"{dataset.source!r}), so they cannot be rescaled. Scale the clips yourself before "
            f"importing them: {' or '.join(map(describe_image_coordinates, IMAGE_COORDINATES))}."
        )
    return image_coordinate_factor(dataset.image_coordinates, wanted)
