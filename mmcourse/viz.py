"""Figures the notebooks share. Every function returns the matplotlib Figure it drew,
with labelled axes, so a notebook can show it, save it or test it."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import checks


def _hwc(img) -> np.ndarray:
    """An image as a float HWC (or HW) array in [0, 1]; uint8 input (0..255) is scaled."""
    a = img.detach().cpu().float().numpy() if torch.is_tensor(img) else np.asarray(img, dtype=np.float32)
    if getattr(img, "dtype", None) in (torch.uint8, np.uint8):
        a = a / 255.0
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)  # CHW -> HWC
    return a.squeeze(-1) if a.ndim == 3 and a.shape[-1] == 1 else a


def image_grid(images, captions=None, ncols: int = 6, title: str | None = None, size: float = 2.0,
               fontsize: int = 7, wrap: int = 28):
    """Images (a batch tensor (B, C, H, W) or a list) in a grid, captions underneath, wrapped at
    ``wrap`` characters (a "\\n" in a caption starts a new line); the figure grows with the
    longest caption, so long captions never squeeze the images."""
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"{len(captions)} captions for {len(images)} images")
    texts = [_wrap(str(c), wrap) for c in captions] if captions is not None else []
    lines = max((t.count("\n") + 1 for t in texts), default=0)
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + lines * fontsize * 1.6 / 72 + 0.1) * nrows),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.flat[i]
        a = _hwc(img)
        ax.imshow(a.clip(0, 1) if a.ndim == 3 else a, cmap=None if a.ndim == 3 else "gray")
        if texts:  # an x label, so the constrained layout makes room for it; hide the frame, not the axis
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_xlabel(texts[i], fontsize=fontsize, va="top")
    if title:
        fig.suptitle(title)
    return fig


def _wrap(text: str, width: int) -> str:
    out = []
    for paragraph in text.split("\n"):
        lines, line = [], ""
        for word in paragraph.split():
            if line and len(line) + len(word) + 1 > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        out.extend(lines + [line])
    return "\n".join(out)


def training_curves(history, keys=("loss",), x: str = "step", title: str | None = None, smooth: int = 1):
    """One panel per key of a History (or dict of lists); ``smooth`` = moving-average window."""
    keys = [k for k in keys if history.get(k)]
    if not keys:
        raise ValueError(f"history has none of the keys {keys}; it has {sorted(history)}")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        y = np.asarray(history[key], dtype=float)
        xs = np.asarray(history.get(x if len(history.get(x, [])) == len(y) else "eval_step", range(len(y))))
        if smooth > 1 and len(y) > smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            xs = xs[smooth - 1:]
        ax.plot(xs[:len(y)], y)
        ax.set_xlabel(x)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _spread_label_offsets(anchors_pt, labels, fontsize: float):
    """Greedy label placement: for each anchor (in points) the first of a few offsets whose
    approximate text box overlaps no label placed so far (else the least overlapping one).
    Returns [(dx, dy, ha), ...] in points."""
    candidates = [(3, 3, "left"), (3, -11, "left"), (-3, 3, "right"), (-3, -11, "right"),
                  (3, 12, "left"), (3, -20, "left"), (-3, 12, "right"), (-3, -20, "right")]
    placed, out = [], []
    for (x, y), text in zip(anchors_pt, labels):
        w, h = 0.62 * fontsize * max(len(str(text)), 1), fontsize
        best = None
        for dx, dy, ha in candidates:
            x0 = x + dx if ha == "left" else x + dx - w
            box = (x0, y + dy, x0 + w, y + dy + h)
            overlap = sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0])) * max(0.0, min(box[3], b[3]) - max(box[1], b[1]))
                          for b in placed)
            if best is None or overlap < best[0]:
                best = (overlap, (dx, dy, ha), box)
            if overlap == 0:
                break
        placed.append(best[2])
        out.append(best[1])
    return out


def embedding_map(points, labels, groups=None, title: str | None = None, ax=None, spread_labels: bool = False):
    """2-D scatter of embedded items with text labels, coloured by group.

    spread_labels=True moves a label to another side of its point when it would overlap a label
    already drawn (close points such as near-synonyms stay readable); the legend goes outside
    the axes, off the data."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got {points.shape}")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 6))
    groups = list(groups) if groups is not None else ["item"] * len(points)
    palette = plt.get_cmap("tab10")
    for k, g in enumerate(dict.fromkeys(groups)):
        idx = [i for i, h in enumerate(groups) if h == g]
        ax.scatter(points[idx, 0], points[idx, 1], color=palette(k % 10), label=g, s=30)
    labels = list(labels)
    if spread_labels:
        ax.get_xlim(), ax.get_ylim()  # settle the autoscaled limits before mapping data to points
        anchors = ax.transData.transform(points.astype(float)) * 72.0 / ax.figure.dpi
        offsets = _spread_label_offsets(anchors, labels, 8)
    else:
        offsets = [(3, 3, "left")] * len(labels)
    for (px, py), text, (dx, dy, ha) in zip(points, labels, offsets):
        ax.annotate(text, (px, py), fontsize=8, xytext=(dx, dy), textcoords="offset points", ha=ha)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    if spread_labels:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return fig or ax.figure


