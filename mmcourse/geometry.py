"""Cameras and two-view geometry for notebook 08: a pinhole camera projects 3D points; two
calibrated views triangulate them back.

Conventions (OpenCV's): a camera's frame has x to the right, y down and z forward (the
viewing direction); a world point X goes to the camera frame as ``R @ X + t``; pixels are
``K @ (x / z)``. Camera matrices P = K [R | t] are (3, 4) float64 tensors.

intrinsics         K from a focal length in pixels and the image size (principal point at the centre)
look_at            R, t of a camera at ``eye`` looking at ``target`` (``up`` points up in the picture)
camera_matrix      P = K [R | t]
project            world points (N, 3) -> pixels (N, 2) and depths (N,)
triangulate        two views' pixels of the same points -> world points (linear DLT, Hartley & Zisserman 12.2)
reprojection_error pixel distance between points projected by P and the pixels observed
backproject        a depth map (z per pixel) -> the world points it saw
random_rotations   Haar-uniform random 3 x 3 rotations (augmentation: an object at any pose)
blur_radius        a thin lens's blur (circle of confusion) for points at depth z, focused at another depth
refocus            a picture with its depth map, refocused: the blur of each pixel grows with its
                   distance from the focal plane (in inverse depth)
"""
from __future__ import annotations

import math

import torch

from . import checks

MAX_POINTS = 10_000_000  # points in one call


def _points(x, name: str, dim: int) -> torch.Tensor:
    """(N, dim) finite float tensor, N >= 1, returned as float64."""
    x = checks.tensor(x, name, dtype="number", ndim=2, convert=torch.float64)
    if x.shape[1] != dim or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N, {dim}) tensor, got shape {tuple(x.shape)}")
    if x.shape[0] > MAX_POINTS:
        raise ValueError(f"{name} holds {x.shape[0]} points, more than MAX_POINTS = {MAX_POINTS}")
    return x.double()


def _vector(v, name: str) -> torch.Tensor:
    v = checks.tensor(v, name, dtype="number", ndim=1, convert=torch.float64)
    if v.shape != (3,):
        raise ValueError(f"{name} must be a 3-vector, got shape {tuple(v.shape)}")
    return v.double()


def _unit(v: torch.Tensor) -> torch.Tensor:
    """v / |v| without overflow or underflow in |v| (v scaled to a largest entry of 1 first); v != 0."""
    v = v / v.abs().max()
    return v / v.norm()


def _camera(P, name: str = "P", normalise: bool = True) -> torch.Tensor:
    """A (3, 4) float64 camera matrix with a non-singular left 3 x 3 block; ``normalise``: scaled
    by a power of two (exactly) to a largest entry in [0.5, 1) - the same camera, as P and c P
    project alike - so that nothing computed from it overflows or underflows however P was scaled."""
    P = checks.tensor(P, name, dtype="number", ndim=2, convert=torch.float64)
    if P.shape != (3, 4):
        raise ValueError(f"{name} must be a (3, 4) camera matrix K [R | t], got shape {tuple(P.shape)}")
    P = P.double()
    scaled = torch.ldexp(P, -torch.frexp(P.abs().max())[1]) if P.abs().max() > 0 else P  # exact: by a power of 2
    if torch.linalg.matrix_rank(scaled[:, :3]) < 3:
        raise ValueError(f"{name} is degenerate: its left 3 x 3 block (K R) is singular, so it is no pinhole camera")
    return scaled if normalise else P


