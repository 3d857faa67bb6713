"""3D models of notebook 08 (mmcourse.models.three_d) and posed shapes (world.shapes3d.random_pose)."""
import math

import pytest
import torch

from mmcourse.models import three_d as T
from mmcourse.world import shapes3d as S


def test_voxnet_shapes_and_bool_input():
    torch.manual_seed(0)
    net = T.VoxNet(5).eval()
    grids = torch.rand(2, 16, 16, 16) > 0.5
    assert net(grids).shape == (2, 5)
    assert torch.allclose(net(grids), net(grids.float()))
    for bad in (torch.rand(2, 16, 16), torch.rand(2, 3, 3, 3), torch.rand(0, 16, 16, 16)):
        with pytest.raises((ValueError, TypeError), match="voxels"):
            net(bad)


@pytest.mark.parametrize("tnet", [True, False])
def test_pointnet_is_exactly_invariant_to_the_order_of_points(tnet):
    torch.manual_seed(0)
    net = T.PointNet(4, width=16, tnet=tnet).eval()
    x = torch.randn(3, 100, 3)
    out = net(x)
    for _ in range(3):
        assert (net(x[:, torch.randperm(100)]) - out).abs().max() <= 1e-6
    assert out.shape == (3, 4)


def test_tnet_starts_at_the_identity_and_critical_points_set_the_global_feature():
    torch.manual_seed(0)
    assert torch.equal(T.TNet(8)(torch.randn(2, 10, 3)), torch.eye(3).expand(2, 3, 3))
    net = T.PointNet(3, width=16, tnet=False).eval()
    x = torch.randn(1, 200, 3)
    crit = net.critical(x)[0]
    assert 0 < len(crit) <= 200
    _, g = net.features(x)
    _, g_crit = net.features(x[:, crit])                 # the critical points alone give the same global feature
    assert torch.allclose(g, g_crit, atol=1e-6)


def test_pointnet_seg_mvcnn_and_image_to_voxels_shapes():
    torch.manual_seed(0)
    assert T.PointNetSeg(3, width=16).eval()(torch.randn(2, 50, 3)).shape == (2, 50, 3)
    mv = T.MVCNN(6, width=8).eval()
    views = torch.rand(2, 4, 1, 16, 16)
    assert mv(views).shape == (2, 6)
    assert torch.allclose(mv(views), mv(views[:, torch.randperm(4)]), atol=1e-6)   # view pooling: order free
    assert T.ImageToVoxels(16, width=8).eval()(torch.rand(2, 3, 32, 32)).shape == (2, 16, 16, 16)
    with pytest.raises(ValueError, match="resolution"):
        T.ImageToVoxels(24)
    with pytest.raises(ValueError, match="views"):
        mv(torch.rand(2, 0, 1, 16, 16))


@pytest.mark.parametrize("bad", [torch.randn(2, 10, 4), torch.randn(2, 0, 3), torch.randn(10, 3), torch.full((1, 5, 3), math.nan)])
def test_point_models_refuse_bad_clouds(bad):
    for net in (T.PointNet(3, width=8), T.PointNetSeg(3, width=8), T.TNet(8)):
        with pytest.raises((ValueError, TypeError), match="points"):
            net(bad)


def test_random_pose_rotates_and_scales_the_shape():
    cone = S.get_shape("cone")
    posed = S.random_pose(cone, seed=3, rotation="so3", scale=(0.5, 0.5))
    assert posed == S.random_pose(cone, seed=3, rotation="so3", scale=(0.5, 0.5))
    r = torch.tensor(posed.rotation)
    assert torch.allclose(r @ r.T, torch.eye(3), atol=1e-6) and torch.linalg.det(r) > 0
    p = torch.randn(100, 3)
    assert torch.allclose(posed.sdf(p), 0.5 * cone.sdf((p @ r) / 0.5), atol=1e-5)
    full, half = S.voxelize(cone, 32)[0].sum().item(), S.voxelize(posed, 32)[0].sum().item()
    assert abs(half / full - 0.125) < 0.02                      # volume scales with scale ** 3
    upright = S.random_pose(cone, seed=4, rotation="z")
    assert torch.allclose(torch.tensor(upright.rotation)[2], torch.tensor([0.0, 0.0, 1.0]))   # z stays up
    same = S.random_pose(cone, seed=4, rotation="none", scale=(1.0, 1.0))
    assert torch.allclose(same.sdf(p), cone.sdf(p))
    pts, labels = S.point_cloud(S.random_pose(S.get_shape("table"), seed=1), 64)
    assert pts.shape == (64, 3) and set(labels.tolist()) <= {0, 1}


def test_random_pose_and_posed_shapes_refuse_bad_input():
    cone = S.get_shape("cone")
    with pytest.raises(ValueError, match="rotation"):
        S.random_pose(cone, rotation="xyz")
    with pytest.raises(ValueError, match="scale"):
        S.random_pose(cone, scale=(1.0, 0.5))
    with pytest.raises(ValueError, match="rotation"):
        S.PosedShape3D("c", cone.parts, ((1, 0, 0), (0, 1, 0), (0, 0, -1)))   # a reflection, not a rotation
    with pytest.raises(ValueError, match="rotation"):
        S.PosedShape3D("c", cone.parts, ((1, 0), (0, 1)))