def spectrogram(spec_db, sample_rate: int, hop: int, ax=None, title: str | None = None, kind: str = "linear",
                colorbar: bool = True, clim: tuple | None = None, first_row: int | None = None):
    """A (rows, time) spectrogram-like image with time in seconds on x.

    kind="linear": rows are FFT bins, y in Hz up to Nyquist; "mel": rows are mel bands;
    "mfcc": rows are cepstral coefficients (diverging colours, centred on 0).
    clim=(low, high) fixes the colour range, so several panels share one scale.
    first_row=k (mel or mfcc): row i is band / coefficient k + i and the y ticks sit on the
    rows' centres, e.g. first_row=1 for MFCC 1..19 with coefficient 0 left out.
    """
    kinds = {"linear": ("frequency (Hz)", "magma"), "mel": ("mel band", "magma"), "mfcc": ("coefficient", "coolwarm")}
    if kind not in kinds:
        raise ValueError(f"unknown kind {kind!r}; valid choices: {', '.join(kinds)}")
    s = spec_db.detach().cpu().numpy() if torch.is_tensor(spec_db) else np.asarray(spec_db)
    if s.ndim != 2:
        raise ValueError(f"spectrogram must be 2-D (rows, frames), got shape {s.shape}")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3))
    ylabel, cmap = kinds[kind]
    top = sample_rate / 2 if kind == "linear" else s.shape[0]
    extent = (0, s.shape[1] * hop / sample_rate, 0, top)
    if first_row is not None:
        if kind == "linear":
            raise ValueError("first_row labels mel bands or MFCC coefficients; a linear spectrogram's rows are in Hz")
        extent = (0, s.shape[1] * hop / sample_rate, first_row - 0.5, first_row + s.shape[0] - 0.5)
    if clim is None and kind == "mfcc":
        clim = (-np.abs(s).max(), np.abs(s).max())
    im = ax.imshow(s, origin="lower", aspect="auto", extent=extent, cmap=cmap,
                   vmin=clim[0] if clim else None, vmax=clim[1] if clim else None)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="dB" if kind != "mfcc" else "value")
    if title:
        ax.set_title(title)
    return fig or ax.figure