def intrinsics(focal: float, width: int, height: int) -> torch.Tensor:
    """K = [[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]] (float64): square pixels, no skew."""
    focal = checks.number(focal, "focal", low=0, low_open=True, high=1e7)
    width = checks.integer(width, "width", low=1, high=100_000)
    height = checks.integer(height, "height", low=1, high=100_000)
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation R (3, 3) and translation t (3,) of a camera at ``eye`` looking at ``target``,
    with ``up`` (world z by default) pointing up in its picture. Refuses eye == target and an
    ``up`` parallel to the viewing direction (the camera's roll would be undefined)."""
    eye, target, up = _vector(eye, "eye"), _vector(target, "target"), _vector(up, "up")
    forward = target - eye
    if not torch.isfinite(forward).all():
        raise ValueError("target - eye overflows float64: eye and target are too far apart")
    if forward.abs().max() < 1e-9:
        raise ValueError("eye and target are the same point: the camera has no viewing direction")
    forward = _unit(forward)
    right = torch.linalg.cross(forward, _unit(up)) if up.abs().max() > 0 else up
    if right.norm() < 1e-9:
        raise ValueError("up is parallel to the viewing direction target - eye (or zero): the camera's roll is "
                         "undefined; give another up vector")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    R = torch.stack([right, down, forward])                     # rows: the camera's x, y, z axes in world coordinates
    t = -R @ eye
    if not torch.isfinite(t).all():
        raise ValueError("eye is too far from the origin: the translation -R @ eye overflows float64")
    return R, t


def camera_matrix(K, R, t) -> torch.Tensor:
    """P = K [R | t], (3, 4) float64."""
    K = checks.tensor(K, "K", dtype="number", ndim=2, convert=torch.float64)
    R = checks.tensor(R, "R", dtype="number", ndim=2, convert=torch.float64)
    if K.shape != (3, 3) or R.shape != (3, 3):
        raise ValueError(f"K and R must be 3 x 3, got {tuple(K.shape)} and {tuple(R.shape)}")
    t = _vector(t, "t")
    return _camera(K.double() @ torch.cat([R.double(), t[:, None]], 1), "K [R | t]", normalise=False)


def project(P, X) -> tuple[torch.Tensor, torch.Tensor]:
    """World points X (N, 3) -> pixels (N, 2) and depths (N,): the distance in front of the
    camera along its viewing axis (Hartley & Zisserman 6.2.3), the z of R X + t for
    P = K [R | t]; P and c P (any c != 0, negative too) are the same camera and give the same
    depths. Points at or behind the camera (depth <= 0) have no pixel: refused."""
    P, X = _camera(P), _points(X, "X", 3)
    h = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1) @ P.T        # (N, 3) homogeneous pixels
    if not torch.isfinite(h).all():
        raise ValueError("P @ X overflows float64: the points X (or the entries of P) are too large")
    M = P[:, :3]
    depth = h[:, 2] * torch.linalg.det(M).sign() / M[2].norm()              # H&Z (6.15): P's scale and sign cancel
    if (depth <= 1e-12).any():
        raise ValueError(f"{int((depth <= 1e-12).sum())} of the points X are at or behind the camera P (depth <= 0): "
                         f"they do not project")
    return h[:, :2] / h[:, 2:], depth


def triangulate(P1, P2, x1, x2) -> torch.Tensor:
    """The world points (N, 3) seen at pixels x1 (N, 2) by camera P1 and x2 (N, 2) by P2: for
    each point, the linear (DLT) solution - the right singular vector of the 4 x 4 system
    x cross (P X) = 0 of both views with the smallest singular value."""
    P1, P2 = _camera(P1, "P1"), _camera(P2, "P2")
    x1, x2 = _points(x1, "x1", 2), _points(x2, "x2", 2)
    if len(x1) != len(x2):
        raise ValueError(f"x1 and x2 must hold the same points: {len(x1)} and {len(x2)} rows")
    centre1, centre2 = (torch.linalg.svd(P)[2][-1] for P in (P1, P2))   # camera centres: the null vectors of P
    if (centre1[:3] / centre1[3] - centre2[:3] / centre2[3]).norm() < 1e-9:
        raise ValueError("P1 and P2 have the same centre: two views from one point give no depth (no baseline)")
    A = torch.stack([x1[:, :1] * P1[2] - P1[0], x1[:, 1:] * P1[2] - P1[1],
                     x2[:, :1] * P2[2] - P2[0], x2[:, 1:] * P2[2] - P2[1]], 1)   # (N, 4, 4)
    if not torch.isfinite(A).all():
        raise ValueError("the pixels x1 or x2 are too large: the linear system overflows float64")
    A = A / A.norm(dim=2, keepdim=True)                          # each equation on one scale (Hartley's conditioning)
    h = torch.linalg.svd(A)[2][:, -1]                             # (N, 4) homogeneous points, unit norm
    # parallel rays meet at infinity (h[3] = 0): refuse points beyond 10^12 times the cameras' distance from the origin
    scale = max((centre1[:3] / centre1[3]).norm().item(), (centre2[:3] / centre2[3]).norm().item())
    far = h[:, 3].abs() * 1e12 * scale <= h[:, :3].norm(dim=1)
    if far.any():
        raise ValueError(f"{int(far.sum())} of the points x1, x2 (the first is row {int(far.nonzero()[0])}) have "
                         f"parallel rays: they meet at infinity, not at a point")
    return h[:, :3] / h[:, 3:]


def reprojection_error(P, X, x) -> torch.Tensor:
    """Pixel distance (N,) between X (N, 3) projected by P and the observed pixels x (N, 2)."""
    pixels, _ = project(P, X)
    x = _points(x, "x", 2)
    if len(x) != len(pixels):
        raise ValueError(f"X and x must hold the same points: {len(pixels)} and {len(x)} rows")
    error = torch.hypot(pixels[:, 0] - x[:, 0], pixels[:, 1] - x[:, 1])
    if not torch.isfinite(error).all():
        raise ValueError("the pixels x are too far from the projections of X: their distance overflows float64")
    return error


def _depths(depth, ndim: int | None = None) -> torch.Tensor:
    """Depths (z in front of a camera): a float tensor of positive values, inf for background."""
    depth = checks.tensor(depth, "depth", dtype="float", ndim=ndim, finite=False)
    if depth.isnan().any() or (depth <= 0).any():
        raise ValueError("depth must be positive (z in front of the camera) or inf for background; it holds NaN, "
                         "zero or negative values")
    return depth