def test_render_pinhole_agrees_with_geometry_project():
    from mmcourse import geometry as G

    K = G.intrinsics(60, 40, 30)
    R, t = G.look_at([2.5, -2.0, 1.5])
    table = S.get_shape("table")
    out = S.render_pinhole(table, K, R, t, 40, 30)
    hit = out["hit"]
    assert out["shade"].shape == out["depth"].shape == out["part"].shape == (30, 40)
    assert 0.05 < hit.float().mean() < 0.6
    assert torch.isinf(out["depth"][~hit]).all() and (out["part"][~hit] == -1).all() and (out["shade"][~hit] == 0).all()
    assert set(out["part"][hit].tolist()) == {0, 1}                     # top and legs are both seen
    v, u = torch.nonzero(hit, as_tuple=True)
    z = out["depth"][hit].double()
    x_cam = torch.stack([(u + 0.5 - 20) / 60 * z, (v + 0.5 - 15) / 60 * z, z], 1)
    X = (x_cam - t) @ R                                                  # back to the world: R^T (x_cam - t)
    assert table.sdf(X.float()).abs().max() < 2e-2                      # the depth puts each pixel on the surface
    pixels, depth = G.project(G.camera_matrix(K, R, t), X)
    assert torch.allclose(pixels, torch.stack([u + 0.5, v + 0.5], 1).double(), atol=1e-4)
    assert torch.allclose(depth, z, atol=1e-6)
    nearer = S.render_pinhole(table, K, *G.look_at([1.25, -1.0, 0.75]), 40, 30)
    assert nearer["depth"][nearer["hit"]].min() < out["depth"][hit].min()   # a nearer camera sees nearer surfaces


def test_render_pinhole_refuses_bad_cameras():
    from mmcourse import geometry as G

    K = G.intrinsics(60, 40, 30)
    R, t = G.look_at([2.5, -2.0, 1.5])
    cone = S.get_shape("cone")
    with pytest.raises(ValueError, match="K"):
        S.render_pinhole(cone, torch.zeros(3, 3), R, t)
    with pytest.raises(ValueError, match="R"):
        S.render_pinhole(cone, K, 2 * R, t)
    with pytest.raises(ValueError, match="t"):
        S.render_pinhole(cone, K, R, torch.zeros(4))
    with pytest.raises(ValueError, match="width"):
        S.render_pinhole(cone, K, R, t, width=0)
    with pytest.raises(TypeError, match="shape"):
        S.render_pinhole("cone", K, R, t)


def test_voxnet_sees_the_whole_grid_and_critical_points_alone_give_the_same_logits():
    torch.manual_seed(0)
    net = T.VoxNet(3, width=4).eval()
    x = torch.rand(1, 1, 32, 32, 32, requires_grad=True)
    f = net.features(x)
    f[0, :, f.shape[2] // 2, f.shape[3] // 2, f.shape[4] // 2].sum().backward()
    reach = (x.grad[0, 0].abs() > 0).nonzero()
    assert (reach.max(0).values - reach.min(0).values >= 31).all()   # a middle feature sees the whole 32^3 grid
    pn = T.PointNet(4, width=16, tnet=True).eval()
    with torch.no_grad():
        for param in pn.tnet.fc[-1].parameters():                     # a T-Net that is not the identity
            param.add_(0.1 * torch.randn_like(param))
        clouds = torch.randn(3, 300, 3)
        for c, crit in zip(clouds, pn.critical(clouds)):
            assert 0 < len(crit) < 300
            assert torch.allclose(pn(c[crit][None]), pn(c[None]), atol=1e-6)   # the others could be deleted


def test_pointnet_seg_without_context_labels_each_point_on_its_own():
    torch.manual_seed(0)
    net = T.PointNetSeg(5, width=8, context=False).eval()
    assert net.globl is None
    x = torch.randn(2, 40, 3)
    out = net(x)
    assert out.shape == (2, 40, 5)
    moved = x.clone()
    moved[:, 1:] += 1.0                                              # other points moved: point 0's scores unchanged
    assert torch.allclose(net(moved)[:, 0], out[:, 0], atol=1e-6)
    with_context = T.PointNetSeg(5, width=8).eval()
    assert not torch.allclose(with_context(moved)[:, 0], with_context(x)[:, 0])
    with pytest.raises(TypeError, match="context"):
        T.PointNetSeg(5, context="no")


def test_random_pose_stretch_gives_new_proportions_with_the_exact_surface():
    box = S.get_shape("cube")                                          # half-size 0.65 along each axis
    posed = S.random_pose(box, seed=2, rotation="none", scale=(1.0, 1.0), stretch=(0.5, 1.0))
    k = torch.tensor(posed.stretch)
    assert ((k >= 0.5) & (k <= 1.0)).all() and len(set(posed.stretch)) == 3
    corner = 0.65 * k                                                  # the stretched box's corner is on its surface
    assert posed.sdf(corner[None]).abs().item() < 1e-6
    assert posed.sdf(0.99 * corner[None]).item() < 0 < posed.sdf(1.01 * corner[None]).item()
    p = torch.randn(200, 3)
    true = (p.abs() - 0.65 * k).clamp(min=0).norm(dim=1) + (p.abs() - 0.65 * k).max(dim=1).values.clamp(max=0)
    assert (posed.sdf(p).abs() <= true.abs() + 1e-5).all()             # never more than the true distance: safe steps
    assert torch.equal((posed.sdf(p) <= 0), (true <= 0))               # and the same inside
    plain = S.random_pose(box, seed=2, rotation="so3")
    assert plain.stretch == (1.0, 1.0, 1.0) and plain == S.random_pose(box, seed=2, rotation="so3", stretch=None)
    with pytest.raises(ValueError, match="stretch"):
        S.random_pose(box, stretch=(1.0, 0.5))
    with pytest.raises(ValueError, match="stretch"):
        S.PosedShape3D("c", box.parts, stretch=(1.0, 1.0))