def spectrogram_grid(specs, sample_rate: int, hop, titles=None, kind: str = "mel", ncols: int | None = None,
                     clim: tuple | None = None, size: tuple = (4.2, 3.0), label: str = "dB", title: str | None = None,
                     first_row: int | None = None):
    """Several spectrograms side by side (``ncols`` a row) on ONE colour scale with one shared
    colour bar, so equal colours mean equal values in every panel. ``hop`` is one hop for all
    or one per panel; ``clim`` defaults to the range over all panels (symmetric for MFCC)."""
    specs = [s.detach().cpu().numpy() if torch.is_tensor(s) else np.asarray(s) for s in specs]
    if not specs:
        raise ValueError("spectrogram_grid needs at least one spectrogram")
    hops = list(hop) if isinstance(hop, (list, tuple)) else [hop] * len(specs)
    titles = list(titles) if titles is not None else [None] * len(specs)
    if len(hops) != len(specs) or len(titles) != len(specs):
        raise ValueError(f"{len(specs)} spectrograms need as many hops and titles, got {len(hops)} and {len(titles)}")
    if clim is None:
        lo, hi = min(float(s.min()) for s in specs), max(float(s.max()) for s in specs)
        clim = (-max(abs(lo), abs(hi)), max(abs(lo), abs(hi))) if kind == "mfcc" else (lo, hi)
    ncols = min(ncols or len(specs), len(specs))
    nrows = math.ceil(len(specs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols + 0.5, size[1] * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(specs):]:
        ax.axis("off")
    for ax, s, h, t in zip(axes.flat, specs, hops, titles):
        spectrogram(s, sample_rate, h, ax=ax, title=t, kind=kind, colorbar=False, clim=clim, first_row=first_row)
    fig.colorbar(axes.flat[0].images[0], ax=axes.ravel().tolist(), label=label if kind != "mfcc" else "value",
                 shrink=0.9 if nrows > 1 else 1.0, pad=0.01)
    if title:
        fig.suptitle(title)
    return fig


def attention_maps(image, words, alphas, ncols: int = 7, size: float = 1.7, title: str | None = None,
                   smooth: bool = True, shared_scale: bool = True):
    """The Show, Attend and Tell figure: the image, then one panel per word with the attention
    the decoder used for it (a grid of L = side**2 weights) upsampled and laid over the image.

    ``shared_scale``: one colour scale (0 to the largest weight of any word) for every panel,
    with a colour bar, so a diffuse map looks faint beside a peaked one; False scales each
    panel to its own maximum (every map then looks equally confident)."""
    import torch.nn.functional as F

    img = _hwc(image)
    a = torch.as_tensor(alphas, dtype=torch.float32).detach().cpu()
    if a.ndim != 2 or len(a) < len(words):
        raise ValueError(f"alphas must be (n_steps >= {len(words)}, L), got {tuple(a.shape)}")
    side = math.isqrt(a.shape[1])
    if side * side != a.shape[1]:
        raise ValueError(f"attention over {a.shape[1]} locations is not a square grid")
    h, w = img.shape[:2]
    up = F.interpolate(a[:len(words)].view(-1, 1, side, side), size=(h, w),
                       mode="bilinear" if smooth else "nearest", align_corners=False)[:, 0].numpy()
    n = len(words) + 1
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.3) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(img.clip(0, 1))
    axes.flat[0].set_title("image", fontsize=9)
    top = max(float(up[:len(words)].max()), 1e-8) if len(words) else 1.0
    shown = None
    for i, word in enumerate(words):
        ax = axes.flat[i + 1]
        ax.imshow(img.clip(0, 1))
        shown = ax.imshow(up[i], cmap="magma", alpha=0.6, vmin=0,
                          vmax=top if shared_scale else max(float(up[i].max()), 1e-8))
        ax.set_title(word, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if shared_scale and shown is not None:
        fig.colorbar(shown, ax=list(axes.flat), shrink=0.8, pad=0.01, label="attention weight α (per cell)")
    return fig


def shape_representations(shape, views, voxels, voxel_parts, verts, faces, points, point_parts,
                          slice_y: float = 0.35, title: str | None = None, n_exploded: int = 150, seed: int = 0):
    """One 3D object shown six ways, all in world coordinates [-1, 1]^3 (z up): multi-view
    images, voxels, parts (exploded), point cloud, mesh and a slice of the signed distance.

    ``views`` (V, H, W) shaded renders (two are shown); ``voxels`` (R, R, R) bool occupancy
    indexed [x, y, z] over [-1, 1]^3 with ``voxel_parts`` its part index; ``verts`` (V, 3) and
    ``faces`` (F, 3) a mesh; ``points`` (N, 3) with ``point_parts`` (N,). Colours are parts.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    from .world import shapes3d as S3

    views = torch.as_tensor(views)
    occ = torch.as_tensor(voxels).bool().cpu()
    vox_parts = torch.as_tensor(voxel_parts).cpu()
    verts, faces = np.asarray(verts), np.asarray(faces)
    points, point_parts = torch.as_tensor(points).cpu(), torch.as_tensor(point_parts).cpu()
    if views.ndim != 3 or len(views) < 1:
        raise ValueError(f"views must be (V, H, W) renders, got {tuple(views.shape)}")
    if occ.ndim != 3 or len(set(occ.shape)) != 1 or vox_parts.shape != occ.shape:
        raise ValueError(f"voxels must be (R, R, R) with parts of the same shape, got {tuple(occ.shape)} "
                         f"and {tuple(vox_parts.shape)}")
    if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"mesh must be verts (V, 3) and faces (F, 3), got {verts.shape} and {faces.shape}")
    if points.ndim != 2 or points.shape[1] != 3 or point_parts.shape != points.shape[:1]:
        raise ValueError(f"points must be (N, 3) with (N,) parts, got {tuple(points.shape)} and {tuple(point_parts.shape)}")
    part_colours = plt.get_cmap("tab10")
    fig = plt.figure(figsize=(16, 9.5))
    ax = fig.add_subplot(2, 3, 1)
    ax.imshow(torch.cat(list(views[:2].cpu()), dim=1).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"multi-view images (2 of {len(views)} views)")
    ax.axis("off")

    ax = fig.add_subplot(2, 3, 2, projection="3d")
    r = occ.shape[0]
    corners = np.linspace(-1, 1, r + 1)  # voxel i spans [corners[i], corners[i+1]]: world units, as S3.grid
    X, Y, Z = np.meshgrid(corners, corners, corners, indexing="ij")
    colours = np.zeros(occ.shape + (4,))
    colours[occ.numpy()] = part_colours(vox_parts[occ].numpy())
    ax.voxels(X, Y, Z, occ.numpy(), facecolors=colours, edgecolor="k", linewidth=0.1)
    ax.set_title(f"voxels ({r}^3)")

    ax = fig.add_subplot(2, 3, 3, projection="3d")
    for part in shape.parts:  # part assembly: each primitive drawn apart from the others (exploded view)
        pts, _ = S3.point_cloud(S3.Shape3D(part.label, (part,)), n_exploded, seed=seed, resolution=24)
        pts = (pts + 0.5 * torch.tensor(part.center)).numpy()
        ax.scatter(*pts.T, s=2, color=part_colours(shape.labels.index(part.label)))
    tab10_names = ["blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive", "cyan"]
    ax.set_title("part assembly (exploded): " + ", ".join(f"{label} ({tab10_names[i % 10]})"
                                                         for i, label in enumerate(shape.labels)))

    ax = fig.add_subplot(2, 3, 4, projection="3d")
    ax.scatter(*points.numpy().T, c=part_colours(point_parts.numpy()), s=2)
    ax.set_title(f"point cloud ({len(points)} x 3)")

    ax = fig.add_subplot(2, 3, 5, projection="3d")
    ax.add_collection3d(Poly3DCollection(verts[faces], facecolor="lightsteelblue", edgecolor="k", linewidth=0.05))
    ax.set_title(f"mesh ({len(verts)} vertices, {len(faces)} triangles)")

    ax = fig.add_subplot(2, 3, 6)
    g = torch.linspace(-1, 1, 200)
    zz, xx = torch.meshgrid(g, g, indexing="ij")
    d = shape.sdf(torch.stack([xx, torch.full_like(xx, slice_y), zz], dim=-1)).numpy()
    g = g.numpy()
    im = ax.imshow(d, origin="lower", extent=(-1, 1, -1, 1), cmap="RdBu", vmin=-0.5, vmax=0.5)
    ax.contour(g, g, d, levels=[0], colors="k")
    fig.colorbar(im, ax=ax, label="signed distance (world units)")
    ax.set_xlabel("x (world units)")
    ax.set_ylabel("z (world units)")
    ax.set_title(f"implicit shape: SDF slice at y = {slice_y:g} (black: surface)")
    for a in fig.axes:
        if a.name == "3d":
            a.set_xlim(-1, 1), a.set_ylim(-1, 1), a.set_zlim(-1, 1)
            a.set_xticks([-1, 0, 1]), a.set_yticks([-1, 0, 1]), a.set_zticks([-1, 0, 1])  # readable ticks
            a.set_box_aspect((1, 1, 1))
            a.set_xlabel("x"), a.set_ylabel("y"), a.set_zlabel("z")
    fig.suptitle(title or f"One {shape.name}, six representations (3D panels in world units, [-1, 1]^3)")
    fig.tight_layout()
    return fig


def captioning_diagram(image=None, words=("<start>", "a", "red", "circle"), grid_side: int = 6,
                       image_as: str = "state"):
    """The two captioners of notebook 04 side by side (two rows), drawn unrolled in time.

    Show and Tell: CNN -> grid -> one vector v, which sets the LSTM's initial state
    (``image_as="state"``, as ``ShowAndTell`` does by default) or is its input at t = -1
    (``image_as="input"``, the paper's way; its output there is not used); from t = 0 the inputs
    are <start>, w_1, w_2, ... and each output is the next word. Show, Attend and Tell: the LSTM starts from the mean annotation and, before every
    word, reads z_t, an attention-weighted sum of the grid's annotation vectors.
    ``image``: an optional (3, H, W) or (H, W, 3) picture drawn as the input."""
    from matplotlib.patches import FancyBboxPatch

    checks.choice(image_as, "image_as", ("state", "input"))
    words = list(words)
    if len(words) < 2:
        raise ValueError(f"words needs at least two entries (<start> and one word), got {words!r}")
    n = len(words)
    locations = grid_side * grid_side

    def box(ax, xy, text, w=1.1, h=0.6, fc="#e8eef7"):
        ax.add_patch(FancyBboxPatch((xy[0] - w / 2, xy[1] - h / 2), w, h, boxstyle="round,pad=0.05", fc=fc, ec="0.3"))
        ax.text(*xy, text, ha="center", va="center", fontsize=8.5)

    def arrow(ax, a, b, color="0.3", rad=0.0):
        ax.annotate("", b, a, arrowprops=dict(arrowstyle="->", color=color, lw=1.1,
                                              connectionstyle=f"arc3,rad={rad}"))

    def front(ax):  # image -> CNN -> grid
        if image is not None:
            ax.imshow(_hwc(image).clip(0, 1), extent=(-0.45, 1.05, 0.85, 2.35))
            ax.set_aspect("auto")
        else:
            box(ax, (0.3, 1.6), "image", w=1.2, h=1.2, fc="white")
        box(ax, (2.1, 1.6), "CNN\n(frozen)", w=1.0, h=0.9)
        arrow(ax, (1.1, 1.6), (1.55, 1.6))
        box(ax, (3.6, 1.6), f"{grid_side} x {grid_side} grid\na_1 .. a_{locations}", w=1.4, h=0.9, fc="#f7efe0")
        arrow(ax, (2.65, 1.6), (2.85, 1.6))

    right = 6.3 + 1.55 * n + 0.7
    unit = 0.85  # inches per diagram unit, the same along x and y
    fig, axes = plt.subplots(2, 1, figsize=(unit * (right + 0.6), 2 * unit * 4.0 + 0.5))
    for ax, attend in zip(axes, (False, True)):
        ax.set_xlim(-0.6, right); ax.set_ylim(-0.55, 3.45); ax.axis("off")
        front(ax)
        at_minus_one = not attend and image_as == "input"
        x0 = 6.3 if at_minus_one else 5.8 + 1.55
        steps = ([("v", "t = -1")] if at_minus_one else []) + [(w, f"t = {t}") for t, w in enumerate(words)]
        xs = [x0 + 1.55 * j for j in range(len(steps))]
        for j, ((inp, label), x) in enumerate(zip(steps, xs)):
            box(ax, (x, 1.6), "LSTM", w=1.0, h=0.6)
            ax.text(x + 0.1, 1.22, label, ha="left", va="top", fontsize=7, color="0.4")
            is_image = at_minus_one and j == 0
            if is_image:
                box(ax, (x, 0.15), "v = W·fc(grid)", w=1.3, h=0.45, fc="#f7efe0")
            else:
                box(ax, (x, 0.15), inp, w=1.0, h=0.45, fc="white")
            arrow(ax, (x, 0.4), (x, 1.28))
            t = j - (1 if at_minus_one else 0)  # the word index this step predicts
            if t >= 0:
                nxt = words[t + 1] if t + 1 < n else "<end>"
                box(ax, (x, 3.05), nxt, w=1.0, h=0.45, fc="#e7f4e4")
                arrow(ax, (x, 1.92), (x, 2.8))
            else:
                ax.text(x, 2.5, "(output\nnot used)", ha="center", va="center", fontsize=7, color="0.45")
            if j + 1 < len(xs):
                arrow(ax, (x + 0.52, 1.6), (xs[j + 1] - 0.52, 1.6))
        if attend:
            box(ax, (5.3, 1.6), "h_0, c_0\n= f(mean a_i)", w=1.15, h=0.75, fc="#f7efe0")
            arrow(ax, (4.32, 1.6), (4.7, 1.6)); arrow(ax, (5.9, 1.6), (xs[0] - 0.52, 1.6))
            for x in xs:
                # the same bulge (0.6 units above the line) for every arc, so far arcs stay below the words
                arrow(ax, (3.6, 2.08), (x - 0.3, 1.93), color="#c0392b", rad=-0.6 / max(x - 3.9, 0.6))
            ax.text(-0.45, 3.05, "attention before every word:\nz_t = β_t Σ_i α_ti a_i,  α_t from h_{t-1}",
                    color="#c0392b", fontsize=8.5, va="center")
            ax.set_title("Show, Attend and Tell: the decoder looks at the grid again before every word", fontsize=11)
        elif at_minus_one:
            arrow(ax, (3.6, 1.12), (xs[0] - 0.68, 0.15), color="#b9770e", rad=0.25)
            ax.text(2.9, 0.2, "one image vector v:\nthe input at t = -1 only", fontsize=8, color="#b9770e",
                    ha="center", va="center")
            ax.set_title("Show and Tell: the image is the LSTM's input at t = -1, then only words", fontsize=11)
        else:
            box(ax, (5.3, 1.6), "h_0, c_0\n= tanh(W v)", w=1.15, h=0.75, fc="#f7efe0")
            arrow(ax, (4.32, 1.6), (4.7, 1.6)); arrow(ax, (5.9, 1.6), (xs[0] - 0.52, 1.6))
            ax.text(3.6, 0.45, "one image vector v = fc(grid):\nthe LSTM's initial state, read once",
                    fontsize=8, color="#b9770e", ha="center", va="center")
            ax.set_title("Show and Tell: the image sets the LSTM's initial state once, then only words", fontsize=11)
    fig.tight_layout()
    return fig


def localisation_maps(images, maps: dict, masks=None, titles=None, threshold: float = 0.5, size: float = 1.8):
    """Sound source localisation, one column per picture: the picture, then one row per entry of
    ``maps`` (row name -> (B, h, w) scores), each upsampled over the picture with the region
    ``metrics.localisation_iou`` keeps (>= threshold x the map's maximum) outlined in cyan.

    ``masks``: the object each row should find, outlined in white - one (B, H, W) bool tensor for
    every row, or a dict row name -> masks (rows not named get no outline). ``titles``: one string
    per column, or a dict row name -> list of per-column strings written above that row's panels
    ("picture" is the first row's name)."""
    import torch.nn.functional as F

    imgs = torch.as_tensor(images).detach().cpu().float()
    if imgs.ndim != 4 or not maps:
        raise ValueError(f"images must be (B, 3, H, W) and maps a non-empty dict, got {tuple(imgs.shape)}, {len(maps)} maps")
    n, (h, w) = len(imgs), imgs.shape[-2:]
    rows = [("picture", None)] + list(maps.items())
    row_masks = masks if isinstance(masks, dict) else {name: masks for name, _ in rows}
    row_titles = titles if isinstance(titles, dict) else {"picture": titles}
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, (size + 0.25) * len(rows) + 0.3), squeeze=False)
    for r, (name, m) in enumerate(rows):
        up = None
        if m is not None:
            m = torch.as_tensor(m).detach().cpu().float()
            if m.ndim != 3 or len(m) != n:
                raise ValueError(f"maps[{name!r}] must be ({n}, h, w), got {tuple(m.shape)}")
            up = F.interpolate(m[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        mk = row_masks.get(name)
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(_hwc(imgs[i]).clip(0, 1))
            if up is not None:
                peak = max(float(up[i].max()), 1e-12)
                ax.imshow(up[i].clamp(min=0).numpy(), cmap="magma", alpha=0.6, vmin=0, vmax=peak)
                ax.contour((up[i] >= threshold * peak).numpy().astype(float), levels=[0.5], colors="cyan", linewidths=1)
            if mk is not None:
                ax.contour(torch.as_tensor(mk[i]).cpu().numpy().astype(float), levels=[0.5], colors="white",
                           linewidths=0.8)
            ax.set_xticks([]), ax.set_yticks([])
            if row_titles.get(name) is not None:
                ax.set_title(row_titles[name][i], fontsize=8)
            if i == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ 3D (notebook 08)
def _axes3d(ax, title: str | None = None, limit: float = 1.0):
    ax.set_xlim(-limit, limit), ax.set_ylim(-limit, limit), ax.set_zlim(-limit, limit)
    ax.set_xticks([-limit, 0, limit]), ax.set_yticks([-limit, 0, limit]), ax.set_zticks([-limit, 0, limit])
    ax.set_box_aspect((1, 1, 1))
    ax.tick_params(labelsize=6, pad=0)
    ax.set_xlabel("x", fontsize=7, labelpad=-8), ax.set_ylabel("y", fontsize=7, labelpad=-8)
    ax.set_zlabel("z", fontsize=7, labelpad=-8)
    if title:
        ax.set_title(title, fontsize=9)


def _mesh_pair(item, i: int):
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        raise ValueError(f"meshes[{i}] must be a pair (verts (V, 3), faces (F, 3)), got {type(item).__name__}")
    verts, faces = np.asarray(item[0]), np.asarray(item[1])
    if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"meshes[{i}] must be verts (V, 3) and faces (F, 3), got {verts.shape} and {faces.shape}")
    return verts, faces


def shapes_3d(items, titles=None, ncols: int = 4, size: float = 2.6, title: str | None = None, images=None,
              point_size: float = 3.0, cmap: str = "tab10"):
    """A grid of 3D panels in world units ([-1, 1]^3, z up). Each item is a mesh (verts, faces),
    a point cloud (N, 3), or a dict {"points": (N, 3), "colours": (N,) class indices or
    (N, 3|4) RGB(A), "highlight": optional (N,) bool drawn large and red} - or None for an
    empty panel. ``images`` (optional): pictures shown in 2-D panels instead, at the same
    positions (a list as long as ``items`` with None where a 3D panel goes)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    items = list(items)
    if not items:
        raise ValueError("items is empty: give at least one mesh or point cloud")
    ncols = checks.integer(ncols, "ncols", low=1)
    titles = list(titles) if titles is not None else [None] * len(items)
    images = list(images) if images is not None else [None] * len(items)
    if len(titles) != len(items) or len(images) != len(items):
        raise ValueError(f"titles and images must be as long as items ({len(items)}), got {len(titles)} and {len(images)}")
    nrows = math.ceil(len(items) / ncols)
    fig = plt.figure(figsize=(size * min(ncols, len(items)), size * nrows))
    palette = plt.get_cmap(cmap)
    for i, (item, name, img) in enumerate(zip(items, titles, images)):
        if img is not None:
            ax = fig.add_subplot(nrows, ncols, i + 1)
            ax.imshow(_hwc(img), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            ax.set_title(name or "", fontsize=9)
            continue
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        if item is None:
            ax.set_axis_off()
        elif isinstance(item, dict):
            pts = np.asarray(torch.as_tensor(item["points"]).cpu())
            if pts.ndim != 2 or pts.shape[1] != 3:
                raise ValueError(f"items[{i}]['points'] must be (N, 3), got {pts.shape}")
            colours = item.get("colours")
            if colours is None:
                c = "0.55"
            else:
                colours = np.asarray(torch.as_tensor(colours).cpu())
                c = palette(colours % palette.N) if colours.ndim == 1 else colours
            hi = item.get("highlight")
            if hi is not None:
                hi = np.asarray(torch.as_tensor(hi).cpu()).astype(bool)
                ax.scatter(*pts[~hi].T, s=point_size * 0.5, c="0.75", depthshade=False)
                ax.scatter(*pts[hi].T, s=point_size * 4, c="crimson", depthshade=False)
            else:
                ax.scatter(*pts.T, s=point_size, c=c, depthshade=False)
        elif isinstance(item, (tuple, list)):
            verts, faces = _mesh_pair(item, i)
            ax.add_collection3d(Poly3DCollection(verts[faces], facecolor="lightsteelblue", edgecolor="k",
                                                 linewidth=0.05))
        else:
            pts = np.asarray(torch.as_tensor(item).cpu())
            if pts.ndim != 2 or pts.shape[1] != 3:
                raise ValueError(f"items[{i}] must be a mesh pair, a point cloud (N, 3) or a dict, got shape {pts.shape}")
            ax.scatter(*pts.T, s=point_size, c="steelblue", depthshade=False)
        _axes3d(ax, name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def interactive_shape(verts=None, faces=None, points=None, colours=None, title: str | None = None):
    """An interactive 3D figure (plotly: drag to rotate, scroll to zoom) of a mesh and/or a
    point cloud coloured by class index; None when plotly is not installed (then show a static
    matplotlib figure instead). Works where the notebook runs in a browser (Colab, JupyterLab)."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return None
    traces = []
    if verts is not None:
        verts, faces = _mesh_pair((verts, faces), 0)
        traces.append(go.Mesh3d(x=verts[:, 0], y=verts[:, 1], z=verts[:, 2], i=faces[:, 0], j=faces[:, 1],
                                k=faces[:, 2], color="lightsteelblue", opacity=0.6, name="mesh", flatshading=True))
    if points is not None:
        pts = np.asarray(torch.as_tensor(points).cpu())
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must be (N, 3), got {pts.shape}")
        marker = dict(size=2)
        if colours is not None:
            palette = plt.get_cmap("tab10")
            rgb = palette(np.asarray(torch.as_tensor(colours).cpu()) % 10)[:, :3]
            marker["color"] = [f"rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f})" for r, g, b in rgb]
        traces.append(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", marker=marker, name="points"))
    if not traces:
        raise ValueError("give a mesh (verts and faces), points, or both")
    fig = go.Figure(traces)
    axis = dict(range=[-1, 1])
    fig.update_layout(title=title, scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"),
                      width=560, height=480, margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return fig
