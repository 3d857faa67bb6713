"""mmcourse.geometry: pinhole cameras, projection and two-view triangulation (notebook 08).

Reference values are computed by hand (in the comments) or by an independent numpy solution
(inhomogeneous least squares); OpenCV is not a dependency of the course.
"""
import math

import numpy as np
import pytest
import torch

from mmcourse import geometry as G

F, W, H = 500.0, 640, 480
K = G.intrinsics(F, W, H)
CX, CY = W / 2, H / 2


def camera(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)):
    R, t = G.look_at(torch.tensor(eye, dtype=torch.float64), torch.tensor(target, dtype=torch.float64),
                     torch.tensor(up, dtype=torch.float64))
    return G.camera_matrix(K, R, t)


P1, P2 = camera([5.0, 0.0, 1.0]), camera([0.0, 5.0, 2.0])  # a 90-degree baseline around the origin


def cloud(n, seed):
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 0.5


def lstsq_triangulate(P1, P2, x1, x2):
    """Independent reference: for each point, the inhomogeneous least-squares solution of the
    four equations u P[2] X = P[0] X, v P[2] X = P[1] X (X = (x, y, z, 1)), with numpy."""
    P1, P2, x1, x2 = (np.asarray(v, dtype=np.float64) for v in (P1, P2, x1, x2))
    out = []
    for (u1, v1), (u2, v2) in zip(x1, x2):
        A = np.array([u1 * P1[2] - P1[0], v1 * P1[2] - P1[1], u2 * P2[2] - P2[0], v2 * P2[2] - P2[1]])
        X, *_ = np.linalg.lstsq(A[:, :3], -A[:, 3], rcond=None)
        out.append(X)
    return torch.from_numpy(np.array(out))


