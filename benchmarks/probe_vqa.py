"""How far do notebook 06's VQA models get in its CPU budget? (issue 14)

Trains, on the frozen grid of the zoo's ``grid-cnn`` (48 x 48 scenes of 1-4 objects, 6 x 6
cells of 128 channels), any of: the Antol et al. baseline (``--models base``), its blind
question-only and image-only versions (``q``, ``i``), the relation network (``rn``), and the
neural-symbolic pipeline (``ns``: a scene parser on the same grid, a program generator, the
safe executor). Prints test accuracy per question type and the train accuracy of each model
(to tell under- from over-fitting), with the seconds each took.

    python benchmarks/probe_vqa.py [--models base,q,rn,ns] [--scenes 6000] [--epochs 6] [--seed 0]
                                   [--dim 256] [--rn-hidden 64] [--rn-lr 1e-3]

Measured while building (2026-11-30, 2 CPU cores, often with one other job; 6,000 training
scenes x 5 questions, 800 test scenes; accuracy on exist / count / query / relate / closest):
- baseline, dim 256, 6 epochs (57-70 s): 0.84-0.86 / 0.52-0.72 / 0.88-0.90 / 0.34-0.37 / 0.61-0.64
- baseline, dim 1024, 8 epochs (177 s, one thread): train 0.999, test 0.86 / 0.79 / 0.88 / 0.36 /
  0.60: over-fits 6,000 scenes (notebook 06's >= 0.9 non-relational target not reached yet)
- question-only (55 s): 0.59 / 0.50 / 0.75 / 0.37 / 0.32 (query questions often name the answer)
- relation network over all 36 cells (1,296 pairs), hidden 64, 6 epochs (180 s): 0.64 / 0.53 / 0.87 /
  0.38 / 0.53; hidden 128, 3 epochs (427 s, one thread): train 0.59: under-fits, and costly.
- relation network over the 6 cells the scene parser finds most likely to hold an object centre
  (--rn-cells 6, hidden 128, one thread): 6 epochs (67 s) train 0.68; 20 epochs (225 s) train 0.90,
  test 0.997 / 0.972 / 0.990 / 0.361 / 0.690; with the parser's object centres as positions and a
  3-layer g (--rn-positions --rn-g-layers 3, 243 s) 0.999 / 0.987 / 0.998 / 0.358 / 0.734. Every
  model so far stays at the answer prior on "relate" (how many objects are left of X; the
  question-only model gets 0.37) although true programs on the parsed scenes answer 0.898 of them:
  the next thing to find out for notebook 06. A relation network on the *true* object table
  (one-hot attributes + exact x, y; 4 objects, 16 pairs) trained on the 6,000 relate questions
  alone shows why: with the LSTM question it sat at the prior for all 40 epochs (454 s); with a one-hot
  question (relation + asked attributes) it sat there for ~11 epochs (~1,000 steps), then
  climbed to 0.77 at epoch 16 and 0.91 at epoch 40 (74 s, one thread), over-fitting 6,000
  questions (train loss 0.005). Relational questions need a long plateau to be crossed: more
  steps (a GPU), more relational questions, or an easier question code. On the real pipeline
  (LSTM question, the parser's 6 cells at its object centres, 3-layer g, relate and closest
  questions only, 40 epochs, 441 s one thread) relate stayed at 0.362 (train 0.66), closest
  0.725: the plateau was not crossed in ~17,000 steps. The question encoder (an LSTM's last
  state) is what holds relations back - but not the LSTM as such: a bag of learned word
  embeddings (128-d mean) in its place also stayed at the prior for 30 epochs (86 s, two
  threads), and so did the bag with a 20x smaller initial scale and the LSTM with f's dropout
  off, and two learned attention reads over a BiLSTM's word states (30 epochs each). In a mean
  of 12 word vectors the relation word is 1/12 of the code; the
  one-hot code names exactly the relation and the attributes; a learned question
  code has to find that structure while g learns the relation. Try: a question code that keeps
  the relation word and the description apart (attention over the words, or the program
  generator's encoder, pre-trained), or a curriculum (one-hot first).
- baseline on 15,000 scenes, non-relational questions only (dim 1024, 6 epochs, 269 s one
  thread): train 0.913, test exist 0.807 / count 0.743 / query 0.836 (question-only 0.578 /
  0.526 / 0.753): more scenes did not lift it to 0.9.
- neural-symbolic (--models ns, one thread): scene parser on the frozen grid (10 epochs, ~30 s)
  gets the whole object table right on 0.877 of test scenes; true programs on parsed scenes 0.953
  (exist 0.994, count 0.961, query 0.951, relate 0.898, closest 0.932); program generator (1,500
  steps, 134 s) exact match 1.000, but only 24 of 4,000 test questions are new sentences; with
  every question about one of zoo.held_out_combinations() left out of its training (178 s): exact
  match 1.000 on the 269 test questions about them; generated programs + parsed scenes 0.953.

Measured 2026-11-30, after query questions stopped naming their answer ("what colour is the red
circle ?" is no longer asked), with scratch scripts on cached features (one thread each, often
three jobs on two cores; accuracy on the 800 test scenes):
- Antol baseline with a *pooled* image stream (1 x 1 conv + ReLU per cell, summed over cells)
  on the 128-channel grid, cell_dim 64, 8 epochs: exist 0.918 / count 0.737 / query 0.668
  (before the query change: 0.958 / 0.893 / 0.896 - most of the old query score was the
  question naming its answer). Two 1 x 1 layers of 256: worse (0.690 / 0.616 / 0.447).
- The same on the scene parser's 15-channel cell map (colour, shape, size and centre
  probabilities per cell), cell_dim 256: 0.953 / 0.925 / 0.658 (dim 256), 0.959 / 0.922 / 0.686
  (dim 1024, 10 epochs, train 0.937), 0.963 / 0.930 / 0.699 with 10 questions per picture:
  query - binding "the large circle" to its colour in a sum over cells - stays near 0.7.
- Relation network, "relate" plateau: what lets it leave the prior is the optimiser, then
  the objects. With the one-cycle schedule (peak 2e-3) and dropout it stayed at the prior in
  every variant (bag-of-words or LSTM question, CNN cells or parser map, gated empty cells,
  relative positions, question-modulated g). With Adam at a constant 1e-3, no dropout, on
  the parser map at the 6 most likely centre cells (empty ones zeroed), 30,000 "relate"
  questions: the bag-of-words question crossed at ~6,000 steps and ended at 0.839 (11,700
  steps, 106 s), a one-hot program code at 0.845. The same on the raw 128-channel cells did not
  cross in 8,500 steps. Trained on relate + closest together the crossing was unreliable:
  3 of 7 runs crossed within 10,000-16,000 steps (best: relate 0.832, closest 0.735), 4 stayed
  near 0.51 at that point; two of those (10 relational questions per picture) crossed late, at
  ~12,000 steps, ending at relate 0.82 / 0.84 after 16,000. With 10 "relate"-only questions per
  picture the RN did not cross in 11,000 or 16,000 steps. Notebook 06 therefore trains its RN
  on relate + closest (5 per picture, ~20,000 steps, 1e-3 held for 70% of the steps, then
  decayed): FULL seeds 0 / 1 / 7 crossed, and ended at relate 0.691-0.804 (target 0.85),
  over-fitting (training accuracy 0.998-1.000). With 10 relational questions per picture
  instead of 5 (45,000), the same ~20,000 steps and schedule: relate 0.870 (train 0.908),
  0.874 with weight decay 0.05 (train 0.889); closest 0.713 / 0.725 - notebook 06 now uses 10.
- Attention baseline (the pooled Antol vector plus one glimpse of question-guided attention over
  the parser map, Yang et al. 2016): non-relational 0.942-0.968 with gradient clipping at 1.0
  (seeds 0 / 1 / 7 in the notebook: 0.946 / 0.973 / 0.968); without clipping one notebook run fell to
  0.772 (exist 0.664) and scratch runs over five initialisations ranged 0.868-0.963.

Measured 2026-11-30 (later), looking for what holds the relation network on the "relate" plateau,
with scratch scripts on seed 0's notebook state (parser map and top cells; one thread each, two
jobs on two cores; test relate / closest accuracy every 1,000 steps of Adam at a constant 1e-3,
batch 64, relate + closest questions unless said). None of these left the relate prior
(0.33-0.39) within 8,000-12,000 steps: the notebook's RN (6 cells); LayerNorm after each of g's
layers; pairs with an empty cell left out of the sum; lr 2e-3 or 3e-3; g 256 wide; one-hot
(argmax) attributes in place of the parser's probabilities; 4 cells instead of 6; f's input
scaled by 1/16; a FiLM-modulated g (the question scales and shifts g's first layer); 3,000 first
steps on two-object pictures only (a curriculum); and, decisively, the *true* object table
(one-hot attributes, exact positions, 4 slots) with the bag of words or with a one-hot program
code, on relate + closest or on relate alone (0.43 at 8,000). A plain MLP on the flattened true
table and the bag of words: relate 0.43 after 6,000 steps. Positions scaled by 6 crossed once, at
8,000 steps (0.68). So the plateau belongs to the task (find the named object, then count the
objects on one side of it), not to perception; with batches of 64, crossing it was luck.
Trained to the end with the notebook's hold-then-decay schedule and fused AdamW: 6 cells, 29
epochs (~20,000 steps), weight decay 0.05: seed 0 stayed at 0.414, seed 1 crossed and ended at
0.907; with empty-cell pairs left out of the sum seeds 0 and 7 stayed (0.381 / 0.355); 4 cells
(16 pairs, ~40% cheaper a step), 36 epochs (~25,000 steps): both crossed between 15,000 and
20,000 steps and ended at 0.823 / 0.800; 50 epochs (~35,000 steps): 0.820 / 0.831, over-fitting
(training loss 0.07-0.10). What did cross: *batches of 256* at a constant 2e-3 (6 cells): relate
left the prior between 3,000 and 4,000 steps on seeds 0 and 7 alike (0.82 / 0.88 at 4,000 steps,
0.85 / 0.86 at 6,000; 261 s for 6,000 steps, one thread), where batches of 16 at 1e-3 stayed at
the prior for 20,000 steps and batches of 64 crossed after 6,000-20,000 or not at all. What the
crossing waits for is a less noisy gradient, not more steps. With hold-then-decay over 29
epochs (~5,100 steps of 256) the crossing came late, at ~4,500 steps, and relate ended at
0.815 / 0.740 (seeds 0 / 7, in the notebook); over 40 epochs (~7,000 steps) it crossed at
4,500-5,500 and ended at 0.860 / 0.895 / 0.851 (seeds 0 / 1 / 7, seeds 0 and 7 two at once on
one thread each), 0.855 (seed 3); seed 0 alone on two threads crossed after 5,600 and ended at
0.845: a thin margin. The cure was more data, not more steps: 52 epochs over the same 10
questions a picture (~9,000 steps) ended seed 0 (alone, two threads) at 0.853 with its training
questions at 0.985; 16 relational questions a picture (~71,000) for 32 epochs (~9,000 steps),
hold-then-decay at 2e-3: crossed at 3,500-5,500 steps and ended at 0.898 / 0.928 / 0.887
(seeds 0 / 1 / 7, each alone on two threads; training accuracy 0.90-0.92): notebook 06 uses
these settings. The
question-stream speed-ups of the same day (the LSTM read at each
row's length, fused AdamW, cell_dim 128: `benchmarks/bench_vqa_step.py`) leave the baselines
where they were: attention baseline 0.959 (seed 0, scratch; 0.910 / 0.916 on seeds 0 / 1 with
a 32/64 LSTM, which costs query accuracy), and in the notebook 0.979 / 0.954 / 0.984 (seeds 0 / 1 / 7).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmcourse import zoo  # noqa: E402
from mmcourse.models import vqa  # noqa: E402
from mmcourse.models.contrastive import embed_in_batches  # noqa: E402
from mmcourse.world import language as L  # noqa: E402
from mmcourse.world.datasets import VQADataset  # noqa: E402


def fit_answers(model, grids, data, *, epochs: int, lr: float, seed: int, batch: int = 64, cells=None):
    return vqa.fit_answers(model, grids, torch.tensor(data.owner), data.tokens, data.answer_ids, epochs=epochs, lr=lr,
                           seed=seed, batch=batch, extras=_pick_all(cells), desc=type(model).__name__)


def _pick_all(cells) -> tuple:
    if cells is None:
        return ()
    return tuple(cells) if isinstance(cells, tuple) else (cells,)


def answer(model, grids, owner: torch.Tensor, tokens: torch.Tensor, cells=None) -> torch.Tensor:
    """The model's answer ids for questions ``tokens`` about pictures ``owner``."""
    return vqa.predict(model, grids, owner, tokens, extras=_pick_all(cells))


