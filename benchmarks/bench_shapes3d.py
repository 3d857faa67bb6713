"""Posed 3D objects per second: one at a time, or many poses of a shape at once (notebook 08's data).

Measures, in one process, the median of --repeats runs of each way to make notebook 08's
recognition data for --objects posed objects (the 9 kinds in turn, arbitrary rotations):

* four 32 x 32 orthographic views (steps 32): ``render_views`` per object, and
  ``render_views_many`` (a batch of poses of one shape per pass);
* 512 surface points: ``point_cloud`` per object (marching cubes of the posed shape), and
  ``point_clouds_many`` (one mesh per kind of shape, sampled and posed);
* a 32^3 occupancy grid per object with ``voxelize`` (not batched: see shapes3d's notes).

    python benchmarks/bench_shapes3d.py [--objects 90] [--repeats 3] [--threads 2]
"""
import argparse

import torch

from mmcourse.bench import median_seconds
from mmcourse.world import shapes3d as S

NAMES = list(S.PRIMITIVES) + list(S.COMPOSITES)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=90)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shapes = [S.random_pose(S.get_shape(NAMES[i % len(NAMES)]), seed=i, rotation="so3") for i in range(args.objects)]
    views = dict(azimuths=(0, 90, 180, 270), resolution=32, steps=32)
    rows = [
        ("4 views, render_views one at a time", lambda: [S.render_views(x, **views) for x in shapes]),
        ("4 views, render_views_many", lambda: S.render_views_many(shapes, **views)),
        ("512 points, point_cloud one at a time", lambda: [S.point_cloud(x, 512, seed=i, resolution=32) for i, x in enumerate(shapes)]),
        ("512 points, point_clouds_many", lambda: S.point_clouds_many(shapes, 512, seed=0, resolution=32)),
        ("32^3 voxels, voxelize one at a time", lambda: [S.voxelize(x, 32) for x in shapes]),
    ]
    print(f"{args.objects} posed objects, median of {args.repeats} runs, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'what':<40}{'objects/s':>11}{'ms/object':>11}")
    for name, fn in rows:
        sec = median_seconds(fn, args.repeats)
        print(f"{name:<40}{args.objects / sec:>11,.0f}{sec / args.objects * 1000:>11.2f}")


if __name__ == "__main__":
    main()
