"""What the C channels of a skeleton are: 3D coordinates, 2D coordinates, or 2D plus a score.

A data set records its channels in `meta.json` (`channels`; data sets without the key are
`xyz`), and everything that treats channels differently reads them from here:

    xyz        C = 3: x, y, z (Kinect and other 3D recordings)
    xy         C = 2: x, y (2D keypoints estimated from video, image axes: y points down)
    xy+score   C = 3: x, y and the pose estimator's confidence of the joint

What happens to a score channel. It stays an input channel: the encoders see it, so a joint
the estimator barely saw can be discounted. But it is not a coordinate, so nothing geometric
touches it: the shear and the corruption matrix are 2x2 and act on x, y only (a corruption that
zeroes a joint zeroes its score too, as a pose estimator reports a joint it missed), and the
motion and bone streams do not difference it: their score channel is the mean confidence of the
two frames (motion) or of the joint and its parent (bone), as pyskl derives them for 2D data,
so that a difference between two points keeps saying how sure the estimator was of those points.

How 2D image coordinates are scaled. Both conventions in use put the image centre at 0 with y
pointing down, and differ by a factor of 2; a data set records its own in `meta.json`'s
`extra.image_coordinates` (`IMAGE_COORDINATES`):

    signed     the image spans [-1, 1]: x -> (x - w/2) / (w/2), y likewise (pyskl's
               PreNormalize2D); skelcmd's imports of pose estimators' outputs and of pyskl
    centred    fractions of the image minus 0.5, [-0.5, 0.5] (ST-GCN's Kinetics-skeleton
               reading, `skelcmd import kinetics-skeleton`)

A classifier meets new recordings in its training set's convention: `skelcmd predict` rescales
x and y of any other (`rescale_image_coordinates`), since an encoder whose input BatchNorm
learnt one scale misreads the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skelcmd.errors import UserError

CHANNELS: dict[str, int] = {"xyz": 3, "xy": 2, "xy+score": 3}
DEFAULT = "xyz"
IMAGE_COORDINATES: dict[str, float] = {"signed": 1.0, "centred": 0.5}  # half the image's width
# the convention of 2D data sets written before `image_coordinates` was recorded, by source
_IMAGE_COORDINATES_OF_SOURCE = {
    "kinetics-skeleton": "centred",
    **dict.fromkeys(("openpose", "mediapipe", "mmpose", "yolo-pose", "pyskl"), "signed"),
}


def check_channels(name: str, where: str = "channels") -> str:
    """`name` if it is a known channel spec, else a UserError listing the known ones."""
    if name not in CHANNELS:
        raise UserError(
            f"{where}: unknown channels {name!r}; use one of {', '.join(CHANNELS)} "
            "(x, y, z; x, y; or x, y and a confidence score)."
        )
    return name


def num_channels(name: str) -> int:
    """C of the spec: 3 for xyz and xy+score, 2 for xy."""
    return CHANNELS[check_channels(name)]


def coordinate_dims(name: str) -> int:
    """How many leading channels are coordinates (3 for xyz, 2 for xy and xy+score)."""
    return 3 if check_channels(name) == "xyz" else 2


def has_score(name: str) -> bool:
    """Whether the last channel is a confidence score rather than a coordinate."""
    return check_channels(name) == "xy+score"


def channels_for(c: int, where: str = "the data") -> str:
    """The spec a C-channel array has when nothing else says: 3 -> xyz, 2 -> xy."""
    if c == 3:
        return "xyz"
    if c == 2:
        return "xy"
    raise UserError(
        f"{where} has {c} channels per joint; skelcmd reads 3 (x, y, z or x, y, score) or 2 (x, y)."
    )


def resolve_channels(name: str | None, c: int, where: str = "the data") -> str:
    """The spec of a C-channel array: `name` checked against C, or the default for C."""
    if name is None:
        return channels_for(c, where)
    if num_channels(check_channels(name, where)) != c:
        raise UserError(
            f"{where} has {c} channels per joint, but channels {name!r} means "
            f"{CHANNELS[name]}; give the channels the data holds."
        )
    return name


def image_coordinates(channels: str, extra: Mapping[str, Any], source: str | None) -> str | None:
    """The 2D convention (`IMAGE_COORDINATES`) of a data set of `channels` whose meta has
    `extra` and `source`; None for 3D data and for 2D data of unknown scale (a user's clips)."""
    if check_channels(channels) == "xyz":
        return None
    recorded = extra.get("image_coordinates")
    if recorded in IMAGE_COORDINATES:
        return recorded
    return _IMAGE_COORDINATES_OF_SOURCE.get(source or "")


def describe_image_coordinates(name: str) -> str:
    """ "signed (the image spans [-1, 1])" for messages."""
    half = IMAGE_COORDINATES[name]
    return f"{name} (the image spans [-{half:g}, {half:g}])"


def image_coordinate_factor(source: str | None, target: str | None) -> float:
    """What x and y are multiplied by to go from the 2D convention `source` to `target`: 1 when
    they agree or either is unknown (None)."""
    if source is None or target is None:
        return 1.0
    return IMAGE_COORDINATES[target] / IMAGE_COORDINATES[source]


def rescale_image_coordinates(data: Any, source: str | None, target: str | None) -> Any:
    """`data` (C, ...) with x, y (channels 0 and 1) rescaled from the convention `source` to
    `target` (a copy), or `data` itself where the factor is 1. A score channel and absent
    joints (zeros) are unchanged."""
    factor = image_coordinate_factor(source, target)
    if factor == 1:
        return data
    out = data.copy()
    out[:2] *= factor
    return out


def rescale_note(source: str | None, target: str | None) -> str:
    """What `rescale_image_coordinates(data, source, target)` did, for a clip's note ("" when
    it changed nothing)."""
    factor = image_coordinate_factor(source, target)
    if factor == 1:
        return ""
    return f"x, y times {factor:g}, from {source} to the classifier's {target} image coordinates"
