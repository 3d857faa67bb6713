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
