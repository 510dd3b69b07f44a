"""The actions of the synthetic data set, as joint-angle curves over time.

An action is a function that receives a `Motion` (a batch of n samples of one class over T
frames) and adds local joint rotations to it. `synthetic.generate` then turns the angles into
joint positions by forward kinematics on the NTU-25 tree.

Conventions (the body frame of one person): x = the subject's right, y = up, the subject faces
-z. A joint's Euler angles (degrees, about x, y, z, composed R = Rz @ Ry @ Rx) rotate the bones
to its children in its parent's frame. Two exceptions: the root (spine_shoulder) holds the
chest orientation and spine_base the pelvis orientation, both relative to the facing frame,
so the legs stay upright when the chest bends. With the arm hanging down: +x raises it forward;
the side-aware helpers (`arm`, `leg`) take anatomical angles and mirror them per side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from skelcmd.skeleton import NTU25

J = {name: index for index, name in enumerate(NTU25.joint_names)}
SIDE = {"right": 1.0, "left": -1.0}  # the sign of a side's x in the body frame


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class Motion:
    """Time bases and joint-angle accumulators for n samples of one class over T frames.

    t: (n, T) frame index, time-warped per sample; u: (n, T) normalised time, 0 before the
    action starts, 1 after it ends (per-sample lead-in/out); speed, amp, phase: (n, 1) style.
    angles: (P, n, T, 25, 3) degrees for P persons; shift: (P, n, T, 3) metres, translation in
    the facing frame; yaw: (P, n, T) degrees, turn about the vertical axis.
    """

    def __init__(self, t, u, speed, amp, phase, persons: int) -> None:
        n, frames = t.shape
        self.t, self.u, self.speed, self.amp, self.phase = t, u, speed, amp, phase
        self.angles = np.zeros((persons, n, frames, len(J), 3))
        self.shift = np.zeros((persons, n, frames, 3))
        self.yaw = np.zeros((persons, n, frames))

    def cycle(self, period: float) -> np.ndarray:
        """Phase angle (radians) of a periodic motion of `period` frames at the sample's speed."""
        return 2.0 * np.pi * self.t * self.speed / period + self.phase

    def env(self, ramp: float = 0.2) -> np.ndarray:
        """0 -> 1 -> 0 envelope over the action: ease in and out over `ramp` of its duration."""
        return smoothstep(self.u / ramp) * smoothstep((1.0 - self.u) / ramp)

    def pulse(self, start: float, end: float, ramp: float = 0.1) -> np.ndarray:
        """Ease to 1 at normalised time `start`, hold, ease back to 0 at `end`."""
        return smoothstep((self.u - start) / ramp + 1.0) * smoothstep((end - self.u) / ramp + 1.0)

    def bump(self, centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((self.u - centre) / width) ** 2)

    def rot(self, person: int, joint: str, x=0.0, y=0.0, z=0.0) -> None:
        angles = self.angles[person][:, :, J[joint]]
        angles[..., 0] += x
        angles[..., 1] += y
        angles[..., 2] += z

    def arm(self, person, side, flex=0.0, abduct=0.0, horiz=0.0, elbow=0.0, bend=0.0) -> None:
        """Shoulder flexion (forward raise), abduction (sideways raise), horizontal abduction
        (outwards, when the arm points forward); elbow flexion and frontal-plane bend."""
        s = SIDE[side]
        self.rot(person, f"shoulder_{side}", x=flex, y=-s * horiz, z=s * abduct)
        self.rot(person, f"elbow_{side}", x=elbow, z=s * bend)

    def leg(self, person, side, flex=0.0, abduct=0.0, knee=0.0) -> None:
        s = SIDE[side]
        self.rot(person, f"hip_{side}", x=flex, z=s * abduct)
        self.rot(person, f"knee_{side}", x=-knee)

    def chest(self, person, lean=0.0, bend=0.0, turn=0.0) -> None:
        """Lean forward, bend towards the right, turn (degrees); the arms follow the chest."""
        self.rot(person, "spine_shoulder", x=-lean, y=turn, z=-bend)


# --- single-person actions -----------------------------------------------------------------


def _wave(side: str, period: float) -> Callable[[Motion], None]:
    def wave(m: Motion) -> None:
        e = m.env()
        m.arm(
            0,
            side,
            abduct=80 * e,
            flex=15 * e,
            bend=e * (95 + 25 * m.amp * np.sin(m.cycle(period))),
        )

    return wave


