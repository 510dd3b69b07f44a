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
"""

from __future__ import annotations

from skelcmd.errors import UserError

CHANNELS: dict[str, int] = {"xyz": 3, "xy": 2, "xy+score": 3}
DEFAULT = "xyz"


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
