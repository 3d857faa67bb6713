"""Scenes of the procedural world: objects with shape, colour, size and position.

A scene is a tuple of non-overlapping objects on a square canvas. Positions are
continuous, in canvas units: (0, 0) is the top-left corner, (1, 1) the bottom-right,
y grows downwards as in an image. Sampling uses numpy's PCG64 generator, so the same
seed gives the same scenes on every machine. Rendering is batched in torch: every shape
is a signed distance function, and coverage = clamp(0.5 - distance_in_pixels, 0, 1) gives
anti-aliased edges at any resolution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import checks

SHAPES = ("circle", "square", "triangle", "cross", "diamond")
COLOURS = {  # name -> RGB in [0, 1]; chosen to stay distinct after downsampling
    "red": (0.90, 0.16, 0.16),
    "orange": (0.96, 0.55, 0.08),
    "yellow": (0.94, 0.87, 0.14),
    "green": (0.16, 0.68, 0.24),
    "cyan": (0.12, 0.80, 0.86),
    "blue": (0.18, 0.32, 0.92),
    "purple": (0.60, 0.26, 0.80),
}
SIZES = {"small": 0.085, "large": 0.145}  # radius as a fraction of the canvas side
# Each shape's bounding box in radius units (x0, y0, x1, y1), matching _sdf below; its
# extent (the farthest point from the centre) keeps shapes from touching.
SHAPE_BOX = {
    "circle": (-1.0, -1.0, 1.0, 1.0),
    "square": (-0.82, -0.82, 0.82, 0.82),
    "triangle": (-1.0, -0.96, 1.0, 0.78),
    "cross": (-1.0, -1.0, 1.0, 1.0),
    "diamond": (-1.05, -1.05, 1.05, 1.05),
}
SHAPE_EXTENT = {"circle": 1.0, "square": 1.16, "triangle": 1.27, "cross": 1.06, "diamond": 1.05}
BACKGROUND = (0.07, 0.07, 0.09)
MIN_GAP = 0.02  # free space between two objects, in canvas units
MAX_TRIES = 200  # placement attempts per scene before giving up
MAX_RESOLUTION = 2048  # pixels a side: 2048 x 2048 x 3 floats = 48 MiB an image
MAX_SCENES = 1_000_000  # scenes in one sample_scenes call


def _check_choice(kind: str, value: str, valid) -> None:
    checks.choice(value, kind, valid)


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    x: float  # centre, canvas units in [0, 1]
    y: float

    def __post_init__(self):
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("colour", self.colour, tuple(COLOURS))
        _check_choice("size", self.size, tuple(SIZES))
        # the centre lies on the canvas (the shape may reach over its edge, as notebook 02's scale does)
        checks.number(self.x, "x", low=0.0, high=1.0)
        checks.number(self.y, "y", low=0.0, high=1.0)

    @property
    def radius(self) -> float:
        return SIZES[self.size]

    @property
    def extent(self) -> float:
        """Distance from the centre to the farthest point of the shape, canvas units."""
        return SIZES[self.size] * SHAPE_EXTENT[self.shape]

    @property
    def attributes(self) -> tuple[str, str, str]:
        return (self.size, self.colour, self.shape)

    def describe(self, size: bool = True) -> str:
        return f"{self.size} {self.colour} {self.shape}" if size else f"{self.colour} {self.shape}"

    def box(self, resolution: int = 64) -> tuple[float, float, float, float]:
        """Bounding box (x0, y0, x1, y1) in pixels of a ``resolution`` canvas."""
        resolution = checks.integer(resolution, "resolution", low=1, high=MAX_RESOLUTION)
        r = self.radius
        u0, v0, u1, v1 = SHAPE_BOX[self.shape]
        return tuple(float(v * resolution) for v in (self.x + u0 * r, self.y + v0 * r,
                                                       self.x + u1 * r, self.y + v1 * r))


Scene = tuple  # a scene is a tuple of Obj


def check_scene(scene, name: str = "scene", min_objects: int = 0) -> tuple:
    """``scene`` as a tuple of Obj (a list or tuple of them), with at least ``min_objects``."""
    scene = checks.items(scene, name, Obj)
    if len(scene) < min_objects:
        raise ValueError(f"{name} needs at least {min_objects} object(s), it has {len(scene)}")
    return scene


def check_scenes(scenes, name: str = "scenes") -> list:
    """``scenes`` as a non-empty list of scenes (each a list or tuple of Obj)."""
    scenes = checks.items(scenes, name)
    if not scenes:
        raise ValueError(f"{name} is empty: render needs at least one scene")
    if all(type(s) is tuple and all(type(o) is Obj for o in s) for s in scenes):  # the usual case, fast
        return list(scenes)
    return [check_scene(s, f"{name}[{i}]") for i, s in enumerate(scenes)]


def sample_scenes(n: int, seed: int = 0, *, min_objects: int = 1, max_objects: int = 4,
                  shapes=SHAPES, colours=tuple(COLOURS), sizes=tuple(SIZES),
                  exclude=(), only=None) -> list[Scene]:
    """Sample ``n`` scenes of ``min_objects..max_objects`` non-overlapping objects.

    ``exclude``: (colour, shape) pairs never generated (held-out combinations for
    compositional tests); ``only``: if given, every object's (colour, shape) is one of them.
    """
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n < 1:
        raise ValueError(f"n must be a positive number of scenes, got {n!r}")
    n = checks.integer(n, "n", low=1, high=MAX_SCENES)
    seed = checks.seed(seed)
    min_objects = checks.integer(min_objects, "min_objects", low=1)
    max_objects = checks.integer(max_objects, "max_objects", low=1, high=10 ** 6)
    if not min_objects <= max_objects:
        raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}..{max_objects}")
    shapes, colours, sizes = (checks.items(v, k, str) for v, k in ((shapes, "shapes"), (colours, "colours"),
                                                                   (sizes, "sizes")))
    for s in shapes:
        checks.choice(s, "shape", SHAPES, "shapes")
    for c in colours:
        checks.choice(c, "colour", tuple(COLOURS), "colours")
    for z in sizes:
        checks.choice(z, "size", tuple(SIZES), "sizes")
    if not shapes or not colours or not sizes:
        raise ValueError("shapes, colours and sizes must each name at least one choice")
    combos = [(c, s) for c in colours for s in shapes]
    exclude = checks.items(exclude, "exclude")
    only = None if only is None else checks.items(only, "only")
    for what, pairs in (("exclude", exclude), ("only", only or ())):
        for pair in pairs:
            if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise ValueError(f"held-out combinations ({what}) are (colour, shape) pairs, got {pair!r}")
            checks.choice(pair[0], "colour", tuple(COLOURS), what)
            checks.choice(pair[1], "shape", SHAPES, what)
    excluded = {tuple(p) for p in exclude}
    allowed = None if only is None else {tuple(q) for q in only}
    combos = [p for p in combos if p not in excluded and (allowed is None or p in allowed)]
    if not combos:
        raise ValueError("exclude/only leave no (colour, shape) combination to generate; the split would be empty")
    # A canvas can pack only so much: refuse requests that cannot fit before trying.
    biggest = max(SIZES[z] for z in sizes)
    smallest = min(SIZES[z] for z in sizes)
    area = max_objects * (2.2 * smallest + MIN_GAP) ** 2
    if area > 0.5 or 2 * biggest * max(SHAPE_EXTENT.values()) >= 1:
        raise ValueError(f"max_objects={max_objects} objects of sizes {list(sizes)} cannot be placed without "
                         f"overlap on the canvas; use at most {_max_fit(smallest)} objects")

    rng = np.random.Generator(np.random.PCG64(seed))
    scenes = []
    for _ in range(int(n)):
        k = int(rng.integers(min_objects, max_objects + 1))
        scenes.append(_place(rng, k, combos, sizes))
    return scenes


def _max_fit(smallest: float) -> int:
    return max(1, int(0.5 / (2.2 * smallest + MIN_GAP) ** 2))


def _place(rng, k: int, combos, sizes) -> Scene:
    for _ in range(MAX_TRIES):
        objs = []
        for _ in range(k):
            colour, shape = combos[int(rng.integers(len(combos)))]
            size = sizes[int(rng.integers(len(sizes)))]
            e = SIZES[size] * SHAPE_EXTENT[shape]
            for _ in range(50):
                x, y = rng.uniform(e + 0.01, 1 - e - 0.01, size=2)
                if all(math.hypot(x - o.x, y - o.y) >= e + o.extent + MIN_GAP for o in objs):
                    objs.append(Obj(shape, colour, size, round(float(x), 4), round(float(y), 4)))
                    break
            else:
                break  # this layout is stuck: start the scene again
        if len(objs) == k:
            return tuple(objs)
    raise ValueError(f"could not place {k} non-overlapping objects after {MAX_TRIES} attempts; "
                     f"ask for fewer or smaller objects")


# ---------------------------------------------------------------- rendering
_SHAPE_ID = {s: i for i, s in enumerate(SHAPES)}


def _sdf(shape: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Signed distance (in radius units) of point (u, v) relative to a unit-radius shape."""
    if shape == "circle":
        return torch.sqrt(u * u + v * v) - 1.0
    if shape == "square":
        return torch.maximum(u.abs(), v.abs()) - 0.82
    if shape == "diamond":
        return (u.abs() + v.abs() - 1.05) * (1 / math.sqrt(2))
    if shape == "cross":
        a, b = u.abs(), v.abs()
        arm = 0.34
        return torch.minimum(torch.maximum(a - 1.0, b - arm), torch.maximum(a - arm, b - 1.0))
    if shape == "triangle":  # pointing up, centred on its bounding box
        v = v - 0.2
        s = math.sqrt(3) / 2
        d = torch.maximum(v, torch.maximum(-s * u - 0.5 * v, s * u - 0.5 * v))
        return d - 0.58
    raise ValueError(f"unknown shape {shape!r}; valid choices: {', '.join(SHAPES)}")


