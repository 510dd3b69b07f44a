"""Draw skeleton sequences: a strip of frames as a PNG, or an animated GIF.

3D coordinates are Kinect camera axes (x right, y up, z depth, metres); they are plotted as
(x, z, y) so that y is vertical. 2D keypoints (`xy`, `xy+score` data, `skelcmd.channels`) are
image coordinates and are drawn flat, with y pointing down as in the image; a score channel is
not drawn. Figures are built with `Figure` + `FigureCanvasAgg`, so importing this module never
changes the pyplot backend of the caller.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d import Axes3D
from PIL import Image

from skelcmd.atomic import atomic_path
from skelcmd.channels import coordinate_dims
from skelcmd.errors import UserError
from skelcmd.skeleton import Layout

SUFFIXES = (".png", ".gif")
MAX_GIF_FRAMES = 60
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
_STYLE = {"grid.color": "#e4e4e4", "grid.linewidth": 0.5, "font.size": 8}
_VIEW = {"elev": 12.0, "azim": -70.0}


def person_colors(n: int) -> list[str]:
    """The colour of persons 0..n-1 (hex strings; distinct for the first 7, then cycling)."""
    return [_COLORS[m % len(_COLORS)] for m in range(n)]


def joint_present(frame: np.ndarray, layout: Layout | None = None) -> np.ndarray:
    """(V,) bool for one (D, V) frame of D coordinates: False where a joint is exactly zero
    (0,0,0 or 0,0) or not finite. Except the layout's centring joint (`body_frame.origin`)
    in a frame with other joints present: data normalised as the NTU preparation does put it
    at exactly (0, 0, 0) in every frame, and it is the middle of the spine."""
    ok = np.isfinite(frame).all(axis=0) & (frame != 0).any(axis=0)
    origin = layout.body_frame.origin if layout is not None and layout.body_frame else None
    if origin is not None and ok.any():
        ok[origin] = np.isfinite(frame[:, origin]).all()
    return ok


def bone_polyline(frame: np.ndarray, layout: Layout) -> np.ndarray:
    """(D, 3E) polyline of the E bones of one (D, V) frame, NaN-separated; a bone touching a
    missing joint (see `joint_present`) is all NaN, so it draws nothing."""
    edges = np.asarray(layout.edges, dtype=np.intp).reshape(-1, 2)
    ok = joint_present(frame, layout)
    pts = np.full((len(frame), len(edges), 3), np.nan)
    keep = ok[edges[:, 0]] & ok[edges[:, 1]]
    pts[:, keep, 0] = frame[:, edges[keep, 0]]
    pts[:, keep, 1] = frame[:, edges[keep, 1]]
    return pts.reshape(len(frame), -1)


def _check(sample: np.ndarray, length: int, layout: Layout, out: Path) -> tuple[np.ndarray, list]:
    """Validate; return the (D, length, V, M) float sample (D = 3 or 2 coordinates) and the
    indices of present persons."""
    if out.suffix.lower() not in SUFFIXES:
        raise UserError(f"cannot draw to {out}: the suffix must be one of {', '.join(SUFFIXES)}.")
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] not in (2, 3) or x.shape[2] != layout.num_joints:
        raise UserError(
            f"a sample to draw must have shape (3, T, {layout.num_joints}, M), or (2, T, "
            f"{layout.num_joints}, M) in 2D, for layout {layout.name!r}; got {tuple(x.shape)}."
        )
    if isinstance(length, bool) or not 1 <= int(length) <= x.shape[1]:
        raise UserError(f"length {length} is outside 1..{x.shape[1]} (the sample's frames).")
    x = x[:, : int(length)]
    valid = np.isfinite(x).all(axis=0) & (x != 0).any(axis=0)  # (T, V, M)
    persons = [m for m in range(x.shape[3]) if valid[..., m].any()]
    if not persons:
        raise UserError(f"nothing to draw for {out}: the sample is all zero over its valid frames.")
    return x, persons


Box = tuple[np.ndarray, float]  # the (D,) centre and the half-width of the drawing cube / square


def _limits(x: np.ndarray, persons: list) -> Box:
    """Centre (D,) and half-width of one cube (square) holding every present joint of `x`
    (D, T, V, M)."""
    pts = x[..., persons].reshape(len(x), -1)
    pts = pts[:, np.isfinite(pts).all(axis=0) & (pts != 0).any(axis=0)]
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    return (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.05, 0.05)


def _axes(fig: Figure, spec: tuple[int, int, int], box: Box) -> Axes3D:
    """A quiet axes with the box's limits, no ticks or axis letters. 3D: plot order is
    (x, z, y) so that y is up. 2D: y points down, as in an image."""
    centre, half = box
    if len(centre) == 2:
        ax = fig.add_subplot(*spec)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] + half, centre[1] - half)  # image axes: y down
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor((0.97, 0.97, 0.97, 1.0))
        for spine in ax.spines.values():
            spine.set_color("#cccccc")
        return ax
    ax = fig.add_subplot(*spec, projection="3d")
    ax.view_init(**_VIEW)
    for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre[[0, 2, 1]], strict=True):
        setter(c - half, c + half)
    ax.set_box_aspect((1, 1, 1), zoom=1.05)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((0.97, 0.97, 0.97, 1.0))
        axis.line.set_color("#cccccc")
        axis.set_tick_params(length=0, pad=0)
    return ax


def _artists(ax: Axes3D, persons: list, dims: int = 3) -> dict[int, tuple]:
    """Per person index: (bones line, joints line), empty, in that person's colour."""
    colors = person_colors(max(persons) + 1)
    out = {}
    empty = [[]] * dims
    for m in persons:
        (bones,) = ax.plot(*empty, color=colors[m], lw=1.8, solid_capstyle="round")
        (dots,) = ax.plot(*empty, ls="", marker="o", ms=2.2, color=colors[m])
        out[m] = (bones, dots)
    return out


