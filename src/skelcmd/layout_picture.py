"""A picture of a skeleton layout (`skelcmd layout NAME --out tree.png`): its tree drawn top
down from the root, every joint numbered (1-based, as `skelcmd layout` lists them) and named,
and the graph centre that ST-GCN partitions by ringed in red."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from skelcmd.errors import UserError
from skelcmd.evaluate.plots import save_figure
from skelcmd.skeleton import Layout


def tree_positions(layout: Layout) -> np.ndarray:
    """(V, 2) drawing positions: x in leaf order (depth first, children in joint order, each
    parent centred over its children), y = -depth below its root; several roots side by side."""
    v = layout.num_joints
    children: list[list[int]] = [[] for _ in range(v)]
    roots = []
    for joint, parent in enumerate(layout.parents):
        (roots if joint == parent else children[parent]).append(joint)
    pos = np.zeros((v, 2))
    leaves = 0
    stack = [(root, 0, False) for root in reversed(roots)]
    while stack:  # an explicit depth-first walk: children first, then their parent's x
        joint, depth, done = stack.pop()
        pos[joint, 1] = -depth
        if done:
            pos[joint, 0] = np.mean([pos[c, 0] for c in children[joint]])
        elif children[joint]:
            stack.append((joint, depth, True))
            stack += [(c, depth + 1, False) for c in reversed(children[joint])]
        else:
            pos[joint, 0] = leaves
            leaves += 1
    return pos


def draw_layout(layout: Layout, out: str | Path) -> Path:
    """Draw `layout`'s tree to the PNG `out` (written atomically); return `out`."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"cannot draw the layout to {out}: give a .png file.")
    pos = tree_positions(layout)
    width, depth = pos[:, 0].max() + 1, -pos[:, 1].min() + 1
    fig = Figure(figsize=(max(4.0, 0.75 * width), 1.0 * depth + 1.0), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for joint, parent in layout.edges:
        ax.plot(*pos[[joint, parent]].T, color="#1f77b4", lw=1.5, zorder=1)
    ax.scatter(*pos.T, s=170, color="white", edgecolors="#1f77b4", zorder=2)
    ax.scatter(*pos[layout.center], s=330, facecolors="none", edgecolors="#d62728", lw=1.5)
    for joint, (x, y) in enumerate(pos):
        ax.text(x, y, str(joint + 1), ha="center", va="center", fontsize=7, zorder=3)
        ax.text(x, y - 0.22, layout.joint_names[joint], ha="center", va="top", fontsize=6.5,
                bbox={"fc": "white", "ec": "none", "pad": 0.3}, zorder=3)  # fmt: skip
    ax.set_xlim(-0.8, width - 0.2)
    ax.set_ylim(-depth + 0.2, 0.5)
    ax.axis("off")
    centre = layout.joint_names[layout.center]
    ax.set_title(f"{layout.name}: {layout.num_joints} joints, centre {centre} (red)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)
