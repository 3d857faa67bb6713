"""Scenes per second of the procedural world (64x64, batch 256) on this machine.

Measures, in one process: sampling layouts, batched torch rendering (mmcourse.world.render),
both together, and a reference renderer drawing the same scenes one by one with PIL's
ImageDraw (no anti-aliasing). Prints the median of --repeats runs of each.

    python benchmarks/bench_world.py [--batch 256] [--resolution 64] [--repeats 7] [--device cpu]
"""
import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw

from mmcourse.env import get_device
from mmcourse.world import COLOURS, render, sample_scenes
from mmcourse.world.scenes import BACKGROUND
from mmcourse.bench import median_seconds


def pil_render(scenes, res):
    out = np.empty((len(scenes), res, res, 3), dtype=np.uint8)
    bg = tuple(int(c * 255) for c in BACKGROUND)
    for i, scene in enumerate(scenes):
        im = Image.new("RGB", (res, res), bg)
        d = ImageDraw.Draw(im)
        for o in scene:
            x0, y0, x1, y1 = o.box(res)
            col = tuple(int(c * 255) for c in COLOURS[o.colour])
            cx, cy, r = o.x * res, o.y * res, o.radius * res
            if o.shape == "circle":
                d.ellipse((x0, y0, x1, y1), fill=col)
            elif o.shape == "square":
                d.rectangle((x0, y0, x1, y1), fill=col)
            elif o.shape == "diamond":
                d.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=col)
            elif o.shape == "triangle":
                d.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=col)
            else:  # cross
                a = 0.34 * r
                d.rectangle((x0, cy - a, x1, cy + a), fill=col)
                d.rectangle((cx - a, y0, cx + a, y1), fill=col)
        out[i] = np.asarray(im)
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = get_device(args.device)
    scenes = sample_scenes(args.batch, seed=0)
    rows = [
        ("sample layouts (numpy)", lambda: sample_scenes(args.batch, seed=1)),
        (f"render, mmcourse torch ({device})", lambda: render(scenes, args.resolution, device=device)),
        (f"sample + render ({device})", lambda: render(sample_scenes(args.batch, seed=2), args.resolution, device=device)),
        ("render, reference PIL ImageDraw", lambda: pil_render(scenes, args.resolution)),
    ]
    print(f"batch {args.batch}, {args.resolution}x{args.resolution}, median of {args.repeats} runs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'what':<36}{'scenes/s':>12}{'ms/batch':>12}")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for name, fn in rows:
        sec = median_seconds(fn, args.repeats, sync)
        print(f"{name:<36}{args.batch / sec:>12,.0f}{sec * 1000:>12.1f}")


if __name__ == "__main__":
    main()
