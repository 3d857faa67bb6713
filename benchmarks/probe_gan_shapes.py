"""Does a small conditional GAN learn *shape* within notebook 05's CPU budget? (issue 13)

Notebook 05's targets ask a GAN-CLS generator for images whose colour (>= 0.8) and shape
(>= 0.7) an attribute classifier recognises, with FULL <= 10 minutes on 2 CPU cores for three
GANs and everything else. This probe trains one ``mmcourse.models.gan`` GAN-CLS with the
easiest conditioning there is (a one-hot colour/shape/size vector instead of a sentence
embedding), then judges 1,000 generated images with an attribute classifier trained on real
ones and prints the per-size accuracy next to the classifier's accuracy on real images.

    python benchmarks/probe_gan_shapes.py [--steps 1500] [--batch 64] [--width 32] [--crop]
                                          [--lr 2e-4] [--norm none|spectral|batch] [--seed 0]

``--crop``: a close-up world (``scenes.close_up`` and ``render_close_up``, as notebook 05; Reed
et al. used bounding-box crops of birds and flowers), so the object fills the 32 x 32 frame; otherwise the
world's whole 32 x 32 canvas, the object anywhere (2.7-4.6 pixel radius).

Measured while building (one CPU thread each, two runs at a time, 2026-11-30; chance 0.143
colour, 0.200 shape). Whole canvas, 1,500 steps of 64, width 32: colour 0.13-0.36, shape
0.21-0.25 for DCGAN or PyTorch init, spectral or no norm in D (about 220 s each); a frozen
MiniLM embedding instead of one-hot over 4,000 steps of 32: colour up to 0.87, shape <= 0.27.
Close-up (--crop), 1,500 steps of 64, width 32: colour 0.98-1.00, size 1.00, shape 0.20-0.27
(spectral or no norm; a projection term in D or wrong texts that differ in one attribute only
did not help: shape 0.22-0.23); 6,000 steps of 32, width 16 (240 s): colour 0.995, shape
0.28-0.32 (lr 2e-4 or 5e-4). The generator learns colour and size in a few hundred steps
and draws every shape as one textured blob of the asked colour: shape needs far more steps
than this budget holds (or a different model); see issue 13's closing note.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmcourse.models import gan  # noqa: E402
from mmcourse.models.classifiers import AttributeClassifier  # noqa: E402
from mmcourse.world.scenes import COLOURS, SHAPES, SIZES, close_up, render, render_close_up, sample_scenes  # noqa: E402

COL, SH, SZ = list(COLOURS), list(SHAPES), list(SIZES)


def world(n: int, seed: int, crop: bool):
    scenes = sample_scenes(n, seed=seed, min_objects=1, max_objects=1)
    if crop:  # the object near the centre, framed as in notebook 05
        scenes = close_up(scenes, seed=seed, jitter=0.04)
        images = render_close_up(scenes, 32)
    else:
        images = render(scenes, 32)
    objs = [s[0] for s in scenes]
    onehot = torch.zeros(n, 14)
    for i, o in enumerate(objs):
        onehot[i, COL.index(o.colour)] = onehot[i, 7 + SH.index(o.shape)] = onehot[i, 12 + SZ.index(o.size)] = 1
    labels = {"colour": torch.tensor([COL.index(o.colour) for o in objs]),
              "shape": torch.tensor([SH.index(o.shape) for o in objs]),
              "size": torch.tensor([SZ.index(o.size) for o in objs])}
    return images, onehot, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--norm", default="none", choices=("none", "spectral", "batch"))
    ap.add_argument("--crop", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    images, onehot, _ = world(10_000, args.seed * 100 + 1, args.crop)
    clf_images, _, clf_labels = world(4_000, args.seed * 100 + 2, args.crop)
    test_images, test_onehot, test_labels = world(1_000, args.seed * 100 + 3, args.crop)

    clf = AttributeClassifier(len(COL), len(SH), len(SZ))
    opt = torch.optim.Adam(clf.parameters(), 2e-3)
    g = torch.Generator().manual_seed(args.seed)
    for _ in range(300):
        i = torch.randint(0, len(clf_images), (64,), generator=g)
        loss = clf.loss(clf_images[i], {k: v[i] for k, v in clf_labels.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
    clf.eval()

    def batches():
        while True:
            i = torch.randint(0, len(images), (args.batch,), generator=g)
            j = torch.randint(0, len(images), (args.batch,), generator=g)
            yield gan.from_unit(images[i]), onehot[i], onehot[j]

    class Batches:
        def __iter__(self):
            return batches()

    G = gan.Generator(text_dim=14, z_dim=32, code_dim=32, width=args.width)
    D = gan.Discriminator(text_dim=14, code_dim=32, width=args.width, norm=args.norm)
    t0 = time.perf_counter()
    gan.train_gan(G, D, Batches(), steps=args.steps, method="gan-cls", lr=args.lr, seed=args.seed, log_every=10)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        fake = clf.predict(gan.generate(G, test_onehot, generator=torch.Generator().manual_seed(args.seed)))
        real = clf.predict(test_images)
    print(f"\n{'crop' if args.crop else 'whole canvas'}, {args.steps} steps of {args.batch}, width {args.width}, "
          f"lr {args.lr:g}, D norm {args.norm}: {seconds:.0f} s of training")
    print(f"{'':>14} {'colour':>7} {'shape':>7} {'size':>7}")
    print(f"{'chance':>14} {1 / len(COL):7.3f} {1 / len(SH):7.3f} {1 / len(SZ):7.3f}")
    print(f"{'real images':>14} " + " ".join(f"{(real[k] == test_labels[k]).float().mean():7.3f}" for k in real))
    for s, name in enumerate(SZ):
        m = test_labels["size"] == s
        print(f"{'GAN-CLS ' + name:>14} " + " ".join(f"{(fake[k][m] == test_labels[k][m]).float().mean():7.3f}"
                                                     for k in fake))


if __name__ == "__main__":
    main()