def _object_table(scenes) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    rows, shapes, owner = [], [], []
    for b, scene in enumerate(scenes):
        for o in scene:
            rows.append((o.x, o.y, o.radius, *COLOURS[o.colour]))
            shapes.append(o.shape)
            owner.append(b)
    return (torch.tensor(rows, dtype=torch.float32).reshape(-1, 6), shapes,
            torch.tensor(owner, dtype=torch.long))


def coverage(scenes, resolution: int = 64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Anti-aliased coverage of every object: (M, H, W) in [0, 1] and owner scene index (M,)."""
    device = checks.device(device)
    table, shapes, owner = _object_table(check_scenes(scenes))
    return _coverage(table.to(device), shapes, resolution, device), owner.to(device)


def _coverage(table: torch.Tensor, shapes: list[str], resolution: int, device) -> torch.Tensor:
    resolution = checks.integer(resolution, "resolution", low=8, high=MAX_RESOLUTION)
    grid = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution
    cov = torch.empty(len(shapes), resolution, resolution, device=device)
    shape_ids = torch.tensor([_SHAPE_ID[s] for s in shapes], dtype=torch.long)
    for name, sid in _SHAPE_ID.items():
        idx = (shape_ids == sid).nonzero().flatten()
        if len(idx) == 0:
            continue
        idx = idx.to(device)
        cx, cy, r = (table[idx, i].view(-1, 1, 1) for i in range(3))
        u = (grid.view(1, 1, -1) - cx) / r
        v = (grid.view(1, -1, 1) - cy) / r
        d = _sdf(name, u, v) * r * resolution  # distance in pixels
        cov[idx] = (0.5 - d).clamp(0, 1)
    return cov


def render(scenes, resolution: int = 64, device=None, return_masks: bool = False):
    """Render scenes to a float image batch (B, 3, H, W) in [0, 1].

    With ``return_masks=True`` also returns per-object binary masks as a list with one
    (n_objects, H, W) bool tensor per scene, in the scene's object order.
    """
    scenes = check_scenes(scenes)
    resolution = checks.integer(resolution, "resolution", low=8, high=MAX_RESOLUTION)
    device, return_masks = checks.device(device), checks.flag(return_masks, "return_masks")
    table, shapes, owner = _object_table(scenes)
    table, owner = table.to(device), owner.to(device)
    cov = _coverage(table, shapes, resolution, device)
    bg = torch.tensor(BACKGROUND, device=cov.device)
    delta = table[:, 3:] - bg  # (M, 3)
    img = bg.view(1, 3, 1, 1).repeat(len(scenes), 1, resolution, resolution)
    img.index_add_(0, owner, cov.unsqueeze(1) * delta.view(-1, 3, 1, 1))
    img = img.clamp_(0, 1)
    if not return_masks:
        return img
    counts = [len(s) for s in scenes]
    masks = list((cov > 0.5).split(counts))
    return img, masks


CLOSE_UP_ZOOM = 2.25  # a close-up shows the middle 1/2.25 of the canvas: a large object fills ~80% of its side


def close_up(scenes, seed: int = 0, jitter: float = 0.04) -> list[Scene]:
    """One-object scenes with the object moved near the centre (x and y each 0.5 + uniform
    +-``jitter`` canvas units, drawn from ``seed``): what ``render_close_up`` frames. Like the
    bounding-box crops of birds and flowers that text-to-image GANs were trained on, the object
    fills the picture instead of being a few pixels somewhere on it."""
    scenes = check_scenes(scenes)
    seed = checks.seed(seed)
    jitter = checks.number(jitter, "jitter", low=0.0, high=0.1)
    if any(len(s) != 1 for s in scenes):
        raise ValueError("close_up takes one-object scenes (sample_scenes(..., min_objects=1, max_objects=1))")
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-jitter, jitter, size=(len(scenes), 2))
    return [(Obj(s[0].shape, s[0].colour, s[0].size, float(0.5 + dx), float(0.5 + dy)),)
            for s, (dx, dy) in zip(scenes, shifts)]


def render_close_up(scenes, resolution: int = 32, zoom: float = CLOSE_UP_ZOOM, device=None) -> torch.Tensor:
    """The middle ``resolution`` x ``resolution`` pixels of the scenes rendered at ``zoom`` times
    that size: (B, 3, resolution, resolution) in [0, 1]. With ``close_up`` scenes, a large
    object is ~26 pixels across at 32 x 32 and a small one ~15 (on the whole canvas: 9 and 5)."""
    resolution = checks.integer(resolution, "resolution", low=8, high=MAX_RESOLUTION // 4)
    zoom = checks.number(zoom, "zoom", low=1.0, high=4.0)
    big = int(round(resolution * zoom))
    off = (big - resolution) // 2
    return render(scenes, big, device=device)[:, :, off:off + resolution, off:off + resolution].contiguous()


def _centre_cell(o: Obj, side: int) -> tuple[int, int]:
    """(row, column) of the cell of a side x side grid that holds the centre of object ``o``
    (shared by vqa's centre targets and language.lm_table)."""
    return min(int(o.y * side), side - 1), min(int(o.x * side), side - 1)


def cell_labels(scenes, resolution: int = 48, cell: int = 8, min_cover: float = 0.2) -> torch.Tensor:
    """Dense labels for a grid of ``cell`` x ``cell`` pixel cells: (N, 3, H/cell, W/cell) long,
    the colour, shape and size index + 1 of the object covering most of each cell (0: no
    object covers ``min_cover`` of it). Orders follow COLOURS, SHAPES and SIZES."""
    resolution = checks.integer(resolution, "resolution", low=8, high=MAX_RESOLUTION)
    cell = checks.integer(cell, "cell", low=1, high=resolution)
    if resolution % cell:
        raise ValueError(f"resolution ({resolution}) must be a multiple of cell ({cell})")
    min_cover = checks.number(min_cover, "min_cover", low=0, low_open=True, high=1)
    scenes = check_scenes(scenes)
    table, shapes, owner = _object_table(scenes)
    cov = torch.nn.functional.avg_pool2d(_coverage(table, shapes, resolution, None).unsqueeze(1), cell).squeeze(1)
    attrs = torch.tensor([[list(COLOURS).index(o.colour) + 1, SHAPES.index(o.shape) + 1, list(SIZES).index(o.size) + 1]
                          for s in scenes for o in s], dtype=torch.long).view(-1, 3)
    side = resolution // cell
    out = torch.zeros(len(scenes), 3, side, side, dtype=torch.long)
    best = torch.zeros(len(scenes), side, side)
    for m in range(len(owner)):  # objects never overlap much, so this keeps the largest cover
        i = owner[m]
        take = (cov[m] >= min_cover) & (cov[m] > best[i])
        best[i] = torch.where(take, cov[m], best[i])
        out[i][:, take] = attrs[m].unsqueeze(1)
    return out


def frame_differences(video: torch.Tensor) -> torch.Tensor:
    """|frame t+1 - frame t| summed over colour channels: (T, C, H, W) -> (T - 1, H, W).

    Zero wherever nothing changes; bright at the leading and trailing edges of whatever moves.
    Integer frames (uint8 images) are compared as floats, so a darker pixel does not wrap around.
    """
    if not torch.is_tensor(video) or video.ndim != 4 or len(video) < 2:
        raise ValueError(f"video must be a (T >= 2, C, H, W) tensor, got "
                         f"{tuple(video.shape) if torch.is_tensor(video) else type(video).__name__}")
    video = checks.tensor(video, "video", dtype="number")
    if not video.is_floating_point():
        video = video.float()
    return (video[1:] - video[:-1]).abs().sum(dim=1)


def _bounce(v: float, lo: float, hi: float) -> float:
    """Fold ``v`` into [lo, hi] like a ball reflected by two walls (a triangle wave)."""
    span = hi - lo
    u = (v - lo) % (2 * span)
    return lo + (u if u <= span else 2 * span - u)


def move(scene: Scene, dx: float = 0.0, dy: float = 0.0, index: int = 0) -> Scene:
    """The same scene with object ``index`` shifted by (dx, dy) canvas units.

    An object that would leave the canvas bounces off its edge (it is reflected back
    inside), so it stays whole on the canvas *and* keeps moving: ``move(s, dx=d)`` and
    ``move(s, dx=d + step)`` are different frames of a video even near an edge. (Clipping
    at the edge froze it there: two frames came out identical.) The other objects stay
    put; the moved one may pass over them.
    """
    scene = check_scene(scene, min_objects=1)
    dx, dy = checks.number(dx, "dx"), checks.number(dy, "dy")
    index = checks.integer(index, "index")
    if not -len(scene) <= index < len(scene):
        raise IndexError(f"index {index} is out of range for a scene of {len(scene)} objects")
    o = scene[index]
    e = o.extent
    x, y = _bounce(o.x + dx, e, 1 - e), _bounce(o.y + dy, e, 1 - e)
    moved = Obj(o.shape, o.colour, o.size, x, y)
    index %= len(scene)
    return tuple(moved if i == index else p for i, p in enumerate(scene))


def biased(scenes, shape: str = "circle", colour: str = "red", share: float = 0.9, seed: int = 0) -> list[Scene]:
    """A biased world for language-prior experiments: each object of ``shape`` is repainted
    ``colour`` with probability ``share`` (drawn from ``seed``), so that most circles are red;
    everything else, positions included, stays as it was."""
    scenes = check_scenes(scenes)
    _check_choice("shape", shape, SHAPES)
    _check_choice("colour", colour, tuple(COLOURS))
    share = checks.number(share, "share", low=0.0, high=1.0)
    rng = np.random.default_rng(checks.seed(seed))
    out = []
    for s in scenes:
        out.append(tuple(Obj(o.shape, colour, o.size, o.x, o.y) if o.shape == shape and rng.random() < share else o
                         for o in s))
    return out