# ---------------------------------------------------------------- intrinsics, look_at, camera_matrix
def test_intrinsics_values():
    assert K.dtype == torch.float64
    assert K.tolist() == [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]
    odd = G.intrinsics(100, 65, 49)  # an int focal is fine; the principal point sits at half a pixel
    assert odd.tolist() == [[100.0, 0.0, 32.5], [0.0, 100.0, 24.5], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize("kw, error, match", [
    (dict(focal=0.0, width=64, height=48), ValueError, "focal"),
    (dict(focal=-5.0, width=64, height=48), ValueError, "focal"),
    (dict(focal=100.0, width=0, height=48), ValueError, "width"),
    (dict(focal=100.0, width=64, height=2.5), TypeError, "height"),
])
def test_intrinsics_refuses_bad_values(kw, error, match):
    with pytest.raises(error, match=match):
        G.intrinsics(**kw)


@pytest.mark.parametrize("eye, target, up", [
    ((5.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    ((-3.0, 2.0, -4.0), (1.0, 1.0, 1.0), (0.0, 0.0, 1.0)),
    ((0.3, -7.0, 0.2), (0.0, 0.0, 0.5), (0.0, 0.0, -1.0)),    # upside down
    ((2.0, 2.0, 2.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0)),      # another up axis
    ((1e3, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1e-6)),     # far away, a short up vector
])
def test_look_at_is_a_rotation_placing_the_camera_at_eye(eye, target, up):
    R, t = G.look_at(eye, target, up)
    assert R.dtype == t.dtype == torch.float64 and R.shape == (3, 3) and t.shape == (3,)
    torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert torch.linalg.det(R).item() == pytest.approx(1.0, abs=1e-12)
    # the camera centre -R^T t is eye, to float64 precision (tuples of Python floats are not rounded to float32)
    torch.testing.assert_close(-R.T @ t, torch.tensor(eye, dtype=torch.float64), atol=1e-12 * max(map(abs, eye)), rtol=0)
    # the optical axis (R's last row) points from eye to target
    axis = torch.tensor(target, dtype=torch.float64) - torch.tensor(eye, dtype=torch.float64)
    torch.testing.assert_close(R[2], axis / axis.norm(), atol=1e-12, rtol=0)


def test_look_at_hand_computed():
    # eye (0, -5, 0) looking at the origin along +y, up = +z: right = y x z = +x, down = y x x = -z
    R, t = G.look_at((0.0, -5.0, 0.0))
    assert R.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    assert t.tolist() == [0.0, 0.0, 5.0]
    # world (1, 0, 1) -> camera (1, -1, 5) -> pixel (320 + 500 / 5, 240 - 500 / 5): right and up in the picture
    pixels, depth = G.project(G.camera_matrix(K, R, t), [[1.0, 0.0, 1.0]])
    assert pixels.tolist() == [[420.0, 140.0]] and depth.tolist() == [5.0]


@pytest.mark.parametrize("eye, target, up", [
    ((5.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    ((-2.0, 3.0, 0.5), (0.5, -0.5, 0.25), (0.0, 0.0, 1.0)),
    ((0.0, -4.0, -3.0), (0.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    ((1.0, 1.0, 6.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
])
def test_target_is_on_the_optical_axis_and_up_points_up(eye, target, up):
    P = camera(eye, target, up)
    tgt, up_ = torch.tensor([target], dtype=torch.float64), torch.tensor([up], dtype=torch.float64)
    (centre,), _ = G.project(P, tgt)
    torch.testing.assert_close(centre, torch.tensor([CX, CY], dtype=torch.float64), atol=1e-9, rtol=0)
    # a point above the target (along up) has a smaller pixel y, and the same x (up lies in the camera's y-z plane)
    (above,), _ = G.project(P, tgt + 0.2 * up_ / up_.norm())
    (below,), _ = G.project(P, tgt - 0.2 * up_ / up_.norm())
    assert above[1] < CY - 1 and below[1] > CY + 1
    assert above[0].item() == pytest.approx(CX, abs=1e-9) and below[0].item() == pytest.approx(CX, abs=1e-9)


def test_camera_matrix_is_K_R_t():
    R, t = G.look_at((5.0, 0.0, 1.0))
    P = G.camera_matrix(K, R, t)
    assert P.shape == (3, 4) and P.dtype == torch.float64
    torch.testing.assert_close(P, K @ torch.cat([R, t[:, None]], 1), atol=0, rtol=0)
    torch.testing.assert_close(G.camera_matrix(K.tolist(), R.tolist(), t.tolist()), P, atol=1e-12, rtol=0)


# ---------------------------------------------------------------- project
def test_project_hand_computed():
    K0 = G.intrinsics(100.0, 64, 48)  # f = 100, principal point (32, 24)
    P = G.camera_matrix(K0, torch.eye(3), torch.zeros(3))
    X = torch.tensor([[0.0, 0.0, 2.0],     # on the axis -> (32, 24)
                      [1.0, 0.0, 2.0],     # 32 + 100 * 1 / 2 = 82
                      [0.5, -1.0, 4.0],    # (32 + 12.5, 24 - 25)
                      [-3.0, 6.0, 10.0]])  # (32 - 30, 24 + 60)
    pixels, depth = G.project(P, X)
    assert pixels.dtype == depth.dtype == torch.float64
    assert pixels.tolist() == [[32.0, 24.0], [82.0, 24.0], [44.5, -1.0], [2.0, 84.0]]
    assert depth.tolist() == [2.0, 2.0, 4.0, 10.0]
    # a translation t = (0, 0, 1) moves the points one unit further away: (1, 2, 1) -> camera (1, 2, 2)
    P = G.camera_matrix(K0, torch.eye(3), torch.tensor([0.0, 0.0, 1.0]))
    pixels, depth = G.project(P, [[1.0, 2.0, 1.0]])
    assert pixels.tolist() == [[82.0, 124.0]] and depth.tolist() == [2.0]


def test_depth_is_positive_z_in_the_camera_frame_for_any_scale_of_P():
    R, t = G.look_at((5.0, 0.0, 1.0))
    P = G.camera_matrix(K, R, t)
    X = cloud(50, 0)
    pixels, depth = G.project(P, X)
    assert (depth > 0).all()
    torch.testing.assert_close(depth, (X @ R.T + t)[:, 2], atol=1e-12, rtol=0)
    for c in (2.5, -1.0, 1e-3, -1e4):  # c P is the same camera
        p, d = G.project(c * P, X)
        torch.testing.assert_close(p, pixels, atol=1e-9, rtol=0)
        torch.testing.assert_close(d, depth, atol=1e-12, rtol=1e-12)


def test_python_lists_keep_float64_precision():
    X = [[0.1, 0.2, 0.3], [-0.3, 0.123456789, 0.2]]
    pa, da = G.project(P1, X)
    pb, db = G.project(P1, torch.tensor(X, dtype=torch.float64))
    assert torch.equal(pa, pb) and torch.equal(da, db)


# ---------------------------------------------------------------- triangulate, reprojection_error
def test_triangulation_recovers_points_exactly():
    X = cloud(200, 1)
    x1, _ = G.project(P1, X)
    x2, _ = G.project(P2, X)
    Xt = G.triangulate(P1, P2, x1, x2)
    assert Xt.shape == (200, 3) and Xt.dtype == torch.float64
    torch.testing.assert_close(Xt, X, atol=1e-9, rtol=0)
    assert G.reprojection_error(P1, Xt, x1).max() < 1e-9
    assert G.reprojection_error(P2, Xt, x2).max() < 1e-9
    torch.testing.assert_close(Xt, lstsq_triangulate(P1, P2, x1, x2), atol=1e-9, rtol=0)


def test_triangulation_of_a_wide_and_a_narrow_baseline():
    X = cloud(50, 2) + torch.tensor([0.0, 0.0, 0.3], dtype=torch.float64)
    for Pb in (camera([-5.0, 0.5, 1.0]), camera([5.0, 0.3, 1.0])):  # opposite sides; a 0.3 baseline
        x1, x2 = G.project(P1, X)[0], G.project(Pb, X)[0]
        torch.testing.assert_close(G.triangulate(P1, Pb, x1, x2), X, atol=1e-9, rtol=0)


@pytest.mark.parametrize("c1, c2", [(3.0, 1.0), (1.0, -0.5), (-2.0, -7.0), (1e-6, 1e6)])
def test_triangulation_is_invariant_to_the_scale_of_P(c1, c2):
    X = cloud(30, 3)
    x1, x2 = G.project(P1, X)[0], G.project(P2, X)[0]
    torch.testing.assert_close(G.triangulate(c1 * P1, c2 * P2, x1, x2), G.triangulate(P1, P2, x1, x2), atol=1e-9, rtol=0)
    torch.testing.assert_close(G.reprojection_error(c1 * P1, X, x1), G.reprojection_error(P1, X, x1), atol=1e-9, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_triangulation_with_pixel_noise_has_a_small_bounded_depth_error(seed):
    g = torch.Generator().manual_seed(seed)
    X = cloud(100, 10 + seed)
    x1, depth = G.project(P1, X)
    x2, _ = G.project(P2, X)
    n1 = x1 + 0.5 * torch.randn(x1.shape, generator=g, dtype=torch.float64)  # 0.5 px of noise
    n2 = x2 + 0.5 * torch.randn(x2.shape, generator=g, dtype=torch.float64)
    Xt = G.triangulate(P1, P2, n1, n2)
    Xr = lstsq_triangulate(P1, P2, n1, n2)
    # 0.5 px at f = 500 and ~5.1 units is ~0.005 units sideways in the other view: the depth error's scale
    err = (G.project(P1, Xt)[1] - depth).abs()
    ref = (G.project(P1, Xr)[1] - depth).abs()
    assert err.mean() < 0.008 and err.max() < 0.04, (err.mean(), err.max())
    assert err.mean() < 1.2 * ref.mean() + 1e-4, (err.mean(), ref.mean())
    assert (Xt - Xr).norm(dim=1).max() < 3e-3  # the two linear solutions agree to well below the noise
    assert (Xt - X).norm(dim=1).max() < 0.05
    # the triangulated points explain the noisy pixels about as well as the noise allows
    assert G.reprojection_error(P1, Xt, n1).mean() < 0.6 and G.reprojection_error(P2, Xt, n2).mean() < 0.6


def test_reprojection_error_hand_computed():
    P = G.camera_matrix(G.intrinsics(100.0, 64, 48), torch.eye(3), torch.zeros(3))
    err = G.reprojection_error(P, [[0.0, 0.0, 2.0], [1.0, 0.0, 2.0]], [[35.0, 28.0], [82.0, 24.0]])
    assert err.tolist() == [5.0, 0.0]  # (32, 24) vs (35, 28): a 3-4-5 triangle


# ---------------------------------------------------------------- bad input: ValueError/TypeError naming the argument
X5 = cloud(5, 4)
PIX1, PIX2 = G.project(P1, X5)[0], G.project(P2, X5)[0]
R1, T1 = G.look_at((5.0, 0.0, 1.0))
SINGULAR = P1.clone()
SINGULAR[:, 2] = SINGULAR[:, 0]  # left 3 x 3 block of rank 2


@pytest.mark.parametrize("call, error, match", [
    (lambda: G.look_at((1.0, 2.0, 3.0), (1.0, 2.0, 3.0)), ValueError, "eye and target are the same point"),
    (lambda: G.look_at((0.0, 0.0, 5.0)), ValueError, "up is parallel"),
    (lambda: G.look_at((1.0, 1.0, 1.0), up=(2.0, 2.0, 2.0)), ValueError, "up is parallel"),
    (lambda: G.look_at((5.0, 0.0, 1.0), up=(0.0, 0.0, 0.0)), ValueError, "up is parallel.*or zero"),
    (lambda: G.look_at((5.0, 0.0)), ValueError, "eye must be a 3-vector"),
    (lambda: G.look_at((5.0, 0.0, float("nan"))), ValueError, "eye contains NaN"),
    (lambda: G.look_at("eye"), TypeError, "eye must be a tensor"),
    (lambda: G.project(P1, [[0.0, 0.0, 0.0], [8.0, 0.0, 2.0]]), ValueError, "1 of the points X .*behind the camera"),
    (lambda: G.project(P1, [[5.0, 0.0, 1.0]]), ValueError, "points X are at or behind"),  # the camera centre itself
    (lambda: G.project(P1, torch.zeros(0, 3)), ValueError, r"X must be a non-empty \(N, 3\)"),
    (lambda: G.project(P1, torch.ones(4, 4)), ValueError, r"X must be a non-empty \(N, 3\).*\(4, 4\)"),
    (lambda: G.project(P1, torch.ones(3)), ValueError, "X must have 2 dimension"),
    (lambda: G.project(P1, torch.full((2, 3), float("inf"))), ValueError, "X contains NaN or inf"),
    (lambda: G.project(P1, torch.ones(2, 3, dtype=torch.bool)), ValueError, "X must hold real numbers"),
    (lambda: G.project(P1[:, :3], X5), ValueError, r"P must be a \(3, 4\) camera matrix"),
    (lambda: G.project(SINGULAR, X5), ValueError, "P is degenerate"),
    (lambda: G.project(torch.zeros(3, 4), X5), ValueError, "P is degenerate"),
    (lambda: G.triangulate(P1, P2, PIX1, PIX2[:4]), ValueError, "x1 and x2 must hold the same points: 5 and 4"),
    (lambda: G.triangulate(P1, P2, torch.zeros(0, 2), torch.zeros(0, 2)), ValueError, r"x1 must be a non-empty \(N, 2\)"),
    (lambda: G.triangulate(P1, P2, PIX1, torch.ones(5, 4)), ValueError, r"x2 must be a non-empty \(N, 2\)"),
    (lambda: G.triangulate(P1, camera([5.0, 0.0, 1.0], (0.0, 1.0, 0.0)), PIX1, PIX1), ValueError,
     "P1 and P2 have the same centre"),
    (lambda: G.triangulate(P1, 2 * P1, PIX1, PIX1), ValueError, "same centre"),
    (lambda: G.triangulate(SINGULAR, P2, PIX1, PIX2), ValueError, "P1 is degenerate"),
    (lambda: G.triangulate(P1, SINGULAR, PIX1, PIX2), ValueError, "P2 is degenerate"),
    (lambda: G.reprojection_error(P1, X5, PIX1[:3]), ValueError, "X and x must hold the same points"),
    (lambda: G.reprojection_error(P1, X5, torch.ones(5, 3)), ValueError, r"x must be a non-empty \(N, 2\)"),
    (lambda: G.camera_matrix(torch.eye(2), R1, T1), ValueError, "K and R must be 3 x 3"),
    (lambda: G.camera_matrix(torch.ones(3, 4), R1, T1), ValueError, r"K and R must be 3 x 3, got \(3, 4\)"),
    (lambda: G.camera_matrix(torch.ones(3, 3, 3), R1, T1), ValueError, "K must have 2 dimension"),
    (lambda: G.camera_matrix(K, R1, T1[:2]), ValueError, "t must be a 3-vector"),
    (lambda: G.camera_matrix(torch.zeros(3, 3), R1, T1), ValueError, r"K \[R \| t\] is degenerate"),
    (lambda: G.camera_matrix(K, torch.ones(3, 3), T1), ValueError, r"K \[R \| t\] is degenerate"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_parallel_rays_are_refused_not_returned_as_nan():
    # two cameras side by side with the same orientation: one pixel in both views is a ray pair that never meets
    K0 = G.intrinsics(100.0, 64, 48)
    Pa = G.camera_matrix(K0, torch.eye(3), torch.zeros(3))
    Pb = G.camera_matrix(K0, torch.eye(3), torch.tensor([-1.0, 0.0, 0.0]))
    for pixel in ([[32.0, 24.0]], [[10.0, 7.0]]):
        with pytest.raises(ValueError, match="x1, x2 .*parallel"):
            G.triangulate(Pa, Pb, pixel, pixel)
    # one pixel apart they meet: in view b x = 32 puts the point at world x = 1 (b's centre), and in view a
    # 33 = 32 + 100 * 1 / z puts it at z = 100 (disparity = f * baseline / depth)
    X = G.triangulate(Pa, Pb, [[33.0, 24.0]], [[32.0, 24.0]])
    torch.testing.assert_close(X, torch.tensor([[1.0, 0.0, 100.0]], dtype=torch.float64), atol=1e-9, rtol=1e-12)


# ------------------------------------------------------------------ notebook 08's additions
from mmcourse.world import shapes3d as S3


def test_backproject_returns_the_surface_points_a_render_saw():
    K = G.intrinsics(40.0, 32, 24)
    R, t = G.look_at((3.0, -1.0, 1.2))
    shape = S3.get_shape("chair")
    r = S3.render_pinhole(shape, K, R, t, width=32, height=24, steps=96)
    X = G.backproject(K, R, t, r["depth"])
    assert X.shape == (int(r["hit"].sum()), 3) and X.dtype == torch.float64
    assert shape.sdf(X.float()).abs().max() < 0.03                       # on the surface (the tracer's tolerance)
    pixels, depth = G.project(G.camera_matrix(K, R, t), X)
    i, j = torch.nonzero(r["hit"], as_tuple=True)
    assert torch.allclose(pixels, torch.stack([j + 0.5, i + 0.5], 1).double(), atol=1e-6)   # at the pixel centres
    assert torch.allclose(depth, r["depth"][r["hit"]].double(), atol=1e-5)


def test_backproject_refuses_bad_depth():
    K, (R, t) = G.intrinsics(40.0, 4, 3), G.look_at((3.0, 0.0, 1.0))
    assert G.backproject(K, R, t, torch.full((3, 4), math.inf)).shape == (0, 3)   # all background: no points
    for bad, words in ((torch.zeros(3, 4), "positive"), (torch.full((3, 4), math.nan), "NaN"),
                       (torch.ones(12), "dimension"), (torch.ones(3, 4, dtype=torch.long), "floating")):
        with pytest.raises(ValueError, match=words):
            G.backproject(K, R, t, bad)
    with pytest.raises(ValueError, match="K and R must be 3 x 3"):
        G.backproject(torch.eye(4), R, t, torch.ones(3, 4))


def test_random_rotations_are_rotations_uniform_and_reproducible():
    Q = G.random_rotations(4000, torch.Generator().manual_seed(0))
    assert Q.shape == (4000, 3, 3) and Q.dtype == torch.float32
    assert torch.allclose(Q @ Q.transpose(1, 2), torch.eye(3).expand(4000, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(Q), torch.ones(4000), atol=1e-5)
    assert Q.mean(0).abs().max() < 0.05                                   # Haar: every entry has mean 0
    z = Q[:, :, 2]                                                        # the image of a fixed axis: uniform on the sphere
    assert (z[:, 2].abs() < 0.5).float().mean().sub(0.5).abs() < 0.03    # P(|cos| < 1/2) = 1/2 on the sphere
    again = G.random_rotations(4000, torch.Generator().manual_seed(0))
    assert torch.equal(Q, again) and G.random_rotations(0).shape == (0, 3, 3)
    with pytest.raises(ValueError, match="n"):
        G.random_rotations(-1)
    with pytest.raises(TypeError, match="generator"):
        G.random_rotations(2, generator=0)


def test_blur_radius_is_zero_at_the_focus_and_grows_with_inverse_depth():
    z = torch.tensor([1.0, 2.0, 4.0, math.inf])
    r = G.blur_radius(z, focus=2.0, aperture=10.0)
    assert torch.allclose(r, torch.tensor([5.0, 0.0, 2.5, 5.0]))
    with pytest.raises(ValueError, match="depth must be positive"):
        G.blur_radius(torch.tensor([0.0]), 2.0, 1.0)
    with pytest.raises(ValueError, match="focus"):
        G.blur_radius(z, 0.0, 1.0)


def test_refocus_keeps_the_focal_plane_sharp_and_blurs_the_rest():
    torch.manual_seed(0)
    image = torch.rand(3, 24, 32)
    depth = torch.full((24, 32), 2.0)
    depth[:, 16:] = 8.0                                                  # left half near, right half far
    assert torch.equal(G.refocus(image, depth, 2.0, 0.0), image)        # a pinhole: nothing blurs
    near = G.refocus(image, depth, 2.0, 40.0)
    assert torch.allclose(near[:, :, :14], image[:, :, :14], atol=1e-6)  # in focus, away from the edge: unchanged
    assert near[:, :, 18:].std() < 0.5 * image[:, :, 18:].std()          # the far half is blurred flat
    far = G.refocus(image, depth, 8.0, 4.0)                              # near blur: 4 x |1/2 - 1/8| = 1.5 px
    assert torch.allclose(far[:, :, 23:], image[:, :, 23:], atol=1e-3)  # far in focus beyond the near half's spill
    assert far[:, :, :14].std() < image[:, :, :14].std()
    assert near.shape == image.shape and torch.isfinite(near).all()
    with pytest.raises(ValueError, match="image's size"):
        G.refocus(image, depth[:, :8], 2.0, 1.0)
    with pytest.raises(ValueError, match="layers"):
        G.refocus(image, depth, 2.0, 1.0, layers=0)
    with pytest.raises(ValueError, match="image"):
        G.refocus(image[0], depth, 2.0, 1.0)
