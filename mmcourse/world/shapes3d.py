"""3D objects of the procedural world, and the ways to represent them.

An object is a set of labelled parts; each part is a primitive with a signed distance
function (negative inside). From the SDF (the implicit shape) everything else follows:
voxels (SDF <= 0 on a grid), a triangle mesh (marching cubes), a point cloud (points
sampled on the mesh, area-weighted), and multi-view images with depth (sphere tracing).
Coordinates: z is up; objects fit in the cube [-1, 1]^3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import checks

PRIMITIVES = ("sphere", "cube", "cylinder", "cone", "torus")
MAX_GRID = 256  # voxels a side: 256**3 points x 3 floats = 192 MiB
MAX_VIEW_RESOLUTION = 1024  # pixels a side of a rendered view
MAX_STEPS = 4096  # sphere-tracing steps
MAX_POINTS = 10_000_000  # points of one point cloud
MAX_SIZE = 1000.0  # sizes and centres of parts (objects fit in [-1, 1]^3; float32 squares stay finite)
MIN_SIZE = 1e-6  # smaller sizes divide float32 distances into inf (the cone's slope)


def _length(p: torch.Tensor, dim=-1) -> torch.Tensor:
    return torch.linalg.vector_norm(p, dim=dim)


# The public sdf_* check their arguments; the private _sdf_* (what Part.sdf calls inside the
# sphere tracer's loop) do not, so a render pays for the checks once, not at every step.
def _sdf_sphere(p, r=0.8):
    return _length(p) - r


def _sdf_box(p, half=(0.65, 0.65, 0.65)):
    q = p.abs() - torch.tensor(half, dtype=p.dtype, device=p.device)
    return _length(q.clamp(min=0)) + q.max(dim=-1).values.clamp(max=0)


def _sdf_cylinder(p, r=0.6, h=0.75):  # axis z, half-height h
    d = torch.stack([_length(p[..., :2]) - r, p[..., 2].abs() - h], dim=-1)
    return _length(d.clamp(min=0)) + d.max(dim=-1).values.clamp(max=0)


def _sdf_cone(p, r=0.7, h=0.8):  # base radius r at z=-h, apex at z=+h
    q = _length(p[..., :2])
    z = p[..., 2]
    side = (q - r * (h - z) / (2 * h)) * (2 * h) / math.hypot(2 * h, r)
    return torch.maximum(side, torch.maximum(-z - h, z - h))


def _sdf_torus(p, R=0.6, r=0.22):  # ring in the xy-plane
    q = torch.stack([_length(p[..., :2]) - R, p[..., 2]], dim=-1)
    return _length(q) - r


_SDF = {"sphere": _sdf_sphere, "cube": _sdf_box, "cylinder": _sdf_cylinder, "cone": _sdf_cone, "torus": _sdf_torus}
_PARAMS = {"sphere": ("r",), "cube": ("half",), "cylinder": ("r", "h"), "cone": ("r", "h"), "torus": ("R", "r")}


def _check_points(p, name: str = "p") -> torch.Tensor:
    """Points (..., 3): a finite floating-point tensor (numpy arrays are converted)."""
    p = checks.tensor(p, name, dtype="float", min_ndim=1)
    if p.shape[-1] != 3:
        raise ValueError(f"{name} must be points (..., 3), got shape {tuple(p.shape)}")
    return p


def _check_param(value, name: str, label: str | None = None):
    """A size of a primitive: a positive finite number; ``half`` (a box's): three of them.
    ``label`` is how messages call it (default: ``name``)."""
    label = label or name
    if name == "half":
        half = checks.items(value, label)
        if len(half) != 3:
            raise ValueError(f"{label} must be three half-sizes (x, y, z), got {value!r}")
        return tuple(checks.number(v, f"{label}[{i}]", low=MIN_SIZE, high=MAX_SIZE) for i, v in enumerate(half))
    if name == "R":  # a torus's ring radius may be 0 (a sphere-like spindle)
        return checks.number(value, label, low=0, high=MAX_SIZE)
    return checks.number(value, label, low=MIN_SIZE, high=MAX_SIZE)


def sdf_sphere(p, r=0.8):
    return _sdf_sphere(_check_points(p), _check_param(r, "r"))


def sdf_box(p, half=(0.65, 0.65, 0.65)):
    return _sdf_box(_check_points(p), _check_param(half, "half"))


def sdf_cylinder(p, r=0.6, h=0.75):  # axis z, half-height h
    return _sdf_cylinder(_check_points(p), _check_param(r, "r"), _check_param(h, "h"))


def sdf_cone(p, r=0.7, h=0.8):  # base radius r at z=-h, apex at z=+h
    return _sdf_cone(_check_points(p), _check_param(r, "r"), _check_param(h, "h"))


def sdf_torus(p, R=0.6, r=0.22):  # ring in the xy-plane
    return _sdf_torus(_check_points(p), _check_param(R, "R"), _check_param(r, "r"))


@dataclass(frozen=True)
class Part:
    label: str
    primitive: str
    center: tuple = (0.0, 0.0, 0.0)
    params: tuple = ()  # positional parameters of the primitive's sdf (radius, half sizes, ...)

    def __post_init__(self):
        checks.text(self.label, "label")
        checks.choice(self.primitive, "primitive", PRIMITIVES)
        center = checks.items(self.center, "center")
        if len(center) != 3:
            raise ValueError(f"center must be (x, y, z), got {self.center!r}")
        for i, v in enumerate(center):
            checks.number(v, f"center[{i}]", low=-MAX_SIZE, high=MAX_SIZE)
        params, names = checks.items(self.params, "params"), _PARAMS[self.primitive]
        if len(params) > len(names):
            raise ValueError(f"params of a {self.primitive} are ({', '.join(names)}), got {len(params)} values")
        for i, (v, name) in enumerate(zip(params, names)):
            _check_param(v, name, f"params[{i}] (the {self.primitive} primitive's {name})")
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "params", params)

    def sdf(self, p: torch.Tensor) -> torch.Tensor:
        return self._sdf(_check_points(p))

    def _sdf(self, p: torch.Tensor) -> torch.Tensor:
        c = torch.tensor(self.center, dtype=p.dtype, device=p.device)
        return _SDF[self.primitive](p - c, *self.params)


@dataclass(frozen=True)
class Shape3D:
    name: str
    parts: tuple

    def __post_init__(self):
        checks.text(self.name, "name")
        object.__setattr__(self, "parts", checks.items(self.parts, "parts", Part, nonempty=True))

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(p.label for p in self.parts))

    def part_sdf(self, p: torch.Tensor) -> torch.Tensor:
        """(..., n_parts) distance to every part."""
        return self._part_sdf(_check_points(p))

    def sdf(self, p: torch.Tensor) -> torch.Tensor:
        """Signed distance of the whole object (union of parts = min)."""
        return self._sdf(_check_points(p))

    def part_label(self, p: torch.Tensor) -> torch.Tensor:
        """Index into ``labels`` of the nearest part at each point."""
        return self._part_label(_check_points(p))

    # unchecked versions for the loops inside this module
    def _part_sdf(self, p: torch.Tensor) -> torch.Tensor:
        return torch.stack([part._sdf(p) for part in self.parts], dim=-1)

    def _sdf(self, p: torch.Tensor) -> torch.Tensor:
        return self._part_sdf(p).min(dim=-1).values

    def _part_label(self, p: torch.Tensor) -> torch.Tensor:
        nearest = self._part_sdf(p).argmin(dim=-1)
        lookup = torch.tensor([self.labels.index(part.label) for part in self.parts], device=p.device)
        return lookup[nearest]


def primitive(name: str) -> Shape3D:
    checks.choice(name, "primitive name", PRIMITIVES)
    return Shape3D(name, (Part(name, name),))


def table() -> Shape3D:
    """A table: a box top and four cylinder legs (two part labels, as in PartNet)."""
    legs = tuple(Part("leg", "cylinder", (sx * 0.55, sy * 0.35, -0.3), (0.08, 0.45))
                 for sx in (-1, 1) for sy in (-1, 1))
    return Shape3D("table", (Part("top", "cube", (0, 0, 0.22), ((0.75, 0.5, 0.08),)),) + legs)


def lamp() -> Shape3D:
    """A lamp: a flat base, a thin stem, a conical shade."""
    return Shape3D("lamp", (Part("base", "cylinder", (0, 0, -0.8), (0.45, 0.07)),
                            Part("stem", "cylinder", (0, 0, -0.2), (0.06, 0.55)),
                            Part("shade", "cone", (0, 0, 0.5), (0.55, 0.35))))


def chair() -> Shape3D:
    """A chair: a box seat, a box back rest and four cylinder legs (seat, back, leg)."""
    legs = tuple(Part("leg", "cylinder", (sx * 0.42, sy * 0.42, -0.5), (0.06, 0.4)) for sx in (-1, 1) for sy in (-1, 1))
    return Shape3D("chair", (Part("seat", "cube", (0, 0, -0.05), ((0.5, 0.5, 0.07),)),
                             Part("back", "cube", (0, 0.43, 0.45), ((0.5, 0.07, 0.43),))) + legs)


def stool() -> Shape3D:
    """A stool: a round seat on three legs (seat, leg) - a chair's and a table's near relative."""
    legs = tuple(Part("leg", "cylinder", (0.35 * math.cos(a), 0.35 * math.sin(a), -0.35), (0.06, 0.5))
                 for a in (0.0, 2 * math.pi / 3, 4 * math.pi / 3))
    return Shape3D("stool", (Part("seat", "cylinder", (0, 0, 0.2), (0.5, 0.08)),) + legs)


COMPOSITES = {"table": table, "lamp": lamp, "chair": chair, "stool": stool}


def get_shape(name: str) -> Shape3D:
    checks.choice(name, "3D object name", (*PRIMITIVES, *COMPOSITES))
    if name in COMPOSITES:
        return COMPOSITES[name]()
    return primitive(name)


@dataclass(frozen=True)
class PosedShape3D(Shape3D):
    """A shape stretched along its own axes by ``stretch`` (three factors: new proportions of the
    same kind of object), rotated by ``rotation`` (a 3 x 3 rotation matrix, rows as tuples) and
    scaled by ``scale`` about the origin: its distance at p is
    scale * min(stretch) * sdf(stretch^-1 R^T p / scale) - exact for a uniform stretch, otherwise
    never more than the true distance (the surface, the inside and every representation are
    exact; sphere tracing only takes shorter steps). Everything that takes a Shape3D (voxelize, mesh, point_cloud,
    render_views) takes it."""
    rotation: tuple = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    scale: float = 1.0
    stretch: tuple = (1.0, 1.0, 1.0)

    def __post_init__(self):
        super().__post_init__()
        r = torch.tensor(checks.items(self.rotation, "rotation"), dtype=torch.float64) \
            if all(isinstance(row, (tuple, list)) and len(row) == 3 for row in self.rotation) else None
        if r is None or r.shape != (3, 3) or not torch.isfinite(r).all():
            raise ValueError(f"rotation must be a 3 x 3 matrix given as three rows of three numbers, got {self.rotation!r}")
        if (r @ r.T - torch.eye(3, dtype=torch.float64)).abs().max() > 1e-5 or torch.linalg.det(r) < 0:
            raise ValueError("rotation must be a proper rotation matrix (orthonormal rows, determinant +1)")
        object.__setattr__(self, "rotation", tuple(tuple(map(float, row)) for row in r.tolist()))
        object.__setattr__(self, "scale", checks.number(self.scale, "scale", low=0.05, high=10.0))
        stretch = checks.items(self.stretch, "stretch")
        if len(stretch) != 3:
            raise ValueError(f"stretch must be three factors (x, y, z), got {self.stretch!r}")
        object.__setattr__(self, "stretch", tuple(checks.number(v, f"stretch[{i}]", low=0.1, high=10.0)
                                                  for i, v in enumerate(stretch)))

    def _part_sdf(self, p: torch.Tensor) -> torch.Tensor:
        r = torch.tensor(self.rotation, dtype=p.dtype, device=p.device)
        k = torch.tensor(self.stretch, dtype=p.dtype, device=p.device)
        q = (p @ r) / (self.scale * k)                                  # p @ r = (R^T p) for row vectors
        return super()._part_sdf(q) * (self.scale * min(self.stretch))


ROTATIONS = ("none", "z", "so3")


def random_pose(shape: Shape3D, seed: int = 0, rotation: str = "z", scale=(0.7, 1.0), stretch=None) -> PosedShape3D:
    """``shape`` at a random pose: rotated about the vertical axis ("z", upright objects as in
    ModelNet's usual augmentation), by a uniformly random rotation ("so3") or not at all
    ("none"), and scaled by a factor drawn uniformly from ``scale``; with ``stretch`` = (low,
    high), each of its own axes is also stretched by a factor drawn from that range (new
    proportions: a longer table, a flatter lamp). Deterministic from ``seed``. A PosedShape3D is
    posed afresh from its parts (its earlier pose is dropped, not composed)."""
    checks.instance(shape, "shape", Shape3D)
    checks.choice(rotation, "rotation", ROTATIONS)
    seed = checks.seed(seed)
    lo, hi = checks.number_range(scale, "scale", low=0.05, high=10.0)
    if stretch is not None:
        stretch = checks.number_range(stretch, "stretch", low=0.1, high=10.0)
    rng = np.random.Generator(np.random.PCG64(seed))
    if rotation == "z":
        a = rng.uniform(0, 2 * math.pi)
        r = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    elif rotation == "so3":
        q, rr = np.linalg.qr(rng.standard_normal((3, 3)))
        r = q * np.sign(np.diag(rr))                    # Haar-uniform orthogonal matrix
        if np.linalg.det(r) < 0:
            r[:, 0] = -r[:, 0]
    else:
        r = np.eye(3)
    base = Shape3D(shape.name, shape.parts)
    size = float(rng.uniform(lo, hi))
    factors = (1.0, 1.0, 1.0) if stretch is None else tuple(float(v) for v in rng.uniform(*stretch, size=3))
    return PosedShape3D(base.name, base.parts, tuple(map(tuple, r.tolist())), size, factors)


def grid(resolution: int, device=None) -> torch.Tensor:
    """(R, R, R, 3) voxel centres spanning [-1, 1]^3, indexed [x, y, z]."""
    resolution = checks.integer(resolution, "resolution", low=4, high=MAX_GRID)
    device = checks.device(device)
    axis = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution * 2 - 1
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)


def voxelize(shape: Shape3D, resolution: int = 32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Occupancy (R, R, R) bool and part label per voxel (R, R, R) long (-1 outside)."""
    checks.instance(shape, "shape", Shape3D)
    g = grid(resolution, device)
    occ = shape._sdf(g) <= 0
    labels = torch.where(occ, shape._part_label(g), torch.full_like(occ, -1, dtype=torch.long))
    return occ, labels


def grid_mesh(values, level: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes (scikit-image) on a grid of ``values`` (R, R, R) sampled at the voxel
    centres of [-1, 1]^3 (``grid``'s layout): the surface where values == ``level`` as vertices
    (V, 3) in world units and triangles (F, 3). An SDF's surface is level 0; an occupancy
    grid's (or a network's occupancy probabilities') is level 0.5."""
    from skimage.measure import marching_cubes

    values = checks.tensor(values, "values", dtype="number", ndim=3)
    if len(set(values.shape)) != 1 or values.shape[0] < 2:
        raise ValueError(f"values must be a cubic grid (R, R, R) with R >= 2, got {tuple(values.shape)}")
    level = checks.number(level, "level")
    values = (values if values.is_floating_point() else values.float()).detach().cpu().numpy()
    if not values.min() < level < values.max():
        raise ValueError(f"level {level} is not strictly between the grid's smallest and largest values "
                         f"({values.min():.3g}, {values.max():.3g}): there is no surface to extract")
    step = 2.0 / values.shape[0]
    verts, faces, _, _ = marching_cubes(values, level=level, spacing=(step,) * 3)
    return (verts - 1 + step / 2).astype(np.float32), faces.astype(np.int64)


def mesh(shape: Shape3D, resolution: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of the surface by marching cubes: vertices (V, 3) and faces (F, 3)."""
    checks.instance(shape, "shape", Shape3D)
    return grid_mesh(shape._sdf(grid(resolution)), 0.0)


def _faces(faces) -> np.ndarray:
    """Triangles (F, 3) as int64 vertex indices: non-empty, whole, non-negative numbers."""
    f = np.asarray(checks.tensor(faces, "faces", dtype="number", ndim=2))
    if f.shape[1:] != (3,) or len(f) == 0:
        raise ValueError(f"faces must be non-empty (F, 3) vertex indices, got shape {f.shape}")
    if (f < 0).any() or f.max() >= 2 ** 53 or not np.array_equal(f, np.floor(f)):
        raise ValueError("faces must hold vertex indices: whole numbers from 0 up")
    return f.astype(np.int64)


def mesh_edges(faces) -> np.ndarray:
    """The mesh as a graph: its undirected edges (E, 2), each once (smaller vertex index first),
    from the triangles (F, 3). A closed surface with no holes has V - E + F = 2 (Euler)."""
    faces = _faces(faces)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def sample_surface(verts, faces, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points (n, 3) uniformly on a triangle mesh: triangles picked in proportion to their
    area, then a uniform point inside each (two barycentric coordinates, folded into the triangle)."""
    verts = np.asarray(checks.tensor(verts, "verts", dtype="float", ndim=2))
    faces = _faces(faces)
    if verts.shape[1:] != (3,):
        raise ValueError(f"verts must be (V, 3) vertex positions, got shape {verts.shape}")
    if faces.max() >= len(verts):
        raise ValueError(f"faces index vertices up to {faces.max()}, but verts holds only {len(verts)} vertices")
    n = checks.integer(n, "n", low=1, high=MAX_POINTS)
    seed = checks.seed(seed)
    tri = verts[faces]  # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise ValueError("the mesh has no area (all its triangles are degenerate): no surface to sample")
    rng = np.random.Generator(np.random.PCG64(seed))
    pick = rng.choice(len(faces), size=n, p=area / area.sum())
    u, v = rng.random((2, n, 1))
    flip = (u + v) > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[pick]
    return torch.from_numpy((t[:, 0] + u * (t[:, 1] - t[:, 0]) + v * (t[:, 2] - t[:, 0])).astype(np.float32))


def point_cloud(shape: Shape3D, n: int = 1024, seed: int = 0, resolution: int = 48):
    """``n`` points sampled uniformly on the surface (area-weighted), with part labels."""
    checks.instance(shape, "shape", Shape3D)
    n = checks.integer(n, "n", low=1, high=MAX_POINTS)
    pts = sample_surface(*mesh(shape, resolution), n, seed)
    return pts, shape._part_label(pts)


def _camera(azimuth: float, elevation: float):
    a, e = math.radians(azimuth), math.radians(elevation)
    forward = -torch.tensor([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    right = torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0]))
    right = right / right.norm()
    up = torch.linalg.cross(right, forward)
    return forward, right, up


def _sphere_trace(shape: Shape3D, origin: torch.Tensor, direction: torch.Tensor, steps: int, far: float):
    """March rays origin + dist * direction (unit directions; origin and direction broadcast to
    (H, W, 3)) to the surface: (dist (H, W), surface point p (H, W, 3), hit (bool: on the surface
    and nearer than ``far``), unit normal from central differences of the SDF)."""
    dist = torch.zeros(torch.broadcast_shapes(origin.shape, direction.shape)[:-1], device=origin.device)
    for _ in range(steps):
        d = shape._sdf(origin + dist[..., None] * direction)
        dist = dist + d.clamp(min=0) * 0.9 + (d < 0) * d  # step back when slightly inside
    p = origin + dist[..., None] * direction
    hit = (shape._sdf(p).abs() < 2e-2) & (dist < far)
    eps = 1e-3
    normal = torch.stack([shape._sdf(p + eps * e) - shape._sdf(p - eps * e)
                          for e in torch.eye(3, device=origin.device)], dim=-1)
    return dist, p, hit, normal / normal.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def render_views(shape: Shape3D, azimuths=(30, 120, 210, 300), elevation: float = 25.0,
                 resolution: int = 64, steps: int = 64, device=None) -> dict:
    """Orthographic sphere-traced views. Returns dict of (V, H, W) tensors:
    "shade" (Lambert shading in [0, 1], 0 = background), "depth" (distance along the ray,
    inf on background), "hit" (bool) and "part" (part label index, -1 on background)."""
    checks.instance(shape, "shape", Shape3D)
    return _render_orthographic(shape, *_view_args(azimuths, elevation, resolution, steps, device))


def _view_args(azimuths, elevation, resolution, steps, device) -> tuple:
    """render_views' camera arguments, checked."""
    azimuths = [checks.number(a, f"azimuths[{i}]") for i, a in enumerate(checks.items(azimuths, "azimuths",
                                                                                        nonempty=True))]
    elevation = checks.number(elevation, "elevation")
    if not -90 < elevation < 90:  # at +-90 degrees the camera looks along z and has no "right"
        raise ValueError(f"elevation must be strictly between -90 and 90 degrees, got {elevation}")
    resolution = checks.integer(resolution, "resolution", low=1, high=MAX_VIEW_RESOLUTION)
    steps = checks.integer(steps, "steps", low=1, high=MAX_STEPS)
    return azimuths, elevation, resolution, steps, checks.device(device)


def _render_orthographic(shape, azimuths, elevation, resolution, steps, device, batch: int | None = None) -> dict:
    """render_views without the checks; ``batch``: ``shape`` is a _PosedBatch of that many poses
    and every tensor gets a leading batch axis."""
    out = {"shade": [], "depth": [], "hit": [], "part": []}
    px = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) / resolution * 2 - 1
    yy, xx = torch.meshgrid(-px, px, indexing="ij")  # image row 0 at the top
    for az in azimuths:
        f, r, u = (t.to(device) for t in _camera(az, elevation))
        origin = -3 * f + 1.25 * (xx[..., None] * r + yy[..., None] * u)  # (H, W, 3)
        if batch is not None:
            origin = origin.expand(batch, *origin.shape)                  # (B, H, W, 3)
        t, p, hit, normal = _sphere_trace(shape, origin, f, steps, far=6)
        light = -f + 0.6 * u + 0.3 * r
        light = light / light.norm()
        shade = (0.2 + 0.8 * (normal @ light).clamp(min=0)) * hit
        out["shade"].append(shade)
        out["depth"].append(torch.where(hit, t, torch.full_like(t, math.inf)))
        out["hit"].append(hit)
        out["part"].append(torch.where(hit, shape._part_label(p), torch.full_like(t, -1, dtype=torch.long)))
    return {k: torch.stack(v, dim=0 if batch is None else 1) for k, v in out.items()}


def render_pinhole(shape: Shape3D, K, R, t, width: int = 64, height: int = 64, steps: int = 96,
                   device=None) -> dict:
    """The shape seen by a pinhole camera (``mmcourse.geometry`` conventions: x_cam = R X + t,
    pixels K x_cam / z), sphere-traced. Returns (height, width) tensors: "shade" (Lambert, 0 on
    background), "depth" (z in the camera frame - what a depth sensor reports - inf on
    background), "hit" (bool) and "part" (part label index, -1 on background). Pixel (row i,
    column j) is the ray through the pixel's centre (j + 0.5, i + 0.5), so ``geometry.project``
    of a hit point returns that centre."""
    checks.instance(shape, "shape", Shape3D)
    K = checks.tensor(K, "K", dtype="number", ndim=2)
    R = checks.tensor(R, "R", dtype="number", ndim=2)
    t = checks.tensor(t, "t", dtype="number", ndim=1)
    if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,):
        raise ValueError(f"K and R must be 3 x 3 and t a 3-vector, got {tuple(K.shape)}, {tuple(R.shape)}, {tuple(t.shape)}")
    if torch.linalg.matrix_rank(K.double()) < 3:
        raise ValueError("K is singular: it is no camera's intrinsic matrix")
    if (R.double() @ R.double().T - torch.eye(3, dtype=torch.float64)).abs().max() > 1e-4:
        raise ValueError("R must be a rotation matrix (orthonormal rows)")
    width = checks.integer(width, "width", low=1, high=MAX_VIEW_RESOLUTION)
    height = checks.integer(height, "height", low=1, high=MAX_VIEW_RESOLUTION)
    steps = checks.integer(steps, "steps", low=1, high=MAX_STEPS)
    device = checks.device(device)
    K, R, t = K.double(), R.double(), t.double()
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                          torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    rays = torch.stack([u, v, torch.ones_like(u)], -1) @ torch.linalg.inv(K).T       # (H, W, 3) camera frame
    rays = rays / rays.norm(dim=-1, keepdim=True)
    cos_axis = rays[..., 2].float().to(device)                                        # z per unit of ray length
    direction = (rays @ R).float().to(device)                                         # R^T ray: world frame
    origin = (-R.T @ t).float().to(device)                                            # the camera centre
    dist, p, hit, normal = _sphere_trace(shape, origin, direction, steps, far=100)
    light = -direction.mean(dim=(0, 1)) + torch.tensor([0.0, 0.0, 0.6], device=device)
    shade = torch.where(hit, 0.2 + 0.8 * (normal @ (light / light.norm())).clamp(min=0), torch.zeros_like(dist))
    depth = torch.where(hit, dist * cos_axis, torch.full_like(dist, math.inf))     # (rays that miss run far: NaN normals)
    part = torch.where(hit, shape._part_label(p), torch.full_like(dist, -1, dtype=torch.long))
    return {"shade": shade, "depth": depth, "hit": hit, "part": part}


# ------------------------------------------------------------------ many poses at once
# A data set of posed objects renders and samples one object at a time slowly (a few hundred
# small tensor operations each). Objects of one kind differ only in their pose, so the *_many
# functions evaluate a batch of poses of one shape in one pass: the same numbers as one
# PosedShape3D at a time (tested), about 3 (views) to 5 (points) times faster on 2 CPU cores
# (benchmarks/bench_shapes3d.py). (voxelize is
# not batched: one 32^3 grid per pass was fastest, measured on 2 CPU cores.)
class _PosedBatch:
    """Poses (rotation R, scale s) of one shape; points (B, ..., 3), one pose per leading index."""

    def __init__(self, shapes: list, device):
        first = shapes[0]
        self.base = Shape3D(first.name, first.parts)
        eye = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
        self.rotation = torch.tensor([getattr(x, "rotation", eye) for x in shapes], device=device)
        self.scale = torch.tensor([float(getattr(x, "scale", 1.0)) for x in shapes], device=device)
        self.stretch = torch.tensor([getattr(x, "stretch", (1.0, 1.0, 1.0)) for x in shapes], device=device)

    def _to_base(self, p):
        b = p.shape[0]
        size = (self.scale[:, None] * self.stretch).to(p.dtype)     # (B, 3)
        q = torch.bmm(p.reshape(b, -1, 3), self.rotation.to(p.dtype)) / size[:, None, :]
        return q.reshape(p.shape)                                  # stretch^-1 R^T p / s, as PosedShape3D

    def _part_sdf(self, p):
        factor = (self.scale * self.stretch.min(dim=1).values).to(p.dtype)
        return self.base._part_sdf(self._to_base(p)) * factor.view(-1, *[1] * (p.ndim - 1))

    def _sdf(self, p):
        return self._part_sdf(p).min(dim=-1).values

    def _part_label(self, p):
        return self.base._part_label(self._to_base(p))


def _groups(shapes, batch: int):
    """Index lists of ``shapes`` (a non-empty list of Shape3D) that share name and parts, in
    chunks of at most ``batch``."""
    shapes = checks.items(shapes, "shapes", Shape3D, nonempty=True)
    batch = checks.integer(batch, "batch", low=1, high=100_000)
    kinds: dict = {}
    for i, x in enumerate(shapes):
        kinds.setdefault((x.name, x.parts), []).append(i)
    for idx in kinds.values():
        for k in range(0, len(idx), batch):
            yield shapes, idx[k:k + batch]


def render_views_many(shapes, azimuths=(30, 120, 210, 300), elevation: float = 25.0, resolution: int = 64,
                      steps: int = 64, device=None, batch: int = 32) -> dict:
    """``render_views`` for a list of shapes: a dict of (N, V, H, W) tensors."""
    args = _view_args(azimuths, elevation, resolution, steps, device)
    device = args[-1]
    out = {}
    for shapes, idx in _groups(shapes, batch):
        r = _render_orthographic(_PosedBatch([shapes[i] for i in idx], device), *args, batch=len(idx))
        for k, v in r.items():
            if k not in out:
                out[k] = torch.zeros((len(shapes),) + v.shape[1:], dtype=v.dtype, device=v.device)
            out[k][idx] = v
    return out


def point_clouds_many(shapes, n: int = 1024, seed: int = 0, resolution: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Point clouds (N, n, 3) with part labels (N, n) for a list of shapes: shape i's unposed
    mesh (marching cubes at ``resolution``, made once per kind of shape) sampled with seed
    ``seed + i`` (``sample_surface``), then stretched, rotated and scaled to its pose. (A stretch
    makes the density a little uneven: by at most the ratio of its largest to smallest factor.)"""
    n = checks.integer(n, "n", low=1, high=MAX_POINTS)
    seed = checks.seed(seed)
    pts = labels = None
    for shapes, idx in _groups(shapes, 10 ** 5):
        posed = _PosedBatch([shapes[i] for i in idx], None)
        verts, faces = mesh(posed.base, resolution)
        base = torch.stack([sample_surface(verts, faces, n, seed + i) for i in idx])        # (B, n, 3)
        if pts is None:
            pts = torch.zeros(len(shapes), n, 3)
            labels = torch.zeros(len(shapes), n, dtype=torch.long)
        pts[idx] = torch.bmm(base * posed.stretch[:, None, :], posed.rotation.transpose(1, 2)) * posed.scale[:, None, None]
        labels[idx] = posed.base._part_label(base)
    return pts, labels
