"""Can notebook 08's 3D models reach their targets in the CPU budget, and is the test hard enough? (issue 16)

Trains, on posed objects of ``mmcourse.world.shapes3d`` (``random_pose``: a rotation about the
vertical axis and a scale in 0.7-1.0), the models of ``mmcourse.models.three_d``:

* recognition of the 9 objects (5 primitives, table, lamp, chair, stool) three ways - VoxNet on
  32^3 occupancy, PointNet on 512 surface points, MVCNN on 4 rendered 32 x 32 views - tested on
  new poses, and (``--so3-test``) on arbitrary 3D rotations the training never showed;
* part segmentation of the four composites with PointNetSeg (7 part classes: mIoU);
* image -> voxels: one rendered 48 x 48 view -> a 32^3 grid (ImageToVoxels), IoU against the
  true grid next to the best single grid (the training mean) as the baseline.

    python benchmarks/probe_3d.py [--threads 2] [--quick] [--so3-train] [--so3-test] [--only recognition]
                                  [--epochs 6] [--models VoxNet,PointNet,MVCNN] [--seed 0]

Prints accuracy / mIoU / IoU and seconds for data and training. Measured while building
(2026-11-30, 2 threads, seed 0, before chair and stool joined the recognition classes: 7
classes, 1,400 training and 350 test objects, 6 epochs, one thread each): VoxNet, PointNet
and MVCNN all 1.000 on new z-poses (48 / 41 / 10 s of training; 75 s to make the data) - too
easy to teach anything: the notebook needs a harder test. Part segmentation (800 clouds, 10
epochs, 31 s): mIoU 0.973, the stem the weakest part (0.908). Image -> voxels (1,500 views, 8
epochs, 38 s, 68 s of rendering): IoU 0.775 against 0.203 for the mean grid.
With the 9 objects (`--so3-test`, 2 threads, seed 0; data 147 s for 1,800 + 450 objects): trained
on z-poses, tested on arbitrary rotations, VoxNet 0.351, PointNet 0.324, MVCNN 0.364 (chance
0.111; 45 / 38 / 11 s of training) - rotation robustness has to be learned; part segmentation
mIoU 0.970 (39 s); image -> voxels IoU 0.761 against 0.201 (40 s of training, 61 s of data).
Trained and tested on arbitrary rotations (`--only recognition --so3-train --so3-test`, data 135 s):
VoxNet 0.829, PointNet 0.996, MVCNN 0.973 (40 / 34 / 11 s) - the harder test notebook 08 can use;
VoxNet needs more than 6 epochs of 1,800 objects there to reach 0.95: with `--epochs 14 --models
VoxNet` it reaches 0.909 (75 s of training), still short - a wider network, more objects or
rotated copies of each grid are the next things to try.
What fixed it was the receptive field, not the budget: the numbers above are for the VoxNet of the
time (three convolutions and one max-pool before global average pooling: its last features saw
19 voxels, so a chair's back and a table's top looked alike - table and chair were confused half
the time). VoxNet now pools after its first convolution and once more (43 voxels: the whole
object); with 8 epochs of the same 1,800 SO(3) objects it reached 0.987 in 68 s (2 threads, seed 0,
a script of the same training as this one: 6 of 450 wrong). Notebook 08 trains it and
prints its accuracy for every run.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from mmcourse import metrics
from mmcourse.models import three_d as T
from mmcourse.train import Batches, fit
from mmcourse.world import shapes3d as S

NAMES = list(S.PRIMITIVES) + list(S.COMPOSITES)
COMPOSITE_NAMES = list(S.COMPOSITES)


def train(model, data, loss, epochs, lr=2e-3):
    batches = Batches(data, 32, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * len(batches), pct_start=0.2)
    start = time.time()
    fit(model, batches, loss, optimizer=opt, scheduler=sched, epochs=epochs, progress=False)
    return model.eval(), time.time() - start


def recognition(n_train, n_test, epochs, seed, so3_test, so3_train=False, models=("VoxNet", "PointNet", "MVCNN")):
    def data(n, s, rotation):
        shapes = [S.random_pose(S.get_shape(NAMES[i % len(NAMES)]), seed=s * 100000 + i, rotation=rotation) for i in range(n)]
        return (torch.stack([S.voxelize(x, 32)[0] for x in shapes]),
                torch.stack([S.point_cloud(x, 512, seed=s + i, resolution=32)[0] for i, x in enumerate(shapes)]),
                torch.stack([S.render_views(x, azimuths=(0, 90, 180, 270), resolution=32, steps=32)["shade"]
                             for x in shapes])[:, :, None],
                torch.tensor([i % len(NAMES) for i in range(n)]))
    start = time.time()
    tr, te = data(n_train, seed * 10 + 1, "so3" if so3_train else "z"), data(n_test, seed * 10 + 2, "so3" if so3_test else "z")
    print(f"recognition data: {n_train} + {n_test} objects of {len(NAMES)} classes in {time.time() - start:.0f} s")
    for name, make, k in (("VoxNet", lambda: T.VoxNet(len(NAMES)), 0), ("PointNet", lambda: T.PointNet(len(NAMES)), 1),
                          ("MVCNN", lambda: T.MVCNN(len(NAMES)), 2)):
        if name not in models:
            continue
        torch.manual_seed(seed)
        model, secs = train(make(), (tr[k], tr[3]), lambda m, b: F.cross_entropy(m(b[0]), b[1]), epochs)
        with torch.no_grad():
            acc = (torch.cat([model(te[k][i:i + 100]) for i in range(0, n_test, 100)]).argmax(1) == te[3]).float().mean()
        print(f"  {name:<9} trained on {'SO(3)' if so3_train else 'z'}-poses: accuracy {acc:.3f} on {'SO(3)' if so3_test else 'z'}-posed test objects "
              f"(chance {1 / len(NAMES):.3f}), {secs:.0f} s of training")


def segmentation(n_train, n_test, epochs, seed):
    parts = list(dict.fromkeys(p for n in COMPOSITE_NAMES for p in S.get_shape(n).labels))

    def data(n, s):
        X, Y = [], []
        for i in range(n):
            shape = S.random_pose(S.get_shape(COMPOSITE_NAMES[i % len(COMPOSITE_NAMES)]), seed=s * 100000 + i)
            p, lab = S.point_cloud(shape, 512, seed=s + i, resolution=32)
            X.append(p), Y.append(torch.tensor([parts.index(shape.labels[j]) for j in lab.tolist()]))
        return torch.stack(X), torch.stack(Y)
    (xtr, ytr), (xte, yte) = data(n_train, seed * 10 + 3), data(n_test, seed * 10 + 4)
    torch.manual_seed(seed)
    model, secs = train(T.PointNetSeg(len(parts)), (xtr, ytr),
                        lambda m, b: F.cross_entropy(m(b[0]).flatten(0, 1), b[1].flatten()), epochs)
    with torch.no_grad():
        pred = model(xte).argmax(-1)
    ious = {p: ((pred == k) & (yte == k)).sum().item() / max(1, ((pred == k) | (yte == k)).sum().item())
            for k, p in enumerate(parts)}
    print(f"part segmentation: mIoU {sum(ious.values()) / len(ious):.3f} ("
          + ", ".join(f"{p} {v:.3f}" for p, v in ious.items()) + f"), {secs:.0f} s of training")


def image_to_voxels(n_train, n_test, epochs, seed):
    def data(n, s):
        shapes = [S.random_pose(S.get_shape(NAMES[i % len(NAMES)]), seed=s * 100000 + i) for i in range(n)]
        views = torch.stack([S.render_views(x, azimuths=(30,), resolution=48, steps=32)["shade"][0] for x in shapes])
        return views[:, None].expand(-1, 3, -1, -1).contiguous(), torch.stack([S.voxelize(x, 32)[0] for x in shapes]).float()
    start = time.time()
    (itr, vtr), (ite, vte) = data(n_train, seed * 10 + 5), data(n_test, seed * 10 + 6)
    print(f"image -> voxels data in {time.time() - start:.0f} s")
    torch.manual_seed(seed)
    model, secs = train(T.ImageToVoxels(32, width=16), (itr, vtr),
                        lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]), epochs)
    with torch.no_grad():
        pred = torch.cat([model(ite[i:i + 100]) for i in range(0, n_test, 100)]).sigmoid()
    mean_grid = vtr.mean(0, keepdim=True).expand_as(vte)
    print(f"image -> voxels: IoU {metrics.voxel_iou(pred, vte).mean():.3f}, the mean training grid "
          f"{metrics.voxel_iou(mean_grid, vte).mean():.3f}, {secs:.0f} s of training")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="a few objects and one epoch: proves the script runs")
    ap.add_argument("--so3-test", action="store_true", help="test recognition on arbitrary 3D rotations")
    ap.add_argument("--so3-train", action="store_true", help="train recognition on arbitrary 3D rotations")
    ap.add_argument("--only", choices=("recognition", "segmentation", "voxels"), help="run one experiment")
    ap.add_argument("--epochs", type=int, default=6, help="recognition epochs")
    ap.add_argument("--models", default="VoxNet,PointNet,MVCNN", help="recognition models to train")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    q = args.quick
    if args.only in (None, "recognition"):
        recognition(*((64, 32, 1) if q else (1800, 450, args.epochs)), args.seed, args.so3_test, args.so3_train,
                    args.models.split(","))
    if args.only in (None, "segmentation"):
        segmentation(*((32, 16, 1) if q else (800, 200, 10)), args.seed)
    if args.only in (None, "voxels"):
        image_to_voxels(*((32, 16, 1) if q else (1500, 300, 8)), args.seed)


if __name__ == "__main__":
    main()