def _circle(direction: float) -> Callable[[Motion], None]:
    """The right hand draws a circle in front of the body; +1 = clockwise as the subject sees it."""

    def circle(m: Motion) -> None:
        e, phi = m.env(), m.cycle(40)
        r = 25 * m.amp * e
        flex, horiz = 75 * e + r * np.cos(phi), direction * r * np.sin(phi)
        m.arm(0, "right", flex=flex, horiz=horiz, elbow=10 * e)

    return circle


def _clap(m: Motion) -> None:
    e, open_ = m.env(), 0.5 + 0.5 * np.sin(m.cycle(18))
    for side in SIDE:
        m.arm(0, side, flex=75 * e, horiz=e * (-16 + 35 * m.amp * open_), elbow=25 * e)


def _punch(m: Motion) -> None:
    e, hit = m.env(), np.maximum(0.0, np.sin(m.cycle(22))) ** 2
    m.arm(0, "left", flex=55 * e, elbow=110 * e, horiz=-15 * e)
    m.arm(0, "right", flex=e * (55 + 35 * hit), elbow=110 * e * (1 - hit), horiz=-15 * e)
    m.chest(0, turn=-15 * e * hit * m.amp)


def _kick(m: Motion) -> None:
    m.leg(0, "right", flex=80 * m.amp * m.bump(0.5, 0.12), knee=70 * m.bump(0.4, 0.1))
    m.arm(0, "left", abduct=25 * m.bump(0.5, 0.15))


def _squat(m: Motion) -> None:
    d = m.pulse(0.3, 0.7, 0.15) * np.minimum(1.0, m.amp)
    for side in SIDE:
        m.leg(0, side, flex=95 * d, knee=115 * d)
        m.rot(0, f"ankle_{side}", x=30 * d)
        m.arm(0, side, flex=70 * d)
    m.chest(0, lean=30 * d)


def _jump(m: Motion) -> None:
    crouch = 0.6 * m.bump(0.35, 0.08) + 0.4 * m.bump(0.72, 0.06)
    air = m.bump(0.55, 0.07)
    for side in SIDE:
        m.leg(0, side, flex=70 * crouch + 10 * air, knee=90 * crouch + 20 * air)
        m.arm(0, side, flex=-30 * crouch + 150 * air * np.minimum(1.0, m.amp))
    m.chest(0, lean=25 * crouch)
    m.shift[0, :, :, 1] += 0.3 * m.amp * air


def _bow(m: Motion) -> None:
    d = m.pulse(0.3, 0.65, 0.15) * m.amp
    m.chest(0, lean=55 * d)
    m.rot(0, "neck", x=-15 * d)
    for side in SIDE:
        m.arm(0, side, flex=50 * d)


def _cheer(m: Motion) -> None:
    e, sway = m.env(), np.sin(m.cycle(24))
    for side in SIDE:
        m.arm(0, side, abduct=e * (150 + 15 * m.amp * sway), elbow=20 * e)


def _touch_head(m: Motion) -> None:
    e = m.env(0.25)
    m.arm(0, "right", flex=115 * e, horiz=20 * e, elbow=e * (135 + 8 * m.amp * np.sin(m.cycle(15))))
    m.rot(0, "neck", x=-10 * e)


def _nod(m: Motion) -> None:
    m.rot(0, "neck", x=-25 * m.amp * m.env() * (0.5 + 0.5 * np.sin(m.cycle(22))))


def _gait(period: float) -> Callable[[Motion], None]:
    """Walking; the same gait at a shorter period is jogging (twice the cadence and speed)."""

    def gait(m: Motion) -> None:
        e, phi = m.env(0.15), m.cycle(period)
        swing = 15 * m.amp * e * np.sin(phi)
        for side in SIDE:
            s = SIDE[side]
            m.leg(0, side, flex=s * swing, knee=e * (5 + 40 * np.maximum(0.0, s * np.cos(phi))))
            m.arm(0, side, flex=-s * swing, elbow=20 * e)
        stride = 4 * 0.85 * np.sin(np.radians(15 * m.amp)) / period * m.speed  # metres per frame
        steps = np.diff(m.t, axis=1, prepend=m.t[:, :1])  # warped frames elapsed per frame
        m.shift[0, :, :, 2] -= np.cumsum(stride * e * steps, axis=1)

    return gait


