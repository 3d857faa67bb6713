"""3D recognition and generation models of notebook 08, small enough for a CPU.

VoxNet          occupancy grid (B, R, R, R) -> class logits: 3-D convolutions (Maturana & Scherer, 2015)
TNet            PointNet's input transform: a small PointNet predicting a 3 x 3 matrix, started at identity
PointNet        point cloud (B, N, 3) -> class logits: a shared MLP per point, max-pooling over points
                (a symmetric function, so the order of the points cannot matter), an MLP on the result
                (Qi et al., 2017); ``critical`` says which points set the max-pooled feature
PointNetSeg     per-point part logits (B, N, n_parts): each point's feature next to the global one
MVCNN           rendered views (B, V, C, H, W) -> class logits: one shared 2-D CNN per view, then
                max-pooling over the views (Su et al., 2015)
ImageToVoxels   picture (B, 3, H, W) -> occupancy logits (B, R, R, R): a 2-D encoder, a 3-D
                transposed-convolution decoder (the voxel branch of Mesh R-CNN, in small)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from .encoders import ConvEncoder


def _check_points(points, name: str = "points", dtype=None) -> torch.Tensor:
    checks.features(points, name, ndim=3, dim=3, dtype=dtype, nonempty=True, shape="(B, N, 3)")
    if points.shape[1] == 0:
        raise ValueError(f"{name} holds no points: shape {tuple(points.shape)}; a point cloud needs at least one point")
    return points


class VoxNet(nn.Module):
    """(B, R, R, R) occupancy (bool or float in [0, 1]) -> (B, n_classes). A 5^3 convolution
    with stride 2 and a max-pool (R / 4 a side), two 3^3 convolutions, a max-pool, one more 3^3
    convolution (each with BatchNorm and ReLU), global average pooling, a Linear. Pooling early
    lets the last features see the whole object (a receptive field 43 voxels wide, more than a 32^3 grid):
    what tells a chair from a table is how its parts are arranged, not any one local patch."""

    def __init__(self, n_classes: int, width: int = 16):
        super().__init__()
        n_classes, w = checks.integer(n_classes, "n_classes", low=2), checks.integer(width, "width", low=1)

        def block(a, b, k=3, stride=1):
            return [nn.Conv3d(a, b, k, stride, k // 2, bias=False), nn.BatchNorm3d(b), nn.ReLU()]
        self.features = nn.Sequential(*block(1, w, 5, 2), nn.MaxPool3d(2), *block(w, 2 * w), *block(2 * w, 4 * w),
                                      nn.MaxPool3d(2), *block(4 * w, 4 * w))
        self.fc = nn.Linear(4 * w, n_classes)

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        voxels = checks.tensor(voxels, "voxels", ndim=4)
        if min(voxels.shape[1:]) < 4 or len(voxels) == 0:
            raise ValueError(f"voxels must be a non-empty batch of grids (B, R, R, R) with R >= 4, got {tuple(voxels.shape)}")
        x = voxels.to(self.fc.weight.dtype)[:, None]
        return self.fc(self.features(x).mean(dim=(2, 3, 4)))


def _shared_mlp(sizes) -> nn.Sequential:
    """Per-point Linear + BN + ReLU layers as 1x1 convolutions over (B, C, N)."""
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Conv1d(a, b, 1, bias=False), nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)


class TNet(nn.Module):
    """(B, N, 3) -> (B, 3, 3): a small PointNet whose last Linear starts at zero weights and an
    identity bias, so training begins with the identity transform."""

    def __init__(self, width: int = 64):
        super().__init__()
        w = checks.integer(width, "width", low=1)
        self.mlp = _shared_mlp((3, w, 2 * w))
        self.fc = nn.Sequential(nn.Linear(2 * w, w), nn.ReLU(), nn.Linear(w, 9))
        nn.init.zeros_(self.fc[-1].weight)
        with torch.no_grad():
            self.fc[-1].bias.copy_(torch.eye(3).flatten())

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        _check_points(points, dtype=self.fc[0].weight.dtype)
        return self.fc(self.mlp(points.transpose(1, 2)).amax(dim=2)).view(-1, 3, 3)


class PointNet(nn.Module):
    """(B, N, 3) -> (B, n_classes). With ``tnet`` the points are first multiplied by the
    predicted 3 x 3 matrix. ``features`` gives the per-point features (B, C, N) and the
    max-pooled global feature (B, C)."""

    def __init__(self, n_classes: int, width: int = 64, tnet: bool = True):
        super().__init__()
        n_classes, w = checks.integer(n_classes, "n_classes", low=2), checks.integer(width, "width", low=1)
        self.tnet = TNet(w) if checks.flag(tnet, "tnet") else None
        self.mlp = _shared_mlp((3, w, w, 2 * w, 4 * w))
        self.head = nn.Sequential(nn.Linear(4 * w, 2 * w), nn.BatchNorm1d(2 * w), nn.ReLU(), nn.Linear(2 * w, n_classes))

    def features(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_points(points, dtype=self.head[0].weight.dtype)
        if self.tnet is not None:
            points = points @ self.tnet(points)
        per_point = self.mlp(points.transpose(1, 2))                 # (B, C, N): the same MLP for every point
        return per_point, per_point.amax(dim=2)                      # max over points: order cannot matter

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(points)[1])

    @torch.no_grad()
    def critical(self, points: torch.Tensor) -> list[torch.Tensor]:
        """Per cloud, the indices of its critical points: those that give the maximum of at least
        one channel of a max-pooled feature - the global feature's and, with a T-Net, the
        T-Net's own. The others could move (a little) or vanish without changing the output:
        the critical points alone give the same logits."""
        per_point, _ = self.features(points)
        crit = per_point.argmax(dim=2)                                # (B, C)
        if self.tnet is not None:
            crit = torch.cat([crit, self.tnet.mlp(points.transpose(1, 2)).argmax(dim=2)], 1)
        return [torch.unique(i) for i in crit]


class PointNetSeg(nn.Module):
    """(B, N, 3) -> (B, N, n_parts): every point's 64-d local feature concatenated with the
    cloud's max-pooled global feature, then a shared MLP per point. ``context=False`` drops the
    global feature (the ablation): each point is then labelled from its own coordinates alone."""

    def __init__(self, n_parts: int, width: int = 64, context: bool = True):
        super().__init__()
        n_parts, w = checks.integer(n_parts, "n_parts", low=2), checks.integer(width, "width", low=1)
        self.context = checks.flag(context, "context")
        self.local = _shared_mlp((3, w, w))
        self.globl = _shared_mlp((w, 2 * w, 4 * w)) if self.context else None
        self.head = nn.Sequential(*_shared_mlp(((5 if self.context else 1) * w, 2 * w, w)), nn.Conv1d(w, n_parts, 1))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        _check_points(points, dtype=self.head[-1].weight.dtype)
        x = self.local(points.transpose(1, 2))                       # (B, w, N)
        if self.context:
            g = self.globl(x).amax(dim=2, keepdim=True)              # (B, 4w, 1): the whole shape
            x = torch.cat([x, g.expand(-1, -1, x.shape[2])], 1)
        return self.head(x).transpose(1, 2)


class MVCNN(nn.Module):
    """(B, V, C, H, W) views -> (B, n_classes): ConvEncoder on every view (shared weights),
    max-pooled over the views, a Linear."""

    def __init__(self, n_classes: int, in_channels: int = 1, width: int = 16, dim: int = 64):
        super().__init__()
        n_classes = checks.integer(n_classes, "n_classes", low=2)
        self.cnn = ConvEncoder(out_dim=dim, width=width, in_channels=in_channels)
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        checks.tensor(views, "views", ndim=5)
        b, v = views.shape[:2]
        if b == 0 or v == 0:
            raise ValueError(f"views must hold at least one object and one view (B, V, C, H, W), got {tuple(views.shape)}")
        per_view = self.cnn(views.flatten(0, 1))                      # (B * V, dim)
        return self.fc(F.relu(per_view.view(b, v, -1).amax(dim=1)))  # view pooling


class ImageToVoxels(nn.Module):
    """(B, 3, H, W) picture -> (B, R, R, R) occupancy logits, R = 4 * 2 ** n_up: ConvEncoder's
    vector -> Linear to (4C, 4, 4, 4) -> transposed 3-D convolutions doubling the grid."""

    def __init__(self, resolution: int = 32, width: int = 32, dim: int = 256):
        super().__init__()
        resolution = checks.integer(resolution, "resolution", low=8, high=128)
        n_up = resolution.bit_length() - 3
        if 4 * 2 ** n_up != resolution:
            raise ValueError(f"resolution must be 4 times a power of two (8, 16, 32, 64, 128), got {resolution}")
        self.encoder = ConvEncoder(out_dim=dim, width=width)
        c = 64
        self.fc = nn.Linear(dim, c * 4 ** 3)
        ups, ch = [], c
        for k in range(n_up):
            out = 1 if k == n_up - 1 else max(ch // 2, 8)
            ups.append(nn.ConvTranspose3d(ch, out, 4, 2, 1))
            if k < n_up - 1:
                ups += [nn.BatchNorm3d(out), nn.ReLU()]
            ch = out
        self.decoder = nn.Sequential(*ups)
        self.channels, self.resolution = c, resolution

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = F.relu(self.encoder(images))
        return self.decoder(self.fc(z).view(-1, self.channels, 4, 4, 4))[:, 0]
