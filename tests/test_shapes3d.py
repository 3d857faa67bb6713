import math

import pytest
import torch

from mmcourse.world import shapes3d as S3


def test_sphere_voxels_have_the_right_volume():
    occ, labels = S3.voxelize(S3.get_shape("sphere"), 48)
    volume = occ.float().mean().item() * 8  # the grid spans [-1, 1]^3
    assert volume == pytest.approx(4 / 3 * math.pi * 0.8 ** 3, rel=0.03)
    assert ((labels >= 0) == occ).all()


@pytest.mark.parametrize("name", [*S3.PRIMITIVES, *S3.COMPOSITES])
def test_representations_agree(name):
    shape = S3.get_shape(name)
    verts, faces = S3.mesh(shape, 32)
    assert faces.max() < len(verts)
    assert shape.sdf(torch.from_numpy(verts)).abs().max() < 0.05
    pts, parts = S3.point_cloud(shape, 256, seed=1)
    assert pts.shape == (256, 3) and shape.sdf(pts).abs().max() < 0.05
    assert parts.min() >= 0 and parts.max() < len(shape.labels)
    views = S3.render_views(shape, azimuths=(0, 90), resolution=32)
    assert views["shade"].shape == (2, 32, 32) and views["hit"].any()
    hit_depth = views["depth"][views["hit"]]
    assert torch.isfinite(hit_depth).all()


def test_point_cloud_deterministic_and_table_parts():
    a, _ = S3.point_cloud(S3.table(), 100, seed=3)
    b, _ = S3.point_cloud(S3.table(), 100, seed=3)
    assert torch.equal(a, b)
    _, labels = S3.voxelize(S3.table(), 32)
    assert set(labels.unique().tolist()) == {-1, 0, 1}  # outside, top, leg


def test_bad_names():
    with pytest.raises(ValueError, match="valid choices"):
        S3.get_shape("dodecahedron")
    with pytest.raises(ValueError, match="resolution"):
        S3.voxelize(S3.get_shape("cube"), 2)


# ---------------------------------------------------------------- issue 20: bad input is refused at the boundary
@pytest.mark.parametrize("call, error, match", [
    (lambda: S3.render_views(S3.get_shape("sphere"), elevation=90, resolution=8), ValueError, "elevation"),  # NaN
    (lambda: S3.render_views(S3.get_shape("sphere"), azimuths=(), resolution=8), ValueError, "azimuths is empty"),
    (lambda: S3.grid(10 ** 5), ValueError, r"resolution must be an int in \[4, 256\]"),
    (lambda: S3.point_cloud(S3.get_shape("sphere"), 10 ** 12), ValueError, "n must be"),
    (lambda: S3.Part("a", "hexagon"), ValueError, "unknown primitive 'hexagon'"),  # was a KeyError at sdf time
    (lambda: S3.Part("a", "cone", params=(0.7, 1e-9)), ValueError, r"params\[1\] \(the cone primitive's h\)"),
    (lambda: S3.Shape3D("empty", ()), ValueError, "parts is empty"),
    (lambda: S3.sdf_box(torch.rand(4, 2)), ValueError, r"p must be points \(\.\.\., 3\)"),
    (lambda: S3.get_shape("sphere").sdf(torch.full((2, 3), float("nan"))), ValueError, "p contains NaN"),
    (lambda: S3.voxelize("table"), TypeError, "shape must be a Shape3D"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ notebook 08's additions
import numpy as np


def test_grid_mesh_of_an_sdf_is_mesh_and_of_occupancy_is_near_the_surface():
    shape = S3.get_shape("sphere")
    values = shape.sdf(S3.grid(24))
    v1, f1 = S3.grid_mesh(values, 0.0)
    v2, f2 = S3.mesh(shape, 24)
    assert np.array_equal(v1, v2) and np.array_equal(f1, f2)
    occ = S3.voxelize(shape, 24)[0]
    v, f = S3.grid_mesh(occ.float(), 0.5)                            # a staircase, within a cell of the sphere
    assert np.abs(np.linalg.norm(v, axis=1) - 0.8).max() < 2 / 24
    for bad, words in ((values[:, :, :5], "cubic"), (values[0], "dimension"), (values.abs() + 1, "no surface")):
        with pytest.raises(ValueError, match=words):
            S3.grid_mesh(bad, 0.0)


@pytest.mark.parametrize("name, genus", [("sphere", 0), ("torus", 1), ("chair", 0), ("table", 0)])
def test_mesh_edges_give_euler_characteristic(name, genus):
    verts, faces = S3.mesh(S3.get_shape(name), 32)
    edges = S3.mesh_edges(faces)
    assert edges.shape[1] == 2 and (edges[:, 0] < edges[:, 1]).all()
    assert len(verts) - len(edges) + len(faces) == 2 - 2 * genus
    assert 3 * len(faces) == 2 * len(edges)                          # closed: every edge borders two triangles
    with pytest.raises(ValueError, match="faces"):
        S3.mesh_edges(np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="faces"):
        S3.mesh_edges(np.array([[0, 1, -2]]))


def test_sample_surface_is_on_the_mesh_reproducible_and_refuses_bad_meshes():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    faces = np.array([[0, 1, 2]])                                      # one triangle in the plane z = 0
    p = S3.sample_surface(verts, faces, 500, seed=3)
    assert p.shape == (500, 3) and (p[:, 2] == 0).all() and (p[:, :2] >= 0).all() and (p[:, :2].sum(1) <= 1 + 1e-6).all()
    assert torch.equal(p, S3.sample_surface(verts, faces, 500, seed=3))
    for bad_faces, words in ((np.array([[0, 1, 9]]), "only 4 vertices"), (np.array([[0, 0, 0]]), "no area"),
                             (np.zeros((0, 3), dtype=np.int64), "non-empty")):
        with pytest.raises(ValueError, match=words):
            S3.sample_surface(verts, bad_faces, 5)


def test_many_poses_at_once_match_one_at_a_time():
    names = ["chair", "torus", "chair", "lamp", "cube"]
    shapes = [S3.random_pose(S3.get_shape(n), seed=i, rotation="so3") for i, n in enumerate(names)] + [S3.get_shape("stool")]
    many = S3.render_views_many(shapes, (0, 120), elevation=20, resolution=12, steps=24, batch=1 + 1)
    for i, x in enumerate(shapes):
        one = S3.render_views(x, (0, 120), elevation=20, resolution=12, steps=24)
        for k in ("shade", "depth", "hit", "part"):
            assert torch.allclose(many[k][i].double(), one[k].double(), atol=1e-5, equal_nan=True), (names, i, k)
    pts, labels = S3.point_clouds_many(shapes, 200, seed=4, resolution=24)
    assert pts.shape == (6, 200, 3) and labels.shape == (6, 200)
    for i, x in enumerate(shapes):
        assert x.sdf(pts[i]).abs().max() < 0.05                       # on the posed surface (marching cubes at 24^3)
        assert (x.part_label(pts[i]) == labels[i]).float().mean() > 0.97
    assert torch.equal(pts, S3.point_clouds_many(shapes, 200, seed=4, resolution=24)[0])
    with pytest.raises(ValueError, match="shapes"):
        S3.render_views_many([], (0,))
    with pytest.raises(TypeError, match="shapes"):
        S3.point_clouds_many(["chair"])
    with pytest.raises(ValueError, match="resolution"):
        S3.render_views_many(shapes, (0,), resolution=0)