def _side_bend(m: Motion) -> None:
    m.chest(0, bend=28 * m.amp * m.env() * np.sin(m.cycle(50)))


def _throw(m: Motion) -> None:
    wind, follow = m.pulse(0.2, 0.45, 0.08), m.pulse(0.55, 0.7, 0.05)
    m.arm(0, "right", flex=160 * wind + 70 * follow, abduct=20 * wind, elbow=100 * wind)
    m.chest(0, lean=-10 * wind + 20 * follow * m.amp, turn=25 * wind - 20 * follow)
    m.leg(0, "left", flex=25 * follow, knee=20 * follow)


def _cross_arms(m: Motion) -> None:
    e = m.env(0.25)
    for side in SIDE:
        m.arm(0, side, flex=40 * e, horiz=-45 * e, elbow=105 * e)


def _turn_around(m: Motion) -> None:
    m.yaw[0] += 180 * smoothstep((m.u - 0.15) / 0.7)
    step = 15 * m.env() * np.sin(m.cycle(30))
    for side in SIDE:
        m.leg(0, side, flex=SIDE[side] * step, knee=np.abs(step))


# --- two-person interactions (person 2 stands facing person 1) ----------------------------


def _handshake(m: Motion) -> None:
    e, shake = m.env(0.25), np.sin(m.cycle(12))
    for k in (0, 1):
        m.arm(k, "right", flex=e * (50 + 8 * m.amp * shake), horiz=-12 * e, elbow=35 * e)


def _hug(m: Motion) -> None:
    e = m.env(0.3)
    for k in (0, 1):
        m.chest(k, lean=10 * e)
        for side in SIDE:
            m.arm(k, side, flex=85 * e, horiz=-35 * e * m.amp, elbow=60 * e)


def _push(m: Motion) -> None:
    reach, hit = m.pulse(0.3, 0.6, 0.12), smoothstep((m.u - 0.45) / 0.15)
    for side in SIDE:
        m.arm(0, side, flex=80 * reach, elbow=90 * reach * (1 - hit))
        m.arm(1, side, flex=40 * m.bump(0.55, 0.1), abduct=20 * m.bump(0.55, 0.1))
    m.chest(0, lean=15 * reach * m.amp)
    m.chest(1, lean=-20 * m.bump(0.55, 0.1))
    m.shift[1, :, :, 2] += 0.35 * m.amp * hit  # person 2 staggers backwards


def _high_five(m: Motion) -> None:
    up = m.pulse(0.35, 0.6, 0.12)
    for k in (0, 1):
        m.arm(k, "right", flex=125 * up, horiz=-10 * up, elbow=25 * up * m.amp)


@dataclass(frozen=True)
class Action:
    name: str
    perform: Callable[[Motion], None]
    frames: int  # typical duration at 30 fps, before per-subject and per-repetition speed
    partner: tuple[float, float] | None = None  # (distance, lateral offset) of person 2, metres


ACTIONS: tuple[Action, ...] = (
    Action("wave right hand", _wave("right", 28), 70),
    Action("wave left hand", _wave("left", 28), 70),
    Action("wave right hand fast", _wave("right", 13), 70),
    Action("draw circle clockwise", _circle(1.0), 75),
    Action("draw circle counter-clockwise", _circle(-1.0), 75),
    Action("clap", _clap, 60),
    Action("punch", _punch, 60),
    Action("kick", _kick, 55),
    Action("squat", _squat, 70),
    Action("jump", _jump, 55),
    Action("bow", _bow, 65),
    Action("cheer up", _cheer, 70),
    Action("touch head", _touch_head, 70),
    Action("nod", _nod, 55),
    Action("walk", _gait(36), 65),
    Action("jog", _gait(18), 65),
    Action("side bend", _side_bend, 80),
    Action("throw", _throw, 55),
    Action("cross arms", _cross_arms, 70),
    Action("turn around", _turn_around, 75),
    Action("handshake", _handshake, 75, partner=(1.0, 0.1)),
    Action("hug", _hug, 80, partner=(0.35, 0.0)),
    Action("push", _push, 55, partner=(0.65, 0.0)),
    Action("high-five", _high_five, 55, partner=(0.75, 0.1)),
)