def report(name: str, ok: np.ndarray, types: np.ndarray, seconds: float, train_acc: float | None = None) -> None:
    per = " ".join(f"{t} {ok[types == t].mean():.3f}" for t in L.QUESTION_TYPES if (types == t).any())
    extra = f"train {train_acc:.3f}  " if train_acc is not None else ""
    print(f"{name:<16} {seconds:5.0f} s  {extra}all {ok.mean():.3f}  {per}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="base,q,rn,ns")
    ap.add_argument("--scenes", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--rn-hidden", type=int, default=64)
    ap.add_argument("--rn-lr", type=float, default=1e-3)
    ap.add_argument("--rn-cells", type=int, default=0, help="RN objects: the K cells the scene parser finds most "
                    "likely to hold an object's centre (0: all 36 cells, 1,296 pairs)")
    ap.add_argument("--rn-positions", action="store_true", help="RN objects at the parser's object centres "
                    "instead of their cells' centres")
    ap.add_argument("--rn-g-layers", type=int, default=2)
    ap.add_argument("--types", default=",".join(L.QUESTION_TYPES), help="question types to train and test on")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    models = args.models.split(",")
    torch.manual_seed(args.seed)
    cnn = zoo.load("grid-cnn", seed=args.seed).eval()
    types = tuple(args.types.split(","))
    train_set = VQADataset(args.scenes, seed=args.seed * 1000 + 1, resolution=zoo.GRID_RESOLUTION, max_objects=4,
                           types=types)
    test_set = VQADataset(800, seed=args.seed * 1000 + 2, resolution=zoo.GRID_RESOLUTION, max_objects=4, types=types)
    grid = lambda x: cnn(x, grid=True)  # noqa: E731
    G_train, G_test = embed_in_batches(grid, train_set.images_u8), embed_in_batches(grid, test_set.images_u8)
    types = np.array([q.type for q in test_set.questions])
    V, A = len(train_set.vocab), len(train_set.answers)
    builders = {"base": lambda: vqa.VQABaseline(V, A, dim=args.dim, hidden=args.dim),
                "q": lambda: vqa.VQABaseline(V, A, dim=args.dim, hidden=args.dim, inputs="question"),
                "i": lambda: vqa.VQABaseline(V, A, dim=args.dim, hidden=args.dim, inputs="image"),
                "rn": lambda: vqa.RelationNetwork(V, A, hidden=args.rn_hidden, g_layers=args.rn_g_layers)}
    parser = None
    if args.rn_cells and "rn" in models:
        start = time.time()
        parser = train_parser(G_train, train_set.scenes, args.seed)
        with torch.no_grad():
            top, pos = {}, {}
            for k, G in (("train", G_train), ("test", G_test)):
                out = [parser(G[i:i + 512]) for i in range(0, len(G), 512)]
                heads = {h: torch.cat([o[h] for o in out]) for h in out[0]}
                top[k], pos[k], _ = parser.top_cells(heads, args.rn_cells)
        print(f"scene parser for the RN's cells {time.time() - start:.0f} s", flush=True)
    for name in models:
        if name not in builders:
            continue
        start = time.time()
        lr = args.rn_lr if name == "rn" else 2e-3
        cells = (top["train"], top["test"]) if name == "rn" and parser is not None else (None, None)
        if name == "rn" and args.rn_positions:
            cells = ((cells[0], pos["train"]), (cells[1], pos["test"]))
        model = fit_answers(builders[name](), G_train, train_set, epochs=args.epochs, lr=lr, seed=args.seed, cells=cells[0])
        sub = torch.arange(0, len(train_set), 7)[:3000]
        tr_owner, te_owner = torch.tensor(train_set.owner), torch.tensor(test_set.owner)
        tr = (answer(model, G_train, tr_owner[sub], train_set.tokens[sub], cells[0])
              == train_set.answer_ids[sub]).float().mean().item()
        ok = (answer(model, G_test, te_owner, test_set.tokens, cells[1]) == test_set.answer_ids).numpy()
        report(name, ok, types, time.time() - start, tr)
    if "ns" in models:
        neural_symbolic(args, train_set, test_set, G_train, G_test, types, parser)


def train_parser(G_train, scenes, seed: int):
    parser = vqa.SceneParser()
    targets = parser.targets(scenes)
    return vqa.fit(parser, len(scenes), lambda j: (G_train[j], {k: v[j] for k, v in targets.items()}),
                   lambda m, b: m.loss(*b), steps=10 * (len(scenes) // 64), lr=2e-3, seed=seed, weight_decay=0.01)


def neural_symbolic(args, train_set, test_set, G_train, G_test, types, parser=None) -> None:
    start = time.time()
    parser = parser or train_parser(G_train, train_set.scenes, args.seed)
    parsed = parser.parse(G_test)
    table = np.mean([sorted(o.attributes for o in a) == sorted(o.attributes for o in b)
                     for a, b in zip(parsed, test_set.scenes)])
    print(f"scene parser     {time.time() - start:5.0f} s  object table exactly right (attributes) {table:.3f}", flush=True)

    def run(programs) -> np.ndarray:
        ok = []
        for prog, q, i in zip(programs, test_set.questions, test_set.owner):
            try:
                ok.append(L.execute(prog, parsed[i]) == q.answer)
            except L.ProgramError:
                ok.append(False)
        return np.array(ok)

    report("true programs, parsed scenes", run([q.program for q in test_set.questions]), types, 0)

    start = time.time()
    pv = L.program_vocab()
    # held-out questions: every question that asks about one of the zoo's held-out colour-shape
    # combinations ("... the red circle ?") is left out of the generator's training
    held_pairs = set(zoo.held_out_combinations())

    def asks_held_out(q) -> bool:
        named = dict(step for step in q.program if len(step) == 2)
        return (named.get("filter_colour"), named.get("filter_shape")) in held_pairs

    keep = [i for i, q in enumerate(train_set.questions) if not asks_held_out(q)]
    P = vqa.program_targets([train_set.questions[i].program for i in keep], pv)
    Q = train_set.tokens[torch.tensor(keep)]
    gen = vqa.ProgramGenerator(len(train_set.vocab), len(pv))
    vqa.fit(gen, len(keep), lambda j: (Q[j], P[j]), lambda mdl, b: mdl.loss(*b), steps=1500, lr=3e-3, seed=args.seed,
            pct_start=0.1, clip_grad=5.0, weight_decay=0.01)
    out = sum((gen.generate(test_set.tokens[i:i + 256], pv.bos, pv.eos) for i in range(0, len(test_set), 256)), [])
    words = [[pv.itos[t] for t in o] for o in out]
    held = np.array([asks_held_out(q) for q in test_set.questions])
    exact = np.array([w == L.program_tokens(q.program) for w, q in zip(words, test_set.questions)])
    print(f"program generator {time.time() - start:4.0f} s  exact match {exact.mean():.3f}, on the {held.sum()} "
          f"questions about held-out colour-shape combinations (none in its training) {exact[held].mean():.3f}", flush=True)
    programs = []
    for w in words:
        try:
            programs.append(L.parse_program(w))
        except L.ProgramError:
            programs.append((("bad",),))  # counted as a wrong answer by run()
    report("pipeline (parsed scene + generated program)", run(programs), types, 0)


if __name__ == "__main__":
    main()