def backproject(K, R, t, depth) -> torch.Tensor:
    """The world points (N, 3) seen by the camera K [R | t] at the pixels of ``depth`` (H, W)
    whose depth is finite (inf marks background), in row-major pixel order. Pixel (row i,
    column j) is read at its centre (j + 0.5, i + 0.5), as ``shapes3d.render_pinhole`` renders."""
    P = camera_matrix(K, R, t)                                    # checks K, R, t
    depth = _depths(depth, ndim=2)
    i, j = torch.nonzero(torch.isfinite(depth), as_tuple=True)
    z = depth[i, j].double()
    pixels = torch.stack([j.double() + 0.5, i.double() + 0.5, torch.ones_like(z)], 1)
    x_cam = z[:, None] * (pixels @ torch.linalg.inv(torch.as_tensor(K, dtype=torch.float64)).T)  # (N, 3): z = depth
    R, t = torch.as_tensor(R, dtype=torch.float64), torch.as_tensor(t, dtype=torch.float64)
    return (x_cam - t) @ R                                        # R^T (x_cam - t), as rows


def random_rotations(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """``n`` rotation matrices (n, 3, 3) drawn uniformly from all 3D rotations (the Haar
    measure: QR of a Gaussian matrix with the signs of R's diagonal moved into Q, and the
    determinant made +1)."""
    n = checks.integer(n, "n", low=0, high=MAX_POINTS)
    if generator is not None:
        checks.instance(generator, "generator", torch.Generator)
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.diagonal(r, dim1=1, dim2=2).sign()[:, None, :]
    q[:, :, 0] *= torch.linalg.det(q).sign()[:, None]            # a reflection becomes a rotation
    return q.to(dtype)


def blur_radius(depth, focus: float, aperture: float) -> torch.Tensor:
    """Blur (circle of confusion) radius in pixels of points at ``depth`` for a lens focused at
    depth ``focus``: ``aperture * |1 / depth - 1 / focus|``. For a thin lens of focal length f
    and aperture diameter A focused at z_f, the blur circle's diameter is
    A f z_f / (z_f - f) * |1 / z - 1 / z_f| (pixels when A f is in pixels), so ``aperture``
    stands for A f z_f / (2 (z_f - f)): one number for the lens. Background (inf) is at 1 / z = 0."""
    depth = _depths(depth)
    focus = checks.number(focus, "focus", low=0, low_open=True, high=1e9)
    aperture = checks.number(aperture, "aperture", low=0, high=1e6)
    return aperture * (1 / depth - 1 / focus).abs()


MAX_LAYERS = 256  # depth layers of refocus


def refocus(image, depth, focus: float, aperture: float, layers: int = 24) -> torch.Tensor:
    """``image`` (C, H, W) with its ``depth`` (H, W; inf for background) as a camera focused at
    ``focus`` would see it (``blur_radius`` gives each pixel's blur). Layered: the inverse depths
    are cut into ``layers`` slabs; each slab's pixels and coverage are blurred with a Gaussian of
    its blur radius (torchvision's gaussian_blur) and composited far to near, nearer slabs over
    farther ones ("over" with premultiplied colour), then divided by the total coverage."""
    from torchvision.transforms.functional import gaussian_blur

    image = checks.tensor(image, "image", dtype="float", ndim=3)
    depth = _depths(depth, ndim=2)
    radius = blur_radius(depth, focus, aperture)
    if depth.shape != image.shape[1:] or depth.numel() == 0:
        raise ValueError(f"depth must be (H, W) = {tuple(image.shape[1:])}, the image's size, and not empty; got "
                         f"{tuple(depth.shape)}")
    layers = checks.integer(layers, "layers", low=1, high=MAX_LAYERS)
    inverse = torch.where(torch.isfinite(depth), 1 / depth, torch.zeros_like(depth))
    lo, hi = inverse.min().item(), inverse.max().item()
    slab = ((inverse - lo) / max(hi - lo, 1e-12) * layers).long().clamp(max=layers - 1)  # 0: farthest
    colour = torch.zeros_like(image)
    cover = torch.zeros_like(depth)
    for k in range(layers):
        mask = (slab == k).to(image.dtype)
        if not mask.any():
            continue
        sigma = radius[slab == k].mean().item()                   # one blur per slab
        rgb_a = torch.cat([image * mask, mask[None]])              # premultiplied colour and coverage
        if sigma > 0.3:
            size = min(2 * math.ceil(3 * sigma) + 1, 2 * min(depth.shape) - 1)  # reflect padding < the image
            rgb_a = gaussian_blur(rgb_a[None], [size, size], [sigma, sigma])[0]
        alpha = rgb_a[-1]
        colour = rgb_a[:-1] + (1 - alpha) * colour                 # nearer over farther
        cover = alpha + (1 - alpha) * cover
    return colour / cover.clamp(min=1e-6)