def _update(artists: dict[int, tuple], x: np.ndarray, t: int, layout: Layout) -> None:
    """Point every person's artists at frame t of `x` (D, T, V, M)."""
    for m, (bones, dots) in artists.items():
        frame = x[:, t, :, m]
        line = bone_polyline(frame, layout)
        joints = np.where(joint_present(frame, layout), frame, np.nan)
        if len(frame) == 2:
            bones.set_data(line[0], line[1])
            dots.set_data(joints[0], joints[1])
            continue
        bones.set_data_3d(line[0], line[2], line[1])
        dots.set_data_3d(joints[0], joints[2], joints[1])


def _legend(fig: Figure, persons: list) -> float:
    """A 'person k' legend under the figure when two or more persons are drawn; returns the
    figure fraction it takes at the bottom (0 without a legend)."""
    if len(persons) < 2:
        return 0.0
    colors = person_colors(max(persons) + 1)
    handles = [Line2D([], [], color=colors[m], lw=2, label=f"person {m + 1}") for m in persons]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    return 0.3 / fig.get_figheight()


def render_sample(
    sample: np.ndarray,
    length: int,
    layout: Layout,
    out: str | Path,
    *,
    title: str = "",
    frames: int = 8,
    fps: int = 15,
    up: str = "y",
    channels: str = "xyz",
) -> Path:
    """Draw `sample` (C, T, V, M: channels, frames, joints, persons) over its first `length`
    frames. `channels` (`skelcmd.channels`) says what C holds: xyz is drawn in 3D; xy and
    xy+score are drawn in 2D with y down (image coordinates), the score left out.

    `up` is the vertical axis of 3D data: "y" for Kinect camera coordinates, "z" for data
    aligned so that the spine lies on z (NTU preparation); "z" data is turned by a proper
    rotation (x, y, z) -> (x, z, -y), so left and right are kept.

    `.png`: a strip of `frames` evenly spaced frames, each labelled with its 1-based number.
    `.gif`: every frame (evenly subsampled to at most 60), titled "frame t/length", played so
    that `fps` sample frames last one second. Persons all zero over the valid frames are left
    out; joints at exactly (0,0,0) are dropouts and their bones are skipped. Written atomically;
    returns the final path. Raises `UserError` for a bad suffix, shape, length or empty sample.
    """
    out = Path(out)
    if up not in ("y", "z"):
        raise UserError(f"up axis {up!r} is not supported; use y or z.")
    sample = np.asarray(sample)[: coordinate_dims(channels)]
    if up == "z" and len(sample) == 3:
        sample = np.stack([sample[0], sample[2], -sample[1]])
    x, persons = _check(sample, length, layout, out)
    box = _limits(x, persons)
    if out.suffix.lower() == ".png":
        if frames < 1:
            raise UserError(f"frames must be at least 1, not {frames}.")
        fig = _strip(x, persons, layout, title, min(frames, x.shape[1]), box)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", facecolor="white")
        return out
    if fps <= 0:
        raise UserError(f"fps must be positive, not {fps}.")
    picks = _pick(x.shape[1], min(x.shape[1], MAX_GIF_FRAMES))
    images = _gif_frames(x, persons, layout, title, picks, box)
    step_ms = 1000.0 * x.shape[1] / len(picks) / fps  # real-time pacing despite subsampling
    with atomic_path(out) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(step_ms)),
            loop=0,
        )
    return out


def _pick(n_valid: int, n: int) -> np.ndarray:
    """`n` evenly spaced distinct frame indices in 0..n_valid-1 (first and last included)."""
    return np.unique(np.linspace(0, n_valid - 1, n).round().astype(int))


def _strip(x: np.ndarray, persons: list, layout: Layout, title: str, n: int, box: Box) -> Figure:
    """A 1 x n figure of 3D panels of `x` (3, T, V, M) at n evenly spaced frames."""
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(2.2 * n, 3.0 if title else 2.8), dpi=100)
        FigureCanvasAgg(fig)
        for i, t in enumerate(_pick(x.shape[1], n)):
            ax = _axes(fig, (1, n, i + 1), box)
            _update(_artists(ax, persons, len(x)), x, int(t), layout)
            ax.set_title(f"frame {t + 1}", pad=-2)
        if title:
            fig.suptitle(title, fontsize=11)
        bottom = _legend(fig, persons)
        fig.subplots_adjust(left=0, right=1, bottom=bottom, top=0.9 if title else 0.97, wspace=0)
    return fig


def _gif_frames(
    x: np.ndarray, persons: list, layout: Layout, title: str, picks: np.ndarray, box: Box
) -> list[Image.Image]:
    """One palette image per frame index in `picks`, drawn on one reused figure."""
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(4.0, 4.2), dpi=90)
        canvas = FigureCanvasAgg(fig)
        artists = _artists(_axes(fig, (1, 1, 1), box), persons, len(x))
        fig.subplots_adjust(left=0, right=1, bottom=_legend(fig, persons), top=0.93)
        head = fig.suptitle("", fontsize=10)
        images = []
        for t in picks:
            _update(artists, x, int(t), layout)
            head.set_text(f"{title}  frame {t + 1}/{x.shape[1]}".strip())
            canvas.draw()
            rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
            images.append(rgb.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=0))
    return images
